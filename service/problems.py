"""Every error the service returns, in one place: engine errors and HTTP errors become
RFC 9457 problem details (``application/problem+json``) with a stable ``code``.

| engine error / HTTP condition          | status | code                      |
| -------------------------------------- | ------ | ------------------------- |
| InvalidArgumentError, bad parameter    | 400    | invalid_argument (etc.)   |
| a query parameter the route lacks      | 400    | invalid_argument          |
| format=/Accept the route cannot meet   | 406    | not_acceptable            |
| NotFoundError, unknown route           | 404    | not_found                 |
| ConflictError                          | 409    | conflict                  |
| no or invalid bearer token             | 401    | unauthorized              |
| token without the route's scope        | 403    | forbidden                 |
| body over the upload cap, or a Parquet body declaring far more rows than its size | 413 | payload_too_large |
| a JSON body that is not JSON           | 415    | unsupported_media_type    |
| ValidationError (bad rows in a body)   | 422    | validation_failed         |
| PartialRunError (publish of a partial run) | 422 | partial_run              |
| ChecksFailedError (promotion of a run whose checks fail) | 422 | checks_failed |
| no lake / lake of another format       | 503    | lake_not_found, lake_format |
| the lake's disk is full                | 507    | storage_full              |
| the object store fails requests        | 503    | store_unavailable         |
| queries past the query timeout         | 504    | query_timeout             |
| anything else                          | 500    | internal                  |

Engine errors keep their own ``code`` (a subclass may refine it); the status comes from
the class. Parameters that fail Litestar's own parsing (``limit=abc``) are a 400
``invalid_argument`` like the engine's, with the same ``field`` and ``value``."""
from __future__ import annotations

import datetime as dt
import logging
import re
from enum import Enum
from http import HTTPStatus
from typing import Any

import msgspec
from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.openapi.datastructures import ResponseSpec

from datalake.raw.asof import AS_OF_SHAPE
from datalake.runs.coverage import PartialRunError
from datalake.runs.promotion import ChecksFailedError
from datalake.errors import (ConflictError, InvalidArgumentError, LakeFormatError, LakeNotFoundError,
                             MeterlakeError, NotFoundError, StoreError, StorageFullError, ValidationError)

PROBLEM_MEDIA_TYPE = "application/problem+json"
TYPE_PREFIX = "urn:meterlake:problem:"
log = logging.getLogger("meterlake.service")

class NotAcceptableError(MeterlakeError):
    """The format asked for is one this resource does not offer."""

    code = "not_acceptable"


class PayloadTooLargeError(MeterlakeError):
    """A body that is, or would decompress to, more than the service accepts."""

    code = "payload_too_large"


class QueryTimeoutError(MeterlakeError):
    """The request's queries ran past the service's query timeout and were interrupted."""

    code = "query_timeout"

    def __init__(self, seconds: float) -> None:
        super().__init__(f"the query ran longer than the service's limit of {seconds:g} s and was stopped; "
                         "ask for a shorter date range or a smaller page")


ENGINE_STATUS: list[tuple[type[MeterlakeError], int]] = [
    (NotAcceptableError, 406),
    (QueryTimeoutError, 504),
    (PayloadTooLargeError, 413),
    (ValidationError, 422),
    (PartialRunError, 422),
    (ChecksFailedError, 422),
    (InvalidArgumentError, 400),
    (NotFoundError, 404),
    (ConflictError, 409),
    (LakeNotFoundError, 503),
    (LakeFormatError, 503),
    (StorageFullError, 507),
    (StoreError, 503),
]
HTTP_CODES = {400: "invalid_argument", 401: "unauthorized", 403: "forbidden", 404: "not_found",
              405: "method_not_allowed", 406: "not_acceptable",
              413: "payload_too_large", 415: "unsupported_media_type", 503: "lake_unavailable"}


class RowProblem(msgspec.Struct):
    """One bad input row: where it is, which field, and why."""

    source: str
    row: int | None
    field: str | None
    value: str | None
    reason: str


