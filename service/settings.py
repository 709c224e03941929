"""Service settings, read once from the environment and injected where needed."""
from __future__ import annotations

import os
from dataclasses import dataclass, field

from .auth import TokenStore


@dataclass(frozen=True)
class Settings:
    lake: str
    max_upload_bytes: int = 2 << 30     # POST /v1/reads and run parts: 413 beyond this
    page_limit_default: int = 100
    page_limit_max: int = 10_000
    tokens: TokenStore = field(default_factory=TokenStore)  # empty: no authentication, loopback only
    query_timeout: float | None = 30.0  # seconds of query work per request (per slice of a stream); 504 beyond
    max_icp_days: int = 731             # one ICP's raw reads: dates per request
    max_bulk_days: int = 92             # the bulk stream of every ICP: dates per request
    max_output_days: int = 366          # output by key (query 4), and a run's window
    flight_metrics_file: str | None = None  # the Flight server's figures, added to /metrics
    flight_port: int | None = None      # where `serve` runs Flight (GET /v1/flight); None: off
    flight_tls: bool = False

    @classmethod
    def from_env(cls) -> Settings:
        lake = os.environ.get("METERLAKE_LAKE")
        if not lake:
            raise RuntimeError("METERLAKE_LAKE is not set")
        kwargs: dict = {"lake": lake, "tokens": TokenStore.from_env(os.environ)}
        for name, key, kind in _ENV:
            if value := os.environ.get(name):
                kwargs[key] = kind(value)
        if kwargs.get("query_timeout") == 0:
            kwargs["query_timeout"] = None
        return cls(**kwargs)


_ENV = [("METERLAKE_MAX_UPLOAD_BYTES", "max_upload_bytes", int),
        ("METERLAKE_PAGE_LIMIT_MAX", "page_limit_max", int),
        ("METERLAKE_QUERY_TIMEOUT", "query_timeout", float),   # 0 turns it off
        ("METERLAKE_MAX_ICP_DAYS", "max_icp_days", int),
        ("METERLAKE_MAX_BULK_DAYS", "max_bulk_days", int),
        ("METERLAKE_MAX_OUTPUT_DAYS", "max_output_days", int),
        ("METERLAKE_FLIGHT_METRICS_FILE", "flight_metrics_file", str),
        ("METERLAKE_FLIGHT_PORT", "flight_port", int),
        ("METERLAKE_FLIGHT_TLS", "flight_tls", lambda v: v == "1")]

