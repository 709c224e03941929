"""`meterlake runs ...` output as separate processes: a one-line summary first, the whole
record with --json, and demo totals printed as text."""
from __future__ import annotations

import datetime as dt
import json

from datalake.demo.generate import generate
from datalake.lake import Lake
from tests.conftest import run_meterlake
from tests.factories.output import interval_rows, write_csv

DAY = "2018-06-01"


def runs_cli(lake: Lake, *args: str):
    done = run_meterlake("--lake", lake.root, "runs", *args, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_create_upload_publish_show_lead_with_a_summary(tmp_path):
    lake = Lake.create(tmp_path / "lake")
    out = runs_cli(lake, "create", "--start", DAY, "--end", DAY, "--algorithm", "matcher", "--version", "2.1")
    assert out == "run-00000001  open       2018-06-01..2018-06-01  matcher 2.1  rows=0\n"

    part = write_csv(tmp_path / "out.csv", interval_rows(["101", "102"], [dt.date(2018, 6, 1)]))
    out = runs_cli(lake, "upload", "run-00000001", part)
    assert out == "run-00000001  part 1  192 rows from out.csv  2018-06-01..2018-06-01\n"

    first = runs_cli(lake, "publish", "run-00000001").splitlines()[0]
    assert first.startswith("run-00000001  published  2018-06-01..2018-06-01  matcher 2.1  rows=192  buyer=")

    shown = runs_cli(lake, "show", "run-00000001").splitlines()
    assert shown[0] == first
    assert any(line.startswith("  published:") for line in shown)
    record = json.loads(runs_cli(lake, "show", "run-00000001", "--json"))
    assert record["run_id"] == "run-00000001" and record["rows"] == 192 and record["status"] == "published"


def test_import_prints_the_summary(tmp_path):
    lake = Lake.create(tmp_path / "lake")
    part = write_csv(tmp_path / "out.csv", interval_rows(["101"], [dt.date(2018, 6, 1)]))
    out = runs_cli(lake, "import", part, "--start", DAY, "--end", DAY)
    assert out.startswith("run-00000001  published  2018-06-01..2018-06-01  matcher unknown  rows=")
    assert "{" not in out


def test_demo_prints_totals_as_text(tmp_path):
    lake = Lake.create(tmp_path / "lake")
    generate(lake, icps=3, days=1, start=dt.date(2018, 6, 1), seed=1)
    out = runs_cli(lake, "demo", "--count", "1")
    assert out.startswith("published run-00000001: ")
    assert "totals buyer=" in out
    assert "{" not in out and "'" not in out
