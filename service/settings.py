"""Service settings, read once from the environment and injected where needed."""
from __future__ import annotations

import os
from dataclasses import dataclass


@dataclass(frozen=True)
class Settings:
    lake: str
    max_upload_bytes: int = 2 << 30     # POST /v1/reads and run parts: 413 beyond this
    page_limit_default: int = 100
    page_limit_max: int = 10_000

    @classmethod
    def from_env(cls) -> Settings:
        lake = os.environ.get("METERLAKE_LAKE")
        if not lake:
            raise RuntimeError("METERLAKE_LAKE is not set")
        kwargs: dict = {"lake": lake}
        if value := os.environ.get("METERLAKE_MAX_UPLOAD_BYTES"):
            kwargs["max_upload_bytes"] = int(value)
        if value := os.environ.get("METERLAKE_PAGE_LIMIT_MAX"):
            kwargs["page_limit_max"] = int(value)
        return cls(**kwargs)


# uvicorn's h11 limit on a request's head (request line and headers). Its default, 16 KiB,
# answers longer query strings (a long cursor) with a bare text/plain 400 from below the app.
MAX_REQUEST_HEAD_BYTES = 1 << 20
