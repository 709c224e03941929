"""The analyst views, on real Parquet: same answers as the engine, committed data only."""
from __future__ import annotations

import datetime as dt
import shutil
from collections import defaultdict
from decimal import Decimal
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest

from datalake import sql
from datalake import views
from datalake.raw.bulk import read_bulk
from datalake.demo.generate import generate, icp_ids
from datalake.raw.ingest import ingest_file
from datalake.lake import Lake
from datalake.raw.reads import read_icp
from tests.conftest import empty_view_types
from tests.factories.raw import day_rows, write_csv

START = dt.date(2018, 6, 1)
DAYS = 4
REVISED_DATES = (dt.date(2018, 6, 2), dt.date(2018, 6, 3))


def build_revised_lake(root: Path) -> Lake:
    """40 ICPs x 4 days generated (ing-1), then two deliveries revising 10 of them on two
    dates (ing-2, ing-3, the second revising the first again) and bringing a new ICP."""
    lake = Lake.create(root)
    generate(lake, icps=40, days=DAYS, start=START, seed=11)
    first = lake.raw_files()[0].path
    ids = sorted(set(pq.read_table(first, columns=["icp_id"])["icp_id"].to_pylist()))[:10]
    for seed in (2, 3):
        rows = [r for icp in ids for day in REVISED_DATES for r in day_rows(icp, day, "X", seed=seed)]
        rows += day_rows("NEWICP1", REVISED_DATES[0], "I", seed=seed)
        ingest_file(lake, write_csv(root.parent / f"rev{seed}.csv", rows))
    return lake


@pytest.fixture(scope="module")
def revised_lake(tmp_path_factory: pytest.TempPathFactory) -> Lake:
    # A quote in the path checks that file lists are quoted, not pasted, into the DDL.
    return build_revised_lake(tmp_path_factory.mktemp("views") / "it's a lake")


@pytest.fixture(scope="module")
def con(revised_lake: Lake) -> duckdb.DuckDBPyConnection:
    con = sql.connect()
    views.define_views(con, revised_lake)
    return con


def engine_totals(lake: Lake, as_of: str | None = None) -> dict[tuple[str, str], tuple[int, Decimal]]:
    """(icp_id, direction) -> (reads, kWh) from the engine's read path, one ICP at a time."""
    end = START + dt.timedelta(days=DAYS - 1)
    con = sql.connect()
    icps = {r[0] for r in con.sql(
        "SELECT DISTINCT icp_id FROM read_parquet($f)", params={"f": [str(f.path) for f in lake.raw_files()]}
    ).fetchall()}
    totals: dict[tuple[str, str], list] = defaultdict(lambda: [0, Decimal(0)])
    for icp in icps:
        for row in read_icp(lake, icp, START, end, as_of=as_of).to_pylist():
            t = totals[(icp, row["energy_flow_direction"])]
            t[0] += 1
            t[1] += row["interval_read"]
    return {k: (n, kwh) for k, (n, kwh) in totals.items()}


def view_totals(con: duckdb.DuckDBPyConnection, relation: str) -> dict[tuple[str, str], tuple[int, Decimal]]:
    rows = con.sql(f"SELECT icp_id, energy_flow_direction, count(*), sum(interval_read) FROM {relation} "
                   "GROUP BY ALL").fetchall()
    return {(icp, d): (n, kwh) for icp, d, n, kwh in rows}


def test_raw_reads_equal_the_engine_for_every_icp(revised_lake, con):
    expected = engine_totals(revised_lake)
    assert len(expected) > 40  # every ICP's X stream, the solar I streams, the new ICP
    assert view_totals(con, "raw_reads") == expected


def test_raw_reads_as_of_equal_the_engine_as_of(revised_lake, con):
    for as_of in ("ing-00000001", "ing-00000002"):
        assert view_totals(con, f"raw_reads_as_of('{as_of}')") == engine_totals(revised_lake, as_of)
    assert view_totals(con, "raw_reads_as_of('ing-00000003')") == view_totals(con, "raw_reads")


def test_revisions_are_all_kept_and_the_latest_wins(revised_lake, con):
    stored = sum(f["rows"] for r in revised_lake.ingests() for f in r["files"])
    assert con.sql("SELECT count(*) FROM raw_reads_all_revisions").fetchall() == [(stored,)]
    revised = con.sql("""SELECT count(*) FROM (SELECT icp_id, read_timestamp, energy_flow_direction
                         FROM raw_reads_all_revisions GROUP BY ALL HAVING count(*) = 3)""").fetchall()[0][0]
    assert revised > 0  # keys with three revisions exist, and raw_reads keeps one row of each
    assert con.sql("""SELECT count(*) FROM (SELECT icp_id, read_timestamp, energy_flow_direction
                      FROM raw_reads GROUP BY ALL HAVING count(*) > 1)""").fetchall() == [(0,)]
    assert con.sql("""SELECT DISTINCT ingest_id FROM raw_reads
                      WHERE read_date = '2018-06-02' AND icp_id = 'NEWICP1'""").fetchall() == [("ing-00000003",)]


