"""`meterlake check`: a sound lake passes; a missing, corrupted or foreign file, a broken
record or an ingest whose rows are not all there is reported (non-zero exit); leftovers of
killed writers are reported, and removed with --repair."""
from __future__ import annotations

import datetime as dt
import json
import os
import time

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from datalake import runs
from datalake.maintenance.check import check_lake
from datalake.raw.compaction import compact
from datalake.raw.ingest import ingest_file
from datalake.lake import Lake
from tests.factories.raw import day_rows, write_csv

DAY = dt.date(2018, 6, 14)


def _output_csv(path, icps: list[str]) -> str:
    lines = ["icp_id, matched_amount, read_date, read_time, publish_datetime, buyer_seller"]
    for icp in icps:
        for p in range(48):
            lines.append(f'{icp}, "{p / 1000:.4f}", "{DAY}", "{p // 2:02d}:{30 * (p % 2):02d}:00", '
                         f'"2018-06-27 16:39:36.057601+12", "buyer"')
    path.write_text("\n".join(lines) + "\n")
    return str(path)


@pytest.fixture
def sound(lake: Lake, tmp_path) -> Lake:
    ingest_file(lake, write_csv(tmp_path / "a.csv", day_rows("ICP1", DAY) + day_rows("ICP2", DAY)))
    ingest_file(lake, write_csv(tmp_path / "b.csv", day_rows("ICP1", DAY, seed=2)[:10]))
    run = runs.create_run(lake, start=DAY, end=DAY, algorithm="t", version="1")
    runs.upload_part(lake, run["run_id"], 1, _output_csv(tmp_path / "out.csv", ["ICP1", "ICP2"]))
    runs.publish_run(lake, run["run_id"])
    return lake


def _raw(lake: Lake, n: int = 0):
    return lake.raw_files()[n].path


def _output(lake: Lake):
    return lake.root / runs.list_runs(lake)[0]["files"][0]["path"]


def test_a_sound_lake_passes(sound, cli):
    report = check_lake(sound)
    assert report.ok and report.leftovers == [], report.summary()
    assert (report.commits, report.raw_files, report.runs, report.output_files) == (2, 2, 1, 1)
    compact(sound)
    assert check_lake(Lake(sound.root)).ok
    done = cli("--lake", sound.root, "check", "--json")
    assert done.code == 0 and json.loads(done.out)["ok"] is True


@pytest.mark.parametrize("damage", ["missing raw", "flipped byte", "truncated", "missing output",
                                   "corrupt output", "foreign schema"])
def test_damaged_files_are_reported(sound, cli, damage):
    target = _output(sound) if "output" in damage else _raw(sound)
    if damage.startswith("missing"):
        target.unlink()
    elif damage in ("flipped byte", "corrupt output"):
        data = bytearray(target.read_bytes())
        data[len(data) // 2] ^= 0xFF
        target.write_bytes(bytes(data))
    elif damage == "truncated":
        os.truncate(target, target.stat().st_size - 10)
    else:  # a well-formed Parquet file of another shape, with the recorded size faked away
        pq.write_table(pa.table({"icp_id": ["x"], "interval_read": [1.0]}), target)
        record = sound.layout.ingest_record("ing-00000001")
        data = json.loads(record.read_text())
        data["files"][0].update(bytes=target.stat().st_size, sha256=None)
        record.write_text(json.dumps(data))
    report = check_lake(Lake(sound.root))
    assert not report.ok
    assert any(sound.layout.relative(target) in p for p in report.problems), report.problems
    done = cli("--lake", sound.root, "check")
    assert done.code == 3 and "problem" in done.out


def test_broken_records_are_reported(sound):
    record = sound.layout.run_record("run-00000001")
    data = json.loads(record.read_text())
    data["status"] = "finished"
    record.write_text(json.dumps(data))
    (sound.layout.ingests_dir / "ing-00000003.json").write_text("{not json")
    problems = check_lake(Lake(sound.root)).problems
    assert any("status 'finished'" in p for p in problems)
    assert any("ing-00000003.json: unreadable" in p for p in problems)


def test_rows_missing_from_an_ingest_are_reported(sound, tmp_path):
    """A compaction that lost rows (here: a file rewritten without them) is caught by the
    per-ingest row count even when size, checksum and schema were updated to match."""
    compact(sound)
    lake = Lake(sound.root)
    path = _raw(lake)
    table = pq.read_table(path)
    pq.write_table(table.slice(0, table.num_rows - 1), path)
    record_path = lake.layout.ingest_record("ing-00000003")
    record = json.loads(record_path.read_text())
    record["files"][0].update(bytes=path.stat().st_size, sha256=None, rows=table.num_rows - 1)
    record_path.write_text(json.dumps(record))
    problems = check_lake(Lake(sound.root)).problems
    assert any(p.startswith("ingest ing-0000000") and "its record says" in p for p in problems), problems


def test_leftovers_are_reported_then_repaired(sound, cli):
    stray = sound.layout.raw_file(DAY, "ing-00000009")
    stray.write_bytes(b"half a file")
    staging = sound.layout.staging("0" * 32)
    staging.mkdir(parents=True)
    fresh = sound.layout.staging("1" * 32)  # its owner is about to take the lock inside it
    fresh.mkdir()
    an_hour_ago = time.time() - 3600
    os.utime(staging, (an_hour_ago, an_hour_ago))
    report = check_lake(sound)
    assert report.ok  # leftovers are not damage: the next writer removes them
    assert sorted(report.leftovers) == ["_staging/" + "0" * 32, "raw/read_date=2018-06-14/ing-00000009.parquet"]
    assert stray.exists()
    done = cli("--lake", sound.root, "check", "--repair")
    assert done.code == 0 and "removed: raw/read_date=2018-06-14/ing-00000009.parquet" in done.out
    assert not stray.exists() and not staging.exists()
    assert fresh.exists()
    assert check_lake(sound).leftovers == []
