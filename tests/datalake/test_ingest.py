"""Ingest through the CLI, with real files, read back through the engine."""
from __future__ import annotations

import datetime as dt
import random
from collections import Counter
from decimal import Decimal

import duckdb
import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.ipc as ipc
import pyarrow.parquet as pq
import pytest

from datalake.lake import Lake
from datalake.storage.leftovers import STAGING_LOCK
from datalake.raw.reads import read_icp
from tests.conftest import SHARED_DATA
from tests.factories import ausgrid
from tests.factories.raw import HEADER, day_rows, write_csv

BRIEF_SAMPLE = "read_timestamp,interval_read,energy_flow_direction,icp_id\n2018-06-14 00:30:00+12,1.343,X,33\n"


def lake_files(lake: Lake) -> set[str]:
    return {p.relative_to(lake.root).as_posix() for p in lake.root.rglob("*")
            if p.is_file() and p.name != "write.lock"}


def test_brief_sample_row(lake, cli, tmp_path):
    src = tmp_path / "sample.csv"
    src.write_text(BRIEF_SAMPLE)
    result = cli("--lake", lake.root, "ingest", src)
    assert result.code == 0, result.err
    assert "ingested sample.csv as ing-00000001: 1 rows read, 1 new" in result.out
    rows = read_icp(lake, "33", "2018-06-14", "2018-06-14").to_pylist()
    assert len(rows) == 1
    row = rows[0]
    assert row["read_timestamp"] == dt.datetime(2018, 6, 13, 12, 30, tzinfo=dt.UTC)
    assert row["read_date"] == dt.date(2018, 6, 14)
    assert row["trading_period"] == 1
    assert row["interval_read"] == Decimal("1.343")
    assert row["energy_flow_direction"] == "X"
    record = lake.ingest("ing-00000001")
    assert record["source"]["name"] == "sample.csv"
    assert len(record["source"]["sha256"]) == 64
    assert record["rows"]["stored"] == 1 and record["dates"] == ["2018-06-14"]


def test_ausgrid_household_daily_totals_match_source(lake, cli, tmp_path):
    source = SHARED_DATA / "ausgrid" / "customer12_2011-2012.csv"
    delivery = ausgrid.convert(source, tmp_path / "ausgrid.csv")
    result = cli("--lake", lake.root, "ingest", delivery)
    assert result.code == 0, result.err
    assert "35,136 rows read" in result.out

    table = read_icp(lake, ausgrid.ICP, "2011-06-01", "2012-07-31")
    got: dict[tuple[dt.date, str], Decimal] = {}
    for r in table.to_pylist():
        key = (r["read_date"], r["energy_flow_direction"])
        got[key] = got.get(key, Decimal(0)) + r["interval_read"]
    assert got == ausgrid.expected_daily_totals(source)
    periods = Counter(r["read_date"] for r in table.to_pylist() if r["energy_flow_direction"] == "X")
    assert periods[dt.date(2011, 9, 25)] == 46   # daylight saving starts
    assert periods[dt.date(2012, 4, 1)] == 50    # daylight saving ends
    assert periods[dt.date(2011, 12, 1)] == 48
    assert max(table["trading_period"].to_pylist()) == 50


@pytest.mark.parametrize("day, periods", [(dt.date(2018, 9, 30), 46), (dt.date(2018, 4, 1), 50)])
def test_daylight_saving_days(lake, cli, tmp_path, day, periods):
    rows = day_rows("0000012345TR9A1", day)
    assert len(rows) == periods
    assert cli("--lake", lake.root, "ingest", write_csv(tmp_path / "dst.csv", rows)).code == 0
    table = read_icp(lake, "0000012345TR9A1", day, day)
    assert table["trading_period"].to_pylist() == list(range(1, periods + 1))
    assert set(table["read_date"].to_pylist()) == {day}


