"""The change feed of raw reads: what the ingests after one ingest, up to another, delivered."""
from __future__ import annotations

from typing import Annotated

from litestar import Controller, Request, Response, get
from litestar.params import Parameter

from datalake.raw.asof import AS_OF_PATTERN
from datalake.raw.changes import CHANGES_SCHEMA, read_changes, resolve_range, stream_changes

from ..auth import requires
from ..encoding import etag, not_modified, stream_response, table_response
from ..negotiation import negotiate
from ..openapi import TabularOperation, not_modified_response
from ..problems import problem_responses
from ..structs import ChangesPage
from .output import NEXT_CURSOR_DOC, NEXT_CURSOR_HEADER
from .params import Cursor, FormatParam, Limit, ServicesDep, as_parameter, check_limit
from .reads import SNAPSHOT_DOC, SNAPSHOT_HEADER

Since = Annotated[str, Parameter(description="exclusive: changes delivered after this ingest (an ingest id, "
                                             "ing-00000000 for all, or an RFC 3339 time as for as_of)",
                                 pattern=AS_OF_PATTERN, max_length=40)]
Until = Annotated[str | None, Parameter(description="inclusive: up to this ingest (an ingest id or an RFC 3339 "
                                                    "time); default the newest, pinned by the cursor",
                                        pattern=AS_OF_PATTERN, max_length=40)]


class ChangesController(Controller):
    tags = ["raw reads"]

    @get("/v1/reads/changes", operation_class=TabularOperation, sync_to_thread=True,
         responses={**not_modified_response(), **problem_responses(404, 406, 504)},
         response_headers=[NEXT_CURSOR_DOC, SNAPSHOT_DOC], **requires("read"))
    def changes(self, request: Request, svc: ServicesDep, since: Since, until: Until = None,
                limit: Limit = 1000, cursor: Cursor = None, format: FormatParam = None) -> Response[ChangesPage]:
        """One row per read that an ingest after `since`, up to `until`, delivered for the
        first time (`change: new`) or revised (`revised`), with `previous_interval_read` and
        `previous_ingest_id`, ordered by ingest_id, icp_id, read_timestamp, direction. JSON is
        paginated (`limit`, `next_cursor`; the cursor pins the `until` of the first page);
        CSV and Arrow stream every row and ignore `limit` and `cursor`. `X-Raw-Snapshot`
        names the resolved `until`; a range with an explicit or pinned `until` carries a
        strong ETag."""
        lake, db, settings = svc
        fmt = negotiate(request, format)
        paged = fmt == "json"
        if paged:
            check_limit(limit, settings)
        with db.deadline(None), as_parameter("since", since, "ingest_id"), as_parameter("until", until, "ingest_id"):
            if not paged:
                span, batches = stream_changes(lake, since, until)
                headers = {SNAPSHOT_HEADER: span.until} if span.until else {}
                return stream_response(request, CHANGES_SCHEMA, db.bounded(batches, None), fmt, headers=headers)
            # A range with an until (given, or pinned by the cursor) never changes.
            pinned = resolve_range(lake, since, until).until if until is not None else None
            tag = etag("changes", since, pinned, limit, cursor) if pinned or cursor else None
            if cached := not_modified(request, tag):
                return cached
            table, next_cursor, span = read_changes(lake, since, until, limit=limit, cursor=cursor)
        headers = {SNAPSHOT_HEADER: span.until} if span.until else {}
        if next_cursor:
            headers[NEXT_CURSOR_HEADER] = next_cursor
        return table_response(request, table, fmt, lambda rows: ChangesPage(
            since=span.since, until=span.until, changes=rows, next_cursor=next_cursor), headers=headers, tag=tag)

