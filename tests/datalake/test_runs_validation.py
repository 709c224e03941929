"""Every validation rule of a run's output, with the error it reports; and the
daylight-saving days. A failed upload or publish leaves the run as it was."""
from __future__ import annotations

import datetime as dt
from pathlib import Path

import pyarrow as pa
import pytest

from datalake.output import reads as output
from datalake import runs
from datalake.errors import RowError, ValidationError
from datalake.lake import Lake
from tests.factories.output import HEADER, days, interval_rows, publish_rows, write_csv

JUNE = dt.date(2018, 6, 1)
GOOD = '101, "0.0000", "2018-06-01", "00:00:00", "2018-06-27 16:39:36.057601+12", "buyer"'
DST_END = dt.date(2018, 4, 1)     # NZDT -> NZST: 02:00-02:59 happens twice, 50 periods
DST_START = dt.date(2018, 9, 30)  # NZST -> NZDT: 02:00-02:59 never happens, 46 periods


def upload_error(lake: Lake, tmp_path: Path, lines: list[str], header: str = HEADER,
                 start: dt.date = JUNE, end: dt.date = JUNE) -> ValidationError:
    run = runs.create_run(lake, start=start, end=end, algorithm="m", version="1")["run_id"]
    path = tmp_path / "part.csv"
    path.write_text("\n".join([header, *lines]) + "\n")
    with pytest.raises(ValidationError) as info:
        runs.upload_part(lake, run, 1, path)
    record = runs.get_run(lake, run)
    assert record["parts"] == [] and record["status"] == "open"
    assert not lake.layout.run_part_file(run, 1).exists()
    return info.value


@pytest.mark.parametrize(("line", "field", "value", "reason"), [
    (GOOD.replace('"buyer"', '"Buyer"'), "buyer_seller", "Buyer", "must be buyer or seller"),
    (GOOD.replace('"buyer"', '""'), "buyer_seller", "", "must be buyer or seller"),
    (GOOD.replace('"0.0000"', '"-0.5000"'), "matched_amount", "-0.5000", "negative amount"),
    (GOOD.replace('"0.0000"', '"0.12345"'), "matched_amount", "0.12345", "more than 4 decimal places"),
    (GOOD.replace('"0.0000"', '"1e-05"'), "matched_amount", "1e-05", "more than 4 decimal places"),
    (GOOD.replace('"0.0000"', '"NaN"'), "matched_amount", "NaN", "not a finite decimal number"),
    (GOOD.replace('"0.0000"', '"lots"'), "matched_amount", "lots", "not a finite decimal number"),
    (GOOD.replace('"0.0000"', '"100000000000000"'), "matched_amount", "100000000000000", "amount too large"),
    (GOOD.replace('"2018-06-01"', '"2018-06-02"'), "read_date", "2018-06-02",
     "outside the run window 2018-06-01..2018-06-01"),
    (GOOD.replace('"2018-06-01"', '"01/06/2018"'), "read_date", "01/06/2018", "not a date YYYY-MM-DD"),
    (GOOD.replace('"00:00:00"', '"00:10:00"'), "read_time", "00:10:00", "not on a half hour"),
    (GOOD.replace('"00:00:00"', '"00:30:15"'), "read_time", "00:30:15", "not on a half hour"),
    (GOOD.replace('"00:00:00"', '"noon"'), "read_time", "noon", "not a time HH:MM:SS"),
    (GOOD.replace("+12", ""), "publish_datetime", "2018-06-27 16:39:36.057601", "no UTC offset"),
    (GOOD.replace("2018-06-27 16:39:36.057601+12", "2018-02-30 16:39:36+12"), "publish_datetime",
     "2018-02-30 16:39:36+12",
     "not a valid timestamp with offset"),
    (GOOD.replace("101", "10-1"), "icp_id", "10-1", "letters and digits only"),
    (GOOD.replace("101", '""'), "icp_id", "", "empty icp_id"),
    (GOOD.replace("101", "1" * 33), "icp_id", "1" * 33, "longer than 32 characters"),
])
def test_each_rule_reports_part_row_field_and_reason(lake: Lake, tmp_path: Path, line: str, field: str,
                                                     value: str, reason: str) -> None:
    error = upload_error(lake, tmp_path, [GOOD.replace('"00:00:00"', '"00:30:00"'), line])
    assert error.total == 1
    [row] = error.errors
    assert (row.source, row.row, row.field, row.value) == ("part 1", 3, field, value)
    assert reason in row.reason