def test_revision_supersedes_and_as_of_reads_the_past(lake, cli, tmp_path):
    day = dt.date(2018, 6, 14)
    first = day_rows("ICP1", day, seed=1)
    cli("--lake", lake.root, "ingest", write_csv(tmp_path / "v1.csv", first))
    revised = [(t, "9.999" if i < 3 else v, d, icp) for i, (t, v, d, icp) in enumerate(first)]
    result = cli("--lake", lake.root, "ingest", write_csv(tmp_path / "v2.csv", revised))
    assert "as ing-00000002" in result.out and "0 new, 3 revisions, 45 unchanged" in result.out

    latest = read_icp(lake, "ICP1", day, day)
    assert latest.num_rows == 48
    assert latest["interval_read"].to_pylist()[:4] == [Decimal("9.999")] * 3 + [Decimal(first[3][1])]
    before = read_icp(lake, "ICP1", day, day, as_of="ing-00000001")
    assert [str(v) for v in before["interval_read"].to_pylist()] == [r[1] for r in first]
    # Only the three revised rows were stored again.
    assert lake.ingest("ing-00000002")["rows"]["stored"] == 3


def test_reingest_is_a_noop(lake, cli, tmp_path):
    src = write_csv(tmp_path / "a.csv", day_rows("ICP1", dt.date(2018, 6, 14)))
    assert cli("--lake", lake.root, "ingest", src).code == 0
    before = lake_files(lake)
    again = cli("--lake", lake.root, "ingest", src)
    assert again.code == 0
    assert "no-op for a.csv: content already ingested as ing-00000001" in again.out
    # Same values in different bytes (reordered) are a no-op too.
    reordered = write_csv(tmp_path / "b.csv", reversed(day_rows("ICP1", dt.date(2018, 6, 14))))
    assert "every row is already stored with the same value" in cli("--lake", lake.root, "ingest", reordered).out
    assert lake_files(lake) == before


def test_identical_duplicates_collapse(lake, cli, tmp_path):
    rows = day_rows("ICP1", dt.date(2018, 6, 14))
    result = cli("--lake", lake.root, "ingest", write_csv(tmp_path / "d.csv", rows + rows[:5]))
    assert "53 rows read, 48 new" in result.out and "5 duplicates collapsed" in result.out
    assert read_icp(lake, "ICP1", "2018-06-14", "2018-06-14").num_rows == 48


def test_quoted_values_and_float_noise(lake, cli, tmp_path):
    src = tmp_path / "q.csv"
    src.write_text(HEADER + '\n"2018-06-14 00:30:00+12","0.48200000000000004","X","33"\n'
                   '2018-06-14 01:00:00+12,0.1,X,33\n')
    assert cli("--lake", lake.root, "ingest", src).code == 0
    assert read_icp(lake, "33", "2018-06-14", "2018-06-14")["interval_read"].to_pylist() == [
        Decimal("0.482"), Decimal("0.100")]


def _typed_table(rows) -> pa.Table:
    return pa.table({
        "read_timestamp": pa.array([dt.datetime.fromisoformat(t + ":00") for t, _, _, _ in rows],
                                   pa.timestamp("us", tz="UTC")),
        "interval_read": pa.array([float(v) for _, v, _, _ in rows]),
        "energy_flow_direction": [d for _, _, d, _ in rows],
        "icp_id": [i for _, _, _, i in rows],
    })


@pytest.mark.parametrize("kind", ["parquet", "arrow-file", "arrow-stream"])
def test_columnar_deliveries(lake, cli, tmp_path, kind):
    rows = day_rows("ICP9", dt.date(2018, 6, 14))
    table = _typed_table(rows)
    path = tmp_path / f"delivery.{kind}"
    if kind == "parquet":
        pq.write_table(table, path)
    else:
        writer_cls = ipc.new_file if kind == "arrow-file" else ipc.new_stream
        with writer_cls(path, table.schema) as w:
            w.write_table(table)
    result = cli("--lake", lake.root, "ingest", path)
    assert result.code == 0, result.err
    got = read_icp(lake, "ICP9", "2018-06-14", "2018-06-14")
    assert [str(v) for v in got["interval_read"].to_pylist()] == [v for _, v, _, _ in rows]
    assert lake.ingest("ing-00000001")["source"]["format"] == ("parquet" if kind == "parquet" else "arrow")


