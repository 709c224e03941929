"""`meterlake serve` with Flight: one Flight server next to the HTTP workers, its calls in
the HTTP /metrics, and a Flight port that is taken stops serve at once, naming the port."""
from __future__ import annotations

import datetime as dt
import errno
import json
import os
import signal
import socket
import subprocess
import sys
import time

import httpx
import pyarrow.flight as flight

from datalake.demo.generate import generate
from datalake.lake import Lake
from tests.conftest import REPO

from .test_multiprocess import free_port, wait_ready


def serve(lake: Lake, port: int, flight_port: int, *extra: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "cli.main", "--lake", str(lake.root), "serve", "--port", str(port),
                             "--flight-port", str(flight_port), *extra], cwd=REPO, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, start_new_session=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})


def test_serve_runs_one_flight_server_beside_two_workers(tmp_path):
    lake = Lake.create(tmp_path / "lake")
    generate(lake, icps=5, days=2, start=dt.date(2018, 6, 1), seed=2)
    port, flight_port = free_port(), free_port()
    process = serve(lake, port, flight_port, "--workers", "2")
    try:
        wait_ready(process, f"http://127.0.0.1:{port}", time.monotonic() + 120)
        c = flight.connect(f"grpc://127.0.0.1:{flight_port}")
        ticket = flight.Ticket(json.dumps({"reads": {"start": "2018-06-01", "end": "2018-06-02"}}).encode())
        rows = c.do_get(ticket).read_all().num_rows
        assert rows > 0
        text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
        assert 'meterlake_flight_requests_total{method="do_get",status="ok"} 1' in text
        assert f'meterlake_flight_rows_served_total{{method="do_get"}} {rows}' in text
    finally:
        os.killpg(process.pid, signal.SIGINT)
        _, err = process.communicate(timeout=60)
    assert err.decode().count("Flight on grpc://127.0.0.1") == 1
    assert "flight do_get reads 2018-06-01..2018-06-02 -> ok by anonymous@loopback" in err.decode()
    # The Flight server stopped with serve: nothing listens on its port. (Binding the port
    # could fail for a while: the server closed its side of the client's connection first,
    # which leaves that connection in TIME_WAIT.)
    with socket.socket() as s:
        assert s.connect_ex(("127.0.0.1", flight_port)) == errno.ECONNREFUSED


def test_a_taken_flight_port_stops_serve_at_once(tmp_path):
    lake = Lake.create(tmp_path / "lake")
    port = free_port()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        flight_port = taken.getsockname()[1]
        started = time.monotonic()
        process = serve(lake, port, flight_port)
        _, err = process.communicate(timeout=60)
    assert process.returncode == 2
    assert time.monotonic() - started < 30
    assert f"error: the Flight port {flight_port} on 127.0.0.1 cannot be bound" in err.decode()
    with socket.socket() as s:  # HTTP never started
        s.bind(("127.0.0.1", port))
