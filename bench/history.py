"""Does serving scale with history? The same figures on a lake that holds a long history
(20k ICPs x 365 days, 25 published runs before the last) and on one that holds 14 days
(no earlier runs): `make bench-history`, and a tiny version in `make test`.

    .venv/bin/python bench/history.py [--icps 20000] [--days 365] [--short-days 14] [--runs 25]

For each lake: query 1 over the last 14 days (JSON, the first 20 requests after the service
starts and the next 200), query 4 for the last day (Arrow), a 1-day delivery of 1,000 ICPs
through POST /v1/reads until query 1 answers for it, publishing a 1-day run of every ICP
through the HTTP API, and every serving byte (block files, anything under `_serving/`, run
ICP lists) against the row Parquet. Writes bench/results/history-<icps>x<days>.json with the
ratios long/short."""
from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx  # noqa: E402
import httpside  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402
from run import serving_bytes  # noqa: E402
from runs_bench import build_parts  # noqa: E402

from datalake.demo.generate import generate  # noqa: E402
from datalake.lake import Lake  # noqa: E402
from client import MeterlakeClient  # noqa: E402
from tests.factories.raw import day_rows, write_csv  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
START = dt.date(2018, 1, 1)
WINDOW = 14


def log(*parts: object) -> None:
    print(f"[{time.strftime('%H:%M:%S')}]", *parts, flush=True)


def publish(url: str, work: Path, icps: int, day: dt.date, seed: int, end: dt.date | None = None) -> float:
    """Publish a run of every ICP over ``day``..``end`` through the HTTP API; seconds taken."""
    paths = build_parts(work, icps, 1, seed, day, end or day)
    started = time.perf_counter()
    with MeterlakeClient(url, timeout=3600) as ml:
        run = ml.create_run(start=day, end=end or day, algorithm="history", version=str(seed))
        ml.upload_parts(run["run_id"], (p.read_bytes() for p in paths), content_type="application/vnd.apache.parquet")
        ml.publish_run(run["run_id"])
    seconds = time.perf_counter() - started
    for p in paths:
        p.unlink()
    return seconds


def p50(http: httpx.Client, paths: list[tuple[str, dict]], headers: dict | None = None) -> float:
    times = []
    for path, params in paths:
        started = time.perf_counter()
        r = http.get(path, params=params, headers=headers or {})
        times.append((time.perf_counter() - started) * 1000)
        r.raise_for_status()
    return round(statistics.median(times), 3)


def measure(work: Path, name: str, args: argparse.Namespace, days: int, runs: int) -> dict:
    out: dict = {"days": days, "runs_before": runs}
    lake = Lake.create(work / name)
    started = time.perf_counter()
    generate(lake, icps=args.icps, days=days, start=START, seed=42)
    out["generate_s"] = round(time.perf_counter() - started, 1)
    last = START + dt.timedelta(days=days - 1)
    first = last - dt.timedelta(days=WINDOW - 1)
    ids = pq.read_table(lake.raw_files(last, last)[0].path, columns=["icp_id"])["icp_id"].unique().to_pylist()
    service = httpside.Service(lake.root, 2, work / f"{name}.log")
    try:
        service.wait_ready()
        for k in range(runs):  # the history of runs: one day each, before the last window
            publish(service.url, work, args.icps, first - dt.timedelta(days=runs - k), seed=100 + k)
        out["publish_window_s"] = round(publish(service.url, work, args.icps, first, seed=1, end=last), 1)
        log(name, "lake and runs ready", out)
    finally:
        service.stop()
    httpside.warm_page_cache(lake.root)
    service = httpside.Service(lake.root, 2, work / f"{name}.log")  # a fresh start: nothing warm in it
    try:
        service.wait_ready()
        rng = random.Random(7)
        window = {"start": first.isoformat(), "end": last.isoformat()}
        q1 = [(f"/v1/icps/{rng.choice(ids)}/reads", window) for _ in range(220)]
        with httpx.Client(base_url=service.url, timeout=600) as http:
            out["q1_first_20_p50_ms"] = p50(http, q1[:20])
            out["q1_next_200_p50_ms"] = p50(http, q1[20:])
            day = {"start": last.isoformat(), "end": last.isoformat(), "by": "icp_id", "format": "arrow"}
            out["q4_one_day_arrow_p50_ms"] = p50(http, [("/v1/output", day)] * args.q4_requests)
            delivery = [r for icp in ids[:args.delivery_icps] for r in day_rows(icp, last, seed=5)]
            body = write_csv(work / f"{name}-delivery.csv", delivery).read_bytes()
            started = time.perf_counter()
            r = http.post("/v1/reads", content=body, headers={"Content-Type": "text/csv"})
            r.raise_for_status()
            out["delivery_commit_s"] = round(time.perf_counter() - started, 3)
            after = [(f"/v1/icps/{icp}/reads", window) for icp in ids[:20]]
            out["q1_after_commit_first_20_p50_ms"] = p50(http, after)
            out["delivery_until_full_speed_s"] = round(time.perf_counter() - started, 3)
            out["publish_1_day_s"] = round(publish(service.url, work, args.icps, last, seed=2), 2)
            out["workers_rss_peak_mib"] = service.peak_rss_mib()
    finally:
        service.stop()
    out["serving_bytes"] = serving_bytes(lake)
    log(name, out)
    return out


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser()
    ap.add_argument("--icps", type=int, default=20_000)
    ap.add_argument("--days", type=int, default=365)
    ap.add_argument("--short-days", type=int, default=WINDOW)
    ap.add_argument("--runs", type=int, default=25, help="published runs before the last, on the long lake")
    ap.add_argument("--delivery-icps", type=int, default=1000)
    ap.add_argument("--q4-requests", type=int, default=20)
    ap.add_argument("--workdir", type=Path)
    ap.add_argument("--out", type=Path)
    args = ap.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="meterlake-history-", dir=args.workdir))
    res: dict = {"icps": args.icps, "date": dt.datetime.now(dt.UTC).isoformat(),
                 "short": measure(work, "short", args, args.short_days, 0),
                 "long": measure(work, "long", args, args.days, args.runs)}
    keys = [k for k, v in res["short"].items() if k.endswith(("_ms", "_s")) and isinstance(v, int | float) and v]
    res["long_over_short"] = {k: round(res["long"][k] / res["short"][k], 2) for k in keys}
    res["long_over_short"]["serving_ratio"] = res["long"]["serving_bytes"]["ratio"]
    out = args.out or ROOT / "bench" / "results" / f"history-{args.icps}x{args.days}.json"
    out.write_text(json.dumps(res, indent=2) + "\n")
    log("long / short", res["long_over_short"])
    return res


if __name__ == "__main__":
    main()
