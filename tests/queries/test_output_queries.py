"""The three output queries on real published runs: one ICP by period, the same paginated,
and totals by key; their arguments and cursors."""
from __future__ import annotations

import base64
import datetime as dt
import json
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest

from datalake.output import reads as output
from datalake import runs
from datalake.errors import ConflictError, InvalidArgumentError, NotFoundError
from datalake.lake import Lake
from tests.factories.output import days, interval_rows, publish_rows

D = dt.date(2018, 6, 1)
ICPS = ["0000012345TR9A1", "0000067890UN2B2", "101"]


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> Lake:
    """Run 1 over 2018-06-01..10 (all ICPs), run 2 over 06-05..06 (two ICPs, buyer only)."""
    folder = tmp_path_factory.mktemp("output")
    lake = Lake.create(folder / "lake")
    publish_rows(lake, folder, interval_rows(ICPS, days(D, 10), seed=1), D, D + dt.timedelta(days=9), parts=3)
    publish_rows(lake, folder, interval_rows(ICPS[:2], days(D + dt.timedelta(days=4), 2), seed=2, sides=("buyer",)),
                 D + dt.timedelta(days=4), D + dt.timedelta(days=5))
    return lake


def plain(lake: Lake, sql_text: str, params: dict | None = None) -> list[tuple]:
    """The same question asked of the Parquet files directly."""
    files = f"'{lake.root}/output/*/*/*.parquet'"
    source = (f"read_parquet({files}, hive_partitioning = true, "
              "hive_types = {'run_id': VARCHAR, 'read_date': DATE})")
    return duckdb.execute(sql_text.replace("OUTPUT", source), params or {}).fetchall()


def latest_rows_sql() -> str:
    return ("(SELECT * FROM OUTPUT WHERE (run_id = 'run-00000002' AND read_date BETWEEN '2018-06-05' AND '2018-06-06')"
            " OR (run_id = 'run-00000001' AND read_date NOT BETWEEN '2018-06-05' AND '2018-06-06'))")


def test_day_summary_matches_plain_sql(lake: Lake) -> None:
    table, cursor = output.output_summary(lake, ICPS[0], limit=None)
    assert cursor is None
    assert table.schema.names == ["period", "buyer_seller", "matched_amount", "intervals", "runs"]
    assert str(table.schema.field("matched_amount").type) == "decimal128(18, 4)"
    expected = plain(lake, f"SELECT strftime(read_date, '%Y-%m-%d'), buyer_seller, sum(matched_amount), count(*), "
                           f"list(DISTINCT run_id ORDER BY run_id) FROM {latest_rows_sql()} WHERE icp_id = $icp "
                           "GROUP BY ALL ORDER BY 1, 2", {"icp": ICPS[0]})
    assert [tuple(r.values()) for r in table.to_pylist()] == expected
    by_day = {(r["period"], r["buyer_seller"]): r for r in table.to_pylist()}
    assert by_day[("2018-06-05", "buyer")]["runs"] == ["run-00000002"]
    assert ("2018-06-05", "seller") not in by_day  # run 2 has no seller rows, and it answers for that date
    assert by_day[("2018-06-04", "seller")]["intervals"] == 48


@pytest.mark.parametrize(("granularity", "periods"), [
    ("interval", 8 * 48), ("day", 8), ("week", 2), ("month", 1)])
def test_granularities(lake: Lake, granularity: str, periods: int) -> None:
    # ICP 101 is not in run 2, which answers for 06-05 and 06-06: it has 8 days of output.
    table, _ = output.output_summary(lake, ICPS[2], granularity=granularity, buyer_seller="buyer", limit=None)
    assert table.num_rows == periods
    assert sum(table.column("intervals").to_pylist()) == 8 * 48
    total = plain(lake, f"SELECT sum(matched_amount) FROM {latest_rows_sql()} "
                        "WHERE icp_id = '101' AND buyer_seller = 'buyer'")
    assert sum(table.column("matched_amount").to_pylist(), Decimal(0)) == total[0][0]
    first = table.column("period")[0].as_py()
    assert first == {"interval": "2018-06-01/01", "day": "2018-06-01", "week": "2018-W22", "month": "2018-06"}[granularity]


