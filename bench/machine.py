"""What a benchmark ran on: CPU, memory, kernel and library versions, the commit, the load."""
from __future__ import annotations

import os
import platform
import subprocess
from importlib import metadata
from pathlib import Path

PACKAGES = ["duckdb", "pyarrow", "polars", "litestar", "uvicorn", "msgspec", "httpx", "numpy", "psycopg"]


def _cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor()


def _mem_gib() -> float:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return round(int(line.split()[1]) / 2**20, 1)
    return 0.0


def _version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def describe() -> dict:
    root = Path(__file__).resolve().parent.parent
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True, text=True)
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root, capture_output=True,
                           text=True)
    return {"cpu": _cpu_model(), "cores": os.cpu_count(), "memory_gib": _mem_gib(), "kernel": platform.release(),
            "python": platform.python_version(), "commit": commit.stdout.strip() or None,
            "uncommitted": [line[3:] for line in dirty.stdout.splitlines()],
            "packages": {name: _version(name) for name in PACKAGES}}
