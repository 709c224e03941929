"""The `meterlake` command itself, as a separate process: where --lake goes, --version,
the help text and the exit statuses."""
from __future__ import annotations

import datetime as dt
import importlib.metadata
import os

import pytest

from datalake.demo.generate import generate
from datalake.lake import Lake
from tests.conftest import run_meterlake

START = dt.date(2018, 6, 1)


@pytest.fixture(scope="module")
def tiny_lake(tmp_path_factory: pytest.TempPathFactory) -> Lake:
    lake = Lake.create(tmp_path_factory.mktemp("main") / "lake")
    generate(lake, icps=2, days=1, start=START, seed=1)
    return lake


def an_icp(lake: Lake) -> str:
    import pyarrow.parquet as pq

    return pq.read_table(lake.raw_files()[0].path, columns=["icp_id"])["icp_id"][0].as_py()


@pytest.mark.parametrize("where", ["before", "after", "environment"])
def test_lake_may_come_before_or_after_the_command(tiny_lake, where):
    command = ["reads", an_icp(tiny_lake), "--start", START, "--end", START]
    env = None
    if where == "before":
        args = ["--lake", tiny_lake.root, *command]
    elif where == "after":
        args = [*command, "--lake", tiny_lake.root]
    else:
        args, env = command, {**os.environ, "METERLAKE_LAKE": str(tiny_lake.root)}
    done = run_meterlake(*args, env=env, timeout=60)
    assert done.returncode == 0, done.stderr
    assert len(done.stdout.splitlines()) == 1 + 48  # header and one day of half hours


def test_lake_after_a_nested_command_wins_over_the_one_before(tiny_lake, tmp_path):
    done = run_meterlake("--lake", tmp_path / "nothing-here", "runs", "list", "--lake", tiny_lake.root, timeout=60)
    assert done.returncode == 0, done.stderr
    missing = run_meterlake("--lake", tiny_lake.root, "runs", "list", "--lake", tmp_path / "nothing-here",
                            timeout=60)
    assert missing.returncode == 2 and "no lake at" in missing.stderr


def test_no_lake_anywhere_is_a_usage_error(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "METERLAKE_LAKE"}
    done = run_meterlake("runs", "list", env=env, timeout=60)
    assert done.returncode == 2 and "no lake given" in done.stderr


def test_version_comes_from_the_installed_package():
    done = run_meterlake("--version", timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"meterlake {importlib.metadata.version('meterlake')}"


def test_help_has_no_markup_and_lists_the_exit_statuses():
    done = run_meterlake("--help", timeout=60)
    assert done.returncode == 0, done.stderr
    assert "`" not in done.stdout
    for status in ("0 ", "1 ", "2 ", "3 ", "130 "):
        assert f"\n  {status}" in done.stdout


def test_exit_statuses(tiny_lake, tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("read_timestamp,interval_read,energy_flow_direction,icp_id\n"
                   "2018-06-01 00:30:00+12,-1,X,ICP1\n")
    assert run_meterlake("--lake", tiny_lake.root, "ingest", bad, timeout=60).returncode == 1
    assert run_meterlake("--lake", tiny_lake.root, "runs", "show", "run-00000099", timeout=60).returncode == 2
    assert run_meterlake("--lake", tiny_lake.root, "no-such-command", timeout=60).returncode == 2
