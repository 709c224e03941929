"""The engine's exceptions. Each carries a stable machine ``code``; callers map them to
their own surface (CLI exit status, HTTP problem details) in one place."""
from __future__ import annotations

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