BAD_FILES = {
    "wrong header": ("read_ts,interval_read,energy_flow_direction,icp_id\n2018-06-14 00:30:00+12,1,X,1\n",
                     "1: header=", "missing column(s) read_timestamp"),
    "no offset": (HEADER + "\n2018-06-14 00:30:00,1,X,1\n", "bad.csv:2: read_timestamp=", "no UTC offset"),
    "bad offset": (HEADER + "\n2018-06-14 00:30:00+25,1,X,1\n", "bad.csv:2: read_timestamp=",
                   "not a valid timestamp"),
    "off boundary": (HEADER + "\n2018-06-14 00:30:00+12,1,X,1\n2018-06-14 00:40:00+12,1,X,1\n",
                     "bad.csv:3: read_timestamp=", "not on a half-hour boundary"),
    "unknown direction": (HEADER + "\n2018-06-14 00:30:00+12,1,Z,1\n", "bad.csv:2: energy_flow_direction='Z'",
                          "must be I (injection) or X (extraction)"),
    "negative": (HEADER + "\n2018-06-14 00:30:00+12,-0.5,X,1\n", "bad.csv:2: interval_read='-0.5'",
                 "negative reading"),
    "nan": (HEADER + "\n2018-06-14 00:30:00+12,NaN,X,1\n", "bad.csv:2: interval_read='NaN'", "not a finite"),
    "too precise": (HEADER + "\n2018-06-14 00:30:00+12,0.1234,X,1\n", "bad.csv:2: interval_read='0.1234'",
                    "more than 3 decimal places"),
    "empty icp": (HEADER + "\n2018-06-14 00:30:00+12,1,X,\n", "bad.csv:2: icp_id=''", "empty icp_id"),
    "path-like icp": (HEADER + "\n2018-06-14 00:30:00+12,1,X,../x\n", "bad.csv:2: icp_id='../x'",
                      "letters and digits only"),
    "missing field": (HEADER + "\n2018-06-14 00:30:00+12,1,X,1\n2018-06-14 01:00:00+12,1,X\n",
                      "bad.csv:3:", "expected 4 fields, found 3"),
    "conflicting duplicate": (HEADER + "\n2018-06-14 00:30:00+12,1,X,1\n2018-06-14 01:00:00+12,1,X,1\n"
                              "2018-06-14 00:30:00+12,2,X,1\n", "bad.csv:2: interval_read='1.000'",
                              "conflicting values for the same (icp_id, read_timestamp, energy_flow_direction)"),
}


@pytest.mark.parametrize("case", sorted(BAD_FILES))
def test_bad_files_are_rejected_whole(lake, cli, tmp_path, case):
    content, where, why = BAD_FILES[case]
    good = cli("--lake", lake.root, "ingest", write_csv(tmp_path / "good.csv", day_rows("GOOD", dt.date(2018, 6, 14))))
    assert good.code == 0
    before = lake_files(lake)
    src = tmp_path / "bad.csv"
    src.write_text(content)
    result = cli("--lake", lake.root, "ingest", src)
    assert result.code == 1
    assert where in result.err and why in result.err, result.err
    assert "nothing ingested" in result.err
    assert lake_files(lake) == before
    assert [r["ingest_id"] for r in Lake(lake.root).ingests()] == ["ing-00000001"]


def test_truncated_parquet_is_rejected(lake, cli, tmp_path):
    path = tmp_path / "cut.parquet"
    pq.write_table(_typed_table(day_rows("ICP9", dt.date(2018, 6, 14))), path)
    path.write_bytes(path.read_bytes()[:-100])
    result = cli("--lake", lake.root, "ingest", path)
    assert result.code == 1
    assert "cut.parquet: unreadable" in result.err
    assert lake.ingests() == []


