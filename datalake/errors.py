"""The engine's exceptions. Each carries a stable machine ``code``; callers map them to
their own surface (CLI exit status, HTTP problem details) in one place."""
from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field


class MeterlakeError(Exception):
    code = "meterlake_error"

    def __init__(self, message: str, *, field: str | None = None, value: object = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.value = value


class LakeNotFoundError(MeterlakeError):
    code = "lake_not_found"


class LakeFormatError(MeterlakeError):
    code = "lake_format"


class InvalidArgumentError(MeterlakeError):
    """A caller-supplied argument (date range, id, limit, cursor...) is not acceptable."""

    code = "invalid_argument"


class NotFoundError(MeterlakeError):
    code = "not_found"


class ConflictError(MeterlakeError):
    """The requested change does not fit the current state (e.g. a run transition)."""

    code = "conflict"


class CommitConflictError(ConflictError):
    """Another writer committed first, and this write could not be retried on top of it.
    ``winner`` names what the other writer committed (an ingest id, or a run and its new
    status)."""

    def __init__(self, message: str, *, winner: str | None = None, field: str | None = None,
                 value: object = None) -> None:
        super().__init__(message, field=field, value=value)
        self.winner = winner


@dataclass(frozen=True)
class RowError:
    """One bad input row: where it is, which field, and why."""

    source: str
    row: int | None
    field: str | None
    value: str | None
    reason: str

    def __str__(self) -> str:
        where = f"{self.source}:{self.row}" if self.row is not None else self.source
        what = f" {self.field}={self.value!r}" if self.field else ""
        return f"{where}:{what} {self.reason}"

    def to_dict(self) -> dict:
        return {"source": self.source, "row": self.row, "field": self.field,
                "value": self.value, "reason": self.reason}


@dataclass
class ValidationError(MeterlakeError):
    """Input failed validation; nothing was written. ``errors`` holds the first rows at
    fault (at most ``MAX_REPORTED``); ``total`` counts them all."""

    summary: str
    errors: list[RowError] = field(default_factory=list)
    total: int = 0
    code = "validation_failed"
    MAX_REPORTED = 20

    def __post_init__(self) -> None:
        lines = [f"{self.summary}: {self.total} bad row(s)"]
        lines += [f"  {e}" for e in self.errors]
        if self.total > len(self.errors):
            lines.append(f"  ... and {self.total - len(self.errors)} more")
        MeterlakeError.__init__(self, "\n".join(lines))


class StorageFullError(MeterlakeError):
    """A write ran out of disk space. What it had staged is removed; the step that failed
    committed nothing."""

    code = "storage_full"


class StoreError(MeterlakeError):
    """The object store failed a request, after the client's own retries."""

    code = "store_unavailable"


class CommitOutcomeUnknownError(StoreError):
    """The store failed a commit record's write, and reading it back failed too."""


# What a write was doing, by the function it was in (innermost first wins).
_STEPS = {"write_parquet": "writing a Parquet file", "_flush": "writing a Parquet file",
          "write_raw_blocks": "writing a block file", "blocks.write": "writing a block file",
          "write_atomic": "writing a record", "_put_object": "writing a record",
          "_write_part": "staging an uploaded part", "publish_files": "writing the run's Parquet files",
          "write_icp_index": "writing the run's ICP index", "local_copy": "copying a file to local staging",
          "upload": "uploading a data file", "move_into_place": "moving a data file into place",
          "staging_folder": "creating a staging folder", "_write_rejects": "writing the rejects file",
          "store_names": "listing the store", "read_json": "reading a record",
          "read_json_versioned": "reading a record", "remove_tree": "removing files",
          "version": "reading a record", "_load": "reading a run record", "names": "listing the store",
          "commits": "reading the commit log", "remove_abandoned": "looking for leftovers of killed writers",
          "_abandoned_run_files": "looking for leftovers of killed writers"}
_STORE_MODULES = ("botocore", "aiobotocore", "aiohttp", "urllib3", "s3fs")


def _chain(error: BaseException) -> list[BaseException]:
    found: list[BaseException] = []
    while error is not None and error not in found:
        found.append(error)
        error = error.__cause__ or error.__context__
    return found


def _step(chain: list[BaseException]) -> str:
    """What the innermost frame of the engine that a known step names was doing (else
    the innermost function of the engine)."""
    innermost = None
    for error in chain:
        frames = []
        tb = error.__traceback__
        while tb is not None:
            frames.append(tb.tb_frame)
            tb = tb.tb_next
        for frame in reversed(frames):
            module = frame.f_globals.get("__name__", "")
            if not module.startswith("datalake."):
                continue
            name = frame.f_code.co_name
            innermost = innermost or f"in {module}.{name}"
            step = _STEPS.get(f"{module.rsplit('.', 1)[-1]}.{name}") or _STEPS.get(name)
            if step:
                return step
    return innermost or "writing"


def _disk_full(e: BaseException) -> bool:
    return (isinstance(e, OSError) and e.errno in (28, 122)) or "No space left on device" in str(e)


def _store_failure(e: BaseException) -> bool:
    return type(e).__module__.split(".")[0] in _STORE_MODULES or "AWS Error" in str(e)


def environment_error(error: BaseException) -> MeterlakeError | None:
    """The error of the engine that an exception from the machine or the store stands for
    (a full disk, a store that failed a request), with a one-line message naming what
    failed; None for any other exception."""
    if isinstance(error, MeterlakeError):
        return error
    chain = _chain(error)
    if any(_disk_full(e) for e in chain):
        return StorageFullError(f"no space left on device while {_step(chain)}: nothing of that write was "
                                f"committed; free space and run it again")
    unknown = next((e for e in chain if type(e).__name__ == "WriteOutcomeUnknown"), None)
    if unknown is not None:
        return CommitOutcomeUnknownError(f"{_first_line(unknown)}: run `meterlake check`, then the same "
                                         f"command again")
    failed = next((e for e in chain if _store_failure(e)), None)
    if failed is not None:
        return StoreError(f"the object store failed a request while {_step(chain)} ({_first_line(failed)}); "
                          f"run the command again")
    return None


def environment_errors(write):
    """Decorate an engine write so that a full disk or a failing store raises the engine's
    error for it (``environment_error``); ``CommitOutcomeUnknownError`` passes as the store's
    error it stands for."""
    @functools.wraps(write)
    def wrapped(*args, **kwargs):
        try:
            return write(*args, **kwargs)
        except Exception as e:
            translated = environment_error(e)
            if translated is None or translated is e or isinstance(translated, CommitOutcomeUnknownError):
                raise
            raise translated from e
    return wrapped


def _first_line(e: BaseException) -> str:
    """The gist of an error: its first line; for a DuckDB error that carries the Python
    traceback of the file system it called, that traceback's last line."""
    lines = str(e).strip().splitlines()
    if any("Traceback (most recent call last)" in line for line in lines):
        lines = [line for line in lines if re.match(r"[A-Za-z_][\w.]*(Error|Exception)\b", line)][-1:]
    return (lines[0] if lines else type(e).__name__)[:300]
