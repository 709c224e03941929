"""Every error the Flight service returns, in one place: engine errors become Flight errors
(gRPC status codes) whose message starts with the engine's stable ``code`` and names the
field, and whose ``extra_info`` is the same problem as JSON.

| engine error                           | gRPC status          |
| -------------------------------------- | -------------------- |
| InvalidArgumentError, ValidationError  | INVALID_ARGUMENT     |
| NotFoundError                          | NOT_FOUND            |
| QueryTimeoutError                      | DEADLINE_EXCEEDED    |
| no lake, full disk, failing store      | UNAVAILABLE          |
| ConflictError (a run not open)         | UNKNOWN (code conflict) |
| anything else                          | INTERNAL             |

A missing or bad token is UNAUTHENTICATED and a token without the scope PERMISSION_DENIED
(``auth``)."""
from __future__ import annotations

import functools
import json
import logging
from collections.abc import Callable
from typing import TypeVar

import pyarrow as pa
import pyarrow.flight as flight

from datalake.errors import (InvalidArgumentError, LakeFormatError, LakeNotFoundError,
                             MeterlakeError, NotFoundError, StoreError, StorageFullError, ValidationError,
                             environment_error)

from ..problems import QueryTimeoutError

log = logging.getLogger("meterlake.flight")
F = TypeVar("F", bound=Callable)


class InvalidTicketError(InvalidArgumentError):
    """A ticket or descriptor that is not the JSON of a known request."""


def problem(exc: MeterlakeError) -> dict:
    body: dict = {"code": exc.code, "detail": exc.message}
    if exc.field is not None:
        body["field"] = exc.field
    if exc.value is not None:
        body["value"] = str(exc.value)
    if isinstance(exc, ValidationError):
        body["errors"] = [e.to_dict() for e in exc.errors]
        body["total"] = exc.total
    return body


def message(exc: MeterlakeError) -> str:
    where = f" (field {exc.field})" if exc.field else ""
    return f"{exc.code}{where}: {exc.message}"


def to_flight(exc: BaseException) -> BaseException:
    """The Flight error a client receives for ``exc``."""
    if isinstance(exc, (flight.FlightError, pa.ArrowException)) and not isinstance(exc, MeterlakeError):
        return exc
    if not isinstance(exc, MeterlakeError):
        exc = environment_error(exc) or exc
    if not isinstance(exc, MeterlakeError):
        log.exception("unexpected error in a Flight call", exc_info=exc)
        return flight.FlightInternalError("internal: unexpected error; see the server log")
    text, extra = message(exc), json.dumps(problem(exc)).encode()
    if isinstance(exc, (InvalidArgumentError, ValidationError)):
        return pa.ArrowInvalid(text)
    if isinstance(exc, NotFoundError):
        return pa.ArrowKeyError(text)
    if isinstance(exc, QueryTimeoutError):
        return flight.FlightTimedOutError(text, extra)
    if isinstance(exc, (LakeNotFoundError, LakeFormatError, StorageFullError, StoreError)):
        return flight.FlightUnavailableError(text, extra)
    return flight.FlightServerError(text, extra)


def answers(method: F) -> F:
    """A Flight method whose engine errors leave it as Flight errors (raised here, so the
    traceback a client sees of an ArrowInvalid is two frames long)."""
    @functools.wraps(method)
    def wrapper(*args, **kwargs):
        try:
            return method(*args, **kwargs)
        except MeterlakeError as e:
            raise to_flight(e) from None

    return wrapper  # type: ignore[return-value]
