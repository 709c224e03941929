"""The same lake on local disk and on an S3-compatible store (SeaweedFS on loopback, started
here): write speed, one ICP's reads from the files alone, the raw index build, then query 1
and the bulk Arrow stream over HTTP (`meterlake serve --workers 2`), side by side.

    .venv/bin/python bench/object_store.py --icps 10000 --days 14   # -> bench/results/object-store-10000x14.json
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]

import duckdb  # noqa: E402
import httpx  # noqa: E402
import httpside  # noqa: E402

from datalake.raw import reads  # noqa: E402
from datalake.demo.generate import generate  # noqa: E402
from datalake.lake import Lake  # noqa: E402
from tests.seaweed import SeaweedServer  # noqa: E402

START = dt.date(2018, 6, 1)


def seconds(fn) -> tuple[float, object]:
    started = time.perf_counter()
    value = fn()
    return round(time.perf_counter() - started, 2), value


def measure(location: str, args: argparse.Namespace, work: Path, icps: list[str] | None) -> tuple[dict, list[str]]:
    """Figures for one lake location; ``icps`` the ICPs to read from its files (None: pick)."""
    out: dict = {}
    end = START + dt.timedelta(days=args.days - 1)
    out["generate_s"], _ = seconds(lambda: generate(Lake.create(location), icps=args.icps, days=args.days,
                                                    start=START, seed=42))
    lake = Lake(location)
    out["rows"] = sum(f.rows for f in lake.raw_files())
    out["generate_rows_per_s"] = int(out["rows"] / out["generate_s"])
    if icps is None:  # the local lake's: DuckDB here reads local paths only
        first = str(lake.raw_files()[0].path)
        icps = sorted(r[0] for r in duckdb.sql(f"SELECT DISTINCT icp_id FROM '{first}'").fetchall())
        icps = random.Random(7).sample(icps, 50)
    # One ICP from the block files: a footer read per date file, then one range read each.
    cycle = iter(icps * 10)
    out["engine_q1"] = httpside.timed(lambda: reads.read_icp(lake, next(cycle), START, end),
                                      min(20, args.requests), warmup=2)
    ids = [icps[i % len(icps)] for i in range(args.requests)]
    service = httpside.Service(location, workers=2, log=work / "service.log")
    try:
        service.wait_ready()
        window = {"start": START.isoformat(), "end": end.isoformat()}
        with httpx.Client(base_url=service.url) as http:
            calls = iter([httpside.getter(http, f"/v1/icps/{i}/reads", window, httpside.JSON) for i in ids] * 2)
            out["q1_json"] = httpside.timed(lambda: next(calls)(), args.requests)
        out["bulk"] = httpside.bulk(service, START.isoformat(), end.isoformat())
    finally:
        service.stop()
    return out, icps


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--icps", type=int, default=10_000)
    ap.add_argument("--days", type=int, default=14)
    ap.add_argument("--requests", type=int, default=200)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="meterlake-objstore-"))
    result: dict = {"machine": {"python": platform.python_version(), "cpus": os.cpu_count(),
                                "load_before": os.getloadavg()},
                    "date": dt.datetime.now(dt.UTC).isoformat(), "icps": args.icps, "days": args.days}
    try:
        with SeaweedServer(work / "seaweed") as s3:
            os.environ.update(s3.environment(), METERLAKE_CACHE_DIR=str(work / "cache"))
            result["local"], icps = measure(str(work / "lake"), args, work, None)
            print(json.dumps({"local": result["local"]}, indent=2), flush=True)
            result["s3"], _ = measure(s3.url("bench"), args, work, icps)
            print(json.dumps({"s3": result["s3"]}, indent=2), flush=True)
        result["machine"]["load_after"] = os.getloadavg()
        out = args.out or HERE / "results" / f"object-store-{args.icps}x{args.days}.json"
        out.write_text(json.dumps(result, indent=2) + "\n")
        print(f"wrote {out}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