class Problem(msgspec.Struct, omit_defaults=True):
    """RFC 9457 problem details. ``code`` is stable and machine-readable; ``field`` and
    ``value`` name the argument at fault; ``errors`` lists the first bad rows of an upload
    and ``total_errors`` counts them all; ``missing_*`` describe a partial run, and
    ``failed_checks`` names the checks that refused a promotion."""

    type: str
    title: str
    status: int
    code: str
    detail: str
    instance: str | None = None
    field: str | None = None
    value: str | None = None
    errors: list[RowProblem] | None = None
    total_errors: int | None = None
    missing_dates: list[str] | None = None
    missing_icps: int | None = None
    missing_icps_sample: list[str] | None = None
    failed_checks: list[str] | None = None


def problem_response(request: Request, status: int, code: str, detail: str, *, field: str | None = None,
                     value: Any = None, errors: list[RowProblem] | None = None,
                     total_errors: int | None = None, headers: dict[str, str] | None = None,
                     **extra: Any) -> Response:
    problem = Problem(type=TYPE_PREFIX + code, title=HTTPStatus(status).phrase, status=status, code=code,
                      detail=detail, instance=request.url.path, field=field,
                      value=None if value is None else str(value), errors=errors, total_errors=total_errors, **extra)
    return Response(problem, status_code=status, media_type=PROBLEM_MEDIA_TYPE, headers=headers)


def engine_error(request: Request, exc: MeterlakeError) -> Response:
    status = next((s for cls, s in ENGINE_STATUS if isinstance(exc, cls)), 500)
    if isinstance(exc, ValidationError):
        rows = [RowProblem(e.source, e.row, e.field, e.value, e.reason) for e in exc.errors]
        return problem_response(request, status, exc.code, exc.summary, errors=rows, total_errors=exc.total)
    if isinstance(exc, PartialRunError):
        cov = exc.coverage
        return problem_response(request, status, exc.code, exc.message, field=exc.field, value=exc.value,
                                missing_dates=cov.missing_dates, missing_icps=cov.missing_icps,
                                missing_icps_sample=cov.missing_icps_sample)
    if isinstance(exc, ChecksFailedError):
        return problem_response(request, status, exc.code, exc.message, field=exc.field, value=exc.value,
                                failed_checks=[c.name for c in exc.failed])
    if status == 500:
        log.error("unmapped engine error on %s", request.url.path, exc_info=exc)
    return problem_response(request, status, exc.code, exc.message, field=exc.field, value=exc.value)


def http_error(request: Request, exc: HTTPException) -> Response:
    status = exc.status_code
    code = HTTP_CODES.get(status, "internal" if status >= 500 else HTTPStatus(status).name.lower())
    field = value = None
    detail = str(exc.detail)
    if isinstance(exc, ValidationException) and isinstance(exc.extra, list) and exc.extra:
        first = exc.extra[0] if isinstance(exc.extra[0], dict) else {}
        field, message = first.get("key"), str(first.get("message"))
        if field == "data" and (m := _BODY_FIELD.search(message)):  # a field of the JSON body
            field = m[1] or m[2]
        value = _raw_value(request, first.get("source"), field)
        shape = expected(request, field) if first.get("source") in ("query", "path") else None
        if shape:
            detail = f"{field} must be {shape}, got {_shown(value)}"
        else:
            detail = f"{field}: {message}" if field else detail
    elif isinstance(exc, ValidationException) and (m := _MISSING.search(detail)):
        field = m[1]
        shape = expected(request, field)
        detail = f"{field} is required: {shape}" if shape else f"{field}: missing required parameter"
    elif status == 404 and detail == "Not Found":  # no route matched
        detail = f"no resource at {request.url.path}"
    return problem_response(request, status, code, detail, field=field, value=value, headers=exc.headers)


_BODY_FIELD = re.compile(r"field `([^`]+)`|at `\$\.([A-Za-z_]+)")
_MISSING = re.compile(r"Missing required \w+ parameter '([^']+)'")


# Parameters whose form a pattern fixes, in the words of the docs (the regex means nothing
# to a caller). Others are described from their type: dates, numbers, choices, flags.
SHAPES = {
    "icp_id": "1 to 32 letters and digits, like 0000012345TR9A1",
    "as_of": AS_OF_SHAPE,
    "since": "an ingest id like ing-00000041 (ing-00000000 for all), or an RFC 3339 time",
    "until": AS_OF_SHAPE,
    "run_id": "a run id like run-00000001",
    "run": "latest, a run id like run-00000001, or alias:NAME like alias:production",
    "name": "an alias name: a lowercase letter, then up to 63 lowercase letters, digits, _ or -, like production",
    "alias": "an alias name: a lowercase letter, then up to 63 lowercase letters, digits, _ or -, like production",
    "shard": "k/n with 0 <= k < n, like 0/4",
    "by": "up to three comma-separated keys from icp_id, read_date, buyer_seller, like icp_id,buyer_seller",
}


