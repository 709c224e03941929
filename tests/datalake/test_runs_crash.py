"""Publishing under stress: two publishers racing on one run, and a publisher killed with
SIGKILL at each stage of its work."""
from __future__ import annotations

import datetime as dt
import signal
import subprocess
import sys
import threading
from pathlib import Path

import duckdb
import pytest

from datalake.output import reads as output
from datalake import runs
from datalake.errors import ConflictError
from datalake.lake import Lake
from tests.conftest import REPO
from tests.factories.output import days, interval_rows, write_csv

D = dt.date(2018, 6, 1)
ICPS = ["0000012345TR9A1", "0000067890UN2B2", "101"]


def open_run(lake: Lake, folder: Path, parts: int = 2) -> str:
    run = runs.create_run(lake, start=D, end=D + dt.timedelta(days=2), algorithm="m", version="1")["run_id"]
    rows = interval_rows(ICPS, days(D, 3))
    size = -(-len(rows) // parts)
    for n in range(parts):
        runs.upload_part(lake, run, n + 1, write_csv(folder / f"part{n}.csv", rows[n * size:(n + 1) * size]))
    return run


def assert_published_cleanly(lake: Lake, record: dict) -> None:
    """The run folder holds exactly the files its record names, and their totals match."""
    on_disk = {p.relative_to(lake.root).as_posix() for p in lake.layout.run_dir(record["run_id"]).rglob("*")
               if p.is_file()}
    assert on_disk == {f["path"] for f in record["files"]}
    files = [str(lake.root / f["path"]) for f in record["files"]]
    plain = dict(duckdb.execute("SELECT buyer_seller, sum(matched_amount)::VARCHAR FROM read_parquet($f) GROUP BY 1",
                                {"f": files}).fetchall())
    assert plain == record["totals"]
    assert record["rows"] == len(ICPS) * 3 * 48 * 2


def test_two_publishers_racing_on_one_run_exactly_one_wins(lake: Lake, tmp_path: Path) -> None:
    run = open_run(lake, tmp_path)
    barrier = threading.Barrier(2)
    outcomes: list[object] = []

    def publish() -> None:
        barrier.wait()
        try:
            outcomes.append(runs.publish_run(Lake(lake.root), run, actor=threading.current_thread().name))
        except ConflictError as e:
            outcomes.append(e)

    threads = [threading.Thread(target=publish, name=f"publisher-{i}") for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    winners = [o for o in outcomes if isinstance(o, dict)]
    losers = [o for o in outcomes if isinstance(o, ConflictError)]
    assert len(winners) == 1 and len(losers) == 1, outcomes
    record = runs.get_run(lake, run)
    assert record == winners[0] and record["status"] == "published"
    assert record["published_by"] in ("publisher-0", "publisher-1")
    assert_published_cleanly(lake, record)
    assert [p.name for p in lake.layout.staging_dir.iterdir()] == ["runs"]  # no private folder left over


CHILD = """
import os, signal, sys
from datalake.storage import commit
from datalake.runs import lifecycle, publication
from datalake import runs
from datalake.lake import Lake

lake_root, run, stage = sys.argv[1:4]

def die(*args, **kwargs):
    os.kill(os.getpid(), signal.SIGKILL)

if stage == "writing":            # the first output file written, the second not
    write, calls = publication.write_parquet, []
    def write_once(*args, **kwargs):
        if calls:
            die()
        calls.append(1)
        return write(*args, **kwargs)
    publication.write_parquet = write_once
elif stage == "moved":            # the run folder moved into output/, the record not written
    write = commit.write_json_atomic
    commit.write_json_atomic = lambda path, record, **kw: (
        die() if record.get("status") == "published" else write(path, record, **kw))
elif stage == "committed":        # the record written, the staged parts not yet removed
    remove = lifecycle.remove_tree
    lifecycle.remove_tree = lambda path: die() if path.name == run else remove(path)

runs.publish_run(Lake(lake_root), run)
"""


@pytest.mark.parametrize("stage", ["writing", "moved", "committed"])
def test_publisher_killed_part_way(lake: Lake, tmp_path: Path, stage: str) -> None:
    run = open_run(lake, tmp_path)
    child = subprocess.run([sys.executable, "-c", CHILD, str(lake.root), run, stage], cwd=REPO,
                           capture_output=True, text=True, timeout=120)
    assert child.returncode == -signal.SIGKILL, child.stderr

    if stage == "committed":
        record = runs.get_run(lake, run)
        assert record["status"] == "published"
        assert lake.layout.run_parts_dir(run).exists()  # the dead publisher's leftovers...
        with lake.write_lock():
            pass
        assert not lake.layout.run_parts_dir(run).exists()  # ...go with the next writer
        with pytest.raises(ConflictError):
            runs.publish_run(lake, run)
        assert_published_cleanly(lake, record)
        return

    # Nothing is visible: the record still says open, and readers only follow records.
    assert runs.get_run(lake, run)["status"] == "open"
    assert output.resolve_runs(lake, D, D + dt.timedelta(days=2)) == {}
    table, _ = output.output_by_key(lake, D, D + dt.timedelta(days=2))
    assert table.num_rows == 0
    icp_indexes = list(lake.layout.runs_dir.glob(f"{run}-*.icps.parquet"))
    assert lake.layout.run_dir(run).exists() == bool(icp_indexes) == (stage == "moved")
    leftovers = lake.remove_abandoned(dry_run=True)
    assert leftovers, "the killed publisher left work behind for the next writer to remove"

    record = runs.publish_run(lake, run)
    assert record["status"] == "published"
    assert_published_cleanly(lake, record)
    assert not any(p.exists() for p in leftovers if p != lake.layout.run_dir(run))  # the folder is rewritten
    assert output.resolve_runs(lake, D, D) == {D: run}
