"""Aliases on real runs over real raw reads: set, list and delete with their history and who
and when; ``alias:NAME`` in queries 2-4 and the output rows as the run it points at; a
change that lost a race changes nothing; promotion moves an alias only when asked."""
from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from datalake import runs
from datalake.demo.generate import generate
from datalake.errors import CommitConflictError, ConflictError, InvalidArgumentError, NotFoundError
from datalake.lake import Lake
from datalake.maintenance.check import check_lake
from datalake.output.reads import output_by_key, output_summary, resolve_runs
from datalake.output.rows import output_rows
from datalake.runs.aliases import read_alias
from datalake.runs.promotion import ChecksFailedError
from tests.factories.output import days, interval_rows, publish_rows
from tests.service.conftest import lake_icps

JUNE = dt.date(2018, 6, 1)
END = JUNE + dt.timedelta(days=1)


@pytest.fixture
def two_runs(lake: Lake, tmp_path: Path) -> tuple[Lake, str, str, list[str]]:
    """8 ICPs x 2 days; run A answering latest, candidate C, both over the two days."""
    generate(lake, icps=8, days=2, start=JUNE, seed=4)
    icps = lake_icps(lake)
    a = publish_rows(lake, tmp_path, interval_rows(icps, days(JUNE, 2), seed=1), JUNE, END)["run_id"]
    c = publish_rows(lake, tmp_path, interval_rows(icps, days(JUNE, 2), seed=2), JUNE, END,
                     stage="candidate")["run_id"]
    return lake, a, c, icps


def test_set_list_and_delete_keep_the_history_with_who_and_when(two_runs) -> None:
    lake, a, c, _ = two_runs
    first = runs.set_alias(lake, "production", a, actor="alice")
    assert (first["name"], first["run_id"], first["set_by"], first["history"]) == ("production", a, "alice", [])
    assert runs.set_alias(lake, "production", a, actor="bob") == first  # already so: nothing changes
    moved = runs.set_alias(lake, "production", c, actor="bob")  # a candidate may be aliased
    assert (moved["run_id"], moved["set_by"]) == (c, "bob") and moved["set_at"] > first["set_at"]
    assert moved["history"] == [{"run_id": a, "set_at": first["set_at"], "set_by": "alice"}]
    runs.set_alias(lake, "staging", c, actor="alice")
    assert [(r["name"], r["run_id"]) for r in runs.list_aliases(lake)] == [("production", c), ("staging", c)]
    assert runs.get_alias(lake, "production") == moved
    assert json.loads(lake.layout.alias_record("production").read_text()) == moved

    deleted = runs.delete_alias(lake, "staging", actor="carol")
    assert (deleted["run_id"], deleted["set_by"]) == (None, "carol") and deleted["history"][0]["run_id"] == c
    assert [r["name"] for r in runs.list_aliases(lake)] == ["production"]
    with pytest.raises(NotFoundError, match="deleted at .* by carol") as gone:
        runs.get_alias(lake, "staging")
    assert gone.value.field == "name"
    with pytest.raises(NotFoundError):
        runs.delete_alias(lake, "staging")
    again = runs.set_alias(lake, "staging", a, actor="dave")
    assert [h["run_id"] for h in again["history"]] == [c, None] and again["history"][1]["set_by"] == "carol"
    assert check_lake(lake).ok


def test_an_alias_points_only_at_a_published_run_and_has_a_valid_name(two_runs) -> None:
    lake, a, c, _ = two_runs
    opened = runs.create_run(lake, start=JUNE, end=END, algorithm="m", version="1")["run_id"]
    with pytest.raises(ConflictError, match="only at a published run; .* is open"):
        runs.set_alias(lake, "production", opened)
    runs.abort_run(lake, opened)
    with pytest.raises(ConflictError, match="is aborted"):
        runs.set_alias(lake, "production", opened)
    with pytest.raises(NotFoundError):
        runs.set_alias(lake, "production", "run-00000099")
    for bad in ("Production", "1st", "", "a" * 65, "prod/uction", "../x"):
        with pytest.raises(InvalidArgumentError, match="alias name"):
            runs.set_alias(lake, bad, a)
    runs.retract_run(lake, a)
    with pytest.raises(ConflictError, match="is retracted"):
        runs.set_alias(lake, "production", a)
    assert runs.list_aliases(lake) == [] and not lake.layout.aliases_dir.exists()