def test_views_ignore_files_no_commit_record_names(revised_lake, tmp_path):
    """A file moved into raw/ by a writer that has not yet written its commit record (or
    that died) is invisible; a glob over raw/ would count it."""
    lake = Lake(shutil.copytree(revised_lake.root, tmp_path / "lake"))
    committed = lake.raw_files()[0]
    shutil.copy(committed.path, committed.path.with_name("ing-00000009.parquet"))
    con = sql.connect()
    views.define_views(con, lake)
    stored = sum(f.rows for f in lake.raw_files())
    assert con.sql("SELECT count(*) FROM raw_reads_all_revisions").fetchall() == [(stored,)]
    globbed = con.sql("SELECT count(*) FROM read_parquet($g)", params={"g": f"{lake.root}/raw/*/*.parquet"})
    assert globbed.fetchall() == [(stored + committed.rows,)]


def test_ingests_and_raw_files_views_mirror_the_commit_records(revised_lake, con):
    records = revised_lake.ingests()
    got = con.sql("SELECT ingest_id, rows_stored, rows_revised, len(files) FROM ingests ORDER BY 1").fetchall()
    assert got == [(r["ingest_id"], r["rows"]["stored"], r["rows"]["revised"], len(r["files"])) for r in records]
    files = con.sql("SELECT ingest_id, read_date, path, rows FROM raw_files ORDER BY 1, 2").fetchall()
    assert files == [(f.ingest_id, f.read_date, revised_lake.layout.relative(f.path), f.rows)
                     for f in revised_lake.raw_files()]


def test_views_on_an_empty_lake_are_empty_and_typed(lake):
    types = empty_view_types(lake, ("ingests", "raw_files", "raw_reads", "raw_reads_all_revisions"), "raw_reads")
    assert types == {"icp_id": "VARCHAR", "read_date": "DATE", "trading_period": "SMALLINT",
                     "read_timestamp": "TIMESTAMP WITH TIME ZONE", "energy_flow_direction": "VARCHAR",
                     "interval_read": "DECIMAL(18,3)", "ingest_id": "VARCHAR"}


def test_views_are_a_snapshot_until_defined_again(tmp_path):
    lake = Lake.create(tmp_path / "lake")
    generate(lake, icps=5, days=1, start=START, seed=1)
    con = sql.connect()
    views.define_views(con, lake)
    before = con.sql("SELECT count(*) FROM raw_reads").fetchall()[0][0]
    generate(lake, icps=5, days=1, start=START + dt.timedelta(days=1), seed=1)
    assert con.sql("SELECT count(*) FROM raw_reads").fetchall()[0][0] == before
    views.define_views(con, lake)
    assert con.sql("SELECT count(*) FROM raw_reads").fetchall()[0][0] == 2 * before


def test_catalog_file_opens_in_plain_duckdb(revised_lake, con, tmp_path):
    target = tmp_path / "lake.duckdb"
    views.write_catalog(revised_lake, target)
    views.write_catalog(revised_lake, target)  # re-running replaces the file
    plain = duckdb.connect(str(target), read_only=True)
    query = "SELECT count(*), sum(interval_read) FROM raw_reads"
    assert plain.sql(query).fetchall() == con.sql(query).fetchall()
    assert plain.sql("SELECT head_ingest, raw_files FROM meterlake_catalog").fetchall() == [
        ("ing-00000003", len(revised_lake.raw_files()))]
    assert not list(tmp_path.glob(".*.tmp"))


def test_raw_reads_equal_the_bulk_stream(revised_lake, con):
    bulk = read_bulk(revised_lake, START, START + dt.timedelta(days=DAYS - 1))
    reads, kwh = 0, Decimal(0)
    for batch in bulk.batches:
        reads += batch.num_rows
        kwh += sum(batch.column("interval_read").to_pylist(), Decimal(0))
    assert con.sql("SELECT count(*), sum(interval_read) FROM raw_reads").fetchall() == [(reads, kwh)]


def test_a_small_early_file_is_superseded_by_a_large_later_one(tmp_path):
    """Date 06-01 holds a small delivery for one ICP (ing-1), then a large one for 40 ICPs
    that stores that ICP's keys again with other values (ing-2): the later values win even
    though the earlier file is the smaller."""
    lake = Lake.create(tmp_path / "lake")
    icp = str(sorted(icp_ids(40, 11))[0])
    ingest_file(lake, write_csv(tmp_path / "early.csv", day_rows(icp, START, "X", seed=5)))
    generate(lake, icps=40, days=1, start=START, seed=11)
    con = sql.connect()
    views.define_views(con, lake)
    assert view_totals(con, "raw_reads") == engine_totals(lake)
    assert con.sql("SELECT DISTINCT ingest_id FROM raw_reads WHERE icp_id = $i AND energy_flow_direction = 'X'",
                   params={"i": icp}).fetchall() == [("ing-00000002",)]
