"""Shared fixtures: a fresh lake per test, and the CLI run in-process."""
from __future__ import annotations

import datetime as dt
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from cli.main import main as cli_main
from datalake import sql, views
from datalake.demo.generate import generate
from datalake.lake import Lake
from tests.seaweed import SeaweedServer

REPO = Path(__file__).resolve().parent.parent
SHARED_DATA = REPO.parent / "shared" / "data"


@pytest.fixture(scope="session")
def seaweed(tmp_path_factory: pytest.TempPathFactory):
    """One SeaweedFS server for the whole session: DuckDB reads ``s3://`` through one
    registered file system per process, so a process talks to one store endpoint."""
    with SeaweedServer(tmp_path_factory.mktemp("seaweed") / "data") as server:
        yield server


@pytest.fixture
def lake(tmp_path: Path) -> Lake:
    return Lake.create(tmp_path / "lake")


@pytest.fixture(scope="session")
def small_lake(tmp_path_factory: pytest.TempPathFactory) -> Lake:
    """200 ICPs x 14 days of synthetic reads, shared read-only by a session's tests."""
    lake = Lake.create(tmp_path_factory.mktemp("small") / "lake")
    generate(lake, icps=200, days=14, start=dt.date(2018, 6, 1), seed=7)
    return lake


@dataclass
class CliResult:
    code: int
    out: str
    err: str


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]):
    """Run ``meterlake ARGS`` in-process; returns exit code and captured output."""

    def run(*args: str) -> CliResult:
        capsys.readouterr()
        try:
            code = cli_main([str(a) for a in args])
        except SystemExit as e:  # argparse usage errors
            code = e.code if isinstance(e.code, int) else 2
        captured = capsys.readouterr()
        return CliResult(code, captured.out, captured.err)

    return run


def run_meterlake(*args: str, timeout: float = 300, input: str | None = None,
                  env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run the installed ``meterlake`` console script in a child process, with ``input`` on
    its stdin (default: an empty stdin, never the terminal of the test run)."""
    return subprocess.run([sys.executable, "-m", "cli.main", *map(str, args)], capture_output=True,
                          text=True, timeout=timeout, cwd=REPO, input=input, env=env,
                          stdin=subprocess.DEVNULL if input is None else None)


def empty_view_types(lake: Lake, empty: tuple[str, ...], described: str) -> dict[str, str]:
    """The views defined on ``lake`` (one without data): asserts that each of ``empty`` has
    no row, and returns the column types of ``described``."""
    con = sql.connect()
    views.define_views(con, lake)
    for view in empty:
        assert con.sql(f"SELECT count(*) FROM {view}").fetchall() == [(0,)]
    return dict(con.sql(f"SELECT column_name, column_type FROM (DESCRIBE {described})").fetchall())
