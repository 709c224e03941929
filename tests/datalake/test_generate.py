"""The synthetic-data generator: realistic, deterministic, DST-aware."""
from __future__ import annotations

import datetime as dt
import re

import duckdb
import pyarrow.parquet as pq

from datalake.demo.generate import generate
from datalake.lake import Lake


def read_all(lake: Lake):
    return duckdb.sql(f"""SELECT * FROM read_parquet('{lake.root}/raw/*/*.parquet', hive_partitioning = true,
                          hive_types = {{'read_date': DATE}}) ORDER BY ALL""").fetchall()


def test_same_seed_same_reads_other_seed_other_reads(tmp_path, cli):
    for name, seed in (("a", 3), ("b", 3), ("c", 4)):
        assert cli("--lake", tmp_path / name, "generate", "--icps", 30, "--days", 2, "--start", "2018-06-01",
                   "--seed", seed).code == 0
    a, b, c = (read_all(Lake(tmp_path / n)) for n in "abc")
    assert a == b
    assert a != c


def test_shape_of_generated_lake(tmp_path):
    lake = Lake.create(tmp_path / "lake")
    result = generate(lake, icps=300, days=3, start=dt.date(2018, 9, 29), seed=1)
    assert result.dates == ["2018-09-29", "2018-09-30", "2018-10-01"]
    rows = duckdb.sql(f"""
        SELECT read_date, energy_flow_direction, count(DISTINCT icp_id), count(*), max(trading_period),
               min(interval_read), max(interval_read)
        FROM read_parquet('{lake.root}/raw/*/*.parquet', hive_partitioning = true, hive_types = {{'read_date': DATE}})
        GROUP BY ALL ORDER BY ALL""").fetchall()
    by = {(r[0], r[1]): r[2:] for r in rows}
    x_icps, x_rows, x_max_period, x_min, _ = by[(dt.date(2018, 9, 30), "X")]
    assert x_icps == 300 and x_max_period == 46 and x_rows == 300 * 46   # daylight saving starts
    assert by[(dt.date(2018, 9, 29), "X")][2] == 48
    solar = by[(dt.date(2018, 9, 29), "I")][0]
    assert 20 <= solar <= 100                                             # about one ICP in six
    assert x_min >= 0
    ids = [r[0] for r in duckdb.sql(f"SELECT DISTINCT icp_id FROM '{lake.root}/raw/*/*.parquet'").fetchall()]
    assert all(re.fullmatch(r"[0-9]{10}[A-Z]{2}[A-Z0-9]{3}", i) for i in ids)
    assert result.rows_new == sum(r[3] for r in rows)


def test_files_are_sorted_with_large_row_groups_and_page_index(small_lake):
    record = small_lake.ingests()[0]
    f = pq.ParquetFile(small_lake.root / record["files"][0]["path"])
    assert f.metadata.num_row_groups == 1
    assert f.metadata.row_group(0).column(0).has_offset_index
    t = f.read()
    keys = list(zip(t["icp_id"].to_pylist(), t["read_timestamp"].to_pylist(),
                    t["energy_flow_direction"].to_pylist()))
    assert keys == sorted(keys)
    assert str(f.schema_arrow.field("interval_read").type) == "decimal128(18, 3)"
    assert str(f.schema_arrow.field("read_timestamp").type) == "timestamp[us, tz=UTC]"


def test_generating_the_same_thing_twice_stores_nothing_the_second_time(lake, cli):
    first = cli("--lake", lake.root, "generate", "--icps", "5", "--days", "1", "--start", "2018-06-01", "--seed", "1")
    assert first.code == 0 and "240 new" in first.out
    again = cli("--lake", lake.root, "generate", "--icps", "5", "--days", "1", "--start", "2018-06-01", "--seed", "1")
    assert again.code == 0 and "no-op" in again.out and "already ingested as ing-00000001" in again.out
    assert [r["ingest_id"] for r in lake.ingests()] == ["ing-00000001"]
    other = cli("--lake", lake.root, "generate", "--icps", "5", "--days", "1", "--start", "2018-06-02", "--seed", "1")
    assert other.code == 0 and len(lake.ingests()) == 2
