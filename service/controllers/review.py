"""Reviewing published runs: the checks on one run, and the diff of two (thin: the engine is
``datalake.runs.checks`` and ``datalake.runs.diff``)."""
from __future__ import annotations

from typing import Annotated, Literal

import msgspec
from litestar import Controller, Request, Response, get
from litestar.params import Parameter

from datalake.errors import InvalidArgumentError
from datalake.runs.checks import run_checks
from datalake.runs.diff import run_diff, run_diff_by_date

from ..auth import requires
from ..encoding import json_array, table_response
from ..negotiation import Format, negotiate
from ..openapi import TabularOperation
from ..problems import problem_responses
from ..reviewstructs import RunCheck, RunChecks, RunDiff, RunDiffDates
from .output import NEXT_CURSOR_DOC, NEXT_CURSOR_HEADER
from .params import Cursor, FormatParam, Limit, RunId, ServicesDep, as_parameter, check_limit

Against = Annotated[str, Parameter(description="the run to compare with, e.g. run-00000001",
                                   pattern=r"^run-[0-9]{8}$")]
DiffTable = Annotated[Literal["changes", "sides"] | None, Parameter(
    description="CSV and Arrow only: which table to send, the page of changes (default) or the totals by side")]


class ReviewController(Controller):
    path = "/v1/runs"
    tags = ["runs"]

    @get("/{run_id:str}/checks", sync_to_thread=True, responses=problem_responses(404, 409), **requires("read"))
    def checks(self, request: Request, svc: ServicesDep, run_id: RunId, format: FormatParam = None) -> RunChecks:
        """Every check on a published (or retracted) run, computed now from its files, each
        a pass or a fail with the numbers behind it. Structural checks (`missing_icps`,
        `missing_dates`, `duplicate_keys`) fail whenever they find something; numeric ones
        (`buyer_seller_balance`, `latest_change`) fail only against a bound set in the run's
        params (`{"checks": {"max_buyer_seller_gap": 0.01}}`) or in `lake.json`. JSON only.
        409 for a run that is open or aborted."""
        negotiate(request, format, (Format.JSON,))
        with as_parameter("run_id", run_id, "run"):
            found = run_checks(svc.lake, run_id)
        return RunChecks(run_id=run_id, passed=all(c.passed for c in found),
                         checks=[msgspec.convert(c.to_dict(), RunCheck) for c in found])

    @get("/{run_id:str}/diff", operation_class=TabularOperation, sync_to_thread=True,
         responses=problem_responses(404, 409), response_headers=[NEXT_CURSOR_DOC], **requires("read"))
    def diff(self, request: Request, svc: ServicesDep, run_id: RunId, against: Against, limit: Limit = 100,
             cursor: Cursor = None, table: DiffTable = None, format: FormatParam = None) -> Response[RunDiff]:
        """The run against another over the dates both windows cover: per buyer_seller side,
        each run's total, `difference` (run minus `against`) and the counts of (ICP, date)
        cells added, removed, changed and unchanged; then the largest changes per ICP, date
        and side, largest first, a page of `limit` with `next_cursor`. JSON has both; CSV and
        Arrow send one table (`table=changes`, the default, with the next cursor in
        `X-Next-Cursor`, or `table=sides`). 409 if a run is not published (or retracted) or
        the windows share no date."""
        fmt = negotiate(request, format)
        check_limit(limit, svc.settings)
        if table is not None and fmt is Format.JSON:
            raise InvalidArgumentError("table applies to CSV and Arrow only: JSON has both tables",
                                       field="table", value=table)
        with as_parameter("against", against, "run_id"):
            found = run_diff(svc.lake, run_id, against, limit=limit, cursor=cursor)
        headers = {NEXT_CURSOR_HEADER: found.next_cursor} if found.next_cursor else None
        if table == "sides":
            return table_response(request, found.sides, fmt, lambda items: items)
        return table_response(request, found.changes, fmt, lambda changes: RunDiff(
            run_id=found.run_id, against=found.against, start=found.start.isoformat(), end=found.end.isoformat(),
            sides=msgspec.Raw(json_array(found.sides)), changes=changes, next_cursor=found.next_cursor),
            headers=headers)

    @get("/{run_id:str}/diff/dates", operation_class=TabularOperation, sync_to_thread=True,
         responses=problem_responses(404, 409), **requires("read"))
    def diff_dates(self, request: Request, svc: ServicesDep, run_id: RunId, against: Against,
                   format: FormatParam = None) -> Response[RunDiffDates]:
        """The diff's sides per date: for each date both windows cover and each
        buyer_seller side, each run's total, `difference` (run minus `against`) and the cells
        added, removed, changed and unchanged; the rows of a side add up to that side of
        `/diff`. JSON wraps the rows with the runs and dates; CSV and Arrow are the rows.
        409 if a run is not published (or retracted) or the windows share no date."""
        fmt = negotiate(request, format)
        with as_parameter("against", against, "run_id"):
            table = run_diff_by_date(svc.lake, run_id, against)
        start, end = table["read_date"][0].as_py(), table["read_date"][-1].as_py()
        return table_response(request, table, fmt, lambda items: RunDiffDates(
            run_id=run_id, against=against, start=start.isoformat(), end=end.isoformat(), items=items))
