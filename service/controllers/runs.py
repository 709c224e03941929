"""Algorithm runs: open, upload output parts, publish (a candidate too), promote, retract,
abort, list."""
from __future__ import annotations

import contextlib
import datetime as dt
from typing import Annotated, Literal

import msgspec
from litestar import Controller, Request, delete, get, post, put
from litestar.concurrency import sync_to_thread
from litestar.params import JSONBody, Parameter

from datalake import cursor as cursors
from datalake import runs
from datalake.errors import InvalidArgumentError

from ..auth import audit_note, requires
from ..openapi import UploadOperation
from ..problems import problem_responses
from ..structs import NewRun, Run, RunPage, RunPart
from ..uploads import received_file
from .params import (ALIAS_PATTERN, ActorDep, Cursor, Limit, OptEnd, OptStart, RunId, ServicesDep, as_parameter,
                     check_limit, check_span, json_body)

PartNumber = Annotated[int, Parameter(description="part number, 1-based; uploading a number again replaces it",
                                      ge=1, le=99_999)]


def as_run(record: dict) -> Run:
    return msgspec.convert(record, Run, strict=False)


class RunsController(Controller):
    path = "/v1/runs"
    tags = ["runs"]

    @post("/", sync_to_thread=True, status_code=201, responses=problem_responses(404, 415), guards=[json_body],
          **requires("write"))
    def create(self, svc: ServicesDep, actor: ActorDep, data: JSONBody[NewRun]) -> Run:
        """Open a run over trading dates start..end for an algorithm version. `raw_as_of`
        names the raw snapshot (ingest id) the algorithm read; default the newest. Invalid
        fields are a 400 naming the field (body fields included). A window spans at most
        `max_output_days` dates (366 by default)."""
        with contextlib.suppress(ValueError):  # the engine reports unparseable dates
            check_span(dt.date.fromisoformat(data.start), dt.date.fromisoformat(data.end),
                       svc.settings.max_output_days, "runs")
        with as_parameter("raw_as_of", data.raw_as_of, "ingest_id"):
            return as_run(runs.create_run(svc.lake, start=data.start, end=data.end, algorithm=data.algorithm,
                                          version=data.version, params=data.params, raw_as_of=data.raw_as_of,
                                          actor=actor))

    @get("/", sync_to_thread=True, responses=problem_responses(), **requires("read"))
    def list(self, svc: ServicesDep, status: Annotated[
                 Literal["open", "published", "retracted", "aborted"] | None,
                 Parameter(description="only runs in this state")] = None,
             start: OptStart = None, end: OptEnd = None, limit: Limit = 100, cursor: Cursor = None) -> RunPage:
        """Run records, oldest first, optionally only those in `status` or whose window
        overlaps start..end; paginated by run id."""
        check_limit(limit, svc.settings)
        query = {"k": "runs", "status": status, "s": str(start) if start else None, "e": str(end) if end else None}
        after = cursors.decode(cursor, query, 1).after[0] if cursor is not None else ""
        if not isinstance(after, str):
            raise InvalidArgumentError("invalid cursor: bad key", field="cursor", value=cursor)
        records = [r for r in runs.list_runs(svc.lake, status=status, start=start, end=end) if r["run_id"] > after]
        page = records[:limit]
        more = len(records) > limit
        next_cursor = cursors.encode(cursors.Cursor(query, {}, [page[-1]["run_id"]])) if more else None
        return RunPage(items=[as_run(r) for r in page], next_cursor=next_cursor)

    @get("/{run_id:str}", sync_to_thread=True, responses=problem_responses(404), **requires("read"))
    def get(self, svc: ServicesDep, run_id: RunId) -> Run:
        """One run record: status, window, lineage, parts, row counts and totals."""
        return as_run(runs.get_run(svc.lake, run_id))

    @put("/{run_id:str}/parts/{part:int}", operation_class=UploadOperation,
         responses=problem_responses(404, 409, 413, 422), **requires("write"))
    async def upload(self, request: Request, svc: ServicesDep, actor: ActorDep, run_id: RunId, part: PartNumber,
                     source_name: Annotated[str | None, Parameter(description="name recorded for the part",
                                                                  max_length=200)] = None) -> RunPart:
        """Upload one part of an open run's output: CSV in the brief's format (optionally
        with trading_period), Parquet or Arrow IPC. Every row is validated: any bad row is a
        422 listing the first ones, and the run is left as it was. 409 if the run is not open."""
        async with received_file(request, svc.lake) as (path, fmt):
            entry = await sync_to_thread(runs.upload_part, svc.lake, run_id, part, path, fmt=fmt, actor=actor,
                                         source_name=source_name or f"part {part}")
        return msgspec.convert(entry, RunPart, strict=False)

    @post("/{run_id:str}/publish", sync_to_thread=True, status_code=200, responses=problem_responses(404, 409, 422),
          **requires("write"))
    def publish(self, request: Request, svc: ServicesDep, actor: ActorDep, run_id: RunId,
                allow_partial: Annotated[bool, Parameter(
                    description="publish even if dates of the window have no rows or ICPs with raw reads in the "
                                "window have no output (default false: such a run is refused with a 422 "
                                "partial_run)")] = False,
                stage: Annotated[Literal["latest", "candidate"], Parameter(
                    description="latest (default): the run answers latest for its window at once; candidate: "
                                "readable by its run id only, until promoted")] = "latest") -> Run:
        """Check the whole run and make it visible at once: it becomes "latest" for the
        dates of its window, or with `stage=candidate` readable by its id only (`POST
        .../promote` makes it latest). 409 unless the run is open; 422 with the duplicate
        rows when a key occurs twice across parts; 422 `partial_run`, listing them in
        `missing_dates`, `missing_icps` and `missing_icps_sample`, when dates of the window
        have no rows or ICPs with raw reads in the window (in the run's raw snapshot) have
        no output, unless `allow_partial=true`. Nothing is published when a check fails."""
        record = runs.publish_run(svc.lake, run_id, actor=actor, allow_partial=allow_partial, stage=stage)
        audit_note(request.scope, f"{run_id} published as {stage}"
                   + (f", publish_seq {record['publish_seq']}" if record["publish_seq"] else ""))
        return as_run(record)

    @post("/{run_id:str}/promote", sync_to_thread=True, status_code=200, responses=problem_responses(404, 409, 422),
          **requires("admin"))
    def promote(self, request: Request, svc: ServicesDep, actor: ActorDep, run_id: RunId,
                force: Annotated[bool, Parameter(
                    description="promote even if checks of the run fail (default false: refused with a 422 "
                                "checks_failed naming them)")] = False,
                alias: Annotated[str | None, Parameter(
                    description="also point this alias at the run (default: no alias moves)",
                    pattern=ALIAS_PATTERN)] = None) -> Run:
        """Make a published candidate answer "latest" for the dates of its window, at once:
        it takes the next `publish_seq`. Every check of `GET .../checks` must pass first,
        else a 422 `checks_failed` whose `failed_checks` names them, unless `force=true`.
        With `alias=NAME` the alias points at the run too (moved before the run is
        promoted: a promotion that loses a race for the alias changes nothing). 409 unless
        the run is a published candidate, or when another writer changed the run or the
        alias meanwhile."""
        with as_parameter("alias", alias, "name"):
            record = runs.promote_run(svc.lake, run_id, actor=actor, force=force, alias=alias)
        audit_note(request.scope, f"{run_id} promoted at {record['promoted_at']}, publish_seq {record['publish_seq']}"
                   + (" (forced)" if force else "") + (f", alias {alias} -> {run_id}" if alias else ""))
        return as_run(record)

    @post("/{run_id:str}/retract", sync_to_thread=True, status_code=200, responses=problem_responses(404, 409),
          **requires("admin"))
    def retract(self, svc: ServicesDep, actor: ActorDep, run_id: RunId) -> Run:
        """Withdraw a published run (a candidate too) from "latest"; its output stays
        readable by run id, and aliases pointing at it still do. 409 unless the run is
        published."""
        return as_run(runs.retract_run(svc.lake, run_id, actor=actor))

    @delete("/{run_id:str}", sync_to_thread=True, status_code=200, responses=problem_responses(404, 409),
            **requires("write"))
    def abort(self, svc: ServicesDep, actor: ActorDep, run_id: RunId) -> Run:
        """Abort an open run: it will never publish and its parts are removed. 409 unless
        the run is open."""
        return as_run(runs.abort_run(svc.lake, run_id, actor=actor))
