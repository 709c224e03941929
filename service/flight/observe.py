"""What the Flight service tells operators: every call in the audit log, and counts,
times and rows in Prometheus text, which the HTTP ``/metrics`` appends (the Flight server
runs in a process of its own, so it leaves its figures in a file that process replaces)."""
from __future__ import annotations

import logging
import os
import tempfile
import threading
from collections import defaultdict
from pathlib import Path

import pyarrow as pa
import pyarrow.flight as flight

audit_log = logging.getLogger("meterlake.audit")

# Most specific first: FlightError subclasses before their bases.
_STATUS = ((flight.FlightUnauthenticatedError, "unauthenticated"),
           (flight.FlightUnauthorizedError, "permission_denied"),
           (flight.FlightTimedOutError, "deadline_exceeded"),
           (flight.FlightUnavailableError, "unavailable"),
           (flight.FlightCancelledError, "cancelled"),
           (pa.ArrowInvalid, "invalid_argument"),
           (pa.ArrowKeyError, "not_found"),
           (pa.ArrowNotImplementedError, "unimplemented"))


def status_of(exception: BaseException | str | None) -> str:
    if exception is None:
        return "ok"
    if isinstance(exception, str):
        return exception
    for kind, name in _STATUS:
        if isinstance(exception, kind):
            return name
    return "error"


class Observer:
    """Counts of Flight calls by method and status, their time, and rows sent by method;
    written to ``path`` (if given) after each call."""

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        self.path = Path(path) if path else None
        self._lock = threading.Lock()
        self._calls: dict[tuple[str, str], int] = defaultdict(int)
        self._seconds: dict[str, float] = defaultdict(float)
        self._rows: dict[str, int] = defaultdict(int)

    def completed(self, method: str, what: str, who: str, exception: BaseException | str | None,
                  seconds: float, rows: int) -> None:
        status = status_of(exception)
        audit_log.info("flight %s %s -> %s by %s%s", method, what or "-", status, who,
                       f" ({rows} rows)" if rows else "")
        with self._lock:
            self._calls[(method, status)] += 1
            self._seconds[method] += seconds
            self._rows[method] += rows
            text = self._exposition() if self.path else None
        if text is not None:
            _replace(self.path, text)

    def exposition(self) -> str:
        with self._lock:
            return self._exposition()

    def _exposition(self) -> str:
        out = ["# HELP meterlake_flight_requests_total Flight calls by method and status.",
               "# TYPE meterlake_flight_requests_total counter"]
        out += [f'meterlake_flight_requests_total{{method="{m}",status="{s}"}} {n}'
                for (m, s), n in sorted(self._calls.items())]
        out += ["# HELP meterlake_flight_request_seconds_total Time in Flight calls, by method.",
                "# TYPE meterlake_flight_request_seconds_total counter"]
        out += [f'meterlake_flight_request_seconds_total{{method="{m}"}} {s:.6f}'
                for m, s in sorted(self._seconds.items())]
        out += ["# HELP meterlake_flight_rows_served_total Rows sent by Flight, by method.",
                "# TYPE meterlake_flight_rows_served_total counter"]
        out += [f'meterlake_flight_rows_served_total{{method="{m}"}} {n}' for m, n in sorted(self._rows.items())]
        return "\n".join(out) + "\n"


def _replace(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".flight-metrics.")
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def flight_exposition(path: str | None) -> str:
    """The Flight server's figures for ``/metrics`` (empty without a Flight server)."""
    if not path:
        return ""
    try:
        return Path(path).read_text()
    except FileNotFoundError:
        return ""