def test_summary_range_side_and_pinned_run(lake: Lake) -> None:
    table, _ = output.output_summary(lake, ICPS[0], start="2018-06-05", end="2018-06-06", run="run-00000001",
                                     buyer_seller="seller")
    assert [(r["period"], r["runs"]) for r in table.to_pylist()] == [
        ("2018-06-05", ["run-00000001"]), ("2018-06-06", ["run-00000001"])]
    table, _ = output.output_summary(lake, ICPS[0], start="2018-06-04", end="2018-06-05", granularity="week")
    assert [(r["buyer_seller"], r["runs"], r["intervals"]) for r in table.to_pylist()] == [
        ("buyer", ["run-00000001", "run-00000002"], 96), ("seller", ["run-00000001"], 48)]
    empty, cursor = output.output_summary(lake, "NOSUCHICP")
    assert empty.num_rows == 0 and cursor is None
    outside, _ = output.output_summary(lake, ICPS[0], start="2019-01-01", end="2019-01-31")
    assert outside.num_rows == 0


def test_by_key_totals_equal_plain_sql(lake: Lake) -> None:
    table, cursor = output.output_by_key(lake, D, D + dt.timedelta(days=9))
    assert cursor is None and table.schema.names[:2] == ["icp_id", "buyer_seller"]
    expected = plain(lake, f"SELECT icp_id, buyer_seller, sum(matched_amount), count(*), "
                           f"list(DISTINCT run_id ORDER BY run_id) FROM {latest_rows_sql()} GROUP BY ALL ORDER BY 1, 2")
    assert [tuple(r.values()) for r in table.to_pylist()] == expected
    by_date, _ = output.output_by_key(lake, D, D + dt.timedelta(days=9), by=["read_date", "icp_id"],
                                      buyer_seller="seller")
    assert by_date.schema.field("read_date").type == "date32[day]"
    assert by_date.num_rows == 8 * 3 + 2 * 0  # run 2 has no sellers on its two dates
    pinned, _ = output.output_by_key(lake, D, D + dt.timedelta(days=9), by="buyer_seller", run="run-00000001")
    assert [r["intervals"] for r in pinned.to_pylist()] == [3 * 10 * 48] * 2


def test_arguments_are_checked(lake: Lake) -> None:
    bad_calls = [
        (lambda: output.output_summary(lake, "a/b"), "icp_id"),
        (lambda: output.output_summary(lake, "101", granularity="hour"), "granularity"),
        (lambda: output.output_summary(lake, "101", buyer_seller="both"), "buyer_seller"),
        (lambda: output.output_summary(lake, "101", limit=0), "limit"),
        (lambda: output.output_summary(lake, "101", start="2018-06-02", end="2018-06-01"), "end"),
        (lambda: output.output_summary(lake, "101", run="latest; DROP TABLE x"), "run"),
        (lambda: output.output_by_key(lake, D, D, by=["icp_id; --"]), "by"),
        (lambda: output.output_by_key(lake, D, D, by=["icp_id", "icp_id"]), "by"),
        (lambda: output.output_by_key(lake, D, D, by=[]), "by"),
        (lambda: output.output_by_key(lake, "June", D), "start"),
    ]
    for call, field in bad_calls:
        with pytest.raises(InvalidArgumentError) as info:
            call()
        assert info.value.field == field
    with pytest.raises(NotFoundError):
        output.output_summary(lake, "101", run="run-00000099")


