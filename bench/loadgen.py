"""A small closed-loop HTTP load generator: N clients, each with one keep-alive connection,
send GETs back to back for a bounded time and count.

    .venv/bin/python bench/loadgen.py --port 8000 --paths paths.txt --clients 16 --seconds 20

Runs in its own process so that the client's work is not charged to the measuring
process. Plain asyncio streams speaking HTTP/1.1 (responses with Content-Length), so the
client costs far less CPU per request than a general HTTP library on the shared cores.
Prints one JSON object: requests, errors, seconds, req/s, latency median/p95/p99."""
from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import time


async def client(port: int, paths: list[str], accept: str, deadline: float, budget: list[int],
                 latencies: list[float], errors: list[int], seed: int) -> None:
    rng = random.Random(seed)
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        while time.perf_counter() < deadline and budget[0] > 0:
            budget[0] -= 1
            path = rng.choice(paths)
            started = time.perf_counter()
            writer.write(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: {accept}\r\n\r\n".encode())
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head.split(b" ", 2)[1])
            length = 0
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            await reader.readexactly(length)
            latencies.append((time.perf_counter() - started) * 1000)
            if status != 200:
                errors[0] += 1
    finally:
        writer.close()


async def run(port: int, paths: list[str], clients: int, seconds: float, max_requests: int, accept: str) -> dict:
    deadline = time.perf_counter() + seconds
    budget, latencies, errors = [max_requests], [], [0]
    started = time.perf_counter()
    await asyncio.gather(*(client(port, paths, accept, deadline, budget, latencies, errors, seed)
                           for seed in range(clients)))
    elapsed = time.perf_counter() - started
    latencies.sort()
    n = len(latencies)
    return {"clients": clients, "requests": n, "errors": errors[0], "seconds": round(elapsed, 2),
            "req_per_s": round(n / elapsed, 1),
            "median_ms": round(statistics.median(latencies), 2) if n else None,
            "p95_ms": round(latencies[min(n - 1, int(n * 0.95))], 2) if n else None,
            "p99_ms": round(latencies[min(n - 1, int(n * 0.99))], 2) if n else None}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--paths", required=True, help="a file of request paths, one a line")
    ap.add_argument("--clients", type=int, default=16)
    ap.add_argument("--seconds", type=float, default=20)
    ap.add_argument("--max-requests", type=int, default=50_000)
    ap.add_argument("--accept", default="application/json")
    args = ap.parse_args()
    with open(args.paths) as f:
        paths = [line.strip() for line in f if line.strip()]
    print(json.dumps(asyncio.run(run(args.port, paths, args.clients, args.seconds, args.max_requests,
                                     args.accept))))


if __name__ == "__main__":
    main()
