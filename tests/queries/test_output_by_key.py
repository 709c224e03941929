"""Totals by key (query 4, from the block files) equal the same totals computed by DuckDB
from the output files: every key order, side, range, pinned run and page, across
overlapping runs; after a retraction and a newer publish; without ICP indexes; and a total
too large for DECIMAL(18, 4) is refused."""
from __future__ import annotations

import datetime as dt
import itertools
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest

from datalake.output import reads as output
from datalake.output import pages as outputpages
from datalake import runs
from datalake.lake import Lake
from datalake.output.groups import TotalOutOfRangeError
from datalake.storage.files import write_json_atomic
from tests.factories.output import days, interval_rows, publish_rows

D = dt.date(2018, 6, 1)
ICPS = ["0000012345TR9A1", "0000067890UN2B2", "101", "ICP7"]


def pages(lake: Lake, **kw) -> list:
    out, cursor = [], None
    while True:
        table, cursor = output.output_by_key(lake, cursor=cursor, **kw)
        out.append(table)
        if cursor is None:
            return out


def from_files(lake: Lake, *, start: dt.date, end: dt.date, by: list[str], buyer_seller: str | None = None,
               run: str = "latest") -> list[dict]:
    """The answer computed by DuckDB from the Parquet files of the runs resolved for each date."""
    pinned = output.resolve_runs(lake, start, end, run)
    files = [f for day, r in pinned.items() for f in runs.output_files(lake, r).get(day, [])]
    if not files:
        return []
    keys = ", ".join(by)
    return duckdb.sql(
        f"SELECT {keys}, CAST(sum(matched_amount) AS DECIMAL(18, 4)) AS matched_amount, count(*) AS intervals, "
        "list(DISTINCT run_id ORDER BY run_id) AS runs FROM read_parquet($files, hive_partitioning = true, "
        "hive_types = {'run_id': VARCHAR, 'read_date': DATE}) WHERE $side IS NULL OR buyer_seller = $side "
        f"GROUP BY {keys} ORDER BY {keys}", params={"files": files, "side": buyer_seller}).to_arrow_table().to_pylist()


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> Lake:
    """Run 1 over 06-01..08 (all ICPs, both sides), run 2 over 06-04..05 (three ICPs, buyer
    only), run 3 over 06-05..06 (two ICPs, two parts); ICP7 lacks seller rows in run 1."""
    folder = tmp_path_factory.mktemp("by_key")
    lake = Lake.create(folder / "lake")
    rows = [r for r in interval_rows(ICPS, days(D, 8), seed=1) if r["icp_id"] != "ICP7" or r["buyer_seller"] == "buyer"]
    publish_rows(lake, folder, rows, D, D + dt.timedelta(days=7), parts=3)
    publish_rows(lake, folder, interval_rows(ICPS[:3], days(D + dt.timedelta(days=3), 2), seed=2, sides=("buyer",)),
                 D + dt.timedelta(days=3), D + dt.timedelta(days=4))
    publish_rows(lake, folder, interval_rows(ICPS[1:3], days(D + dt.timedelta(days=4), 2), seed=3),
                 D + dt.timedelta(days=4), D + dt.timedelta(days=5), parts=2)
    return lake


BYS = [list(p[:n]) for n in (1, 2, 3) for p in itertools.permutations(["icp_id", "read_date", "buyer_seller"])]
CASES = [
    # (first day, last day, run)
    (0, 0, "latest"), (4, 4, "latest"), (4, 5, "latest"), (0, 7, "latest"), (3, 9, "latest"),
    (0, 7, "run-00000001"), (4, 5, "run-00000003"),
]


