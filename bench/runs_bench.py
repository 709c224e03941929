"""Run figures: upload and publish throughput, and output query latencies.

    .venv/bin/python bench/runs_bench.py --icps 100000 --days 14 --parts 8

Generates a raw lake, builds one output row per ICP, date and half hour (ICPs x days x 48)
as Parquet parts sharded by ICP, uploads and publishes them as a run, publishes a second run
over the second half of the window (so "latest" mixes two runs), then times the three
output queries on one cached connection. Writes JSON to bench/results/ and prints a
summary."""
from __future__ import annotations

import argparse
import datetime as dt
import json
import platform
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa

from datalake import cursor
from datalake.output import reads as output
from datalake import runs  # noqa: E402
from datalake.demo.runs import UPLOAD_SCHEMA
from datalake.demo.generate import generate, icp_ids
from datalake.delivery.rawtypes import decimal_array
from datalake.lake import Lake
from datalake.storage.parquet import write_parquet

ROOT = Path(__file__).resolve().parent.parent


def timed(fn, repeat: int) -> dict:
    """Median, p95 and best of ``repeat`` calls, in milliseconds."""
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1000)
    times.sort()
    return {"median_ms": statistics.median(times), "p95_ms": times[int(0.95 * (len(times) - 1))],
            "best_ms": times[0], "n": repeat}


def build_parts(work: Path, icps: int, parts: int, seed: int, start: dt.date, end: dt.date) -> list[Path]:
    """One output row per ICP (the raw lake's ids), date and half hour, as typed Parquet
    parts sharded by ICP; amounts depend on ``seed``. Synthesised with numpy rather than
    from the raw reads: the bench times the run path, not the demo generator."""
    ids = np.sort(icp_ids(icps, 42))
    rng = np.random.default_rng(seed)
    dates = [start + dt.timedelta(days=i) for i in range((end - start).days + 1)]
    times = pa.array([f"{p // 2:02d}:{30 * (p % 2):02d}:00" for p in range(48)])
    published = dt.datetime.now(dt.UTC)
    paths = []
    for shard, chunk in enumerate(np.array_split(ids, parts)):
        path = work / f"run-seed{seed}-part{shard + 1}.parquet"
        n = len(chunk) * len(dates) * 48
        icp_index = np.repeat(np.arange(len(chunk)), 48 * len(dates))
        date_index = np.tile(np.repeat(np.arange(len(dates)), 48), len(chunk))
        period_index = np.tile(np.arange(48), len(chunk) * len(dates))
        table = pa.table({
            "icp_id": pa.array(chunk).take(pa.array(icp_index)),
            "matched_amount": decimal_array(rng.integers(0, 20000, n), UPLOAD_SCHEMA.field("matched_amount").type),
            "read_date": pa.array(dates, pa.date32()).take(pa.array(date_index)),
            "read_time": times.take(pa.array(period_index)),
            "publish_datetime": pa.array([published], UPLOAD_SCHEMA.field("publish_datetime").type).take(
                pa.array(np.zeros(n, np.int64))),
            "buyer_seller": pa.array(np.where(icp_index % 5 == 0, "seller", "buyer")),
            "trading_period": pa.array((period_index + 1).astype(np.int16)),
        })
        write_parquet(path, UPLOAD_SCHEMA, table.to_batches(1 << 20))
        paths.append(path)
    return paths


def publish(lake: Lake, paths: list[Path], start: dt.date, end: dt.date, version: str) -> dict:
    record = runs.create_run(lake, start=start, end=end, algorithm="bench", version=version)
    run = record["run_id"]
    t = time.perf_counter()
    for n, path in enumerate(paths, start=1):
        runs.upload_part(lake, run, n, path)
    upload_s = time.perf_counter() - t
    t = time.perf_counter()
    record = runs.publish_run(lake, run)
    publish_s = time.perf_counter() - t
    rows = record["rows"]
    return {"run_id": run, "rows": rows, "parts": len(paths), "upload_s": upload_s, "publish_s": publish_s,
            "upload_rows_per_s": rows / upload_s, "publish_rows_per_s": rows / publish_s,
            "end_to_end_rows_per_s": rows / (upload_s + publish_s),
            "output_bytes": sum(f["bytes"] for f in record["files"]),
            "bytes_per_row": sum(f["bytes"] for f in record["files"]) / rows}


