"""Promoting a candidate run to answer "latest" for its window: its checks first, then the
optional alias move, then one conditional change of its record that takes the next
``publish_seq``.

The order is chosen so that a promotion that loses a race changes nothing: the checks are
computed before anything is written; the alias (``alias=NAME``) moves next, compare-and-swap
against the alias record read when the promotion began (of two promotions moving one alias,
one moves it and the other stops there with a conflict); the run record changes last, only
if it is still the candidate the promotion started from. A promotion that fails after the
alias moved (the run was retracted or promoted meanwhile, or the store failed) leaves the
alias pointing at the run, which is still readable by its id.
"""
from __future__ import annotations

import copy

from datalake.errors import ConflictError, MeterlakeError, environment_errors
from datalake.lake import Lake
from datalake.runs.aliases import read_alias, set_alias
from datalake.runs.checks import run_checks
from datalake.runs.coverage import Check
from datalake.runs.lifecycle import next_publish_seq
from datalake.runs.record import is_candidate, load, now, update
from datalake.storage import commit
from datalake.storage.layout import check_alias_name, check_run_id


class ChecksFailedError(MeterlakeError):
    """A promotion refused because checks of the run fail (and ``force`` was not given)."""

    code = "checks_failed"

    def __init__(self, run_id: str, failed: list[Check]) -> None:
        self.failed = failed
        names = [c.name for c in failed]
        super().__init__(f"run {run_id} not promoted: {len(failed)} check(s) fail: "
                         + "; ".join(f"{c.name} ({c.detail})" for c in failed)
                         + ". Promote it with force (HTTP force=true, CLI --force) to promote it anyway",
                         field="checks", value=",".join(names))


def _require_candidate(record: dict) -> None:
    if record["status"] != "published":
        raise ConflictError(f"cannot promote run {record['run_id']}: it is {record['status']}, not a published "
                            "candidate", field="status", value=record["status"])
    if not is_candidate(record):
        raise ConflictError(f"cannot promote run {record['run_id']}: it is not a candidate, it answers latest "
                            f"already (publish_seq {record['publish_seq']})", field="stage",
                            value=record.get("stage") or "latest")


@environment_errors
def promote_run(lake: Lake, run_id: str, *, actor: str | None = None, force: bool = False,
                alias: str | None = None) -> dict:
    """Make a published candidate answer "latest" for its window: its record gets
    ``stage="latest"``, the next ``publish_seq``, ``promoted_at`` and ``promoted_by``.
    Unless ``force``, every check of the run (``checks.run_checks``) must pass first, else
    ``ChecksFailedError`` naming the failing ones. With ``alias``, that alias points at the
    run too (created if new). ``ConflictError`` if the run is not a published candidate;
    ``CommitConflictError`` if another writer changed the run or the alias meanwhile."""
    check_run_id(run_id)
    if alias is not None:
        check_alias_name(alias, "alias")
    based_on = load(lake, run_id, fresh=True)
    _require_candidate(based_on)
    alias_before = read_alias(lake, alias, fresh=True) if alias is not None else None
    if not force:
        failed = [c for c in run_checks(lake, run_id) if not c.passed]
        if failed:
            raise ChecksFailedError(run_id, failed)
    if alias is not None:
        set_alias(lake, alias, run_id, actor=actor, based_on=alias_before)

    def change(current: dict, placed: commit.Staged) -> dict:
        _require_candidate(current)
        current.update(stage="latest", publish_seq=next_publish_seq(lake), promoted_at=now(), promoted_by=actor,
                       promoted_forced=force)
        return current

    return copy.deepcopy(update(lake, run_id, change, based_on=based_on))
