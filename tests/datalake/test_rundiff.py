"""The diff of two real runs over real raw reads, checked against sums computed here from
the rows each run was given."""
from __future__ import annotations

import datetime as dt
import shutil
from collections import defaultdict
from decimal import Decimal
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from datalake.runs import diff as rundiff
from datalake import runs
from datalake.errors import ConflictError, InvalidArgumentError
from datalake.demo.generate import generate
from datalake.lake import Lake
from datalake.runs.diff import run_diff
from tests.factories.output import days, interval_rows, publish_rows
from tests.service.conftest import lake_icps

JUNE = dt.date(2018, 6, 1)


def cells(rows: list[dict]) -> dict[tuple[str, dt.date, str], Decimal]:
    found: dict = defaultdict(Decimal)
    for r in rows:
        found[(r["icp_id"], dt.date.fromisoformat(r["read_date"]), r["buyer_seller"])] += r["matched_amount"]
    return dict(found)


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> tuple[Lake, list[dict], list[dict]]:
    """Run 1 over 5 ICPs x 3 days; run 2 the same but for: ICP 0's buyer rows of day 1
    dropped, ICP 1 changed on day 2, an extra ICP on day 3, ICP 2 given the same amounts."""
    root = tmp_path_factory.mktemp("diff")
    lake = Lake.create(root / "lake")
    generate(lake, icps=5, days=3, start=JUNE, seed=12)
    icps = lake_icps(lake)
    first = interval_rows(icps, days(JUNE, 3), seed=1)
    second = [dict(r) for r in interval_rows(icps, days(JUNE, 3), seed=2)
              if not (r["icp_id"] == icps[0] and r["read_date"] == "2018-06-01" and r["buyer_seller"] == "buyer")]
    same = {(r["icp_id"], r["read_date"], r["trading_period"], r["buyer_seller"]): r["matched_amount"]
            for r in first if r["icp_id"] == icps[2]}
    for r in second:
        if r["icp_id"] == icps[2]:
            r["matched_amount"] = same[(r["icp_id"], r["read_date"], r["trading_period"], r["buyer_seller"])]
    second += interval_rows(["EXTRA1"], [JUNE + dt.timedelta(days=2)], seed=3)
    publish_rows(lake, root, first, JUNE, JUNE + dt.timedelta(days=2))
    publish_rows(lake, root, second, JUNE, JUNE + dt.timedelta(days=2), version="2")
    return lake, first, second


def every_change(lake: Lake, a: str, b: str, limit: int) -> list[dict]:
    found, cursor = [], None
    while True:
        diff = run_diff(lake, a, b, limit=limit, cursor=cursor)
        assert diff.changes.num_rows <= limit
        found += diff.changes.to_pylist()
        if (cursor := diff.next_cursor) is None:
            return found


def test_pages_list_every_changed_cell_once_largest_first(pair) -> None:
    lake, first, second = pair
    mine, theirs = cells(second), cells(first)
    expected = {}
    for key in mine.keys() | theirs.keys():
        a, b = mine.get(key), theirs.get(key)
        if a != b:
            expected[key] = (a, b, (a or 0) - (b or 0))
    changes = every_change(lake, "run-00000002", "run-00000001", limit=7)
    got = {(c["icp_id"], c["read_date"], c["buyer_seller"]): (c["run_amount"], c["against_amount"], c["difference"])
           for c in changes}
    assert len(changes) == len(got) == len(expected) and got == expected
    order = [(-abs(c["difference"]), c["read_date"], c["icp_id"], c["buyer_seller"]) for c in changes]
    assert order == sorted(order)
    kinds = {(c["icp_id"], c["read_date"], c["buyer_seller"]): c["change"] for c in changes}
    assert kinds[(lake_icps(lake)[0], JUNE, "buyer")] == "removed"
    assert kinds[("EXTRA1", JUNE + dt.timedelta(days=2), "seller")] == "added"
    assert not any(c["icp_id"] == lake_icps(lake)[2] for c in changes)  # the same amounts: unchanged
    assert every_change(lake, "run-00000002", "run-00000001", limit=1000) == changes


def test_totals_and_counts_per_side(pair) -> None:
    lake, first, second = pair
    diff = run_diff(lake, "run-00000002", "run-00000001")
    mine, theirs = cells(second), cells(first)
    records = [runs.get_run(lake, r) for r in ("run-00000002", "run-00000001")]
    for side in diff.sides.to_pylist():
        s = side["buyer_seller"]
        assert str(side["run_total"]) == records[0]["totals"][s]
        assert str(side["against_total"]) == records[1]["totals"][s]
        assert side["difference"] == side["run_total"] - side["against_total"]
        keys = {k for k in mine.keys() | theirs.keys() if k[2] == s}
        assert side["added"] == sum(k in mine and k not in theirs for k in keys)
        assert side["removed"] == sum(k in theirs and k not in mine for k in keys)
        assert side["unchanged"] == sum(k in mine and k in theirs and mine[k] == theirs[k] for k in keys) == 3
        assert side["changed"] == len(keys) - side["added"] - side["removed"] - side["unchanged"]
    assert (diff.start, diff.end) == (JUNE, JUNE + dt.timedelta(days=2))
    same = run_diff(lake, "run-00000001", "run-00000001")
    assert same.changes.num_rows == 0 and same.next_cursor is None
    assert [s["changed"] + s["added"] + s["removed"] for s in same.sides.to_pylist()] == [0, 0]


