"""`meterlake reads` as a separate process says what the HTTP API's CSV says, byte for byte,
across a daylight-saving change; --ingest-id adds the ingest of each value."""
from __future__ import annotations

import csv
import datetime as dt
import io

import httpx
import pytest

from datalake.demo.generate import generate
from datalake.lake import Lake
from tests.conftest import run_meterlake
from tests.factories.raw import day_rows, write_csv
from tests.service.server import serve

START = dt.date(2018, 9, 29)  # daylight saving starts on 2018-09-30: +12:00, then +13:00
END = dt.date(2018, 10, 1)


@pytest.fixture(scope="module")
def dst_lake(tmp_path_factory: pytest.TempPathFactory) -> Lake:
    root = tmp_path_factory.mktemp("reads")
    lake = Lake.create(root / "lake")
    generate(lake, icps=3, days=3, start=START, seed=3)
    return lake


def first_icp(lake: Lake) -> str:
    done = run_meterlake("--lake", lake.root, "sql", "SELECT min(icp_id) FROM raw_reads", "--csv", "/dev/stdout",
                         timeout=60)
    return done.stdout.splitlines()[-1].strip('"')


def test_cli_reads_match_the_http_csv(dst_lake):
    icp = first_icp(dst_lake)
    done = run_meterlake("--lake", dst_lake.root, "reads", icp, "--start", START, "--end", END, timeout=60)
    assert done.returncode == 0, done.stderr
    with serve(dst_lake.root) as url:
        http = httpx.get(f"{url}/v1/icps/{icp}/reads",
                         params={"start": START.isoformat(), "end": END.isoformat(), "format": "csv"}, timeout=60)
    assert http.status_code == 200
    assert done.stdout == http.text
    rows = list(csv.DictReader(io.StringIO(done.stdout)))
    assert len(rows) == 48 + 46 + 48
    assert rows[0]["read_timestamp"] == "2018-09-29T00:30:00+12:00"
    assert rows[-1]["read_timestamp"] == "2018-10-02T00:00:00+13:00"


def test_cli_reads_ingest_id_column(tmp_path):
    lake = Lake.create(tmp_path / "lake")
    generate(lake, icps=2, days=1, start=START, seed=3)
    icp = first_icp(lake)
    revision = write_csv(tmp_path / "rev.csv", day_rows(icp, START, seed=99)[:2])
    assert run_meterlake("--lake", lake.root, "ingest", revision, timeout=60).returncode == 0
    done = run_meterlake("--lake", lake.root, "reads", icp, "--start", START, "--end", START, "--direction", "X",
                         "--ingest-id", timeout=60)
    assert done.returncode == 0, done.stderr
    rows = list(csv.DictReader(io.StringIO(done.stdout)))
    assert [r["ingest_id"] for r in rows[:3]] == ["ing-00000002", "ing-00000002", "ing-00000001"]
    old = run_meterlake("--lake", lake.root, "reads", icp, "--start", START, "--end", START, "--ingest-id",
                        "--as-of", "ing-00000001", timeout=60)
    assert {r["ingest_id"] for r in csv.DictReader(io.StringIO(old.stdout))} == {"ing-00000001"}
