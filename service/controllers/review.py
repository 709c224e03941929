"""Reviewing published runs: the checks on one run, and the diff of two."""
from __future__ import annotations

import msgspec
from litestar import Controller, Request, get

from datalake.runchecks import run_checks

from ..auth import requires
from ..negotiation import Format, negotiate
from ..problems import problem_responses
from ..structs import RunCheck, RunChecks
from .params import FormatParam, RunId, ServicesDep, as_parameter


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