def test_first_errors_are_reported_in_row_order_with_the_total(lake: Lake, tmp_path: Path) -> None:
    bad = GOOD.replace('"buyer"', '"both"')
    error = upload_error(lake, tmp_path, [bad] * 30)
    assert error.total == 30
    assert [e.row for e in error.errors] == list(range(2, 2 + ValidationError.MAX_REPORTED))
    assert "part 1: nothing uploaded: 30 bad row(s)" in str(error)


def test_structural_problems_name_the_part(lake: Lake, tmp_path: Path) -> None:
    error = upload_error(lake, tmp_path, [GOOD], header="icp_id, matched_amount, read_date, read_time, buyer_seller")
    assert error.errors[0].source == "part 1" and "missing column(s) publish_datetime" in error.errors[0].reason
    error = upload_error(lake, tmp_path, [GOOD + ', "extra"'])
    assert error.errors[0].row == 2 and "expected 6 fields, found 7" in error.errors[0].reason


def test_duplicate_keys_across_parts_fail_the_publish_and_publish_nothing(lake: Lake, tmp_path: Path) -> None:
    rows = interval_rows(["101", "102"], [JUNE])
    run = runs.create_run(lake, start=JUNE, end=JUNE, algorithm="m", version="1")["run_id"]
    runs.upload_part(lake, run, 1, write_csv(tmp_path / "a.csv", rows))
    runs.upload_part(lake, run, 2, write_csv(tmp_path / "b.csv", rows[5:7]))  # repeats two keys of part 1
    with pytest.raises(ValidationError) as info:
        runs.publish_run(lake, run)
    assert info.value.total == 2
    first = info.value.errors[0]
    assert (first.source, first.row, first.field, first.value) == ("part 2", 2, "icp_id", "101")
    assert "duplicate of part 1 row 7" in first.reason and "trading period 3" in first.reason
    assert runs.get_run(lake, run)["status"] == "open"
    assert not lake.layout.run_dir(run).exists()
    assert output.resolve_runs(lake, JUNE, JUNE) == {}
    # Replacing the bad part fixes the run.
    runs.upload_part(lake, run, 2, write_csv(tmp_path / "c.csv", interval_rows(["103"], [JUNE])))
    assert runs.publish_run(lake, run)["icps"] == 3


def test_dst_end_day_needs_trading_period_for_the_repeated_hour(lake: Lake, tmp_path: Path) -> None:
    rows = interval_rows(["101"], [DST_END], sides=("seller",))
    assert len(rows) == 50
    assert [r["read_time"] for r in rows[4:8]] == ["02:00:00", "02:30:00", "02:00:00", "02:30:00"]
    error = upload_error(lake, tmp_path, write_csv(tmp_path / "x.csv", rows).read_text().splitlines()[1:],
                         start=DST_END, end=DST_END)
    assert error.total == 4
    assert {(e.row, e.field, e.value) for e in error.errors} == {
        (6, "read_time", "02:00:00"), (7, "read_time", "02:30:00"),
        (8, "read_time", "02:00:00"), (9, "read_time", "02:30:00")}
    assert all("needs trading_period" in e.reason for e in error.errors)

    record = publish_rows(lake, tmp_path, rows, DST_END, DST_END, with_period=True)
    assert record["rows"] == 50
    table, _ = output.output_summary(lake, "101", granularity="interval", limit=None)
    periods = table.column("period").to_pylist()
    assert periods == [f"2018-04-01/{p:02d}" for p in range(1, 51)]
    assert table.column("matched_amount").to_pylist() == [r["matched_amount"] for r in rows]


def test_trading_period_must_match_read_time(lake: Lake, tmp_path: Path) -> None:
    header = HEADER + ", trading_period"
    error = upload_error(lake, tmp_path, [GOOD + ", 2"], header=header)
    assert (error.errors[0].field, error.errors[0].value) == ("trading_period", "2")
    assert "does not start at read_time 00:00:00" in error.errors[0].reason
    error = upload_error(lake, tmp_path, [GOOD.replace("2018-06-01", "2018-04-01") + ", 51"], header=header,
                         start=DST_END, end=DST_END)
    assert "not a trading period 1..50 of 2018-04-01" in error.errors[0].reason