def test_alias_selects_the_run_in_queries_2_to_4(two_runs) -> None:
    lake, a, c, icps = two_runs
    runs.set_alias(lake, "production", c)
    assert resolve_runs(lake, JUNE, END, "alias:production") == resolve_runs(lake, JUNE, END, c) == {JUNE: c, END: c}
    assert output_by_key(lake, JUNE, END, run="alias:production")[0] == output_by_key(lake, JUNE, END, run=c)[0]
    assert output_summary(lake, icps[0], run="alias:production")[0] == output_summary(lake, icps[0], run=c)[0]
    assert output_summary(lake, icps[0], start=JUNE, end=END, run="alias:production")[0] == \
        output_summary(lake, icps[0], start=JUNE, end=END, run=c)[0]
    assert set(output_rows(lake, JUNE, END, run="alias:production")[0].values()) == {c}
    assert runs.resolve_run(lake, "latest") == "latest" and runs.resolve_run(lake, a) == a

    with pytest.raises(NotFoundError, match="no alias staging") as unknown:
        output_by_key(lake, JUNE, END, run="alias:staging")
    assert (unknown.value.field, unknown.value.value) == ("run", "alias:staging")
    with pytest.raises(InvalidArgumentError, match="is not an alias name") as bad:
        output_summary(lake, icps[0], run="alias:Staging!")
    assert bad.value.field == "run"
    with pytest.raises(InvalidArgumentError, match="latest, a run id like run-00000001 or alias:NAME"):
        resolve_runs(lake, JUNE, END, "production")
    runs.delete_alias(lake, "production")
    with pytest.raises(NotFoundError, match="deleted at"):
        output_by_key(lake, JUNE, END, run="alias:production")


def test_a_cursor_through_an_alias_keeps_the_run_it_named(two_runs) -> None:
    lake, a, c, _ = two_runs
    runs.set_alias(lake, "production", a)
    page, cursor = output_by_key(lake, JUNE, END, by=["icp_id", "read_date"], run="alias:production", limit=3)
    runs.set_alias(lake, "production", c)
    seen = {r for row in page.column("runs").to_pylist() for r in row}
    while cursor is not None:
        page, cursor = output_by_key(lake, JUNE, END, by=["icp_id", "read_date"], run="alias:production", limit=3,
                                     cursor=cursor)
        seen |= {r for row in page.column("runs").to_pylist() for r in row}
    assert seen == {a}


def test_an_alias_change_that_lost_a_race_changes_nothing(two_runs) -> None:
    lake, a, c, _ = two_runs
    read = read_alias(lake, "production", fresh=True)  # None: absent
    runs.set_alias(lake, "production", a, actor="winner")
    with pytest.raises(CommitConflictError, match="another writer changed alias production first") as lost:
        runs.set_alias(lake, "production", c, actor="loser", based_on=read)
    assert "winner" in lost.value.winner
    record = runs.get_alias(lake, "production")
    assert (record["run_id"], record["set_by"], record["history"]) == (a, "winner", [])


def test_promotion_moves_an_alias_only_when_asked(two_runs, tmp_path: Path) -> None:
    lake, a, c, icps = two_runs
    runs.set_alias(lake, "production", a, actor="alice")
    runs.promote_run(lake, c, actor="ops")
    assert runs.get_alias(lake, "production")["run_id"] == a
    partial = publish_rows(lake, tmp_path, interval_rows(icps[:2], days(JUNE, 2), seed=3), JUNE, END,
                           allow_partial=True, stage="candidate")["run_id"]
    with pytest.raises(ChecksFailedError):
        runs.promote_run(lake, partial, alias="production")
    assert runs.get_alias(lake, "production")["run_id"] == a  # refused: nothing moved
    with pytest.raises(InvalidArgumentError) as bad:
        runs.promote_run(lake, partial, alias="Prod", force=True)
    assert bad.value.field == "alias" and runs.get_run(lake, partial)["stage"] == "candidate"

    promoted = runs.promote_run(lake, partial, alias="production", force=True, actor="ops")
    record = runs.get_alias(lake, "production")
    assert (record["run_id"], record["set_by"]) == (partial, "ops") and record["history"][-1]["run_id"] == a
    assert promoted["publish_seq"] == 3 and resolve_runs(lake, JUNE, END) == {JUNE: partial, END: partial}
    fresh = publish_rows(lake, tmp_path, interval_rows(icps, days(JUNE, 2), seed=6), JUNE, END,
                         stage="candidate")["run_id"]
    runs.promote_run(lake, fresh, alias="canary")
    assert runs.get_alias(lake, "canary")["run_id"] == fresh
    assert check_lake(lake).ok


def test_check_reports_an_alias_that_points_at_no_published_run(two_runs) -> None:
    lake, a, _, _ = two_runs
    runs.set_alias(lake, "production", a)
    opened = runs.create_run(lake, start=JUNE, end=END, algorithm="m", version="1")["run_id"]
    path = lake.layout.alias_record("production")
    path.write_text(json.dumps({**json.loads(path.read_text()), "run_id": opened}))
    lake.layout.alias_record("other").write_text(json.dumps({"name": "elsewhere", "run_id": None, "history": []}))
    report = check_lake(lake)
    assert not report.ok and report.aliases == 2
    assert any(f"points at '{opened}', which is open" in p for p in report.problems), report.problems
    assert any("other.json: names alias 'elsewhere'" in p for p in report.problems), report.problems

    candidate = json.loads(lake.layout.run_record(a).read_text())
    lake.layout.run_record(a).write_text(json.dumps({**candidate, "stage": "candidate"}))
    assert any("a candidate with publish_seq 1" in p for p in check_lake(lake).problems)
