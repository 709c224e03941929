"""`meterlake runs publish/import --allow-partial`, `runs checks` and `runs diff` as separate
processes, over real runs made over real raw reads."""
from __future__ import annotations

import datetime as dt
import json

import pytest

from datalake.demo.runs import demo_runs
from datalake.demo.generate import generate
from datalake.lake import Lake
from tests.conftest import run_meterlake
from tests.factories.output import days, interval_rows, write_csv
from tests.service.conftest import lake_icps

START = dt.date(2018, 6, 1)


@pytest.fixture(scope="module")
def demo_lake(tmp_path_factory: pytest.TempPathFactory) -> Lake:
    """10 ICPs x 3 days and two demo runs over them."""
    lake = Lake.create(tmp_path_factory.mktemp("cli-review") / "lake")
    generate(lake, icps=10, days=3, start=START, seed=8)
    demo_runs(lake, count=2, seed=1)
    return lake


def test_import_of_a_partial_run_is_refused_unless_allowed(tmp_path) -> None:
    lake = Lake.create(tmp_path / "lake")
    generate(lake, icps=6, days=3, start=START, seed=2)
    icps = lake_icps(lake)
    part = write_csv(tmp_path / "out.csv", interval_rows(icps[:2], days(START, 1)))
    window = ["--start", "2018-06-01", "--end", "2018-06-03"]
    refused = run_meterlake("--lake", lake.root, "runs", "import", part, *window)
    assert refused.returncode == 1, refused.stderr
    assert "2 date(s) of the window without rows: 2018-06-02, 2018-06-03" in refused.stderr
    assert f"4 ICP(s) with raw reads in the window without output: {', '.join(icps[2:])}" in refused.stderr
    assert "--allow-partial" in refused.stderr and "run run-00000001 aborted" in refused.stderr

    done = run_meterlake("--lake", lake.root, "runs", "import", part, *window, "--allow-partial")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("run-00000002  published")

    created = run_meterlake("--lake", lake.root, "runs", "create", *window, "--json")
    run = json.loads(created.stdout)["run_id"]
    assert run_meterlake("--lake", lake.root, "runs", "upload", run, part).returncode == 0
    assert run_meterlake("--lake", lake.root, "runs", "publish", run).returncode == 1
    again = run_meterlake("--lake", lake.root, "runs", "publish", run, "--allow-partial")
    assert again.returncode == 0 and again.stdout.startswith(f"{run}  published")
    shown = json.loads(run_meterlake("--lake", lake.root, "runs", "show", run, "--json").stdout)
    assert (shown["partial"], shown["missing_dates"], shown["missing_icps"]) == (True, ["2018-06-02", "2018-06-03"], 4)


def test_checks_print_each_check_and_exit_3_when_one_fails(demo_lake: Lake) -> None:
    done = run_meterlake("--lake", demo_lake.root, "runs", "checks", "run-00000002")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "run-00000002  passed  (5 of 5 checks pass)"
    assert [line.split()[:2] for line in lines[1:]] == [["pass", n] for n in (
        "missing_icps", "missing_dates", "duplicate_keys", "buyer_seller_balance", "latest_change")]
    assert "0 of 10 ICPs with raw reads in the window have no output" in lines[1]

    record = json.loads((demo_lake.root / "lake.json").read_text())
    (demo_lake.root / "lake.json").write_text(json.dumps({**record, "checks": {"max_latest_change": 0}}))
    try:
        failed = run_meterlake("--lake", demo_lake.root, "runs", "checks", "run-00000002", "--json")
    finally:
        (demo_lake.root / "lake.json").write_text(json.dumps(record))
    assert failed.returncode == 3, failed.stderr
    body = json.loads(failed.stdout)
    assert body["passed"] is False
    assert [c["name"] for c in body["checks"] if not c["passed"]] == ["latest_change"]

    missing = run_meterlake("--lake", demo_lake.root, "runs", "checks", "run-00000042")
    assert missing.returncode == 2 and "no run run-00000042" in missing.stderr


def test_diff_prints_sides_and_largest_changes_and_pages(demo_lake: Lake) -> None:
    done = run_meterlake("--lake", demo_lake.root, "runs", "diff", "run-00000002", "run-00000001", "--limit", "3")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "run-00000002 against run-00000001: 2018-06-01..2018-06-03 (3 dates)"
    assert lines[1].split() == ["buyer_seller", "run_total", "against_total", "difference", "added", "removed",
                                "changed", "unchanged"]
    assert lines[4] == "largest changes:" and len(lines) == 4 + 1 + 1 + 3 + 1
    assert lines[-1].startswith("more: --cursor ")
    cursor = lines[-1].split()[-1]

    page = json.loads(run_meterlake("--lake", demo_lake.root, "runs", "diff", "run-00000002", "run-00000001",
                                    "--limit", "3", "--format", "json").stdout)
    assert [c["icp_id"] for c in page["changes"]] == [line.split()[0] for line in lines[6:9]]
    second = json.loads(run_meterlake("--lake", demo_lake.root, "runs", "diff", "run-00000002", "run-00000001",
                                      "--limit", "3", "--cursor", cursor, "--format", "json").stdout)
    assert abs(float(second["changes"][0]["difference"])) <= abs(float(page["changes"][-1]["difference"]))
    sides = run_meterlake("--lake", demo_lake.root, "runs", "diff", "run-00000002", "run-00000001",
                          "--format", "csv", "--table", "sides").stdout.splitlines()
    assert sides[0].startswith('"buyer_seller","run_total"') and len(sides) == 3

    bad = run_meterlake("--lake", demo_lake.root, "runs", "diff", "run-00000002", "run-00000001", "--cursor", "x")
    assert bad.returncode == 2 and "cursor" in bad.stderr


def test_quality_prints_the_report_and_one_icp(demo_lake: Lake) -> None:
    done = run_meterlake("--lake", demo_lake.root, "quality", "--start", "2018-06-01", "--end", "2018-06-04")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].split()[:4] == ["read_date", "energy_flow_direction", "expected_intervals", "icps"]
    x = [line.split() for line in lines[1:] if line.split()[1] == "X"]
    assert [row[0] for row in x] == ["2018-06-01", "2018-06-02", "2018-06-03", "2018-06-04"]
    assert x[0][3:8] == ["10", "10", "0", "480", "0"] and x[3][3:8] == ["10", "0", "10", "0", "480"]
    icp = lake_icps(demo_lake)[0]
    one = json.loads(run_meterlake("--lake", demo_lake.root, "quality", "--start", "2018-06-01", "--end",
                                   "2018-06-01", "--icp", icp, "--format", "json").stdout)
    assert {r["energy_flow_direction"] for r in one} <= {"X", "I"} and all(r["complete"] for r in one)
    wide = run_meterlake("--lake", demo_lake.root, "quality", "--start", "2018-06-01", "--end", "2019-06-05")
    assert wide.returncode == 2 and "at most 366 dates" in wide.stderr
