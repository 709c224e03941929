"""Raw-lake figures: generate and ingest throughput, bytes per row, one-ICP read latency.

    .venv/bin/python bench/foundation_bench.py --icps 100000 --days 14

Generates a lake, exports its reads as the brief's CSV, ingests that CSV into a second lake
through the CLI, then times one-ICP 14-day reads in the engine, from the day files alone and
from the raw serving index. Writes JSON to bench/results/ and prints a summary. (`make bench`
measures the same steps and more through HTTP.)"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import duckdb

from datalake import sql
from datalake.generate import generate
from datalake.lake import Lake
from datalake.reads import read_icp
from datalake.serving import build_raw_index

ROOT = Path(__file__).resolve().parent.parent


def lake_bytes(lake: Lake) -> int:
    return sum(p.stat().st_size for p in lake.layout.raw_dir.rglob("*.parquet"))


def time_reads(lake: Lake, icps: list[str], start: dt.date, end: dt.date, con) -> dict:
    """One-ICP reads of the whole range, one after another: median and p95 in ms."""
    read_icp(lake, icps[0], start, end, con=con)  # warm the metadata cache
    times = []
    for icp in icps:
        t = time.perf_counter()
        read_icp(lake, icp, start, end, con=con)
        times.append((time.perf_counter() - t) * 1000)
    times.sort()
    return {"median": statistics.median(times), "p95": times[int(len(times) * 0.95)], "n": len(times)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--icps", type=int, default=100_000)
    ap.add_argument("--days", type=int, default=14)
    ap.add_argument("--lookups", type=int, default=300)
    ap.add_argument("--workdir", type=Path, default=None)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="meterlake-bench-", dir=args.workdir))
    start = dt.date(2018, 6, 1)
    end = start + dt.timedelta(days=args.days - 1)
    res: dict = {"icps": args.icps, "days": args.days, "date": dt.datetime.now(dt.UTC).isoformat(),
                 "machine": {"python": sys.version.split()[0], "platform": platform.platform(),
                             "duckdb": duckdb.__version__}}

    generated = Lake.create(work / "generated")
    t = time.perf_counter()
    g = generate(generated, icps=args.icps, days=args.days, start=start, seed=42)
    res["generate"] = {"rows": g.rows_new, "seconds": time.perf_counter() - t}
    res["generate"]["rows_per_s"] = g.rows_new / res["generate"]["seconds"]
    res["bytes_per_row"] = lake_bytes(generated) / g.rows_new

    csv_path = work / "reads.csv"
    t = time.perf_counter()
    con = sql.connect()
    files = [str(f.path) for f in generated.raw_files()]
    con.sql(sql.query("raw_export_csv"), params={"files": files}).write_csv(str(csv_path))
    res["export_csv"] = {"seconds": time.perf_counter() - t, "bytes": csv_path.stat().st_size}

    ingested = Lake.create(work / "ingested")
    t = time.perf_counter()
    out = subprocess.run([sys.executable, "-m", "cli.main", "--lake", str(ingested.root), "ingest", str(csv_path)],
                         cwd=ROOT, capture_output=True, text=True, check=True)
    seconds = time.perf_counter() - t
    res["ingest_csv"] = {"rows": g.rows_new, "seconds": seconds, "rows_per_s": g.rows_new / seconds,
                         "summary": out.stdout.strip()}
    res["ingested_bytes_per_row"] = lake_bytes(ingested) / g.rows_new

    icps = [r[0] for r in con.sql("SELECT DISTINCT icp_id FROM read_parquet($files)",
                                  params={"files": files[:1]}).fetchall()]
    sample = random.Random(1).choices(icps, k=args.lookups)
    reader = sql.connect()
    res["read_icp_files_ms"] = time_reads(ingested, sample[: max(args.lookups // 5, 10)], start, end, reader)
    t = time.perf_counter()
    build_raw_index(ingested)
    res["index_build_seconds"] = time.perf_counter() - t
    res["read_icp_index_ms"] = time_reads(ingested, sample, start, end, reader)

    out_path = ROOT / "bench" / "results" / f"foundation-{args.icps}x{args.days}.json"
    out_path.write_text(json.dumps(res, indent=2) + "\n")
    print(json.dumps(res, indent=2))
    subprocess.run(["rm", "-rf", str(work)])


if __name__ == "__main__":
    main()