def test_only_the_dates_both_windows_cover_count(pair, tmp_path: Path) -> None:
    lake, first, _ = pair
    day3 = JUNE + dt.timedelta(days=2)
    rows = interval_rows(lake_icps(lake), [day3], seed=1)
    record = publish_rows(lake, tmp_path, rows, day3, day3 + dt.timedelta(days=1), allow_partial=True)
    diff = run_diff(lake, record["run_id"], "run-00000001")
    assert (diff.start, diff.end) == (day3, day3)
    assert diff.changes.num_rows == 0
    assert all(s["unchanged"] == len(lake_icps(lake)) for s in diff.sides.to_pylist())


def test_errors_name_what_is_wrong(pair, tmp_path: Path) -> None:
    lake, _, _ = pair
    opened = runs.create_run(lake, start=JUNE, end=JUNE, algorithm="m", version="x")["run_id"]
    with pytest.raises(ConflictError, match="only published runs can be read"):
        run_diff(lake, opened, "run-00000001")
    july = dt.date(2018, 7, 1)
    later = publish_rows(lake, tmp_path, interval_rows(["101"], [july]), july, july)["run_id"]
    with pytest.raises(ConflictError, match=r"\(2018-07-01..2018-07-01\) and run-00000001 .* share no date"):
        run_diff(lake, later, "run-00000001")
    with pytest.raises(InvalidArgumentError) as bad:
        run_diff(lake, "run-00000001", "nope")
    assert bad.value.field == "against"
    page = run_diff(lake, "run-00000002", "run-00000001", limit=2)
    with pytest.raises(InvalidArgumentError) as foreign:
        run_diff(lake, "run-00000001", "run-00000002", cursor=page.next_cursor)
    assert foreign.value.field == "cursor"
    with pytest.raises(InvalidArgumentError, match="limit"):
        run_diff(lake, "run-00000002", "run-00000001", limit=0)


def test_runs_whose_index_has_no_totals_are_diffed_from_their_block_files(pair, tmp_path: Path) -> None:
    lake, _, _ = pair
    index = lake.root / runs.get_run(lake, "run-00000002")["icp_index"]
    table = pq.read_table(index)
    assert table.column_names[0] == "icp_id" and "2018-06-01/buyer" in table.column_names
    expected = every_change(lake, "run-00000002", "run-00000001", limit=50)
    sides = run_diff(lake, "run-00000002", "run-00000001").sides
    saved = tmp_path / "index.parquet"
    shutil.copy(index, saved)
    pq.write_table(table.select(["icp_id"]), index)  # the index as runs published before totals have it
    rundiff._indexed_cells.cache_clear()
    try:
        assert every_change(lake, "run-00000002", "run-00000001", limit=50) == expected
        assert run_diff(lake, "run-00000002", "run-00000001").sides == sides
        assert rundiff._cells.cache_info().currsize >= 1
    finally:
        shutil.copy(saved, index)
        rundiff._indexed_cells.cache_clear()


def test_by_date_each_date_and_side_of_the_common_window_adds_up_to_the_sides(pair, tmp_path: Path) -> None:
    lake, first, second = pair
    by_date = rundiff.run_diff_by_date(lake, "run-00000002", "run-00000001").to_pylist()
    mine, theirs = cells(second), cells(first)
    assert [(r["read_date"], r["buyer_seller"]) for r in by_date] == [
        (d, s) for d in days(JUNE, 3) for s in ("buyer", "seller")]
    for row in by_date:
        key = (row["read_date"], row["buyer_seller"])
        ours = {k: v for k, v in mine.items() if (k[1], k[2]) == key}
        others = {k: v for k, v in theirs.items() if (k[1], k[2]) == key}
        assert row["run_total"] == sum(ours.values()) and row["against_total"] == sum(others.values())
        assert row["difference"] == row["run_total"] - row["against_total"]
        assert row["added"] == len(ours.keys() - others.keys())
        assert row["removed"] == len(others.keys() - ours.keys())
        assert row["unchanged"] == sum(ours[k] == others[k] for k in ours.keys() & others.keys())
        assert row["changed"] == len(ours.keys() & others.keys()) - row["unchanged"]
    assert by_date[0]["removed"] == 1 and by_date[5]["added"] == 1  # ICP 0's buyer day 1; EXTRA1 day 3
    sides = run_diff(lake, "run-00000002", "run-00000001").sides.to_pylist()
    for side in sides:
        mine_side = [r for r in by_date if r["buyer_seller"] == side["buyer_seller"]]
        for name in ("run_total", "against_total", "difference", "added", "removed", "changed", "unchanged"):
            assert sum(r[name] for r in mine_side) == side[name], name

    day3 = JUNE + dt.timedelta(days=2)
    later = publish_rows(lake, tmp_path, interval_rows(lake_icps(lake), [day3], seed=1), day3,
                         day3 + dt.timedelta(days=1), allow_partial=True)["run_id"]
    only = rundiff.run_diff_by_date(lake, later, "run-00000001").to_pylist()
    assert [r["read_date"] for r in only] == [day3, day3]  # the dates both windows cover
    assert all(r["difference"] == 0 and r["unchanged"] == len(lake_icps(lake)) for r in only)
    with pytest.raises(InvalidArgumentError):
        rundiff.run_diff_by_date(lake, "run-00000001", "nope")