def measure_queries(lake: Lake, start: dt.date, end: dt.date, repeat: int) -> dict:
    icps = [r[0] for r in duckdb.execute(
        "SELECT DISTINCT icp_id FROM read_parquet($f)", {"f": [str(lake.root / f["path"])
                                                           for f in runs.get_run(lake, "run-00000001")["files"][:1]]}
    ).fetchall()]
    rng = random.Random(7)
    q: dict = {}
    q["a_day_14d"] = timed(lambda: output.output_summary(lake, rng.choice(icps), start=start, end=end,
                                                         granularity="day", limit=None), repeat)
    q["a_interval_14d"] = timed(lambda: output.output_summary(lake, rng.choice(icps), start=start, end=end,
                                                              granularity="interval", limit=None),
                                repeat)
    q["a_month_buyer_14d"] = timed(lambda: output.output_summary(lake, rng.choice(icps), start=start, end=end,
                                                                 granularity="month", buyer_seller="buyer",
                                                                 limit=None), repeat)

    def page_two() -> None:
        icp = rng.choice(icps)
        _, nxt = output.output_summary(lake, icp, granularity="interval", limit=100)
        output.output_summary(lake, icp, granularity="interval", limit=100, cursor=nxt)

    q["b_first_page_100"] = timed(lambda: output.output_summary(lake, rng.choice(icps), granularity="interval",
                                                                limit=100), repeat)
    q["b_first_and_second_page_100"] = timed(page_two, repeat)

    pinned = output.resolve_runs(lake, start, end)
    middle = sorted(icps)[len(icps) // 2]

    def middle_page() -> None:
        text = cursor.encode(cursor.Cursor({"k": "by_key", "s": start.isoformat(), "e": end.isoformat(),
                                            "by": ["icp_id", "buyer_seller"], "bs": None, "run": "latest"},
                                           pinned, [middle, "buyer"]))
        output.output_by_key(lake, start, end, limit=1000, cursor=text)

    few = max(3, repeat // 6)
    q["c_by_icp_first_page_1000"] = timed(lambda: output.output_by_key(lake, start, end, limit=1000), few)
    q["c_by_icp_middle_page_1000"] = timed(middle_page, few)
    q["c_by_icp_all_rows"] = timed(lambda: output.output_by_key(lake, start, end), 3)
    q["c_by_date_side_all_rows"] = timed(lambda: output.output_by_key(lake, start, end,
                                                                      by=["read_date", "buyer_seller"]), 3)
    q["c_by_icp_one_day_all_rows"] = timed(lambda: output.output_by_key(lake, end, end), 3)
    first_half = start + dt.timedelta(days=(end - start).days // 2 - 1)  # dates run 2 does not cover
    q["c_by_icp_all_rows_one_run_7d"] = timed(lambda: output.output_by_key(lake, start, first_half), 3)
    q["all_rows_groups"] = output.output_by_key(lake, start, end)[0].num_rows
    return q


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--icps", type=int, default=100_000)
    ap.add_argument("--days", type=int, default=14)
    ap.add_argument("--parts", type=int, default=8)
    ap.add_argument("--repeat", type=int, default=30)
    ap.add_argument("--workdir", type=Path, default=None)
    ap.add_argument("--queries-only", type=Path, metavar="LAKE",
                    help="only time the queries, on a lake an earlier run of this bench left")
    args = ap.parse_args()
    out = ROOT / "bench" / "results" / f"runs-{args.icps}x{args.days}.json"
    if args.queries_only:
        start = dt.date(2018, 6, 1)
        res = json.loads(out.read_text())
        res["queries"] = measure_queries(Lake(args.queries_only), start, start + dt.timedelta(days=args.days - 1),
                                         args.repeat)
        res["queries_date"] = dt.datetime.now(dt.UTC).isoformat()
        out.write_text(json.dumps(res, indent=2) + "\n")
        print(json.dumps(res["queries"], indent=2))
        return
    work = Path(tempfile.mkdtemp(prefix="meterlake-runs-bench-", dir=args.workdir))
    start = dt.date(2018, 6, 1)
    end = start + dt.timedelta(days=args.days - 1)
    half = start + dt.timedelta(days=args.days // 2)
    res: dict = {"icps": args.icps, "days": args.days, "date": dt.datetime.now(dt.UTC).isoformat(),
                 "machine": {"python": sys.version.split()[0], "platform": platform.platform(),
                             "duckdb": duckdb.__version__}}

    lake = Lake.create(work / "lake")
    t = time.perf_counter()
    generate(lake, icps=args.icps, days=args.days, start=start, seed=42)
    res["generate_raw_s"] = time.perf_counter() - t

    t = time.perf_counter()
    paths = build_parts(work, args.icps, args.parts, seed=1, start=start, end=end)
    res["build_parts_s"] = time.perf_counter() - t
    res["run_1"] = publish(lake, paths, start, end, "1")
    print(json.dumps(res["run_1"], indent=2), flush=True)
    for p in paths:
        p.unlink()
    paths = build_parts(work, args.icps, args.parts, seed=2, start=half, end=end)
    res["run_2"] = publish(lake, paths, half, end, "2")
    for p in paths:
        p.unlink()

    res["queries"] = measure_queries(lake, start, end, args.repeat)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(res, indent=2) + "\n")
    print(json.dumps(res, indent=2))
    print(f"results in {out}; lake in {work}")


if __name__ == "__main__":
    main()
