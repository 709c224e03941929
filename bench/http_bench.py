"""HTTP figures: latency of the four queries in JSON and Arrow, and bulk stream throughput
with the server's peak memory.

    .venv/bin/meterlake --lake /tmp/bench-lake generate --icps 100000 --days 14 --start 2018-06-01
    .venv/bin/meterlake --lake /tmp/bench-lake runs demo --count 1 --parts 4
    .venv/bin/python bench/http_bench.py /tmp/bench-lake

Starts `meterlake serve` in a child process on a free port, sends requests one at a time
from one keep-alive client (so a latency is one request, not a queue), each for a different
ICP drawn with a fixed seed, after a few warm-up requests. Query 1: one ICP's raw reads for
the whole window. Query 2: one ICP's output by day for the window and one side. Query 3:
the first page (100 days) of one ICP's whole output history. Query 4: output of one trading
date by (icp_id, buyer_seller) - JSON is the first page of 1,000 keys, Arrow streams all of
them. Then the whole window of raw reads as one Arrow stream, and one shard of four, while
the server's resident memory is sampled. Writes JSON to bench/results/ and prints a table."""
from __future__ import annotations

import argparse
import io
import json
import os
import platform
import random
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpside
import httpx
import pyarrow.ipc as ipc
import pyarrow.parquet as pq

from datalake.lake import Lake
from client.wire import _Body

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_kib(pid: int, field: str = "VmRSS") -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


class RssSampler(threading.Thread):
    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid, self.peak, self.stop = pid, 0, threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            self.peak = max(self.peak, rss_kib(self.pid))
            time.sleep(0.1)


def timed(client: httpx.Client, urls: list[tuple[str, dict, dict]], warmup: int = 3) -> dict:
    for path, params, headers in urls[:warmup]:
        client.get(path, params=params, headers=headers).raise_for_status()
    times = []
    size = 0
    for path, params, headers in urls[warmup:]:
        started = time.perf_counter()
        r = client.get(path, params=params, headers=headers)
        r.raise_for_status()
        size += len(r.content)
        times.append((time.perf_counter() - started) * 1000)
    times.sort()
    return {"n": len(times), "median_ms": round(statistics.median(times), 2),
            "p99_ms": round(times[min(len(times) - 1, int(len(times) * 0.99))], 2),
            "mean_bytes": size // len(times)}


def stream_rows(client: httpx.Client, params: dict, pid: int) -> dict:

    sampler = RssSampler(pid)
    sampler.start()
    started = time.perf_counter()
    rows = batches = 0
    first = None
    with client.stream("GET", "/v1/reads", params=params) as r:
        r.raise_for_status()
        for batch in ipc.open_stream(io.BufferedReader(_Body(r.iter_bytes(1 << 20)))):
            if first is None:
                first = time.perf_counter() - started
            rows += batch.num_rows
            batches += 1
    seconds = time.perf_counter() - started
    sampler.stop.set()
    sampler.join()
    return {"rows": rows, "batches": batches, "seconds": round(seconds, 2), "first_batch_s": round(first or 0, 2),
            "rows_per_s": int(rows / seconds), "server_peak_rss_mib": round(sampler.peak / 1024, 1)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("lake", type=Path)
    ap.add_argument("--requests", type=int, default=200, help="timed requests per query and format")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--skip-bulk", action="store_true")
    args = ap.parse_args()

    lake = Lake(args.lake)
    files = lake.raw_files()
    start, end = min(f.read_date for f in files), max(f.read_date for f in files)
    icps = pq.read_table(files[0].path, columns=["icp_id"])["icp_id"].unique().to_pylist()
    rng = random.Random(args.seed)
    warmed = httpside.warm_page_cache(args.lake)
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "cli.main", "--lake", str(args.lake), "serve", "--port",
                               str(port), "--flight-port", "0"], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    results: dict = {"lake": str(args.lake), "window": [str(start), str(end)], "icps": len(icps),
                     "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                                 "load_average_before": os.getloadavg()},
                     "page_cache_warmed_mib": warmed >> 20}
    try:
        base = f"http://127.0.0.1:{port}"
        with httpx.Client(base_url=base, timeout=600) as client:
            for _ in range(200):
                try:
                    if client.get("/healthz").status_code == 200:
                        break
                except httpx.TransportError:
                    time.sleep(0.1)
            results["server_rss_idle_mib"] = round(rss_kib(server.pid) / 1024, 1)
            window = {"start": str(start), "end": str(end)}
            n = args.requests
            formats = {"json": {"Accept": "application/json"},
                       "arrow": {"Accept": "application/vnd.apache.arrow.stream"}}
            queries = {
                "q1_icp_reads_14d": lambda icp: (f"/v1/icps/{icp}/reads", window),
                "q2_icp_output_14d_side": lambda icp: (f"/v1/icps/{icp}/output/summary",
                                                       {**window, "buyer_seller": rng.choice(["buyer", "seller"])}),
                "q3_icp_output_history_page": lambda icp: (f"/v1/icps/{icp}/output/summary", {"limit": 100}),
            }
            for name, make in queries.items():
                for fmt, headers in formats.items():
                    urls = [(*make(rng.choice(icps)), headers) for _ in range(n + 3)]
                    results[f"{name}_{fmt}"] = timed(client, urls)
                    print(name, fmt, results[f"{name}_{fmt}"], flush=True)
            days = [str(f.read_date) for f in files]
            for fmt, headers, params, count in (("json", formats["json"], {"limit": 1000}, max(20, n // 5)),
                                                ("arrow", formats["arrow"], {}, max(10, n // 20))):
                urls = []
                for _ in range(count + 3):
                    day = rng.choice(days)
                    urls.append(("/v1/output", {"start": day, "end": day, **params}, headers))
                results[f"q4_output_one_day_by_key_{fmt}"] = timed(client, urls)
                print("q4", fmt, results[f"q4_output_one_day_by_key_{fmt}"], flush=True)
            if not args.skip_bulk:
                results["bulk_all_arrow"] = stream_rows(client, window, server.pid)
                print("bulk", results["bulk_all_arrow"], flush=True)
                results["bulk_shard_0_of_4_arrow"] = stream_rows(client, {**window, "shard": "0/4"}, server.pid)
                print("bulk shard", results["bulk_shard_0_of_4_arrow"], flush=True)
            results["server_peak_rss_mib"] = round(rss_kib(server.pid, "VmHWM") / 1024, 1)
            results["machine"]["load_average_after"] = os.getloadavg()
    finally:
        server.terminate()
        server.wait(timeout=30)
    out = ROOT / "bench" / "results" / "http.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
