"""Golden JSON files: a response body compared whole with tests/service/golden/<name>.json.
Set METERLAKE_UPDATE_GOLDEN=1 to (re)write them from the current output."""
from __future__ import annotations

import json
import os
from pathlib import Path

GOLDEN = Path(__file__).parent / "golden"
# Timings, clock times, and digests and sizes of Arrow bodies (which vary with the writer).
VOLATILE = {"seconds", "sha256", "bytes", "created_at", "published_at", "retracted_at", "aborted_at",
            "uploaded_at", "committed_at"}


def normalise(data: object) -> object:
    """Replace values that differ on every run (timings, clock times) by a marker."""
    if isinstance(data, dict):
        return {k: ("<volatile>" if k in VOLATILE and v is not None else normalise(v)) for k, v in data.items()}
    if isinstance(data, list):
        return [normalise(v) for v in data]
    return data


def check_golden(name: str, data: object) -> None:
    path = GOLDEN / f"{name}.json"
    data = normalise(data)
    if os.environ.get("METERLAKE_UPDATE_GOLDEN") == "1" or not path.exists():
        if not path.exists() and os.environ.get("CI"):
            raise AssertionError(f"golden file {path.name} is missing; run with METERLAKE_UPDATE_GOLDEN=1")
        path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
        return
    expected = json.loads(path.read_text())
    assert data == expected, f"response differs from {path.name} (METERLAKE_UPDATE_GOLDEN=1 rewrites it)"