def test_error_report_lists_first_twenty_and_the_total(lake, cli, tmp_path):
    rows = [(t, "-1", d, i) for t, _, d, i in day_rows("ICP1", dt.date(2018, 6, 14))]
    result = cli("--lake", lake.root, "ingest", write_csv(tmp_path / "neg.csv", rows))
    assert result.code == 1
    assert "48 bad row(s)" in result.err
    assert "neg.csv:21: " in result.err and "neg.csv:22: " not in result.err
    assert "... and 28 more" in result.err


def test_quarantine_ingests_good_rows_and_writes_rejects(lake, cli, tmp_path):
    rows = day_rows("ICP1", dt.date(2018, 6, 14))
    rows[4] = (rows[4][0], "abc", "X", "ICP1")
    rows[7] = (rows[7][0], "1", "Q", "ICP1")
    result = cli("--lake", lake.root, "ingest", "--on-error", "quarantine", write_csv(tmp_path / "m.csv", rows))
    assert result.code == 0, result.err
    assert "46 new" in result.out and "2 rejects" in result.out
    record = lake.ingest("ing-00000001")
    rejects = pcsv.read_csv(lake.root / record["rejects_file"]).to_pylist()
    assert [(r["row"], r["field"]) for r in rejects] == [(6, "interval_read"), (9, "energy_flow_direction")]
    assert rejects[0]["reason"] == "not a finite decimal number" and rejects[0]["source"] == "m.csv"
    assert read_icp(lake, "ICP1", "2018-06-14", "2018-06-14").num_rows == 46


def test_plain_duckdb_matches_engine(small_lake):
    """The documented way for an analyst to read the latest revision (docs/analysts.md)
    gives, ICP by ICP, what the engine gives."""
    files = f"{small_lake.root}/raw/*/*.parquet"
    plain = {icp: (n, total) for icp, n, total in duckdb.sql(f"""
        SELECT icp_id, count(*), sum(interval_read) FROM (
            SELECT * FROM read_parquet('{files}', hive_partitioning = true, hive_types = {{'read_date': DATE}})
            QUALIFY row_number() OVER (PARTITION BY icp_id, read_timestamp, energy_flow_direction
                                       ORDER BY ingest_id DESC) = 1)
        GROUP BY icp_id""").fetchall()}
    assert len(plain) == 200
    for icp in random.Random(42).sample(sorted(plain), 40):
        t = read_icp(small_lake, icp, "2018-06-01", "2018-06-14")
        assert (t.num_rows, sum(t["interval_read"].to_pylist(), Decimal(0))) == plain[icp]


def test_killed_writer_leftovers_are_invisible_and_cleaned(lake, cli, tmp_path):
    assert cli("--lake", lake.root, "ingest", write_csv(tmp_path / "a.csv", day_rows("ICP1", dt.date(2018, 6, 14)))).code == 0
    # What a writer killed between moving its files and writing its commit record leaves behind.
    orphan = lake.layout.raw_file(dt.date(2018, 6, 14), "ing-00000002")
    orphan.write_bytes((lake.root / lake.ingest("ing-00000001")["files"][0]["path"]).read_bytes())
    stale = lake.layout.staging_dir / ("0" * 32)
    stale.mkdir()
    (stale / STAGING_LOCK).touch()  # its owner held the lock until it was killed
    assert read_icp(lake, "ICP1", "2018-06-14", "2018-06-14").num_rows == 48
    result = cli("--lake", lake.root, "ingest", write_csv(tmp_path / "b.csv", day_rows("ICP2", dt.date(2018, 6, 14))))
    assert "as ing-00000002" in result.out
    assert not stale.exists()
    assert lake.ingest("ing-00000002")["files"][0]["rows"] == 48
    assert read_icp(lake, "ICP1", "2018-06-14", "2018-06-14").num_rows == 48


def test_missing_file_and_missing_lake(cli, tmp_path, lake):
    result = cli("--lake", lake.root, "ingest", tmp_path / "nope.csv")
    assert result.code == 2 and "no such file" in result.err
    result = cli("--lake", tmp_path / "elsewhere", "ingest", tmp_path / "nope.csv")
    assert result.code == 2 and "no lake at" in result.err