def test_dst_start_day_has_46_periods_and_no_0200(lake: Lake, tmp_path: Path) -> None:
    rows = interval_rows(["101"], [DST_START], sides=("buyer",))
    assert len(rows) == 46 and "02:00:00" not in [r["read_time"] for r in rows]
    record = publish_rows(lake, tmp_path, rows, DST_START, DST_START)
    table, _ = output.output_summary(lake, "101", granularity="interval", limit=None)
    assert table.column("period").to_pylist()[-1] == "2018-09-30/46" and record["rows"] == 46
    line = GOOD.replace("2018-06-01", "2018-09-30").replace('"00:00:00"', '"02:30:00"')
    error = upload_error(lake, tmp_path, [line], start=DST_START, end=DST_START)
    assert error.errors[0] == RowError("part 1", 2, "read_time", "02:30:00",
                                       "does not exist on this date (daylight saving starts)")


def test_the_briefs_sample_is_accepted(lake: Lake, tmp_path: Path) -> None:
    run = runs.create_run(lake, start="2018-06-13", end="2018-06-13", algorithm="m", version="1")["run_id"]
    path = tmp_path / "sample.csv"
    path.write_text(f"{HEADER}\n"
                    '101, "0.0000", "2018-06-13", "00:00:00", "2018-06-27 16:39:36.057601+12", "buyer"\n')
    assert runs.upload_part(lake, run, 1, path)["rows"] == 1
    record = runs.publish_run(lake, run)
    assert record["totals"] == {"buyer": "0.0000"}
    table, _ = output.output_summary(lake, "101", granularity="interval")
    assert table.to_pylist() == [{"period": "2018-06-13/01", "buyer_seller": "buyer",
                                  "matched_amount": table.column("matched_amount")[0].as_py(),
                                  "intervals": 1, "runs": [run]}]
    assert days(JUNE, 1) == [JUNE]


def _text_batch(rows: list[dict], with_period: bool) -> pa.Table:
    columns = {"_row": pa.array(range(2, 2 + len(rows)), pa.int64())}
    for c in ("icp_id", "matched_amount", "read_date", "read_time", "publish_datetime", "buyer_seller"):
        columns[c] = pa.array([f"{r[c]:.4f}" if c == "matched_amount" else str(r[c]) for r in rows])
    columns["trading_period"] = pa.array([str(r["trading_period"]) if with_period else "" for r in rows])
    return pa.table(columns)


@pytest.mark.parametrize("with_period", [False, True])
def test_vectorised_typing_agrees_with_the_sql_validator(with_period: bool) -> None:
    from datalake import sql
    from datalake.runs.outputtypes import type_output_batch

    rows = interval_rows(["101", "0000012345TR9A1"], days(JUNE, 2), seed=5)
    rows[3]["matched_amount"] = rows[3]["matched_amount"].quantize(__import__("decimal").Decimal("0.1"))
    batch = _text_batch(rows, with_period)
    fast = type_output_batch(batch, JUNE, JUNE + dt.timedelta(days=1))
    assert fast is not None
    con = sql.connect()
    con.register("batch", batch)
    slow = con.sql(sql.query("runs/validate_batch") + " ORDER BY _row",
                   params={"start": JUNE, "end": JUNE + dt.timedelta(days=1)}).to_arrow_table()
    assert slow.column("error_field").null_count == len(rows)
    assert fast.to_pylist() == slow.select(fast.column_names).cast(fast.schema).to_pylist()


@pytest.mark.parametrize(("column", "value"), [
    ("matched_amount", "0.12345"), ("matched_amount", "-1"), ("read_date", "2018-06-09"),
    ("read_time", "00:15:00"), ("buyer_seller", "both"), ("icp_id", "1-1"),
    ("publish_datetime", "2018-06-27 16:39:36"), ("trading_period", "7"), ("read_date", "2018-04-01")])
def test_vectorised_typing_leaves_anything_unusual_to_sql(column: str, value: str) -> None:
    from datalake.runs.outputtypes import type_output_batch

    batch = _text_batch(interval_rows(["101"], [JUNE]), with_period=True)
    values = batch[column].to_pylist()
    values[10] = value
    batch = batch.set_column(batch.schema.get_field_index(column), column, __import__("pyarrow").array(values))
    assert type_output_batch(batch, JUNE, JUNE + dt.timedelta(days=1)) is None
