"""Our side of the benchmark over HTTP: the service under `meterlake serve --workers 2` on
loopback, the contract's queries timed one request at a time (each for a random ICP), query
1 under 16 concurrent clients from a separate process, and the bulk Arrow stream with the
workers' peak memory."""
from __future__ import annotations

import argparse
import json
import re
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx

from http_bench import free_port, rss_kib
from client import MeterlakeClient

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
JSON = {"Accept": "application/json"}
ARROW = {"Accept": "application/vnd.apache.arrow.stream"}
FORMATS = {"json": JSON, "arrow": ARROW}


def lake_window_parser() -> argparse.ArgumentParser:
    """The arguments of a quick check against an existing lake: the lake, and the window."""
    ap = argparse.ArgumentParser()
    ap.add_argument("lake", type=Path)
    ap.add_argument("--start", default="2018-06-01")
    ap.add_argument("--end", default="2018-06-14")
    return ap


def stats(times_ms: list[float], sizes: list[int] | None = None) -> dict:
    """Median, p95, p99 (nearest rank) and count of a sample, in milliseconds."""
    times = sorted(times_ms)
    n = len(times)
    out = {"n": n, "median_ms": round(statistics.median(times), 3),
           "p95_ms": round(times[min(n - 1, int(n * 0.95))], 3), "p99_ms": round(times[min(n - 1, int(n * 0.99))], 3)}
    if sizes:
        out["mean_bytes"] = sum(sizes) // len(sizes)
    return out


def timed(fn: Callable[[], object], n: int, warmup: int = 3) -> dict:
    """Call ``fn`` (which returns the response body) ``warmup`` + ``n`` times; stats of the last n."""
    for _ in range(warmup):
        fn()
    times, sizes = [], []
    for _ in range(n):
        started = time.perf_counter()
        body = fn()
        times.append((time.perf_counter() - started) * 1000)
        sizes.append(len(body) if isinstance(body, bytes | bytearray) else 0)
    return stats(times, sizes)


def warm_page_cache(root: Path) -> int:
    """Read every data and block file once, so the figures are for a warm OS page cache (as
    on a serving machine), not for whatever the last writer evicted; returns the bytes read."""
    total = 0
    for pattern in ("raw/**/*.parquet", "output/**/*.parquet", "_blocks/**/*.blocks"):
        for path in sorted(Path(root).glob(pattern)):
            with open(path, "rb") as f:
                while chunk := f.read(1 << 24):
                    total += len(chunk)
    return total


