"""`meterlake sql` and `meterlake catalog` through the CLI, on a lake with revisions."""
from __future__ import annotations

import io
from decimal import Decimal

import duckdb
import pyarrow.csv as pcsv
import pyarrow.parquet as pq
import pytest

from datalake import sql
from datalake import views
from datalake.demo.generate import generate
from datalake.lake import Lake
from tests.datalake.test_views import START, build_revised_lake

TOTAL = "SELECT count(*) AS reads, sum(interval_read) AS kwh FROM raw_reads"


@pytest.fixture(scope="module")
def revised_lake(tmp_path_factory: pytest.TempPathFactory) -> Lake:
    return build_revised_lake(tmp_path_factory.mktemp("cli") / "lake")


@pytest.fixture(scope="module")
def expected(revised_lake: Lake) -> tuple[int, Decimal]:
    con = sql.connect()
    views.define_views(con, revised_lake)
    return con.sql(TOTAL).fetchall()[0]


def test_sql_prints_a_table(cli, revised_lake, expected):
    result = cli("--lake", revised_lake.root, "sql", TOTAL)
    assert result.code == 0, result.err
    reads, kwh = expected
    assert "reads" in result.out and "kwh" in result.out
    assert str(reads) in result.out and str(kwh) in result.out


def test_sql_writes_csv_and_parquet(cli, revised_lake, expected, tmp_path):
    assert cli("--lake", revised_lake.root, "sql", TOTAL, "--csv", tmp_path / "t.csv").code == 0
    assert cli("--lake", revised_lake.root, "sql", TOTAL, "--parquet", tmp_path / "t.parquet").code == 0
    from_csv = pcsv.read_csv(tmp_path / "t.csv").to_pylist()[0]
    assert (from_csv["reads"], Decimal(str(from_csv["kwh"]))) == expected
    from_parquet = pq.read_table(tmp_path / "t.parquet").to_pylist()[0]
    assert (from_parquet["reads"], from_parquet["kwh"]) == expected


def test_sql_errors_are_reported(cli, revised_lake):
    result = cli("--lake", revised_lake.root, "sql", "SELECT * FROM no_such_view")
    assert result.code != 0
    assert "no_such_view" in result.err


def test_interactive_session_reads_statements_from_stdin(cli, revised_lake, expected, monkeypatch, tmp_path):
    lake = Lake.create(tmp_path / "lake")
    generate(lake, icps=3, days=1, start=START, seed=1)
    script = ("SELECT count(*) AS n\n  FROM raw_reads;\n"
              ".refresh\n"
              "SELECT count(DISTINCT ingest_id) AS ingests FROM raw_reads;\n")
    monkeypatch.setattr("sys.stdin", io.StringIO(script))
    generate(lake, icps=3, days=1, start=START.replace(day=2), seed=1)  # after start: seen on .refresh
    result = cli("--lake", lake.root, "sql")
    assert result.code == 0, result.err
    assert "snapshot at ingest ing-00000002" in result.out
    assert "│       2 │" in result.out  # two ingests after .refresh


def test_catalog_command_writes_a_database_of_views(cli, revised_lake, expected, tmp_path):
    target = tmp_path / "views.duckdb"
    result = cli("--lake", revised_lake.root, "catalog", target)
    assert result.code == 0, result.err
    assert "re-run after new commits" in result.out
    con = duckdb.connect(str(target), read_only=True)
    assert con.sql(TOTAL).fetchall()[0] == expected
    names = {r[0] for r in con.sql("SELECT view_name FROM duckdb_views() WHERE NOT internal").fetchall()}
    assert {"raw_reads", "raw_reads_all_revisions", "ingests", "raw_files"} <= names


def test_sql_as_a_separate_process(revised_lake, expected):
    from tests.conftest import run_meterlake

    done = run_meterlake("--lake", revised_lake.root, "sql", TOTAL, timeout=60)
    assert done.returncode == 0, done.stderr
    assert str(expected[1]) in done.stdout
