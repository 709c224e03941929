"""Exit statuses of `meterlake`, and the one place engine errors map to them."""
from __future__ import annotations

import sys

from datalake.errors import CommitConflictError, MeterlakeError, ValidationError

OK = 0
BAD_INPUT = 1  # rows that fail validation, an SQL error, or a write that lost a race
ENGINE_ERROR = 2  # also argparse's status for usage errors
CHECK_FAILED = 3
INTERRUPTED = 130


def report(error: MeterlakeError) -> int:
    """Print an engine error on stderr and return its exit status."""
    print(f"error: {error.message}", file=sys.stderr)
    if isinstance(error, ValidationError | CommitConflictError):  # a lost race: as for a bad delivery
        return BAD_INPUT
    return ENGINE_ERROR
