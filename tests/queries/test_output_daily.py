"""Totals by key from the runs' daily totals (the serving copy ICP x date x side) equal
those from the output files: every key order, side, range, pinned run and page, across
overlapping runs; after a retraction; while a newer run has no daily totals yet; and a
total too large for DECIMAL(18, 4) fails the same way."""
from __future__ import annotations

import datetime as dt
import itertools
from decimal import Decimal
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.ipc as ipc
import pytest

from datalake import output, runs, serving, sql
from datalake.lake import Lake
from tests.factories.output import days, interval_rows, publish_rows

D = dt.date(2018, 6, 1)
ICPS = ["0000012345TR9A1", "0000067890UN2B2", "101", "ICP7"]
CON = sql.connect()


def from_files(lake: Lake, monkeypatch: pytest.MonkeyPatch, **kw) -> list:
    """Every page of a by-key query answered from the output files alone."""
    with monkeypatch.context() as m:
        m.setattr(serving, "daily_output", lambda *a: None)
        return pages(lake, **kw)


def pages(lake: Lake, **kw) -> list:
    out, cursor = [], None
    while True:
        table, cursor = output.output_by_key(lake, con=CON, cursor=cursor, **kw)
        out.append(table)
        if cursor is None:
            return out


def build_all(lake: Lake) -> None:
    for record in runs.list_runs(lake, status="published"):
        serving.build_daily_output(lake, record["run_id"])


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> Lake:
    """Run 1 over 06-01..08 (all ICPs, both sides), run 2 over 06-04..05 (three ICPs, buyer
    only), run 3 over 06-05..06 (two ICPs, two parts); ICP7 lacks seller rows in run 1."""
    folder = tmp_path_factory.mktemp("daily")
    lake = Lake.create(folder / "lake")
    rows = [r for r in interval_rows(ICPS, days(D, 8), seed=1) if r["icp_id"] != "ICP7" or r["buyer_seller"] == "buyer"]
    publish_rows(lake, folder, rows, D, D + dt.timedelta(days=7), parts=3)
    publish_rows(lake, folder, interval_rows(ICPS[:3], days(D + dt.timedelta(days=3), 2), seed=2, sides=("buyer",)),
                 D + dt.timedelta(days=3), D + dt.timedelta(days=4))
    publish_rows(lake, folder, interval_rows(ICPS[1:3], days(D + dt.timedelta(days=4), 2), seed=3),
                 D + dt.timedelta(days=4), D + dt.timedelta(days=5), parts=2)
    build_all(lake)
    return lake


BYS = [list(p[:n]) for n in (1, 2, 3) for p in itertools.permutations(["icp_id", "read_date", "buyer_seller"])]
CASES = [
    # (first day, last day, run)
    (0, 0, "latest"), (4, 4, "latest"), (4, 5, "latest"), (0, 7, "latest"), (3, 9, "latest"),
    (0, 7, "run-00000001"), (4, 5, "run-00000003"),
]


def test_daily_totals_equal_the_files(lake: Lake) -> None:
    for record in runs.list_runs(lake, status="published"):
        folder = serving.build_daily_output(lake, record["run_id"])
        got = ipc.open_file(pa.memory_map(str(folder / "days.arrow"))).read_all()
        want = duckdb.execute(
            "SELECT read_date, icp_id, buyer_seller, sum(matched_amount), count(*) FROM read_parquet($f, "
            "hive_partitioning = true, hive_types = {'run_id': VARCHAR, 'read_date': DATE}) "
            "GROUP BY ALL ORDER BY read_date, icp_id, buyer_seller",
            {"f": [f for fs in runs.output_files(lake, record["run_id"]).values() for f in fs]}).fetchall()
        assert [tuple(r.values()) for r in got.to_pylist()] == want
        assert sum(got["intervals"].to_pylist()) == record["rows"]


