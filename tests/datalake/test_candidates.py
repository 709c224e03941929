"""Candidates and promotion on real runs over real raw reads: a candidate is readable by its id
and in no "latest" answer (engine queries 2-4, output rows, the analyst views, the checks'
latest_change); promotion makes it latest with the next publish_seq, only when its checks
pass unless forced; retraction and pinned cursors keep working."""
from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from datalake import runs, sql, views
from datalake.errors import ConflictError, InvalidArgumentError, NotFoundError
from datalake.demo.generate import generate
from datalake.lake import Lake
from datalake.maintenance.check import check_lake
from datalake.output.reads import output_by_key, output_summary, resolve_runs
from datalake.output.rows import output_rows
from datalake.runs.checks import run_checks
from datalake.runs.promotion import ChecksFailedError
from tests.factories.output import days, interval_rows, publish_rows, write_csv
from tests.service.conftest import lake_icps

JUNE = dt.date(2018, 6, 1)
D2, D3 = JUNE + dt.timedelta(days=1), JUNE + dt.timedelta(days=2)


@pytest.fixture
def staged(lake: Lake, tmp_path: Path) -> tuple[Lake, str, str, list[str]]:
    """8 ICPs x 3 days of raw reads; run A (latest) over 06-01..06-02, then candidate C over
    06-02..06-03: the only run covering 06-03."""
    generate(lake, icps=8, days=3, start=JUNE, seed=3)
    icps = lake_icps(lake)
    a = publish_rows(lake, tmp_path, interval_rows(icps, days(JUNE, 2), seed=1), JUNE, D2)["run_id"]
    c = publish_rows(lake, tmp_path, interval_rows(icps, [D2, D3], seed=2), D2, D3, stage="candidate")["run_id"]
    return lake, a, c, icps


def runs_of(table) -> set[str]:
    return {r for row in table.column("runs").to_pylist() for r in row}


def view_rows(lake: Lake, query: str) -> list[tuple]:
    con = sql.connect()
    try:
        views.define_views(con, lake)
        return con.sql(query).fetchall()
    finally:
        con.close()


def test_a_candidate_is_readable_by_id_and_answers_no_latest(staged) -> None:
    lake, a, c, icps = staged
    record = runs.get_run(lake, c)
    assert (record["status"], record["stage"], record["publish_seq"]) == ("published", "candidate", None)
    assert runs.get_run(lake, a)["stage"] == "latest" and runs.get_run(lake, a)["publish_seq"] == 1
    assert [r["run_id"] for r in runs.latest_runs(lake)] == [a]

    assert resolve_runs(lake, JUNE, D3) == {JUNE: a, D2: a}  # 06-03: no run answers latest
    assert resolve_runs(lake, JUNE, D3, c) == {D2: c, D3: c}
    latest, _ = output_by_key(lake, JUNE, D3, by=["read_date"])
    assert runs_of(latest) == {a} and [d.isoformat() for d in latest.column("read_date").to_pylist()] == [
        "2018-06-01", "2018-06-02"]
    pinned, _ = output_by_key(lake, JUNE, D3, by=["read_date"], run=c)
    assert runs_of(pinned) == {c} and pinned.num_rows == 2
    assert output_by_key(lake, JUNE, D3, by=["icp_id"], run=c)[0].num_rows == len(icps)

    summary, _ = output_summary(lake, icps[0])  # the whole history: the dates latest runs cover
    assert runs_of(summary) == {a} and {p for p in summary.column("period").to_pylist()} == {
        "2018-06-01", "2018-06-02"}
    assert runs_of(output_summary(lake, icps[0], run=c)[0]) == {c}
    pinned_dates, batches = output_rows(lake, JUNE, D3)
    assert set(pinned_dates.values()) == {a} and {b.column("run_id")[0].as_py() for b in batches} == {a}

    assert view_rows(lake, f"SELECT count(*) FROM output_latest WHERE run_id = '{c}'") == [(0,)]
    assert view_rows(lake, f"SELECT count(*) > 0 FROM output_all WHERE run_id = '{c}'") == [(True,)]
    assert view_rows(lake, "SELECT DISTINCT run_id FROM output_runs_by_date") == [(a,)]
    assert sorted(view_rows(lake, "SELECT run_id, stage, publish_seq FROM runs")) == [(a, "latest", 1),
                                                                                        (c, "candidate", None)]
    assert check_lake(lake).ok


