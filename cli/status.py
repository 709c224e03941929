"""Exit statuses of `meterlake`, and the one place engine errors map to them."""
from __future__ import annotations

import sys

from datalake.runs.coverage import PartialRunError
from datalake.runs.promotion import ChecksFailedError
from datalake.errors import CommitConflictError, MeterlakeError, ValidationError

OK = 0
BAD_INPUT = 1  # rows that fail validation, a partial run, an SQL error, or a write that lost a race
ENGINE_ERROR = 2  # also argparse's status for usage errors
CHECK_FAILED = 3  # `check` found problems, a check of `runs checks` failed, or one refused a promotion
INTERRUPTED = 130


def report(error: MeterlakeError) -> int:
    """Print an engine error on stderr and return its exit status."""
    print(f"error: {error.message}", file=sys.stderr)
    if isinstance(error, ChecksFailedError):  # a promotion refused: as `runs checks` reporting a failure
        return CHECK_FAILED
    # A partial run is output that does not cover its input; a lost race is as a bad delivery.
    if isinstance(error, ValidationError | PartialRunError | CommitConflictError):
        return BAD_INPUT
    return ENGINE_ERROR
