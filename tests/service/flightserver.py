"""The Flight service on a free port in a background thread, and the lakes its tests read."""
from __future__ import annotations

import contextlib
import datetime as dt
import threading
from collections.abc import Iterator
from pathlib import Path

import pyarrow.flight as flight
import pytest

from datalake.demo.runs import demo_runs
from datalake.demo.generate import generate
from datalake.raw.ingest import ingest_file
from datalake.lake import Lake
from service.flight.server import FlightService
from service.settings import Settings
from tests.factories.raw import day_rows, write_csv

START = dt.date(2018, 6, 1)
DAYS = 3


@contextlib.contextmanager
def serve_flight(lake: Path, **settings: object) -> Iterator[FlightService]:
    """Run the Flight service on 127.0.0.1 and an OS-chosen port until the block ends."""
    server = FlightService(Settings(lake=str(lake), **settings), "grpc://127.0.0.1:0")
    thread = threading.Thread(target=server.serve, name="flight", daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        thread.join(timeout=20)


def client(server: FlightService, token: str | None = None) -> flight.FlightClient:
    return flight.connect(f"grpc://127.0.0.1:{server.port}")


def options(token: str) -> flight.FlightCallOptions:
    return flight.FlightCallOptions(headers=[(b"authorization", f"Bearer {token}".encode())])


def build_flight_lake(root: Path) -> Lake:
    """40 ICPs x 3 days (ing-00000001), a revision of one ICP's second day (ing-00000002),
    and two published demo runs over the window."""
    lake = Lake.create(root / "lake")
    generate(lake, icps=40, days=DAYS, start=START, seed=13)
    first = sorted(f.read_date for f in lake.raw_files())[0]
    icp = _first_icp(lake)
    ingest_file(lake, write_csv(root / "revision.csv", day_rows(icp, first + dt.timedelta(days=1), seed=5)))
    demo_runs(lake, count=2, seed=3)
    return lake


def _first_icp(lake: Lake) -> str:
    import pyarrow.parquet as pq

    return sorted(pq.read_table(lake.raw_files()[0].path, columns=["icp_id"])["icp_id"].to_pylist())[0]


@pytest.fixture(scope="session")
def flight_lake(tmp_path_factory: pytest.TempPathFactory) -> Lake:
    return build_flight_lake(tmp_path_factory.mktemp("flight"))


@pytest.fixture(scope="session")
def flight_server(flight_lake: Lake) -> Iterator[FlightService]:
    with serve_flight(flight_lake.root) as server:
        yield server
