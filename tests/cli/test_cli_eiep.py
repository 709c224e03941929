"""`meterlake ingest` of EIEP files as a separate process: --format, detection from the
header, and an error naming the line and the field with nothing committed."""
from __future__ import annotations

import datetime as dt
import json

from datalake.lake import Lake
from tests.conftest import run_meterlake
from tests.factories.eiep import eiep3_day, eiep3_det, eiep13a_day, write_eiep3, write_eiep13a

DAY = dt.date(2018, 4, 1)  # daylight saving ends: 50 trading periods


def test_cli_ingests_both_formats_detected_or_named(tmp_path) -> None:
    lake = Lake.create(tmp_path / "lake")
    hh = write_eiep3(tmp_path / "ICPHH.txt", eiep3_day("ICP3", DAY))
    cons = write_eiep13a(tmp_path / "ICPCONS.txt", eiep13a_day("ICP13", DAY))
    done = run_meterlake("--lake", lake.root, "ingest", "--json", hh, timeout=120)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["rows_new"] == 50
    done = run_meterlake("--lake", lake.root, "ingest", "--format", "eiep13a", cons, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "ingested ICPCONS.txt as ing-00000002: 50 rows read, 50 new" in done.stdout
    assert [r["source"]["format"] for r in lake.ingests()] == ["eiep3", "eiep13a"]
    done = run_meterlake("--lake", lake.root, "reads", "ICP13", "--start", DAY, "--end", DAY, "--fields", "all",
                         timeout=60)
    assert done.returncode == 0, done.stderr
    header, *rows = done.stdout.splitlines()
    assert header.split(",")[-7:] == ['"stream_id"', '"register_content_code"', '"reading_type"', '"file_type"',
                                      '"file_identifier"', '"file_status"', '"offset_inferred"']
    inferred = [r for r in rows if r.endswith("true")]
    assert len(rows) == 50 and len(inferred) == 4 and '"eiep13a"' in inferred[0]


def test_cli_names_the_line_and_field_and_commits_nothing(tmp_path) -> None:
    lake = Lake.create(tmp_path / "lake")
    bad = write_eiep3(tmp_path / "bad.txt", [eiep3_det("ICP3", DAY, 51, "0.100")])
    done = run_meterlake("--lake", lake.root, "ingest", "--format", "eiep3", bad, timeout=120)
    assert done.returncode == 1
    assert "bad.txt:2: trading period='51' 01/04/2018 has 50 trading periods" in done.stderr
    assert f"{bad}: not ingested, nothing of it written" in done.stderr
    assert lake.ingests() == []
