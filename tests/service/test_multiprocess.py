"""Several service processes on one lake: two real servers (`meterlake serve`, the second
with two uvicorn workers) answer the same, and a commit made through one is in the next
answer of the other. The service keeps no state beyond caches rebuilt from the lake: run
records and commit records are read per request (cached by name and mtime), and the raw
index is only a faster copy whose answers include every commit newer than it."""
from __future__ import annotations

import csv
import datetime as dt
import io
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import httpx
import pytest

from datalake.demo.generate import generate
from datalake.lake import Lake
from tests.conftest import REPO
from tests.factories import output
from tests.factories.raw import day_rows, write_csv

START = dt.date(2018, 6, 1)
END = START + dt.timedelta(days=1)
# A commit acknowledged by one process is in the next answer of every other: the delay is
# one request.


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(lake: Path, workers: int) -> tuple[subprocess.Popen, str]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "cli.main", "--lake", str(lake), "serve", "--port", str(port),
         "--workers", str(workers), "--flight-port", "0"],
        cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"})
    return process, f"http://127.0.0.1:{port}"


def wait_ready(process: subprocess.Popen, url: str, deadline: float) -> None:
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited: {process.stderr.read().decode()[-2000:]}")
        try:
            if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"server at {url} did not start")


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Lake, httpx.Client, httpx.Client]]:
    lake = Lake.create(tmp_path_factory.mktemp("multi") / "lake")
    generate(lake, icps=20, days=2, start=START, seed=17)
    started = [start_server(lake.root, 1), start_server(lake.root, 2)]
    try:
        deadline = time.monotonic() + 30
        for process, url in started:
            wait_ready(process, url, deadline)
        with httpx.Client(base_url=started[0][1], timeout=30) as a, \
                httpx.Client(base_url=started[1][1], timeout=30) as b:
            yield lake, a, b
    finally:
        for process, _ in started:
            os.killpg(process.pid, signal.SIGTERM)  # the server and its workers: a group we started
        for process, _ in started:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def _icps(client: httpx.Client) -> list[str]:
    text = client.get("/v1/reads", params={"start": START, "end": START, "format": "csv"}).text
    return sorted({row["icp_id"] for row in csv.DictReader(io.StringIO(text))})


def same(a: httpx.Client, b: httpx.Client, path: str, params: dict | None = None, repeat: int = 3) -> str:
    """The body both servers give (asked several times, so both of b's workers answer)."""
    expected = a.get(path, params=params)
    assert expected.status_code == 200, expected.text
    for _ in range(repeat):
        got = b.get(path, params=params)
        assert (got.status_code, got.text) == (200, expected.text), path
    return expected.text


def test_both_servers_answer_the_same(servers):
    _, a, b = servers
    icp = _icps(a)[0]
    same(a, b, f"/v1/icps/{icp}/reads", {"start": START, "end": END})
    same(a, b, "/v1/reads", {"start": START, "end": END, "format": "csv", "shard": "1/3"})
    same(a, b, "/v1/runs")


def test_an_ingest_through_one_is_in_the_next_answer_of_the_other(servers, tmp_path):
    lake, a, b = servers
    icp = _icps(a)[1]
    path = f"/v1/icps/{icp}/reads"
    before = same(a, b, path, {"start": START, "end": END, "format": "csv"})
    rows = day_rows(icp, START, seed=99)
    delivery = write_csv(tmp_path / "revision.csv", rows).read_bytes()
    committed = a.post("/v1/reads", content=delivery, headers={"Content-Type": "text/csv"})
    assert committed.status_code in (200, 201), committed.text
    head = committed.json()["ingest_id"]
    after = same(b, a, path, {"start": START, "end": END, "format": "csv"})  # b first: no delay
    served = [Decimal(r["interval_read"]) for r in csv.DictReader(io.StringIO(after)) if r["read_date"] == str(START)]
    assert served == [Decimal(r[1]) for r in rows] and after != before
    assert same(b, a, path, {"start": START, "end": END, "format": "csv", "as_of": "ing-00000001"}) == before
    assert same(b, a, path, {"start": START, "end": END, "format": "csv"}) == after


def test_runs_published_and_retracted_through_one_are_seen_by_the_other(servers, tmp_path):
    _, a, b = servers
    icps = _icps(a)[:3]
    run = a.post("/v1/runs", json={"start": str(START), "end": str(END), "algorithm": "matcher",
                                   "version": "1"}).json()["run_id"]
    assert b.get(f"/v1/runs/{run}").json()["status"] == "open"
    part = output.write_csv(tmp_path / "part.csv", output.interval_rows(icps, output.days(START, 2), seed=3))
    uploaded = a.put(f"/v1/runs/{run}/parts/1", content=part.read_bytes(), headers={"Content-Type": "text/csv"})
    assert uploaded.status_code in (200, 201), uploaded.text
    assert a.post(f"/v1/runs/{run}/publish", params={"allow_partial": "true"}).status_code in (200, 201)  # 3 ICPs
    assert b.get(f"/v1/runs/{run}").json()["status"] == "published"
    by_key = same(b, a, "/v1/output", {"start": START, "end": END, "format": "csv"})
    assert icps[0] in by_key
    same(b, a, f"/v1/icps/{icps[0]}/output/summary", {"start": START, "end": END})
    # and the other way round: a retraction through b empties a's latest output
    assert b.post(f"/v1/runs/{run}/retract").status_code in (200, 201)
    assert a.get(f"/v1/runs/{run}").json()["status"] == "retracted"
    assert icps[0] not in same(a, b, "/v1/output", {"start": START, "end": END, "format": "csv"})
