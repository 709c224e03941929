"""Checkpoints of the commit log: written every INTERVAL commits, read by every reader (the
engine, the analyst views, `check`), and a cold reader on a store makes a bounded number of
requests however long the history."""
from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
import s3fs

from cli.main import main as cli_main
from datalake import runs
from datalake.runs import record
from datalake.storage import checkpoint
from datalake import views
from datalake.maintenance.check import check_lake
from datalake.lake import Lake
from datalake.sql import connect
from tests.factories.raw import day_rows, write_csv
from tests.seaweed import SeaweedServer

D = dt.date(2018, 6, 1)
ICP = "0000012345TR9A1"


def ingest_days(location: str, folder: Path, n: int) -> None:
    for k in range(n):
        rows = day_rows(ICP, D + dt.timedelta(days=k))
        assert cli_main(["--lake", location, "ingest", str(write_csv(folder / f"d{k}.csv", rows))]) == 0


@pytest.fixture
def every_three(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(checkpoint, "INTERVAL", 3)


def test_a_checkpoint_every_interval_commits_holds_the_records_before_it(tmp_path: Path, every_three) -> None:
    location = str(tmp_path / "lake")
    assert cli_main(["--lake", location, "init"]) == 0
    ingest_days(location, tmp_path, 8)
    lake = Lake(location)
    assert sorted(p.name for p in lake.layout.checkpoints_dir.iterdir()) == ["ing-00000003.jsonl", "ing-00000006.jsonl"]
    records = [json.loads(p.read_text()) for p in sorted(lake.layout.ingests_dir.glob("ing-*.json"))]
    assert Lake(location).commits() == records  # a cold reader: the checkpoint, then 7 and 8
    assert [p.name for p in lake.commit_files()] == ["ing-00000006.jsonl", "ing-00000007.json", "ing-00000008.json"]
    held = [json.loads(line) for line in lake.layout.checkpoint("ing-00000006").read_text().splitlines()]
    assert held == records[:6]

    con = connect()
    views.define_views(con, Lake(location))
    assert con.execute("SELECT count(*), count(DISTINCT ingest_id), max(ingest_id) FROM ingests").fetchone() == \
        (8, 8, "ing-00000008")
    assert con.execute("SELECT count(*) FROM raw_reads").fetchone() == (8 * 48,)
    assert check_lake(Lake(location)).ok


def test_check_finds_a_checkpoint_that_disagrees_with_the_records(tmp_path: Path, every_three) -> None:
    location = str(tmp_path / "lake")
    assert cli_main(["--lake", location, "init"]) == 0
    ingest_days(location, tmp_path, 3)
    lake = Lake(location)
    point = lake.layout.checkpoint("ing-00000003")
    lines = point.read_text().splitlines()
    point.write_text("\n".join(lines[:2]) + "\n")  # one record lost
    report = check_lake(lake)
    assert not report.ok and any("ing-00000003.jsonl" in p for p in report.problems), report.problems


def test_a_checkpoint_that_cannot_be_written_leaves_the_commit_standing(tmp_path: Path, every_three,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    location = str(tmp_path / "lake")
    assert cli_main(["--lake", location, "init"]) == 0

    def full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(checkpoint, "write_atomic", full)
    ingest_days(location, tmp_path, 4)
    lake = Lake(location)
    assert not lake.layout.checkpoints_dir.exists() or not any(lake.layout.checkpoints_dir.iterdir())
    assert len(lake.commits()) == 4
    monkeypatch.undo()
    monkeypatch.setattr(checkpoint, "INTERVAL", 3)
    rows = day_rows(ICP, D + dt.timedelta(days=9))
    assert cli_main(["--lake", location, "ingest", str(write_csv(tmp_path / "late.csv", rows))]) == 0
    assert [p.name for p in Lake(location).layout.checkpoints_dir.iterdir()] == ["ing-00000005.jsonl"]


@pytest.fixture
def store(seaweed: SeaweedServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> SeaweedServer:
    for name, value in {**seaweed.environment(), "METERLAKE_CACHE_DIR": str(tmp_path / "cache")}.items():
        monkeypatch.setenv(name, value)
    return seaweed


def test_a_cold_reader_on_a_store_makes_a_bounded_number_of_requests(tmp_path: Path, store: SeaweedServer,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(checkpoint, "INTERVAL", 5)
    location = store.url()
    assert cli_main(["--lake", location, "init"]) == 0
    ingest_days(location, tmp_path, 17)  # checkpoints at 5, 10 and 15; records 16 and 17 after

    calls: list[str] = []
    original = s3fs.S3FileSystem._call_s3

    async def counted(self, method, *args, **kwargs):
        calls.append(method)
        return await original(self, method, *args, **kwargs)

    monkeypatch.setattr(s3fs.S3FileSystem, "_call_s3", counted)
    cold = Lake(location)
    listing = cold.root.fs.call_s3  # the store listings go through the sync wrapper

    def counted_sync(method, *args, **kwargs):
        calls.append(method)
        return listing(method, *args, **kwargs)

    monkeypatch.setattr(cold.root.fs, "call_s3", counted_sync)
    calls.clear()
    records = cold.commits()
    assert [r["ingest_id"] for r in records] == [f"ing-{n:08d}" for n in range(1, 18)]
    # LIST checkpoints, LIST records after ing-00000015, then the checkpoint and the two
    # records (s3fs asks for an object's size before a GET): 2 + 3 x 2.
    assert calls.count("list_objects_v2") == 2, calls
    assert len(calls) <= 8, calls
    assert len(cold.raw_files()) == 17


def make_runs(location: str, n: int) -> None:
    for _ in range(n):
        assert cli_main(["--lake", location, "runs", "create", "--start", "2018-06-01", "--end", "2018-06-02",
                         "--algorithm", "matcher", "--version", "1"]) == 0


def test_run_checkpoints_hold_records_by_version_and_readers_use_them(tmp_path: Path, every_three) -> None:
    location = str(tmp_path / "lake")
    assert cli_main(["--lake", location, "init"]) == 0
    make_runs(location, 7)  # checkpoints after the 3rd and the 6th change
    assert cli_main(["--lake", location, "runs", "abort", "run-00000002"]) == 0
    lake = Lake(location)
    assert sorted(p.name for p in lake.layout.checkpoints_dir.iterdir()) == ["runs-00000001.jsonl",
                                                                             "runs-00000002.jsonl"]
    point, kept, files = checkpoint.run_sources(lake)
    assert point.name == "runs-00000002.jsonl"
    assert kept == ["run-00000001", "run-00000003", "run-00000004", "run-00000005", "run-00000006"]
    assert [f.name for f in files] == ["run-00000002.json", "run-00000007.json"]
    con = connect()
    views.define_views(con, lake)
    assert con.execute("SELECT run_id, status FROM runs WHERE run_id <= 'run-00000003' ORDER BY 1").fetchall() == \
        [("run-00000001", "open"), ("run-00000002", "aborted"), ("run-00000003", "open")]
    assert con.execute("SELECT count(*), count(DISTINCT run_id) FROM runs").fetchone() == (7, 7)
    assert check_lake(lake).ok

    make_runs(location, 2)  # the third change since runs-00000002 writes a third; the first goes
    assert sorted(p.name for p in lake.layout.checkpoints_dir.iterdir()) == ["runs-00000002.jsonl",
                                                                             "runs-00000003.jsonl"]
    held = lake.layout.checkpoints_dir / "runs-00000003.jsonl"
    lines = [json.loads(line) for line in held.read_text().splitlines()]
    assert [r["status"] for r in lines] == ["open", "aborted"] + ["open"] * 6  # before run-00000009
    lines[0]["algorithm"] = "other"  # the same version as its record, but not what it holds
    held.write_text("".join(json.dumps(r) + "\n" for r in lines))
    report = check_lake(lake)
    assert report.problems == ["_meta/checkpoints/runs-00000003.jsonl: run-00000001 differs from its record "
                               "of the same version"]


def test_a_cold_reader_of_runs_on_a_store_reads_only_records_changed_since_the_checkpoint(
        tmp_path: Path, store: SeaweedServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(checkpoint, "INTERVAL", 5)
    location = store.url()
    assert cli_main(["--lake", location, "init"]) == 0
    make_runs(location, 12)  # checkpoints after changes 5 and 10; runs 11 and 12 after them
    assert cli_main(["--lake", location, "runs", "abort", "run-00000003"]) == 0
    monkeypatch.setattr(record, "_cache", {})
    monkeypatch.setattr(checkpoint, "_saved", {})
    gets: list[str] = []
    original = s3fs.S3FileSystem._call_s3

    async def counted(self, method, *args, **kwargs):
        if method in ("get_object", "head_object"):
            gets.append(kwargs.get("Key", "").rsplit("/", 1)[-1])
        return await original(self, method, *args, **kwargs)

    monkeypatch.setattr(s3fs.S3FileSystem, "_call_s3", counted)
    found = runs.list_runs(Lake(location))
    assert [r["run_id"] for r in found] == [f"run-{n:08d}" for n in range(1, 13)]
    assert found[2]["status"] == "aborted"
    # The checkpoint, then only the records it does not hold at their current version.
    assert sorted(set(gets) - {"lake.json"}) == ["run-00000003.json", "run-00000011.json", "run-00000012.json",
                                 "runs-00000002.jsonl"], gets