def expected(request: Request, name: str | None) -> str | None:
    """What the route's parameter ``name`` must be, in words, from its declared type and
    constraints; None if the route has no such parameter."""
    handler = request.scope.get("route_handler")
    param = handler.parsed_fn_signature.parameters.get(name) if handler is not None and name else None
    if param is None:
        return None
    if name in SHAPES:
        return SHAPES[name]
    kwargs = param.kwarg_definition
    kind = next((t for t in param.inner_types if t.annotation is not type(None)), param) if param.is_optional \
        else param
    if kind.is_literal:
        return "one of " + ", ".join(map(str, kind.args))
    annotation = kind.annotation
    if isinstance(annotation, type) and issubclass(annotation, Enum):
        return "one of " + ", ".join(str(m.value) for m in annotation)
    if annotation is dt.date:
        return "a date like 2018-06-01"
    if annotation is bool:
        return "true or false"
    if annotation is int:
        low, high = getattr(kwargs, "ge", None), getattr(kwargs, "le", None)
        bounds = f" from {low} to {high}" if low is not None and high is not None else \
            f" of at least {low}" if low is not None else f" of at most {high}" if high is not None else ""
        return "a whole number" + bounds
    if annotation is str and (most := getattr(kwargs, "max_length", None)):
        return f"at most {most:,} characters"
    return None


def undecodable_request(request: Request, exc: UnicodeDecodeError) -> Response:
    """Text in the request (a JSON body) that is not UTF-8: the caller's fault, not a 500."""
    return problem_response(request, 400, "invalid_argument",
                            f"the request is not valid UTF-8 (byte {exc.start}: {exc.reason})")


def unexpected_error(request: Request, exc: Exception) -> Response:
    log.error("internal error on %s", request.url.path, exc_info=exc)
    return problem_response(request, 500, "internal", "internal error")


def _shown(value: str | None) -> str:
    """A value quoted for a message, cut short (the problem's ``value`` has it whole)."""
    return repr(value) if value is None or len(value) <= 40 else repr(value[:40] + "...")


def _raw_value(request: Request, source: str | None, field: str | None) -> str | None:
    if not field:
        return None
    if source == "query":
        return request.query_params.get(field)
    if source == "path":
        return str(request.path_params.get(field)) if field in request.path_params else None
    if source == "header":
        return request.headers.get(field)
    return None


EXCEPTION_HANDLERS = {MeterlakeError: engine_error, HTTPException: http_error, UnicodeDecodeError: undecodable_request,
                      Exception: unexpected_error}

DESCRIPTIONS = {
    400: "Invalid argument (problem details; `field` and `value` name it)",
    401: "No bearer token, or not a valid one (problem details; WWW-Authenticate: Bearer)",
    403: "The token lacks the scope this operation needs (problem details)",
    404: "Not found (problem details)",
    406: "No acceptable representation (problem details)",
    409: "The state does not allow this transition (problem details)",
    413: "Body larger than the upload cap (problem details)",
    422: "The body failed validation: `errors` lists the first bad rows; or, for a publish, the run is partial "
         "(`partial_run`: `missing_dates`, `missing_icps`, `missing_icps_sample`); or, for a promotion, checks of "
         "the run fail (`checks_failed`: `failed_checks` names them) (problem details)",
    503: "The lake is not readable (problem details)",
    504: "The queries ran past the service's query timeout and were stopped (problem details)",
}


def problem_responses(*statuses: int, auth: bool = True) -> dict[int, ResponseSpec]:
    """OpenAPI entries for the error statuses a handler can return: 400 and 406 always (any
    route refuses unknown query parameters and formats it cannot produce, see
    ``service.admission``), 401 and 403 unless the route is public."""
    return {s: ResponseSpec(data_container=Problem, media_type=PROBLEM_MEDIA_TYPE,
                            description=DESCRIPTIONS.get(s, HTTPStatus(s).phrase), generate_examples=False)
            for s in sorted({400, 406, *statuses, *((401, 403) if auth else ())})}