@pytest.mark.parametrize(("first", "last", "run"), CASES)
def test_by_key_from_daily_totals_equals_files(lake: Lake, monkeypatch: pytest.MonkeyPatch, first: int, last: int,
                                               run: str) -> None:
    start, end = D + dt.timedelta(days=first), D + dt.timedelta(days=last)
    assert serving.daily_output(lake, output.resolve_runs(lake, start, end, run)) is not None
    for by, side, limit in itertools.product(BYS, (None, "buyer", "seller"), (None, 1, 7)):
        if limit == 1 and by != ["icp_id", "buyer_seller"]:
            continue  # one row a page: slow, and no different from 7 but for the default keys
        kw = dict(start=start, end=end, by=by, buyer_seller=side, run=run, limit=limit)
        got, want = pages(lake, **kw), from_files(lake, monkeypatch, **kw)
        assert [t.to_pylist() for t in got] == [t.to_pylist() for t in want], kw
        assert all(g.schema == w.schema for g, w in zip(got, want)), kw


def test_retracted_and_newer_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    lake = Lake.create(tmp_path / "lake")
    publish_rows(lake, tmp_path, interval_rows(ICPS, days(D, 4), seed=1), D, D + dt.timedelta(days=3))
    second = publish_rows(lake, tmp_path, interval_rows(ICPS[:2], days(D + dt.timedelta(days=1), 2), seed=2),
                          D + dt.timedelta(days=1), D + dt.timedelta(days=2))
    build_all(lake)
    end = D + dt.timedelta(days=3)

    def same(**kw) -> list:
        got = pages(lake, start=D, end=end, **kw)
        assert [t.to_pylist() for t in got] == [t.to_pylist() for t in from_files(lake, monkeypatch, start=D,
                                                                                   end=end, **kw)], kw
        return [r for t in got for r in t.to_pylist()]

    assert {r for row in same() for r in row["runs"]} == {"run-00000001", second["run_id"]}
    runs.retract_run(lake, second["run_id"])
    assert serving.daily_output(lake, output.resolve_runs(lake, D, end)) is not None
    assert {r for row in same(limit=3) for r in row["runs"]} == {"run-00000001"}
    same(run=second["run_id"])  # a retracted run stays readable by id, from its daily totals
    third = publish_rows(lake, tmp_path, interval_rows(ICPS[1:], days(D + dt.timedelta(days=2), 2), seed=3),
                         D + dt.timedelta(days=2), end)
    assert serving.daily_output(lake, output.resolve_runs(lake, D, end)) is None  # not built yet: the files answer
    before = same(limit=2)
    assert third["run_id"] in {r for row in before for r in row["runs"]}
    serving.build_daily_output(lake, third["run_id"])
    assert serving.daily_output(lake, output.resolve_runs(lake, D, end)) is not None
    assert same(limit=2) == before


def test_a_total_beyond_decimal_18_4_fails_as_from_the_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    lake = Lake.create(tmp_path / "lake")
    rows = interval_rows(["101"], [D], sides=("buyer",))
    for r in rows:
        r["matched_amount"] = Decimal("99999999999999.0000")
    publish_rows(lake, tmp_path, rows, D, D)
    build_all(lake)
    errors = []
    for use_files in (False, True):
        with monkeypatch.context() as m:
            if use_files:
                m.setattr(serving, "daily_output", lambda *a: None)
            with pytest.raises(duckdb.Error) as caught:
                output.output_by_key(lake, D, D, con=CON)
            errors.append((type(caught.value), str(caught.value)))
    assert errors[0] == errors[1]


def test_runs_without_an_icp_index_page_by_icp_from_the_output_index(tmp_path: Path) -> None:
    """A run published before publish wrote ICP indexes: by-icp pages take their bound from
    the output index's ICP table once it is built, and give the same pages."""
    from datalake.storage import write_json_atomic

    lake = Lake.create(tmp_path / "lake")
    record = publish_rows(lake, tmp_path, interval_rows(ICPS, days(D, 2), seed=1), D, D + dt.timedelta(days=1))
    write_json_atomic(lake.layout.run_record(record["run_id"]), {**record, "icp_index": None})
    run_id = (record["run_id"],)
    assert output._icp_keys(lake, run_id) is None
    end = D + dt.timedelta(days=1)
    want = [t.to_pylist() for t in pages(lake, start=D, end=end, limit=3)]
    serving.build_output_index(lake, record["run_id"])
    assert output._icp_keys(lake, run_id) == sorted(ICPS)
    assert [t.to_pylist() for t in pages(lake, start=D, end=end, limit=3)] == want
    serving.build_daily_output(lake, record["run_id"])
    assert [t.to_pylist() for t in pages(lake, start=D, end=end, limit=3)] == want
