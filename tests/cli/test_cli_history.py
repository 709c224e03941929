"""`meterlake history` lists every commit with its time, source, rows and revisions, and
`meterlake reads --as-of` takes a time."""
from __future__ import annotations

import datetime as dt
import json

from datalake.raw.compaction import compact
from datalake.raw.ingest import ingest_file
from datalake.lake import Lake
from tests.conftest import run_meterlake
from tests.factories.raw import day_rows, write_csv

DAY = dt.date(2018, 6, 14)


def test_history_lists_ingests_and_compactions(tmp_path) -> None:
    lake = Lake.create(tmp_path / "lake")
    ingest_file(lake, write_csv(tmp_path / "first.csv", day_rows("ICP1", DAY, seed=1)))
    ingest_file(lake, write_csv(tmp_path / "second.csv", day_rows("ICP1", DAY, seed=2)[:10]))
    compact(lake, min_files=2)
    done = run_meterlake("--lake", lake.root, "history", "--json", timeout=60)
    assert done.returncode == 0, done.stderr
    rows = [json.loads(line) for line in done.stdout.splitlines()]
    assert [(r["ingest_id"], r["kind"], r["source"]) for r in rows] == [
        ("ing-00000001", "ingest", "first.csv"), ("ing-00000002", "ingest", "second.csv"),
        ("ing-00000003", "compaction", None)]
    assert (rows[0]["rows_read"], rows[0]["rows_new"], rows[0]["rows_revised"]) == (48, 48, 0)
    revised = sum(a != b for a, b in zip(day_rows("ICP1", DAY, seed=1)[:10], day_rows("ICP1", DAY, seed=2)[:10]))
    assert (rows[1]["rows_read"], rows[1]["rows_revised"], rows[1]["rows_stored"]) == (10, revised, revised)
    assert rows[2]["rows_stored"] == 48 + revised and rows[2]["first_date"] == "2018-06-14"
    table = run_meterlake("--lake", lake.root, "history", timeout=60).stdout.splitlines()
    assert table[0].split()[:3] == ["commit", "kind", "committed"] and len(table) == 4
    assert table[2].split()[:2] == ["ing-00000002", "ingest"] and "second.csv" in table[2]

    second = rows[1]["committed_at"]
    by_time = run_meterlake("--lake", lake.root, "reads", "ICP1", "--start", DAY, "--end", DAY, "--ingest-id",
                            "--as-of", second, timeout=60)
    assert by_time.returncode == 0, by_time.stderr
    assert {line.rsplit(",", 1)[1].strip('"') for line in by_time.stdout.splitlines()[1:]} == {
        "ing-00000001", "ing-00000002"}
    early = run_meterlake("--lake", lake.root, "reads", "ICP1", "--start", DAY, "--end", DAY,
                          "--as-of", "2001-01-01T00:00:00Z", timeout=60)
    assert early.returncode == 2 and "before the first ingest" in early.stderr
