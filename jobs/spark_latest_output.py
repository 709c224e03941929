"""A Spark job over a meterlake lake: for every ICP and month of a date range, energy
consumed and generated (raw reads at their latest revision) and energy matched as buyer
and seller (the latest published output of each trading date).

Submit it from a host that has meterlake installed and can read the lake's records; the
driver takes the file lists from the commit records (``datalake``), the executors read
only Parquet:

    spark-submit --deploy-mode client --conf spark.sql.session.timeZone=UTC \\
        jobs/spark_latest_output.py --lake /data/lake --start 2024-01-01 --end 2024-12-31 \\
        --out /data/reports/matched-2024

See docs/spark.md. ``tests/spark/test_spark.py`` runs the functions below in local mode and
checks their totals against DuckDB's views.
"""
from __future__ import annotations

import argparse
import datetime as dt
from pathlib import Path

from pyspark.sql import DataFrame, SparkSession, Window
from pyspark.sql import functions as F
from pyspark.sql.types import (DateType, DecimalType, ShortType, StringType, StructField, StructType,
                               TimestampType)

from datalake.lake import Lake
from datalake.output.reads import resolve_runs
from datalake.runs.record import output_files

# The lake's Parquet schemas (datalake/schema.py) in Spark's terms, with the Hive partition
# columns typed explicitly: inference would guess them from the folder names.
RAW_SCHEMA = StructType([
    StructField("icp_id", StringType(), False),
    StructField("read_timestamp", TimestampType(), False),   # TIMESTAMP_MICROS, UTC: the END of the half hour
    StructField("trading_period", ShortType(), False),
    StructField("interval_read", DecimalType(18, 3), False),
    StructField("energy_flow_direction", StringType(), False),
    StructField("ingest_id", StringType(), False),
    StructField("read_date", DateType(), False),               # partition: raw/read_date=YYYY-MM-DD
])
OUTPUT_SCHEMA = StructType([
    StructField("icp_id", StringType(), False),
    StructField("read_time", StringType(), False),            # local START of the interval, text
    StructField("trading_period", ShortType(), False),
    StructField("matched_amount", DecimalType(18, 4), False),
    StructField("publish_datetime", TimestampType(), False),
    StructField("buyer_seller", StringType(), False),
    StructField("run_id", StringType(), False),                # partition: output/run_id=.../
    StructField("read_date", DateType(), False),               # partition: .../read_date=YYYY-MM-DD
])
KEY = ("icp_id", "read_timestamp", "energy_flow_direction")

SESSION_CONF = {
    "spark.sql.session.timeZone": "UTC",                       # instants shown and cast in UTC
    "spark.sql.sources.partitionColumnTypeInference.enabled": "false",  # types come from the schemas
}


def session(builder: SparkSession.Builder | None = None) -> SparkSession:
    builder = builder or SparkSession.builder.appName("meterlake")
    for key, value in SESSION_CONF.items():
        builder = builder.config(key, value)
    return builder.getOrCreate()


def raw_files(lake: Lake, start: dt.date, end: dt.date) -> list[str]:
    """The committed raw files of the range: from the commit records, never a glob (a glob
    also sees files of ingests not yet committed, and files a compaction replaced)."""
    return sorted(str(f.path) for f in lake.raw_files(start, end))


def latest_output_files(lake: Lake, start: dt.date, end: dt.date) -> list[str]:
    """Per trading date, the files of the run that answers for it: the most recently
    published, not retracted run whose window covers the date (from the run records)."""
    by_run: dict[str, dict[dt.date, list[str]]] = {}
    files = []
    for day, run in resolve_runs(lake, start, end).items():
        if run not in by_run:
            by_run[run] = output_files(lake, run)
        files += by_run[run].get(day, [])
    return sorted(files)


def _read_files(spark: SparkSession, files: list[str], schema: StructType, base: Path) -> DataFrame:
    """The Parquet ``files`` under ``base`` (hive partitions from there) as ``schema``; an
    empty frame of that schema when there are none."""
    if not files:
        return spark.createDataFrame([], schema)
    return spark.read.schema(schema).option("basePath", str(base)).parquet(*files)


def raw_all_revisions(spark: SparkSession, lake: Lake, start: dt.date, end: dt.date) -> DataFrame:
    return _read_files(spark, raw_files(lake, start, end), RAW_SCHEMA, lake.layout.raw_dir)


def raw_latest(spark: SparkSession, lake: Lake, start: dt.date, end: dt.date) -> DataFrame:
    """Raw reads at their latest revision: per key, the row with the highest ingest_id. A
    key lives in one trading date, so read_date in the window lets Spark shuffle by date."""
    newest = Window.partitionBy("read_date", *KEY).orderBy(F.col("ingest_id").desc())
    return (raw_all_revisions(spark, lake, start, end)
            .withColumn("_revision", F.row_number().over(newest))
            .where(F.col("_revision") == 1)
            .drop("_revision"))


def output_latest(spark: SparkSession, lake: Lake, start: dt.date, end: dt.date) -> DataFrame:
    return _read_files(spark, latest_output_files(lake, start, end), OUTPUT_SCHEMA, lake.layout.output_dir)


def monthly_report(spark: SparkSession, lake: Lake, start: dt.date, end: dt.date) -> DataFrame:
    """Per ICP and month: kWh extracted (X) and injected (I), kWh matched as buyer and as
    seller, and the runs that answered."""
    month = F.date_trunc("month", F.col("read_date")).cast(DateType()).alias("month")
    raw = (raw_latest(spark, lake, start, end)
           .groupBy("icp_id", month)
           .agg(F.sum(F.when(F.col("energy_flow_direction") == "X", F.col("interval_read"))).alias("extracted_kwh"),
                F.sum(F.when(F.col("energy_flow_direction") == "I", F.col("interval_read"))).alias("injected_kwh")))
    matched = (output_latest(spark, lake, start, end)
               .groupBy("icp_id", month)
               .agg(F.sum(F.when(F.col("buyer_seller") == "buyer", F.col("matched_amount"))).alias("matched_buyer_kwh"),
                    F.sum(F.when(F.col("buyer_seller") == "seller", F.col("matched_amount"))).alias("matched_seller_kwh"),
                    F.array_sort(F.collect_set("run_id")).alias("runs")))
    return raw.join(matched, ["icp_id", "month"], "full_outer")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--lake", required=True)
    parser.add_argument("--start", required=True, type=dt.date.fromisoformat)
    parser.add_argument("--end", required=True, type=dt.date.fromisoformat)
    parser.add_argument("--out", required=True, help="folder for the report, Parquet partitioned by month")
    args = parser.parse_args(argv)
    spark = session()
    report = monthly_report(spark, Lake(args.lake), args.start, args.end)
    report.write.mode("overwrite").partitionBy("month").parquet(args.out)
    spark.stop()


if __name__ == "__main__":
    main()
