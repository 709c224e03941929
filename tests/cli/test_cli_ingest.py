"""`meterlake ingest` of several files as a separate process: in order, one commit each,
stopping at the first that fails and naming every file not ingested."""
from __future__ import annotations

import datetime as dt

from datalake.lake import Lake
from tests.conftest import run_meterlake
from tests.factories.raw import HEADER, day_rows, write_csv

DAY = dt.date(2018, 6, 3)


def test_ingest_stops_at_the_first_bad_file_and_names_the_rest(tmp_path):
    lake = Lake.create(tmp_path / "lake")
    first = write_csv(tmp_path / "first.csv", day_rows("ICPFIRST", DAY))
    bad = tmp_path / "bad.csv"
    bad.write_text(f"{HEADER}\n2018-06-03 00:30:00+12,-1,X,ICPBAD\n")
    later = write_csv(tmp_path / "later.csv", day_rows("ICPLATER", DAY))
    also = write_csv(tmp_path / "also.csv", day_rows("ICPALSO", DAY))

    done = run_meterlake("--lake", lake.root, "ingest", first, bad, later, also, timeout=120)

    assert done.returncode == 1
    assert "ingested first.csv as ing-00000001" in done.stdout
    assert "bad.csv:2: interval_read='-1' negative reading" in done.stderr
    assert f"{bad}: not ingested, nothing of it written" in done.stderr
    assert f"{later}: not ingested, an earlier file failed" in done.stderr
    assert f"{also}: not ingested, an earlier file failed" in done.stderr
    records = lake.ingests()
    assert [r["source"]["name"] for r in records] == ["first.csv"]  # the first file's commit stays


def test_ingest_of_several_good_files_commits_each(tmp_path):
    lake = Lake.create(tmp_path / "lake")
    files = [write_csv(tmp_path / f"{name}.csv", day_rows(name.upper(), DAY)) for name in ("one", "two")]
    done = run_meterlake("--lake", lake.root, "ingest", *files, timeout=120)
    assert done.returncode == 0, done.stderr
    assert [r["ingest_id"] for r in lake.ingests()] == ["ing-00000001", "ing-00000002"]
    assert "not ingested" not in done.stderr
