"""Published algorithm output: one ICP's summary (queries 2 and 3) and a date range by key
(query 4)."""
from __future__ import annotations

from typing import Annotated, Literal

from litestar import Controller, Request, Response, get
from litestar.datastructures import ResponseHeader
from litestar.params import Parameter

from datalake.errors import InvalidArgumentError
from datalake.output.reads import KEY_SQL, output_by_key, output_summary, stream_by_key

from ..auth import requires
from ..encoding import etag, not_modified, stream_response, table_response
from ..negotiation import negotiate
from ..openapi import TabularOperation, not_modified_response
from ..problems import problem_responses
from ..structs import KeyPage, Summary
from .params import (BuyerSeller, Cursor, End, FormatParam, IcpId, Limit, OptEnd, OptStart, RunSelector,
                     ServicesDep, Start, as_parameter, check_limit, check_span)

NEXT_CURSOR_HEADER = "X-Next-Cursor"
NEXT_CURSOR_DOC = ResponseHeader(name=NEXT_CURSOR_HEADER, required=False, documentation_only=True,
                                 description="CSV and Arrow pages: the cursor of the next page, absent on the last")
Granularity = Annotated[Literal["interval", "day", "week", "month"],
                        Parameter(description="interval: YYYY-MM-DD/NN (trading period); day: YYYY-MM-DD; "
                                              "week: ISO week YYYY-Www; month: YYYY-MM")]
By = Annotated[str, Parameter(description="comma-separated keys to group by, in order, from icp_id, read_date, "
                                          "buyer_seller", pattern=r"^[a-z_]+(,[a-z_]+){0,2}$")]


def pinned_tag(*parts: object, run: str, cursor: str | None) -> str | None:
    """Output pinned to a run id, or to the runs a cursor carries, never changes: strong ETag.
    ``latest`` and ``alias:NAME`` without a cursor name different runs over time: none."""
    return etag(*parts, run, cursor) if run.startswith("run-") or cursor is not None else None


class OutputController(Controller):
    tags = ["output"]

    @get("/v1/icps/{icp_id:str}/output/summary", operation_class=TabularOperation, sync_to_thread=True,
         responses={**not_modified_response(), **problem_responses(404, 406, 409, 504)},
         response_headers=[NEXT_CURSOR_DOC], **requires("read"))
    def summary(self, request: Request, svc: ServicesDep, icp_id: IcpId,
                start: OptStart = None, end: OptEnd = None, buyer_seller: BuyerSeller = None,
                granularity: Granularity = "day", run: RunSelector = "latest", limit: Limit = 100,
                cursor: Cursor = None, format: FormatParam = None) -> Response[Summary]:
        """One ICP's matched amounts by period and buyer_seller: exact sums, interval counts
        and the runs that answered. With start/end (and buyer_seller) it is the total for a
        range; without a range it pages through the ICP's whole history. Pages are keyset:
        `next_cursor` pins the runs of the first page. An ICP without output is an empty list."""
        lake, db, settings = svc
        fmt = negotiate(request, format)
        check_limit(limit, settings)
        tag = pinned_tag("summary", icp_id, start, end, buyer_seller, granularity, limit, fmt,
                         run=run, cursor=cursor)
        if cached := not_modified(request, tag):
            return cached
        with db.deadline(None), as_parameter("run", run, "run_id"):
            table, next_cursor = output_summary(lake, icp_id, start=start, end=end, buyer_seller=buyer_seller,
                                                granularity=granularity, run=run, limit=limit, cursor=cursor)
        return table_response(
            request, table, fmt,
            lambda items: Summary(icp_id=icp_id, granularity=granularity, items=items, next_cursor=next_cursor),
            headers={NEXT_CURSOR_HEADER: next_cursor} if next_cursor else None, tag=tag)

    @get("/v1/output", operation_class=TabularOperation, sync_to_thread=True,
         responses={**not_modified_response(), **problem_responses(404, 406, 409, 504)},
         response_headers=[NEXT_CURSOR_DOC], **requires("read"))
    def by_key(self, request: Request, svc: ServicesDep, start: Start, end: End,
               by: By = "icp_id,buyer_seller", run: RunSelector = "latest", buyer_seller: BuyerSeller = None,
               limit: Limit = 100, cursor: Cursor = None, format: FormatParam = None) -> Response[KeyPage]:
        """Output for trading dates start..end grouped by key (`by`: icp_id, buyer_seller,
        read_date, in the order given): exact sums, interval counts and runs, in key order.
        JSON is paginated by key (`limit`, `cursor`); CSV and Arrow stream every row, a page
        at a time from the runs of the first page, and ignore `limit` and `cursor`. At most `max_output_days` dates (366 by default)."""
        lake, db, settings = svc
        fmt = negotiate(request, format)
        check_span(start, end, settings.max_output_days, "output queries")
        keys = by.split(",")
        if any(k not in KEY_SQL for k in keys):
            raise InvalidArgumentError(f"by must name keys from {', '.join(KEY_SQL)}, got {by!r}",
                                       field="by", value=by)
        paged = fmt == "json"
        if paged:
            check_limit(limit, settings)
        tag = pinned_tag("by_key", start, end, by, buyer_seller, limit if paged else None, fmt, run=run,
                         cursor=cursor if paged else None)
        if cached := not_modified(request, tag):
            return cached
        with db.deadline(None), as_parameter("run", run, "run_id"):
            if not paged:
                schema, batches = stream_by_key(lake, start, end, by=keys, run=run, buyer_seller=buyer_seller)
                return stream_response(request, schema, db.bounded(batches, None), fmt,
                                       headers={"ETag": tag} if tag else None)
            table, next_cursor = output_by_key(lake, start, end, by=keys, run=run, buyer_seller=buyer_seller,
                                               limit=limit, cursor=cursor)
        return table_response(request, table, fmt, lambda items: KeyPage(items=items, next_cursor=next_cursor),
                              tag=tag)
