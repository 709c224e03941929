"""Prometheus metrics in the text exposition format: requests and latency by route, rows
served by route and format. Small enough not to need a client library."""
from __future__ import annotations

import threading
import time
from collections import defaultdict

from litestar.types import ASGIApp, Message, Receive, Scope, Send

BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
# Litestar appends "; charset=utf-8" to every text/* media type, so it is not named here.
CONTENT_TYPE = "text/plain; version=0.0.4"


class Metrics:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._requests: dict[tuple[str, str, str], int] = defaultdict(int)
        self._latency: dict[str, list[float]] = {}   # per route: bucket counts, then sum, count
        self._rows: dict[tuple[str, str], int] = defaultdict(int)

    def observe(self, route: str, method: str, status: int, seconds: float) -> None:
        with self._lock:
            self._requests[(route, method, str(status))] += 1
            h = self._latency.setdefault(route, [0.0] * (len(BUCKETS) + 2))
            for i, bound in enumerate(BUCKETS):
                if seconds <= bound:
                    h[i] += 1
            h[-2] += seconds
            h[-1] += 1

    def rows_served(self, route: str, fmt: str, n: int) -> None:
        with self._lock:
            self._rows[(route, fmt)] += n

    def exposition(self) -> str:
        out = ["# HELP meterlake_http_requests_total HTTP requests by route, method and status.",
               "# TYPE meterlake_http_requests_total counter"]
        with self._lock:
            for (route, method, status), n in sorted(self._requests.items()):
                out.append(f'meterlake_http_requests_total{{route="{_esc(route)}",method="{method}",'
                           f'status="{status}"}} {n}')
            out += ["# HELP meterlake_http_request_duration_seconds Time to the end of the response, by route.",
                    "# TYPE meterlake_http_request_duration_seconds histogram"]
            for route, h in sorted(self._latency.items()):
                label = f'route="{_esc(route)}"'
                for bound, n in zip(BUCKETS, h):
                    out.append(f'meterlake_http_request_duration_seconds_bucket{{{label},le="{bound}"}} {int(n)}')
                out.append(f'meterlake_http_request_duration_seconds_bucket{{{label},le="+Inf"}} {int(h[-1])}')
                out.append(f"meterlake_http_request_duration_seconds_sum{{{label}}} {h[-2]:.6f}")
                out.append(f"meterlake_http_request_duration_seconds_count{{{label}}} {int(h[-1])}")
            out += ["# HELP meterlake_rows_served_total Result rows sent, by route and format.",
                    "# TYPE meterlake_rows_served_total counter"]
            for (route, fmt), n in sorted(self._rows.items()):
                out.append(f'meterlake_rows_served_total{{route="{_esc(route)}",format="{fmt}"}} {n}')
        return "\n".join(out) + "\n"


def _esc(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def metrics_middleware(app: ASGIApp) -> ASGIApp:
    """Time each HTTP request to its last body byte and count it by route template (the
    template, not the path, so ICP ids do not become labels)."""

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await app(scope, receive, send_wrapper)
        finally:
            metrics: Metrics | None = scope["app"].state.get("metrics")
            if metrics is not None:
                route = scope.get("path_template") or "unmatched"
                metrics.observe(route, scope["method"], status, time.perf_counter() - started)

    return middleware
