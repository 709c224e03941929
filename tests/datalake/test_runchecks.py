"""Checks on real runs over real raw reads: publish refuses partial runs unless allowed, and
the checks report what they found with the numbers behind it."""
from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from datalake import runs
from datalake.runs.coverage import PartialRunError
from datalake.demo.runs import demo_runs
from datalake.errors import ConflictError
from datalake.demo.generate import generate
from datalake.lake import Lake
from datalake.runs.checks import run_checks
from tests.factories.output import days, interval_rows, publish_rows, write_csv
from tests.service.conftest import lake_icps

JUNE = dt.date(2018, 6, 1)


@pytest.fixture
def raw_lake(lake: Lake) -> Lake:
    generate(lake, icps=8, days=3, start=JUNE, seed=3)
    return lake


def by_name(lake: Lake, run_id: str) -> dict:
    return {c.name: c for c in run_checks(lake, run_id)}


def test_a_run_leaving_dates_and_raw_icps_without_output_is_refused_and_stays_open(raw_lake: Lake,
                                                                                   tmp_path: Path) -> None:
    icps = lake_icps(raw_lake)
    with pytest.raises(PartialRunError) as failed:
        publish_rows(raw_lake, tmp_path, interval_rows(icps[:3], days(JUNE, 2)), JUNE, JUNE + dt.timedelta(days=2))
    cov = failed.value.coverage
    assert cov.missing_dates == ["2018-06-03"]
    assert (cov.raw_icps, cov.missing_icps, cov.missing_icps_sample) == (8, 5, icps[3:])
    assert "2018-06-03" in failed.value.message and icps[3] in failed.value.message
    assert failed.value.code == "partial_run"
    record = runs.get_run(raw_lake, "run-00000001")
    assert record["status"] == "open" and record["files"] == []
    assert not list((raw_lake.root / "output").glob("run_id=*"))

    published = runs.publish_run(raw_lake, "run-00000001", allow_partial=True)
    assert published["status"] == "published" and published["partial"] is True
    assert (published["missing_icps"], published["missing_dates"]) == (5, ["2018-06-03"])
    checks = by_name(raw_lake, "run-00000001")
    assert not checks["missing_icps"].passed and checks["missing_icps"].numbers["missing_icps_sample"] == icps[3:]
    assert not checks["missing_dates"].passed and checks["missing_dates"].numbers["missing_dates"] == ["2018-06-03"]
    assert checks["duplicate_keys"].passed and checks["duplicate_keys"].numbers == {"duplicates": 0}


def test_raw_icps_count_only_the_window_and_the_runs_raw_snapshot(raw_lake: Lake, tmp_path: Path) -> None:
    icps = lake_icps(raw_lake)
    snapshot = raw_lake.head_ingest()
    generate(raw_lake, icps=3, days=1, start=JUNE, seed=99)  # new ICPs, after the snapshot
    generate(raw_lake, icps=2, days=1, start=JUNE + dt.timedelta(days=5), seed=98)  # outside the window
    record = runs.create_run(raw_lake, start=JUNE, end=JUNE, algorithm="m", version="1", raw_as_of=snapshot)
    runs.upload_part(raw_lake, record["run_id"], 1, write_csv(tmp_path / "o.csv", interval_rows(icps, [JUNE])))
    published = runs.publish_run(raw_lake, record["run_id"])
    assert (published["raw_icps"], published["missing_icps"], published["partial"]) == (8, 0, False)


def test_demo_runs_pass_and_numeric_checks_fail_only_against_a_bound(raw_lake: Lake) -> None:
    first, second = demo_runs(raw_lake, count=2)
    checks = by_name(raw_lake, second["run_id"])
    assert all(c.passed for c in checks.values())
    balance = checks["buyer_seller_balance"]
    assert balance.numbers["buyer"] == second["totals"]["buyer"] and balance.bound is None
    change = checks["latest_change"]
    assert change.numbers["against"] == [first["run_id"]] and change.numbers["dates"] == 3
    assert change.numbers["buyer"]["run"] == second["totals"]["buyer"]
    assert change.numbers["buyer"]["latest"] == first["totals"]["buyer"]

    raw_lake.info["checks"] = {"max_buyer_seller_gap": 0.0001, "max_latest_change": "0"}
    strict = by_name(raw_lake, second["run_id"])
    assert not strict["buyer_seller_balance"].passed and "lake.json" in strict["buyer_seller_balance"].bound
    assert not strict["latest_change"].passed
    raw_lake.info["checks"] = {"max_buyer_seller_gap": "lots"}
    with pytest.raises(ConflictError, match="max_buyer_seller_gap in lake.json must be a non-negative number"):
        run_checks(raw_lake, second["run_id"])


def test_a_bound_in_the_runs_params_wins(raw_lake: Lake, tmp_path: Path) -> None:
    icps = lake_icps(raw_lake)
    record = runs.create_run(raw_lake, start=JUNE, end=JUNE, algorithm="m", version="1",
                             params={"checks": {"max_buyer_seller_gap": 1}})
    runs.upload_part(raw_lake, record["run_id"], 1, write_csv(tmp_path / "o.csv", interval_rows(icps, [JUNE])))
    runs.publish_run(raw_lake, record["run_id"])
    raw_lake.info["checks"] = {"max_buyer_seller_gap": 0}
    balance = by_name(raw_lake, record["run_id"])["buyer_seller_balance"]
    assert balance.passed and balance.bound == "max_buyer_seller_gap=1 (params)"
    assert json.loads(json.dumps(balance.to_dict()))["numbers"]["gap"] == balance.numbers["gap"]


def test_checks_need_a_published_run(raw_lake: Lake) -> None:
    record = runs.create_run(raw_lake, start=JUNE, end=JUNE, algorithm="m", version="1")
    with pytest.raises(ConflictError, match="only published runs can be read"):
        run_checks(raw_lake, record["run_id"])