@pytest.mark.parametrize(("first", "last", "run"), CASES)
def test_by_key_equals_the_files(lake: Lake, first: int, last: int, run: str) -> None:
    start, end = D + dt.timedelta(days=first), D + dt.timedelta(days=last)
    for by, side, limit in itertools.product(BYS, (None, "buyer", "seller"), (None, 1, 7)):
        if limit == 1 and by not in (["icp_id", "buyer_seller"], ["read_date", "icp_id"]):
            continue  # one row a page: slow, and no different from 7 but for the keys paged by ICP bounds
        kw = dict(start=start, end=end, by=by, buyer_seller=side, run=run)
        got = pages(lake, limit=limit, **kw)
        assert [r for t in got for r in t.to_pylist()] == from_files(lake, **kw), (kw, limit)
        assert all(t.schema == got[0].schema for t in got), kw
        assert limit is None or all(t.num_rows == limit for t in got[:-1]), kw


def test_retracted_and_newer_runs(tmp_path: Path) -> None:
    lake = Lake.create(tmp_path / "lake")
    publish_rows(lake, tmp_path, interval_rows(ICPS, days(D, 4), seed=1), D, D + dt.timedelta(days=3))
    second = publish_rows(lake, tmp_path, interval_rows(ICPS[:2], days(D + dt.timedelta(days=1), 2), seed=2),
                          D + dt.timedelta(days=1), D + dt.timedelta(days=2))
    end = D + dt.timedelta(days=3)

    def same(limit: int | None = None, run: str = "latest") -> list:
        by = ["icp_id", "buyer_seller"]
        got = [r for t in pages(lake, start=D, end=end, by=by, run=run, limit=limit) for r in t.to_pylist()]
        assert got == from_files(lake, start=D, end=end, by=by, run=run)
        return got

    assert {r for row in same() for r in row["runs"]} == {"run-00000001", second["run_id"]}
    runs.retract_run(lake, second["run_id"])
    assert {r for row in same(limit=3) for r in row["runs"]} == {"run-00000001"}
    same(run=second["run_id"])  # a retracted run stays readable by id
    third = publish_rows(lake, tmp_path, interval_rows(ICPS[1:], days(D + dt.timedelta(days=2), 2), seed=3),
                         D + dt.timedelta(days=2), end)
    assert third["run_id"] in {r for row in same(limit=2) for r in row["runs"]}


def test_a_total_beyond_decimal_18_4_is_refused(tmp_path: Path) -> None:
    lake = Lake.create(tmp_path / "lake")
    rows = interval_rows(["101"], [D], sides=("buyer",))
    for r in rows:
        r["matched_amount"] = Decimal("99999999999999.0000")
    publish_rows(lake, tmp_path, rows, D, D)
    with pytest.raises(duckdb.Error):  # as DuckDB refuses it
        from_files(lake, start=D, end=D, by=["icp_id"])
    for by in (["icp_id", "buyer_seller"], ["read_date"]):
        with pytest.raises(TotalOutOfRangeError):
            output.output_by_key(lake, D, D, by=by)
    with pytest.raises(TotalOutOfRangeError):
        output.output_summary(lake, "101")
    interval, _ = output.output_summary(lake, "101", granularity="interval", limit=None)
    assert interval.num_rows == 48 and interval["matched_amount"][0].as_py() == Decimal("99999999999999.0000")


def test_runs_without_an_icp_index_give_the_same_pages(tmp_path: Path) -> None:
    """A run published before publish wrote ICP indexes: by-icp pages have no bound to read
    up to, so each reads every ICP from the cursor on, and gives the same pages."""
    lake = Lake.create(tmp_path / "lake")
    record = publish_rows(lake, tmp_path, interval_rows(ICPS, days(D, 2), seed=1), D, D + dt.timedelta(days=1))
    end = D + dt.timedelta(days=1)
    want = [t.to_pylist() for t in pages(lake, start=D, end=end, limit=3)]
    write_json_atomic(lake.layout.run_record(record["run_id"]), {**record, "icp_index": None})
    assert outputpages.icp_keys(lake, (record["run_id"],)) is None
    assert [t.to_pylist() for t in pages(lake, start=D, end=end, limit=3)] == want
