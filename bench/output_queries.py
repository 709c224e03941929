"""Queries 2, 3 and 4 alone against an existing lake with a published run, over HTTP with
the service's 2 workers, one request at a time from one keep-alive client (as `make bench`
times them): query 2 one ICP's 14-day daily summary for its own side, query 3 the first
100-row interval page and the page after a cursor ``--depth`` rows deep, query 4 one whole
date by key (Arrow: every key; JSON: the first page of 1,000). A quick check between full
`make bench` runs; build the serving indexes first (`meterlake --lake LAKE index`).

    .venv/bin/python bench/output_queries.py LAKE [--requests 400] [--out FILE]"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import duckdb  # noqa: E402
import httpx  # noqa: E402
import httpside  # noqa: E402

from datalake.lake import Lake  # noqa: E402
from datalake.output.reads import resolve_runs  # noqa: E402
from datalake.runs.record import records  # noqa: E402
from datalake.runs.record import output_files

PAGE = 100
HIVE = "hive_partitioning = true, hive_types = {'run_id': VARCHAR, 'read_date': DATE}"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("lake", type=Path)
    ap.add_argument("--requests", type=int, default=400, help="timed requests for queries 2 and 3")
    ap.add_argument("--days", type=int, default=40, help="timed requests for query 4 (one date each)")
    ap.add_argument("--depth", type=int, default=572, help="rows before the cursor of query 3's deep page")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--only", default="q2,q3,q4", help="comma-separated subset of q2,q3,q4")
    ap.add_argument("--out", type=Path, help="write the figures here as JSON")
    args = ap.parse_args()
    only = set(args.only.split(","))
    lake = Lake(args.lake)
    published = records(lake, status="published")
    start = min(dt.date.fromisoformat(r["start"]) for r in published)
    end = max(dt.date.fromisoformat(r["end"]) for r in published)
    runs = resolve_runs(lake, start, end)
    day = max(runs)
    pairs = duckdb.execute(f"SELECT DISTINCT icp_id, buyer_seller FROM read_parquet($f, {HIVE}) ORDER BY ALL",
                           {"f": output_files(lake, runs[day])[day]}).fetchall()
    icps = random.Random(args.seed).choices(pairs, k=args.requests)
    days = [start + dt.timedelta(days=i) for i in range((end - start).days + 1)]
    day_sample = [random.Random(args.seed).choice(days) for _ in range(args.days)]
    window = {"start": start.isoformat(), "end": end.isoformat()}
    res: dict = {"lake": str(args.lake), "window": [start.isoformat(), end.isoformat()], "icps": len(pairs),
                 "load_before": os.getloadavg()}
    work = Path(tempfile.mkdtemp(prefix="meterlake-outq-"))
    service = httpside.Service(args.lake, workers=2, log=work / "service.log")
    get, cycle, timed = httpside.getter, httpside.cycle, httpside.timed
    try:
        service.wait_ready()
        with httpx.Client(base_url=service.url, timeout=600) as http:
            n = args.requests
            if "q2" in only:
                res["q2_json"] = timed(cycle([get(http, f"/v1/icps/{i}/output/summary",
                                                  {**window, "buyer_seller": s}, httpside.JSON) for i, s in icps]), n)
                log(res, "q2_json")
            if "q3" in only:
                res["q3_first_json"] = timed(cycle([get(http, f"/v1/icps/{i}/output/summary",
                                                        {"granularity": "interval", "limit": PAGE}, httpside.JSON)
                                                    for i, _ in icps]), n)
                log(res, "q3_first_json")
                deep = icps[:max(20, n // 4)]
                cursors = [httpside.deep_cursor(http, i, args.depth) for i, _ in deep]
                res["q3_deep_json"] = timed(cycle([get(http, f"/v1/icps/{i}/output/summary",
                                                       {"granularity": "interval", "limit": PAGE, "cursor": c},
                                                       httpside.JSON) for (i, _), c in zip(deep, cursors)]), n)
                log(res, "q3_deep_json")
            if "q4" in only:
                for fmt, headers, params in (("arrow", httpside.ARROW, {}),
                                             ("json", httpside.JSON, {"limit": 1000})):
                    res[f"q4_day_{fmt}"] = timed(cycle([get(http, "/v1/output", {"start": d.isoformat(),
                                                                                 "end": d.isoformat(), **params},
                                                            headers) for d in day_sample]), args.days, warmup=2)
                    log(res, f"q4_day_{fmt}")
            res["healthz"] = timed(get(http, "/healthz", {}, {}), 200)
            log(res, "healthz")
    finally:
        service.stop()
    res["load_after"] = os.getloadavg()
    text = json.dumps(res, indent=2)
    if args.out:
        args.out.write_text(text + "\n")
    print(text)


def log(res: dict, key: str) -> None:
    print(key, res[key], "load", os.getloadavg()[0], file=sys.stderr, flush=True)


if __name__ == "__main__":
    main()
