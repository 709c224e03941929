"""Query 1 alone against an existing lake: one ICP's 14-day raw reads over HTTP, one at a
time (median, p99) and under 16 concurrent clients (req/s), with the service's 2 workers.
A quick check between full `make bench` runs.

    .venv/bin/python bench/query1.py LAKE [--start 2018-06-01 --end 2018-06-14]"""
from __future__ import annotations

import json
import os
import random
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import httpx  # noqa: E402
from httpside import Service, getter, lake_window_parser, throughput, timed  # noqa: E402

from datalake.lake import Lake  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402


def main() -> None:
    ap = lake_window_parser()
    ap.add_argument("--requests", type=int, default=400)
    ap.add_argument("--seconds", type=float, default=10, help="length of the 16-client run")
    args = ap.parse_args()
    lake = Lake(args.lake)
    ids = pq.read_table(lake.raw_files()[0].path, columns=["icp_id"])["icp_id"].unique().to_pylist()
    icps = random.Random(7).sample(ids, args.requests)
    paths = [f"/v1/icps/{icp}/reads?start={args.start}&end={args.end}" for icp in icps]
    work = Path(tempfile.mkdtemp(prefix="meterlake-q1-"))
    service = Service(args.lake, workers=2, log=work / "service.log")
    try:
        service.wait_ready()
        with httpx.Client(base_url=service.url) as http:
            window = {"start": args.start, "end": args.end}
            calls = iter([getter(http, p.split("?")[0], window, {}) for p in paths] * 2)
            result = {"load_before": os.getloadavg(), "sequential": timed(lambda: next(calls)(), len(paths))}
            before = cpu_seconds(service.worker_pids())
            result["clients_16"] = throughput(service.port, paths, work, 16, args.seconds, 100_000)
            used = cpu_seconds(service.worker_pids()) - before
            # The workers' CPU (user + system) per request: what the machine's load does not change much.
            result["clients_16"]["server_cpu_ms_per_request"] = round(used * 1000 / result["clients_16"]["requests"], 2)
            result["load_after"] = os.getloadavg()
    finally:
        service.stop()
    print(json.dumps(result, indent=2))


def cpu_seconds(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / os.sysconf("SC_CLK_TCK")


if __name__ == "__main__":
    main()
