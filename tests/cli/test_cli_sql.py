"""`meterlake sql` as a separate process: statements from a script stop at the first error."""
from __future__ import annotations

import datetime as dt

from datalake.demo.generate import generate
from datalake.lake import Lake
from tests.conftest import run_meterlake


def test_sql_script_stops_at_the_first_error_and_exits_1(tmp_path):
    lake = Lake.create(tmp_path / "lake")
    generate(lake, icps=2, days=1, start=dt.date(2018, 6, 1), seed=1)
    script = "SELECT 41 + 1 AS before;\nSELECT * FROM nope;\nSELECT 'after' || 'wards' AS later;\n"
    done = run_meterlake("--lake", lake.root, "sql", input=script, timeout=60)
    assert done.returncode == 1
    assert "42" in done.stdout  # statements before the error ran
    assert "error: Catalog Error" in done.stderr and "nope" in done.stderr
    assert "afterwards" not in done.stdout  # the one after it did not


def test_sql_script_without_errors_exits_0(tmp_path):
    lake = Lake.create(tmp_path / "lake")
    done = run_meterlake("--lake", lake.root, "sql", input="SELECT 1 AS a;\nSELECT 'last' AS b", timeout=60)
    assert done.returncode == 0, done.stderr
    assert "last" in done.stdout  # a final statement without ';' runs too


def test_unknown_dot_command_in_a_script_is_an_error(tmp_path):
    lake = Lake.create(tmp_path / "lake")
    done = run_meterlake("--lake", lake.root, "sql", input=".bogus\nSELECT 'later' AS x;\n", timeout=60)
    assert done.returncode == 1
    assert "unknown command .bogus" in done.stderr
    assert "later" not in done.stdout


def test_sql_query_argument_error_exits_1(tmp_path):
    lake = Lake.create(tmp_path / "lake")
    done = run_meterlake("--lake", lake.root, "sql", "SELECT * FROM nope", timeout=60)
    assert done.returncode == 1
    assert "nope" in done.stderr


def test_snapshot_line_counts_a_retracted_run_apart(tmp_path):
    lake = Lake.create(tmp_path / "lake")
    generate(lake, icps=2, days=1, start=dt.date(2018, 6, 1), seed=1)
    for args in (["runs", "demo", "--count", "2"], ["runs", "retract", "run-00000001"]):
        assert run_meterlake("--lake", lake.root, *args, timeout=120).returncode == 0
    expected = "1 published runs, 1 retracted (2 output files)"
    catalog = run_meterlake("--lake", lake.root, "catalog", tmp_path / "views.duckdb", timeout=60)
    assert catalog.returncode == 0, catalog.stderr
    assert expected in catalog.stdout
    session = run_meterlake("--lake", lake.root, "sql", input=".refresh\n", timeout=60)
    assert session.returncode == 0, session.stderr
    assert expected in session.stdout
