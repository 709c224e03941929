"""The run and output views, on real published runs: same answers as the engine's output
queries (by key, one ICP's summary over a range and over its whole history, pinned runs)."""
from __future__ import annotations

import datetime as dt
import shutil
from decimal import Decimal

import duckdb
import pytest

from datalake.output import reads as output
from datalake import runs
from datalake import sql
from datalake import views
from datalake.lake import Lake
from tests.conftest import empty_view_types
from tests.factories.output import days, interval_rows, write_csv

ICPS = ["0000012345TR9A1", "0000067890UN2B2", "0000011111CE3C3"]
D = dt.date(2018, 6, 1)


def publish(lake: Lake, start: dt.date, n: int, seed: int, icps: list[str] = ICPS, *, publish: bool = True,
            allow_partial: bool = False) -> str:
    run = runs.create_run(lake, start=start, end=start + dt.timedelta(days=n - 1), algorithm="matcher",
                          version=f"1.{seed}")["run_id"]
    rows = interval_rows(icps, days(start, n), seed=seed)
    runs.upload_part(lake, run, 1, write_csv(lake.root.parent / f"out-{seed}.csv", rows))
    if publish:
        runs.publish_run(lake, run, allow_partial=allow_partial)
    return run


@pytest.fixture(scope="module")
def run_lake(tmp_path_factory: pytest.TempPathFactory) -> Lake:
    """run 1 covers 06-01..06-05; run 2 (06-02..06-03, one ICP fewer) overrides it there;
    run 3 (06-04..06-06) was published and then retracted; run 4 is still open."""
    lake = Lake.create(tmp_path_factory.mktemp("runs") / "lake")
    publish(lake, D, 5, seed=1)
    publish(lake, D + dt.timedelta(days=1), 2, seed=2, icps=ICPS[:2])
    runs.retract_run(lake, publish(lake, D + dt.timedelta(days=3), 3, seed=3))
    publish(lake, D, 1, seed=4, publish=False)
    return lake


@pytest.fixture(scope="module")
def con(run_lake: Lake) -> duckdb.DuckDBPyConnection:
    con = sql.connect()
    views.define_views(con, run_lake)
    return con


def rows_of(table) -> list[tuple]:
    return [tuple(r.values()) for r in table.to_pylist()]


def test_latest_by_key_equals_the_engine(run_lake, con):
    engine, _ = output.output_by_key(run_lake, D, D + dt.timedelta(days=6))
    got = con.sql("""SELECT icp_id, buyer_seller, sum(matched_amount), count(*), list(DISTINCT run_id ORDER BY run_id)
                     FROM output_latest WHERE read_date BETWEEN '2018-06-01' AND '2018-06-07'
                     GROUP BY ALL ORDER BY ALL""").fetchall()
    assert got == rows_of(engine)
    assert {r for row in got for r in row[4]} == {"run-00000001", "run-00000002"}


def test_latest_resolves_dates_as_the_engine(run_lake, con):
    resolved = output.resolve_runs(run_lake, D, D + dt.timedelta(days=6))
    got = dict(con.sql("SELECT read_date, run_id FROM output_runs_by_date ORDER BY 1").fetchall())
    assert got == resolved


@pytest.mark.parametrize("side", [None, "buyer", "seller"])
def test_one_icp_summary_equals_the_engine(run_lake, con, side):
    for icp in ICPS:
        engine, _ = output.output_summary(run_lake, icp, start=D, end=D + dt.timedelta(days=4),
                                          buyer_seller=side, limit=None)
        got = con.sql("""SELECT strftime(read_date, '%Y-%m-%d'), buyer_seller, sum(matched_amount), count(*),
                                list(DISTINCT run_id ORDER BY run_id)
                         FROM output_latest
                         WHERE icp_id = $icp AND ($side IS NULL OR buyer_seller = $side)
                           AND read_date BETWEEN '2018-06-01' AND '2018-06-05'
                         GROUP BY ALL ORDER BY ALL""", params={"icp": icp, "side": side}).fetchall()
        assert got == rows_of(engine)


