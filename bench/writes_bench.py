"""Write-path figures: CSV ingest through the CLI and run publication over HTTP.

    .venv/bin/python bench/writes_bench.py --icps 10000 --days 14 --parts 8 [--code DIR ...]

Generates a raw lake, exports its reads as the brief's CSV (as bench/run.py does), then,
for each source tree given with --code (default: this one), times
`meterlake ingest` of that CSV into an empty lake, and one run of one output row per ICP,
date and half hour (bench/runs_bench.py's Parquet parts) created, uploaded and published
with client.MeterlakeClient against `meterlake serve` (2 workers). Giving an
older checkout first (e.g. `git archive <commit> | tar -x -C /tmp/before`) puts before and
after figures in one run, under the same load. The 1-minute load average is recorded
before each step: the machine may be shared. Writes JSON to bench/results/."""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from httpside import free_port  # noqa: E402
from runs_bench import build_parts  # noqa: E402

from datalake import sql  # noqa: E402
from datalake.demo.generate import generate  # noqa: E402
from datalake.lake import Lake  # noqa: E402
from client import MeterlakeClient  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
START = dt.date(2018, 6, 1)


def load() -> float:
    return round(os.getloadavg()[0], 2)


def ingest(code: Path, csv: Path, work: Path) -> dict:
    target = work / "ingested"
    shutil.rmtree(target, ignore_errors=True)
    subprocess.run([sys.executable, "-m", "cli.main", "--lake", str(target), "init"], cwd=code, check=True,
                   capture_output=True)
    before = load()
    started = time.perf_counter()
    out = subprocess.run([sys.executable, "-m", "cli.main", "--lake", str(target), "ingest", str(csv)], cwd=code,
                         check=True, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    rows = int(out.stdout.split(" rows read")[0].rsplit(" ", 1)[-1].replace(",", ""))
    shutil.rmtree(target, ignore_errors=True)
    return {"rows": rows, "seconds": round(seconds, 2), "rows_per_s": int(rows / seconds), "load_before": before}


def _no_flight(code: Path) -> list[str]:
    """Turn Flight off in a tree whose serve has it (an older tree's has no such option)."""
    return ["--flight-port", "0"] if "--flight-port" in (code / "cli" / "serve.py").read_text() else []


def publish(code: Path, raw: Path, parts: list[Path], end: dt.date, work: Path, concurrency: int) -> dict:
    lake = work / "runs-lake"
    shutil.rmtree(lake, ignore_errors=True)
    shutil.copytree(raw, lake)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with open(work / "service.log", "ab") as log:
        proc = subprocess.Popen([sys.executable, "-m", "cli.main", "--lake", str(lake), "serve", "--port", str(port),
                                 "--workers", "2", *_no_flight(code)], cwd=code, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(url + "/readyz", timeout=5).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError(f"the service did not start; see {work / 'service.log'}")
            time.sleep(0.2)
        time.sleep(2)  # let the second worker finish starting
        before = load()
        with MeterlakeClient(url, timeout=3600) as ml:
            started = time.perf_counter()
            run = ml.create_run(start=START, end=end, algorithm="bench", version="1")
            ml.upload_parts(run["run_id"], (p.read_bytes() for p in parts), content_type="application/vnd.apache.parquet",
                            concurrency=concurrency)
            upload_s = time.perf_counter() - started
            record = ml.publish_run(run["run_id"])
            seconds = time.perf_counter() - started
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        shutil.rmtree(lake, ignore_errors=True)
    rows = record["rows"]
    return {"rows": rows, "upload_s": round(upload_s, 2), "publish_s": round(seconds - upload_s, 2),
            "seconds": round(seconds, 2), "rows_per_s": int(rows / seconds),
            "upload_rows_per_s": int(rows / upload_s), "publish_rows_per_s": int(rows / (seconds - upload_s)),
            "load_before": before}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--icps", type=int, default=10_000)
    ap.add_argument("--days", type=int, default=14)
    ap.add_argument("--parts", type=int, default=8)
    ap.add_argument("--upload-concurrency", type=int, action="append",
                    help="parts uploaded at a time (repeatable: each is measured; default 1)")
    ap.add_argument("--code", type=Path, action="append", help="source tree to measure (repeatable)")
    ap.add_argument("--skip", choices=["ingest", "publish"], action="append", default=[])
    ap.add_argument("--workdir", type=Path, default=None)
    args = ap.parse_args()
    codes = [c.resolve() for c in (args.code or [ROOT])]
    work = Path(tempfile.mkdtemp(prefix="meterlake-writes-bench-", dir=args.workdir))
    end = START + dt.timedelta(days=args.days - 1)
    res: dict = {"icps": args.icps, "days": args.days, "parts": args.parts, "cpus": os.cpu_count(),
                 "date": dt.datetime.now(dt.UTC).isoformat(), "results": []}
    try:
        raw = Lake.create(work / "raw")
        generate(raw, icps=args.icps, days=args.days, start=START, seed=42)
        csv = work / "reads.csv"
        con = sql.connect()
        con.sql(sql.query("raw/export_csv"), params={"files": [str(f.path) for f in raw.raw_files()]}
                ).write_csv(str(csv))
        con.close()
        res["csv_bytes"] = csv.stat().st_size
        parts = build_parts(work, args.icps, args.parts, seed=1, start=START, end=end)
        for code in codes:
            entry: dict = {"code": str(code)}
            if "ingest" not in args.skip:
                entry["ingest_csv"] = ingest(code, csv, work)
                print(code, "ingest", entry["ingest_csv"], flush=True)
            if "publish" not in args.skip:
                for concurrency in args.upload_concurrency or [1]:
                    key = "publish_http" if concurrency == 1 else f"publish_http_concurrency_{concurrency}"
                    entry[key] = publish(code, raw.root, parts, end, work, concurrency)
                    print(code, key, entry[key], flush=True)
            res["results"].append(entry)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    out = ROOT / "bench" / "results" / f"writes-{args.icps}x{args.days}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(res, indent=2) + "\n")
    print(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()
