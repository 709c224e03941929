"""Time the Spark job's pieces in local mode against DuckDB's views on one lake.

    python bench/spark_bench.py LAKE [--cores 2]

Prints JSON: seconds for Spark (session start, raw latest-revision totals, latest-output
totals, the monthly report written as Parquet) and for the same totals through DuckDB.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pyspark.sql import SparkSession, functions as F  # noqa: E402

from datalake import sql  # noqa: E402
from datalake import views
from datalake.lake import Lake  # noqa: E402
from jobs import spark_latest_output as job  # noqa: E402


def timed(fn):
    started = time.perf_counter()
    value = fn()
    return round(time.perf_counter() - started, 2), value


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("lake")
    parser.add_argument("--cores", type=int, default=2)
    args = parser.parse_args()
    lake = Lake(args.lake)
    dates = sorted({f.read_date for f in lake.raw_files()})
    start, end = dates[0], dates[-1]
    result: dict = {"lake": str(lake.root), "start": str(start), "end": str(end), "cores": args.cores}

    con = sql.connect()
    views.define_views(con, lake)
    result["duckdb_raw_s"], raw = timed(lambda: con.sql(
        "SELECT count(*), sum(interval_read) FROM raw_reads").fetchall()[0])
    result["duckdb_output_s"], out = timed(lambda: con.sql(
        "SELECT count(*), sum(matched_amount) FROM output_latest").fetchall()[0])
    result["rows_raw_latest"], result["rows_output_latest"] = raw[0], out[0]

    builder = (SparkSession.builder.master(f"local[{args.cores}]").config("spark.ui.enabled", "false")
               .config("spark.sql.shuffle.partitions", str(args.cores * 4))
               .config("spark.driver.memory", "2g"))
    result["spark_session_s"], spark = timed(lambda: job.session(builder))
    result["spark_raw_s"], sraw = timed(lambda: job.raw_latest(spark, lake, start, end)
                                        .agg(F.count("*"), F.sum("interval_read")).collect()[0])
    result["spark_output_s"], sout = timed(lambda: job.output_latest(spark, lake, start, end)
                                           .agg(F.count("*"), F.sum("matched_amount")).collect()[0])
    with tempfile.TemporaryDirectory() as out_dir:
        result["spark_report_s"], _ = timed(lambda: job.monthly_report(spark, lake, start, end)
                                            .write.mode("overwrite").partitionBy("month").parquet(out_dir))
    result["totals_equal"] = tuple(sraw) == raw and tuple(sout) == out
    spark.stop()
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
