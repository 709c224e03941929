"""PySpark in local mode on the lake (jobs/spark_latest_output.py): with explicit schemas,
partition types and a UTC session, and file lists from the commit records, its totals of
raw reads at their latest revision and of the latest output equal DuckDB's views.
Run by `make test-spark` (needs the `spark` extra and Java 17); not part of `make test`."""
from __future__ import annotations

import datetime as dt
import shutil
from collections.abc import Iterator
from decimal import Decimal

import pytest

from pyspark.sql import SparkSession, functions as F

from datalake import runs
from datalake import sql
from datalake import views
from datalake.raw.compaction import compact
from datalake.demo.generate import generate
from datalake.raw.ingest import ingest_file
from datalake.lake import Lake
from jobs import spark_latest_output as job
from tests.factories import output
from tests.factories.raw import day_rows, write_csv

pytestmark = [pytest.mark.spark, pytest.mark.slow]

START = dt.date(2018, 6, 1)
END = START + dt.timedelta(days=3)


def day(n: int) -> dt.date:
    return START + dt.timedelta(days=n)


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> Lake:
    """30 ICPs x 4 days; revisions on days 1 and 2, day 1 compacted between them; runs 1
    (days 0-3), 2 (days 1-2, overrides 1 there) and 3 (days 2-3, retracted); a raw file and a
    run folder that no record names, as a writer killed before its commit leaves them."""
    root = tmp_path_factory.mktemp("spark")
    lake = Lake.create(root / "lake")
    generate(lake, icps=30, days=4, start=START, seed=13)
    icps = sorted({r[0] for r in job_rows(lake)})
    ingest_file(lake, write_csv(root / "rev1.csv", day_rows(icps[0], day(1), seed=3) + day_rows(icps[1], day(2), seed=3)))
    compact(lake, [day(1)], min_files=2, actor="test")
    ingest_file(lake, write_csv(root / "rev2.csv", day_rows(icps[0], day(1), seed=4)))
    for seed, (first, n) in enumerate([(day(0), 4), (day(1), 2), (day(2), 2)], start=1):
        run = runs.create_run(lake, start=first, end=first + dt.timedelta(days=n - 1), algorithm="matcher",
                              version=f"1.{seed}")["run_id"]
        rows = output.interval_rows(icps[:6], output.days(first, n), seed=seed)
        runs.upload_part(lake, run, 1, output.write_csv(root / f"out-{seed}.csv", rows))
        runs.publish_run(lake, run, allow_partial=True)  # 6 of the 30 ICPs
    runs.retract_run(lake, "run-00000003")
    stray = lake.layout.raw_file(day(2), "ing-00000099")
    shutil.copy(lake.raw_files(day(2), day(2))[0].path, stray)
    shutil.copytree(lake.layout.run_dir("run-00000002"), lake.layout.output_dir / "run_id=run-00000009")
    return lake


def job_rows(lake: Lake) -> list[tuple]:
    con = sql.connect()
    try:
        return con.execute("SELECT DISTINCT icp_id FROM read_parquet($f)",
                           {"f": [str(f.path) for f in lake.raw_files()]}).fetchall()
    finally:
        con.close()


@pytest.fixture(scope="module")
def spark() -> Iterator[SparkSession]:
    builder = (SparkSession.builder.master("local[1]").appName("meterlake-test")
               .config("spark.ui.enabled", "false")
               .config("spark.sql.shuffle.partitions", "2")
               .config("spark.driver.bindAddress", "127.0.0.1"))
    session = job.session(builder)
    yield session
    session.stop()


@pytest.fixture(scope="module")
def duck(lake: Lake):
    con = sql.connect()
    views.define_views(con, lake)
    yield con
    con.close()


def test_the_session_runs_in_utc(spark):
    assert spark.conf.get("spark.sql.session.timeZone") == "UTC"


def test_raw_totals_at_latest_revision_equal_duckdb(spark, lake, duck):
    expected = duck.sql("""SELECT read_date, energy_flow_direction, count(*), sum(interval_read),
                                  min(read_timestamp), max(read_timestamp), max(ingest_id)
                           FROM raw_reads GROUP BY ALL ORDER BY ALL""").fetchall()
    got = (job.raw_latest(spark, lake, START, END)
           .groupBy("read_date", "energy_flow_direction")
           .agg(F.count("*"), F.sum("interval_read"), F.min("read_timestamp"), F.max("read_timestamp"),
                F.max("ingest_id"))
           .orderBy("read_date", "energy_flow_direction").collect())
    # Spark returns naive datetimes in the session zone (UTC); DuckDB aware ones.
    expected = [(*r[:4], r[4].replace(tzinfo=None), r[5].replace(tzinfo=None), r[6])
                for r in expected]
    assert [tuple(r) for r in got] == expected
    assert len(expected) == 8 and {r[6] for r in expected} > {"ing-00000001"}  # revisions won
    first = [r for r in expected if r[0] == START][0]
    assert first[4] == dt.datetime(2018, 5, 31, 12, 30)  # 00:30 NZST is 12:30 UTC the day before


def test_every_revision_is_read_from_committed_files_only(spark, lake, duck):
    expected = duck.sql("SELECT count(*), sum(interval_read) FROM raw_reads_all_revisions").fetchall()[0]
    got = job.raw_all_revisions(spark, lake, START, END).agg(F.count("*"), F.sum("interval_read")).collect()[0]
    assert tuple(got) == expected
    glob = spark.read.schema(job.RAW_SCHEMA).parquet(str(lake.layout.raw_dir)).count()
    assert glob > expected[0]  # a glob reads the stray file and the files compaction replaced


def test_latest_output_totals_equal_duckdb(spark, lake, duck):
    expected = duck.sql("""SELECT read_date, run_id, buyer_seller, count(*), sum(matched_amount), max(trading_period)
                           FROM output_latest GROUP BY ALL ORDER BY ALL""").fetchall()
    got = (job.output_latest(spark, lake, START, END)
           .groupBy("read_date", "run_id", "buyer_seller")
           .agg(F.count("*"), F.sum("matched_amount"), F.max("trading_period"))
           .orderBy("read_date", "run_id", "buyer_seller").collect())
    assert [tuple(r) for r in got] == expected
    assert [(r[0], r[1]) for r in expected[::2]] == [
        (day(0), "run-00000001"), (day(1), "run-00000002"), (day(2), "run-00000002"), (day(3), "run-00000001")]


def test_monthly_report_matches_the_views(spark, lake, duck):
    expected = duck.sql("""
        WITH r AS (SELECT icp_id, sum(interval_read) FILTER (energy_flow_direction = 'X') AS x,
                          sum(interval_read) FILTER (energy_flow_direction = 'I') AS i
                   FROM raw_reads GROUP BY ALL),
             o AS (SELECT icp_id, sum(matched_amount) FILTER (buyer_seller = 'buyer') AS b,
                          sum(matched_amount) FILTER (buyer_seller = 'seller') AS s
                   FROM output_latest GROUP BY ALL)
        SELECT icp_id, DATE '2018-06-01', x, i, b, s FROM r FULL JOIN o USING (icp_id) ORDER BY icp_id""").fetchall()
    got = (job.monthly_report(spark, lake, START, END)
           .select("icp_id", "month", "extracted_kwh", "injected_kwh", "matched_buyer_kwh", "matched_seller_kwh")
           .orderBy("icp_id").collect())
    assert [tuple(r) for r in got] == expected
    assert sum(1 for r in expected if r[4] is not None) == 6 and isinstance(expected[0][2], Decimal)