class Service:
    """`meterlake serve` in a child process on a free loopback port."""

    def __init__(self, lake: Path, workers: int, log: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.flight_port = free_port()
        self.log = open(log, "ab")
        self.proc = subprocess.Popen([sys.executable, "-m", "cli.main", "--lake", str(lake), "serve", "--port",
                                      str(self.port), "--workers", str(workers),
                                      "--flight-port", str(self.flight_port)],
                                     cwd=ROOT, stdout=self.log, stderr=subprocess.STDOUT)
        self.workers = workers

    def wait_ready(self, timeout: float = 300) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the service exited with {self.proc.returncode}; see {self.log.name}")
            try:
                if httpx.get(self.url + "/readyz", timeout=5).status_code == 200 and \
                        len(self.worker_pids()) >= self.workers:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        raise RuntimeError("the service did not become ready")

    def worker_pids(self) -> list[int]:
        """The uvicorn worker processes (children of the supervisor that run the app)."""
        try:
            children = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children").read_text().split()
        except FileNotFoundError:
            return []
        pids = []
        flight_pid = self.flight_pid()
        for pid in map(int, children):
            if pid == flight_pid:
                continue
            try:
                cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
                if b"multiprocessing" in cmdline and b"resource_tracker" not in cmdline:
                    pids.append(pid)
            except FileNotFoundError:
                pass
        return pids or [self.proc.pid]

    def flight_pid(self) -> int | None:
        """The Flight server's process (a child of serve like the workers), from its log line."""
        found = re.findall(rb"Flight on \S+ \(pid (\d+)\)", Path(self.log.name).read_bytes())
        return int(found[-1]) if found else None

    def peak_rss_mib(self) -> dict:
        """Peak resident set (VmHWM) of each worker since it started, in MiB."""
        return {str(pid): round(rss_kib(pid, "VmHWM") / 1024, 1) for pid in self.worker_pids()}

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


def getter(http: httpx.Client, path: str, params: dict, headers: dict) -> Callable[[], bytes]:
    def get() -> bytes:
        r = http.get(path, params=params, headers=headers)
        r.raise_for_status()
        return r.content
    return get


def cycle(factories: list[Callable[[], bytes]]) -> Callable[[], bytes]:
    """One request after another from a list (a different ICP each time)."""
    state = {"i": 0}

    def next_call() -> bytes:
        fn = factories[state["i"] % len(factories)]
        state["i"] += 1
        return fn()
    return next_call


def deep_cursor(http: httpx.Client, icp: str, depth: int) -> str | None:
    """The cursor after the first ``depth`` rows of an ICP's interval history."""
    r = http.get(f"/v1/icps/{icp}/output/summary", params={"granularity": "interval", "limit": depth}, headers=JSON)
    r.raise_for_status()
    return r.json()["next_cursor"]


def throughput(port: int, paths: list[str], work: Path, clients: int, seconds: float, max_requests: int) -> dict:
    """Query 1 under ``clients`` concurrent keep-alive clients from bench/loadgen.py."""
    path_file = work / "q1-paths.txt"
    path_file.write_text("\n".join(paths) + "\n")
    out = subprocess.run([sys.executable, str(HERE / "loadgen.py"), "--port", str(port), "--paths", str(path_file),
                          "--clients", str(clients), "--seconds", str(seconds), "--max-requests", str(max_requests)],
                         check=True, capture_output=True, text=True, timeout=seconds + 120)
    return json.loads(out.stdout)


def in_threads(fn: Callable[[int], None], n: int) -> None:
    """``fn(0)`` .. ``fn(n - 1)``, each in its own thread, all started before any is joined."""
    threads = [threading.Thread(target=fn, args=(k,)) for k in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


class MemorySampler(threading.Thread):
    """Peak VmRSS and RssAnon of one process, sampled every 50 ms. RSS counts the pages of
    the memory-mapped raw index that the process touched (shared page cache, one copy per
    machine); RssAnon is the process's own memory."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid, self.rss, self.anon, self.stop = pid, 0, 0, threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                self.rss = max(self.rss, rss_kib(self.pid))
                self.anon = max(self.anon, rss_kib(self.pid, "RssAnon"))
            except (FileNotFoundError, ProcessLookupError):
                return
            time.sleep(0.05)


def bulk(service: Service, start: str, end: str, shards: int = 1, dictionary: bool = False) -> dict:
    """Every row of the window as Arrow batches into pyarrow clients, ``shards`` streams in
    parallel threads (shard k/n each), icp_id and direction as dictionaries if
    ``dictionary``; rows/s over the wall time, and the workers' resident memory sampled
    while streaming (VmRSS total, and VmHWM peaks)."""
    samplers = [MemorySampler(pid) for pid in service.worker_pids()]
    for s in samplers:
        s.start()
    counts = [0] * shards
    errors: list[BaseException] = []

    def read(k: int) -> None:
        try:
            with MeterlakeClient(service.url, timeout=3600) as ml:
                for batch in ml.iter_reads(start, end, shard=(k, shards) if shards > 1 else None,
                                           dictionary=dictionary):
                    counts[k] += batch.num_rows
        except BaseException as e:  # reported below
            errors.append(e)

    started = time.perf_counter()
    in_threads(read, shards)
    seconds = time.perf_counter() - started
    for s in samplers:
        s.stop.set()
        s.join()
    if errors:
        raise errors[0]
    rows = sum(counts)
    return {"shards": shards, "dictionary": dictionary, "rows": rows, "seconds": round(seconds, 2), "rows_per_s": int(rows / seconds),
            "workers_rss_peak_sampled_mib": {str(s.pid): round(s.rss / 1024, 1) for s in samplers},
            "workers_anon_peak_sampled_mib": {str(s.pid): round(s.anon / 1024, 1) for s in samplers},
            "workers_vmhwm_mib": service.peak_rss_mib()}
