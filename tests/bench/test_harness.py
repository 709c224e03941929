"""The benchmark harness at a tiny scale: every step runs, and the answers the timed
queries return are checked against plain DuckDB over the lake's files (and PostgreSQL's
answers too, when PostgreSQL 15 is installed). No timing is asserted."""
from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"
HAS_POSTGRES = Path("/usr/lib/postgresql/15/bin/initdb").exists() and importlib.util.find_spec("psycopg") is not None


def load_harness():
    spec = importlib.util.spec_from_file_location("bench_run", BENCH / "run.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.timeout(600)
def test_harness_end_to_end_at_tiny_scale(tmp_path: Path) -> None:
    harness = load_harness()
    out = tmp_path / "result.json"
    res = harness.main(["--icps", "60", "--days", "2", "--parts", "2", "--requests", "8", "--load-seconds", "0.5",
                        "--large-icps", "120", "--flight-repeat", "1", "--workdir", str(tmp_path), "--out", str(out),
                        "--postgres", "auto" if HAS_POSTGRES else "skip"])
    assert json.loads(out.read_text())["icps"] == 60
    assert res["checks"] == {"q1": 5, "q2": 5, "q3": 5, "q4": 1}
    assert res["ingest_csv"]["rows"] == res["generate"]["rows"]
    assert [r["rows"] for r in res["runs"]] == [60 * 2 * 48] * 2
    assert res["bulk"]["rows"] == res["bulk_4_shards"]["rows"] == res["generate"]["rows"]
    assert res["large"]["bulk"]["rows"] == res["large"]["generate"]["rows"]
    for name in ("flight_bulk", "flight_bulk_dictionary", "flight_bulk_4_shards", "flight_bulk_4_shards_dictionary"):
        assert res[name]["rows"] == res["generate"]["rows"] and res[name]["rows_per_s"] > 0, name
    assert res["flight_run"]["rows"] == 60 * 2 * 48
    # Both dates exported as EIEP3 and ingested; the revision's change feed is every read of a date.
    assert res["eiep"]["eiep3_rows"] == res["generate"]["rows"]
    assert 0 < res["eiep"]["change_feed_rows"] < res["generate"]["rows"]
    assert res["large"]["flight_bulk"]["rows"] == res["large"]["generate"]["rows"]
    assert res["q1_throughput"]["errors"] == 0 and res["q1_throughput"]["requests"] > 0
    for name, q in res["queries"].items():
        assert q["n"] > 0 and q["median_ms"] > 0, name
    if HAS_POSTGRES:
        assert res["postgres"]["checks"] == {"q1": 5, "q2": 5, "q4": 1}
        assert res["postgres"]["load"]["raw"]["rows"] == res["generate"]["rows"]
        assert res["postgres"]["load"]["output"]["rows"] == 60 * 2 * 48
    assert not list(tmp_path.glob("meterlake-bench-*"))  # the work folder (and the cluster) are gone