def test_promotion_makes_it_latest_with_the_next_publish_seq(staged, tmp_path: Path) -> None:
    lake, a, c, icps = staged
    b = publish_rows(lake, tmp_path, interval_rows(icps, [JUNE], seed=4), JUNE, JUNE)["run_id"]
    assert runs.get_run(lake, b)["publish_seq"] == 2  # the candidate took none
    page, cursor = output_by_key(lake, JUNE, D3, by=["read_date", "icp_id"], limit=5)
    assert cursor is not None and runs_of(page) == {b}

    promoted = runs.promote_run(lake, c, actor="ops")
    assert (promoted["stage"], promoted["publish_seq"], promoted["promoted_by"]) == ("latest", 3, "ops")
    assert promoted["promoted_at"] >= promoted["published_at"] and promoted["promoted_forced"] is False
    assert runs.get_run(lake, c) == promoted
    assert resolve_runs(lake, JUNE, D3) == {JUNE: b, D2: c, D3: c}
    assert view_rows(lake, "SELECT read_date, run_id FROM output_runs_by_date ORDER BY 1") == [
        (JUNE, b), (D2, c), (D3, c)]

    # A cursor taken before the promotion still answers from the runs it pinned.
    seen = set(runs_of(page))
    while cursor is not None:
        page, cursor = output_by_key(lake, JUNE, D3, by=["read_date", "icp_id"], limit=5, cursor=cursor)
        seen |= runs_of(page)
    assert seen == {b, a}

    runs.retract_run(lake, c, actor="ops")
    assert resolve_runs(lake, JUNE, D3) == {JUNE: b, D2: a}
    assert runs_of(output_by_key(lake, D3, D3, run=c)[0]) == {c}  # still readable by its id
    assert check_lake(lake).ok


def test_promotion_refuses_a_run_whose_checks_fail_unless_forced(staged, tmp_path: Path) -> None:
    lake, a, c, icps = staged
    partial = publish_rows(lake, tmp_path, interval_rows(icps[:3], [D3], seed=5), D3, D3, allow_partial=True,
                           stage="candidate")["run_id"]
    with pytest.raises(ChecksFailedError) as refused:
        runs.promote_run(lake, partial, actor="ops")
    assert [check.name for check in refused.value.failed] == ["missing_icps"]
    assert refused.value.code == "checks_failed" and refused.value.value == "missing_icps"
    assert "missing_icps" in refused.value.message and "force" in refused.value.message
    assert runs.get_run(lake, partial)["stage"] == "candidate" and resolve_runs(lake, D3, D3) == {}

    forced = runs.promote_run(lake, partial, actor="ops", force=True)
    assert (forced["stage"], forced["publish_seq"], forced["promoted_forced"]) == ("latest", 2, True)
    assert resolve_runs(lake, D3, D3) == {D3: partial}

    # A numeric check fails only against a bound: here the lake's.
    lake.info["checks"] = {"max_buyer_seller_gap": 0}
    with pytest.raises(ChecksFailedError) as refused:
        runs.promote_run(lake, c)
    assert [check.name for check in refused.value.failed] == ["buyer_seller_balance"]
    lake.info.pop("checks")
    assert runs.promote_run(lake, c)["publish_seq"] == 3


def test_only_a_published_candidate_can_be_promoted(staged, tmp_path: Path) -> None:
    lake, a, c, icps = staged
    with pytest.raises(ConflictError, match="not a candidate, it answers latest already"):
        runs.promote_run(lake, a)
    runs.retract_run(lake, c)
    with pytest.raises(ConflictError, match="it is retracted"):
        runs.promote_run(lake, c)
    opened = runs.create_run(lake, start=JUNE, end=JUNE, algorithm="m", version="1")["run_id"]
    with pytest.raises(ConflictError, match="it is open"):
        runs.promote_run(lake, opened)
    with pytest.raises(NotFoundError):
        runs.promote_run(lake, "run-00000099")
    with pytest.raises(InvalidArgumentError, match="stage must be one of candidate, latest"):
        runs.publish_run(lake, opened, stage="staging")


def test_latest_change_compares_with_what_answers_latest_never_a_candidate(staged, tmp_path: Path) -> None:
    lake, a, c, icps = staged
    other = publish_rows(lake, tmp_path, interval_rows(icps, [D2], seed=9), D2, D2, stage="candidate")["run_id"]
    for run in (c, other):
        change = {check.name: check for check in run_checks(lake, run)}["latest_change"]
        assert change.numbers["against"] == [a] and change.numbers["dates"] == 1  # 06-02 only
    runs.promote_run(lake, c)
    change = {check.name: check for check in run_checks(lake, other)}["latest_change"]
    assert change.numbers["against"] == [c]


def test_views_defined_before_a_promotion_see_it(staged) -> None:
    lake, a, c, _ = staged
    con = sql.connect()
    try:
        views.define_views(con, lake)
        assert con.sql("SELECT DISTINCT run_id FROM output_latest").fetchall() == [(a,)]
        runs.promote_run(lake, c)
        assert con.sql("SELECT read_date, run_id FROM output_runs_by_date ORDER BY 1").fetchall() == [
            (JUNE, a), (D2, c), (D3, c)]
        assert con.sql("SELECT DISTINCT run_id FROM output_latest ORDER BY 1").fetchall() == [(a,), (c,)]
    finally:
        con.close()