def test_cursor_pages_and_tampering(lake: Lake) -> None:
    first, cursor = output.output_summary(lake, ICPS[0], granularity="interval", limit=7)
    assert first.num_rows == 7 and cursor
    second, _ = output.output_summary(lake, ICPS[0], granularity="interval", limit=7, cursor=cursor)
    assert second.column("period")[0].as_py() > first.column("period")[6].as_py() or \
        second.column("buyer_seller")[0].as_py() > first.column("buyer_seller")[6].as_py()

    body = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    def forge(**changes) -> str:
        return base64.urlsafe_b64encode(json.dumps({**body, **changes}).encode()).decode().rstrip("=")

    bad = ["garbage", "", cursor[:-3], forge(v=2), forge(a=["x"]), forge(a=[1.5, "buyer"]),
           forge(m=[["2018-06-01", "2018-06-10", "../../x"]]), forge(m=[["2018-06-10", "2018-06-01", "run-00000001"]]),
           forge(m=[["2018-06-01", "2018-06-10", "run-00000077"]]), forge(m="x"),
           base64.urlsafe_b64encode(b"[1, 2]").decode()]
    for text in bad:
        with pytest.raises(InvalidArgumentError) as info:
            output.output_summary(lake, ICPS[0], granularity="interval", limit=7, cursor=text)
        assert info.value.field == "cursor", text
    # A cursor only continues the query it came from.
    for other in ({"granularity": "day"}, {"buyer_seller": "buyer"}, {"start": "2018-06-01"}):
        with pytest.raises(InvalidArgumentError, match="different query"):
            output.output_summary(lake, ICPS[0], **{"granularity": "interval", **other}, limit=7, cursor=cursor)
    with pytest.raises(InvalidArgumentError):
        output.output_summary(lake, ICPS[1], granularity="interval", limit=7, cursor=cursor)
    with pytest.raises(InvalidArgumentError):
        output.output_by_key(lake, D, D, limit=7, cursor=cursor)


def test_by_key_pages_with_read_date_keys(lake: Lake) -> None:
    whole, _ = output.output_by_key(lake, D, D + dt.timedelta(days=9), by=["read_date", "buyer_seller", "icp_id"])
    pages, cursor = [], None
    while True:
        page, cursor = output.output_by_key(lake, D, D + dt.timedelta(days=9),
                                            by=["read_date", "buyer_seller", "icp_id"], limit=4, cursor=cursor)
        pages += page.to_pylist()
        if cursor is None:
            break
    assert pages == whole.to_pylist() and len(pages) == 8 * 6 + 2 * 2


def test_pinning_an_open_run_is_a_conflict(lake: Lake, tmp_path: Path) -> None:
    run = runs.create_run(lake, start=D, end=D, algorithm="m", version="open")["run_id"]
    try:
        with pytest.raises(ConflictError):
            output.output_by_key(lake, D, D, run=run)
    finally:
        runs.abort_run(lake, run)


def test_by_icp_pages_stay_complete_when_keys_are_sparse(tmp_path: Path) -> None:
    """The ICP index bounds a page by icp_id; ICPs without the side asked for, or absent on
    the dates a run answers for, must not end the paging early."""
    lake = Lake.create(tmp_path / "lake")
    icps = [f"ICP{i:03d}" for i in range(16)]
    rows = [r for r in interval_rows(icps, [D, D + dt.timedelta(days=1)])
            if r["buyer_seller"] == "buyer" or icps.index(r["icp_id"]) % 5 == 0]
    publish_rows(lake, tmp_path, rows, D, D + dt.timedelta(days=1))
    # A later run answers for the second date with only a few ICPs.
    publish_rows(lake, tmp_path, interval_rows(icps[12:], [D + dt.timedelta(days=1)], seed=9),
                 D + dt.timedelta(days=1), D + dt.timedelta(days=1))
    for side, days_ in ((None, 2), ("seller", 2), ("buyer", 1)):
        start = D + dt.timedelta(days=2 - days_)
        whole, _ = output.output_by_key(lake, start, D + dt.timedelta(days=1), buyer_seller=side)
        for limit in (1, 3):
            pages, cursor = [], None
            while True:
                page, cursor = output.output_by_key(lake, start, D + dt.timedelta(days=1), buyer_seller=side,
                                                    limit=limit, cursor=cursor)
                pages += page.to_pylist()
                if cursor is None:
                    break
            assert pages == whole.to_pylist() and pages, (side, limit)
