"""compact, vacuum and runs abort-stale as separate processes: what they say they did,
also when there was nothing to do."""
from __future__ import annotations

import datetime as dt

from datalake.raw.ingest import ingest_file
from datalake.lake import Lake
from tests.conftest import run_meterlake
from tests.factories.raw import day_rows, write_csv

DAY = dt.date(2018, 6, 14)


def three_files_on_one_day(tmp_path) -> Lake:
    lake = Lake.create(tmp_path / "lake")
    for n, icp in enumerate(("ICP1", "ICP2", "ICP3")):
        ingest_file(lake, write_csv(tmp_path / f"d{n}.csv", day_rows(icp, DAY)))
    return lake


def test_vacuum_dry_run_says_would_remove_and_removes_nothing(tmp_path):
    lake = three_files_on_one_day(tmp_path)
    replaced = [f.path for f in lake.raw_files()]
    assert run_meterlake("--lake", lake.root, "compact", timeout=120).returncode == 0

    dry = run_meterlake("--lake", lake.root, "vacuum", "--older-than", "0s", "--dry-run", timeout=60)
    assert dry.returncode == 0, dry.stderr
    assert dry.stdout.startswith("would remove 3 replaced file(s)")
    assert all(p.exists() for p in replaced)

    done = run_meterlake("--lake", lake.root, "vacuum", "--older-than", "0s", timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("removed 3 replaced file(s)")
    assert not any(p.exists() for p in replaced)


def test_compact_with_nothing_to_do_says_so(tmp_path):
    lake = three_files_on_one_day(tmp_path)
    first = run_meterlake("--lake", lake.root, "compact", timeout=120)
    assert first.returncode == 0 and "3 files ->" in first.stdout
    again = run_meterlake("--lake", lake.root, "compact", timeout=60)
    assert again.returncode == 0, again.stderr
    assert again.stdout.startswith("nothing to compact")
    as_json = run_meterlake("--lake", lake.root, "compact", "--json", timeout=60)
    assert as_json.returncode == 0 and as_json.stdout == ""  # JSON lines: none


def test_abort_stale_with_nothing_to_do_says_so(tmp_path):
    lake = Lake.create(tmp_path / "lake")
    create = run_meterlake("--lake", lake.root, "runs", "create", "--start", "2018-06-14", "--end", "2018-06-14",
                           timeout=60)
    assert create.returncode == 0, create.stderr
    done = run_meterlake("--lake", lake.root, "runs", "abort-stale", "--older-than", "7d", timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "nothing to abort: no open run idle for longer than 7d (1 open run(s) in all)"
