"""Named aliases of runs: set, list, read and delete them (thin: the engine is
``datalake.runs.aliases``)."""
from __future__ import annotations

import msgspec
from litestar import Controller, Request, delete, get, put
from litestar.params import JSONBody

from datalake import runs

from ..auth import audit_note, requires
from ..problems import problem_responses
from ..structs import Alias, AliasList, NewAlias
from .params import ActorDep, AliasName, ServicesDep, as_parameter, json_body


def as_alias(record: dict) -> Alias:
    return msgspec.convert(record, Alias, strict=False)


class AliasesController(Controller):
    path = "/v1/aliases"
    tags = ["aliases"]

    @get("/", sync_to_thread=True, responses=problem_responses(), **requires("read"))
    def list(self, svc: ServicesDep) -> AliasList:
        """Every alias that points at a run, by name, each with its history."""
        return AliasList(items=[as_alias(r) for r in runs.list_aliases(svc.lake)])

    @get("/{name:str}", sync_to_thread=True, responses=problem_responses(404), **requires("read"))
    def get(self, svc: ServicesDep, name: AliasName) -> Alias:
        """One alias: the run it points at, who set it and when, and every earlier state.
        404 if it points at nothing (never set, or deleted)."""
        return as_alias(runs.get_alias(svc.lake, name))

    @put("/{name:str}", sync_to_thread=True, status_code=200, responses=problem_responses(404, 409, 415),
         guards=[json_body], **requires("admin"))
    def set(self, request: Request, svc: ServicesDep, actor: ActorDep, name: AliasName,
            data: JSONBody[NewAlias]) -> Alias:
        """Point the alias at a published run (a candidate, or one answering latest),
        creating it if new: one conditional change of its record, the state it replaces kept
        in `history`, with who set it (`set_by`, the token's name) and when (`set_at`).
        Setting it to the run it points at already changes nothing. 404 for an unknown run
        (`field: run_id`); 409 for a run that is not published, or when another writer
        changed the alias meanwhile (nothing changed: read it and set it again)."""
        with as_parameter("run_id", data.run_id, "run_id"):
            record = runs.set_alias(svc.lake, name, data.run_id, actor=actor)
        audit_note(request.scope, f"alias {name} -> {record['run_id']}, set at {record['set_at']} "
                                  f"by {record['set_by']}")
        return as_alias(record)

    @delete("/{name:str}", sync_to_thread=True, status_code=200, responses=problem_responses(404, 409),
            **requires("admin"))
    def remove(self, request: Request, svc: ServicesDep, actor: ActorDep, name: AliasName) -> Alias:
        """Delete the alias: `run_id` becomes null, `set_at`/`set_by` say who deleted it and
        when, and its history stays (setting it again goes on from it). 404 if it points
        at nothing; 409 when another writer changed it meanwhile."""
        record = runs.delete_alias(svc.lake, name, actor=actor)
        audit_note(request.scope, f"alias {name} deleted (was {record['history'][-1]['run_id']}) "
                                  f"at {record['set_at']} by {record['set_by']}")
        return as_alias(record)
