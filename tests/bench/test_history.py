"""The history benchmark at a tiny scale: every step runs on both lakes and the figures are
all there. No timing is asserted."""
from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"


@pytest.mark.timeout(600)
def test_history_benchmark_at_tiny_scale(tmp_path: Path) -> None:
    spec = importlib.util.spec_from_file_location("bench_history", BENCH / "history.py")
    history = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(history)
    out = tmp_path / "history.json"
    res = history.main(["--icps", "40", "--days", "20", "--short-days", "14", "--runs", "3", "--delivery-icps", "5",
                        "--q4-requests", "3", "--workdir", str(tmp_path), "--out", str(out)])
    assert json.loads(out.read_text()) == res
    assert res["long"]["runs_before"] == 3 and res["short"]["runs_before"] == 0
    for lake in ("short", "long"):
        figures = res[lake]
        assert figures["q1_next_200_p50_ms"] > 0 and figures["q4_one_day_arrow_p50_ms"] > 0
        assert figures["delivery_commit_s"] > 0 and figures["publish_1_day_s"] > 0
        assert 0 < figures["serving_bytes"]["ratio"] < 1.5  # block files for raw and output
    assert set(res["long_over_short"]) >= {"q1_next_200_p50_ms", "q4_one_day_arrow_p50_ms", "delivery_commit_s",
                                           "serving_ratio"}
