"""Fixtures for the HTTP tests: lakes with known content, each served by a real uvicorn."""
from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from datalake.demo.generate import generate
from datalake.raw.ingest import ingest_file
from datalake.lake import Lake
from tests.factories.raw import day_rows, write_csv

from .server import serve
from .uilake import ui_lake, ui_open_url, ui_secured_url  # noqa: F401  (the /ui/ tests' lake and servers)

START = dt.date(2018, 6, 1)
DAYS = 3


@pytest.fixture(scope="session")
def reads_lake(tmp_path_factory: pytest.TempPathFactory) -> Lake:
    """30 ICPs x 3 days (ing-00000001), then a revision of the first ICP's second day
    (ing-00000002). Read-only for the tests that use it."""
    root = tmp_path_factory.mktemp("reads")
    lake = Lake.create(root / "lake")
    generate(lake, icps=30, days=DAYS, start=START, seed=11)
    first = sorted({f for f in lake_icps(lake)})[0]
    revision = write_csv(root / "revision.csv", day_rows(first, START + dt.timedelta(days=1), seed=5))
    ingest_file(lake, revision)
    return lake


def lake_icps(lake: Lake) -> list[str]:
    import pyarrow.parquet as pq

    files = lake.raw_files()
    return sorted(set(pq.read_table(files[0].path, columns=["icp_id"])["icp_id"].to_pylist()))


@pytest.fixture(scope="session")
def reads_url(reads_lake: Lake) -> Iterator[str]:
    with serve(reads_lake.root) as url:
        yield url


@pytest.fixture
def http(reads_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=reads_url, timeout=60) as client:
        yield client


@pytest.fixture
def fresh_lake(tmp_path: Path) -> Lake:
    return Lake.create(tmp_path / "lake")


@pytest.fixture
def fresh(fresh_lake: Lake) -> Iterator[httpx.Client]:
    """A client of a server on an empty lake of its own, for tests that write."""
    with serve(fresh_lake.root, max_upload_bytes=1 << 20) as url, httpx.Client(base_url=url, timeout=60) as client:
        yield client