def test_whole_history_by_month_equals_the_engine(run_lake, con):
    for icp in ICPS:
        engine, _ = output.output_summary(run_lake, icp, granularity="month", limit=None)
        got = con.sql("""SELECT strftime(read_date, '%Y-%m'), buyer_seller, sum(matched_amount), count(*),
                                list(DISTINCT run_id ORDER BY run_id)
                         FROM output_latest WHERE icp_id = $icp GROUP BY ALL ORDER BY ALL""",
                      params={"icp": icp}).fetchall()
        assert got == rows_of(engine)


def test_a_pinned_run_reads_from_output_all(run_lake, con):
    for run in ("run-00000001", "run-00000002", "run-00000003"):  # run 3 is retracted
        engine, _ = output.output_by_key(run_lake, D, D + dt.timedelta(days=6), by=["read_date"], run=run)
        got = con.sql("""SELECT read_date, sum(matched_amount), count(*), [run_id]
                         FROM output_all WHERE run_id = $run GROUP BY ALL ORDER BY 1""",
                      params={"run": run}).fetchall()
        assert got == rows_of(engine)


def test_runs_view_mirrors_the_records(run_lake, con):
    records = runs.list_runs(run_lake)
    got = con.sql("SELECT run_id, status, window_start, window_end, publish_seq, totals.buyer, rows FROM runs "
                  "ORDER BY run_id").fetchall()
    assert got == [(r["run_id"], r["status"], dt.date.fromisoformat(r["start"]), dt.date.fromisoformat(r["end"]),
                    r["publish_seq"], Decimal(r["totals"]["buyer"]) if r["totals"] else None, r["rows"])
                   for r in records]
    per_run = dict(con.sql("SELECT run_id, count(*) FROM output_all GROUP BY 1").fetchall())
    assert per_run == {r["run_id"]: r["rows"] for r in records if r["status"] != "open"}


def test_retraction_shows_at_once_and_new_runs_after_refresh(run_lake, tmp_path):
    lake = Lake(shutil.copytree(run_lake.root, tmp_path / "lake"))
    con = sql.connect()
    views.define_views(con, lake)
    runs.retract_run(lake, "run-00000002")
    assert set(con.sql("SELECT DISTINCT run_id FROM output_latest").fetchall()) == {("run-00000001",)}
    late = publish(lake, D, 2, seed=5)
    assert con.sql("SELECT count(*) FROM output_all WHERE run_id = $r", params={"r": late}).fetchall() == [(0,)]
    views.define_views(con, lake)
    latest = dict(con.sql("SELECT read_date, run_id FROM output_runs_by_date").fetchall())
    assert latest == output.resolve_runs(lake, D, D + dt.timedelta(days=6))
    assert latest[D] == late


def test_output_views_without_runs_are_empty_and_typed(lake):
    types = empty_view_types(lake, ("runs", "output_all", "output_latest", "output_runs_by_date"), "output_latest")
    assert types == {"run_id": "VARCHAR", "read_date": "DATE", "icp_id": "VARCHAR", "trading_period": "SMALLINT",
                     "read_time": "VARCHAR", "buyer_seller": "VARCHAR", "matched_amount": "DECIMAL(18,4)",
                     "publish_datetime": "TIMESTAMP WITH TIME ZONE"}


def test_catalog_holds_the_output_views(run_lake, con, tmp_path):
    views.write_catalog(run_lake, tmp_path / "c.duckdb")
    plain = duckdb.connect(str(tmp_path / "c.duckdb"), read_only=True)
    query = "SELECT run_id, count(*), sum(matched_amount) FROM output_latest GROUP BY 1 ORDER BY 1"
    assert plain.sql(query).fetchall() == con.sql(query).fetchall()
    assert plain.sql("SELECT output_runs FROM meterlake_catalog").fetchall() == [
        (["run-00000001", "run-00000002", "run-00000003"],)]
