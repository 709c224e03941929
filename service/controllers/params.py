"""Query and path parameters shared by several endpoints, typed and documented once."""
from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Iterator
from typing import Annotated, Literal, NamedTuple

from litestar.connection import ASGIConnection
from litestar.di import NamedDependency
from litestar.exceptions import HTTPException
from litestar.handlers.base import BaseRouteHandler
from litestar.params import Parameter

from datalake.raw.asof import AS_OF_PATTERN
from datalake.errors import InvalidArgumentError, MeterlakeError, NotFoundError
from datalake.lake import Lake

from ..database import Database
from ..negotiation import Format
from ..settings import Settings

IcpId = Annotated[str, Parameter(description="ICP identifier: 1-32 letters and digits", pattern=r"^[A-Za-z0-9]{1,32}$",
                                 max_length=32)]
Start = Annotated[dt.date, Parameter(description="first trading date (inclusive)")]
End = Annotated[dt.date, Parameter(description="last trading date (inclusive)")]
OptStart = Annotated[dt.date | None, Parameter(description="first trading date (inclusive)")]
OptEnd = Annotated[dt.date | None, Parameter(description="last trading date (inclusive)")]
Direction = Annotated[Literal["I", "X"] | None,
                      Parameter(description="X: extraction (consumption), I: injection (generation); default both")]
AsOf = Annotated[str | None, Parameter(description="read the raw data as it was after an ingest: its id, or an "
                                                   "RFC 3339 time with Z or an offset (the last ingest committed at "
                                                   "or before it; URL-encode '+' as %2B). Default: the newest",
                                       pattern=AS_OF_PATTERN, max_length=40)]
FormatParam = Annotated[Format | None, Parameter(description="response format; overrides the Accept header")]
Shard = Annotated[str | None, Parameter(description="k/n: only ICPs whose shard (first 8 hex digits of "
                                                    "md5(icp_id) as an integer, mod n) is k; 0 <= k < n <= 4096",
                                        pattern=r"^[0-9]{1,4}/[0-9]{1,4}$")]
Compression = Annotated[Literal["lz4", "zstd"] | None, Parameter(
    description="Arrow only: compress the stream's record batch buffers with lz4 or zstd (Arrow IPC buffer "
                "compression; pyarrow and other Arrow readers decompress on reading). Fewer bytes on the wire "
                "for more CPU at both ends: worth it over a network, not on loopback. Default: none")]
Dictionary = Annotated[bool, Parameter(
    description="Arrow only: icp_id and energy_flow_direction as Arrow dictionary arrays (int32 indices into "
                "one dictionary of ICP ids, int8 into I/X), each dictionary sent once: about 35 bytes a row "
                "instead of 54, and less work at both ends. Readers see dictionary-typed columns "
                "(pyarrow `dictionary_decode` or a cast to string gives the plain ones). Default: false")]
RunId = Annotated[str, Parameter(description="run id, e.g. run-00000001", pattern=r"^run-[0-9]{8}$")]

class Services(NamedTuple):
    """The lake, its DuckDB connections and the settings, injected as one dependency: Litestar
    resolves a handler's several dependencies as tasks of a task group, which cost about a
    tenth of a millisecond a request for three constants."""

    lake: Lake
    db: Database
    settings: Settings


# Injected by the app (see service.app.create_app).
ServicesDep = NamedDependency[Services]
ActorDep = NamedDependency[str]  # who is asking: recorded on ingest and run records (service.auth)

Limit = Annotated[int, Parameter(description="page size, 1 up to the service's cap (10,000 by default)", ge=1)]
Cursor = Annotated[str | None, Parameter(description="opaque cursor from the previous page's next_cursor",
                                         max_length=8_000)]
RunSelector = Annotated[str, Parameter(description="latest: for each date the most recently published, not retracted "
                                                   "run covering it (candidates never answer latest); a run id to pin "
                                                   "that run (a candidate too); or alias:NAME to pin the run the "
                                                   "alias points at now",
                                       pattern=r"^(latest|run-[0-9]{8}|alias:[a-z][a-z0-9_-]{0,63})$", max_length=70)]
ALIAS_PATTERN = r"^[a-z][a-z0-9_-]{0,63}$"  # datalake.storage.layout.ALIAS_NAME_RE
AliasName = Annotated[str, Parameter(description="alias name: a lowercase letter, then up to 63 lowercase letters, "
                                                 "digits, _ or -", pattern=ALIAS_PATTERN)]
BuyerSeller = Annotated[Literal["buyer", "seller"] | None, Parameter(description="only this side; default both")]


def check_span(start: dt.date | None, end: dt.date | None, max_days: int, what: str) -> None:
    """Refuse a date range longer than the service's cap for this kind of query (the engine
    reports an end before the start)."""
    if start is not None and end is not None and (days := (end - start).days + 1) > max_days:
        raise InvalidArgumentError(f"{what} cover at most {max_days} days per request; {start}..{end} is {days} "
                                   "days: split the range", field="end", value=end)


def json_body(connection: ASGIConnection, _: BaseRouteHandler) -> None:
    """Guard of a route with a JSON body: the body must be declared JSON (415 otherwise)."""
    media = connection.headers.get("content-type", "application/json").split(";")[0].strip().lower()
    if media != "application/json" and not media.endswith("+json"):
        raise HTTPException(status_code=415, detail=f"the body must be application/json, not {media or 'untyped'}")


def check_limit(limit: int, settings: Settings) -> None:
    if limit > settings.page_limit_max:
        raise InvalidArgumentError(f"limit must be at most {settings.page_limit_max}, got {limit}",
                                   field="limit", value=limit)


@contextlib.contextmanager
def as_parameter(name: str, value: object, engine_field: str) -> Iterator[None]:
    """Engine errors about ``value`` under the engine's name for it (``ingest_id``,
    ``run_id``) name the caller's parameter ``name`` instead: ``as_of=ing-00000009`` of a
    lake without it is a 404 with ``field: as_of``."""
    try:
        yield
    except MeterlakeError as e:
        if value is not None and e.field == engine_field and str(e.value) == str(value):
            e.field = name
            e.message = (f"{name}={value} names nothing in this lake ({e.message})" if isinstance(e, NotFoundError)
                         else e.message.replace(engine_field, name, 1))
        raise
