"""`meterlake serve --workers 2` gives each worker a listening socket of its own on one port
(SO_REUSEPORT): a burst of keep-alive connections is spread over the workers instead of
landing on the one that wakes first; and a port already taken stops serve, naming it."""
from __future__ import annotations

import datetime as dt
import http.client
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from datalake.demo.generate import generate
from datalake.lake import Lake
from tests.conftest import REPO

from .test_multiprocess import free_port, wait_ready


def serve(lake: Lake, port: int) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "cli.main", "--lake", str(lake.root), "serve", "--port", str(port),
                             "--workers", "2", "--flight-port", "0"], cwd=REPO, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, start_new_session=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})


def owners(port: int, pids: list[int], state: str) -> dict[int, set[str]]:
    """The sockets on local ``port`` in TCP ``state`` (01 established, 0A listening) that each
    of ``pids`` holds, by inode (from /proc)."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        if not Path(table).exists():
            continue
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if int(fields[1].rsplit(":", 1)[1], 16) == port and fields[3] == state:
                inodes.add(fields[9])
    held: dict[int, set[str]] = {}
    for pid in pids:
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            target = os.readlink(fd) if fd.is_symlink() else ""
            if target.startswith("socket:[") and target[8:-1] in inodes:
                held.setdefault(pid, set()).add(target[8:-1])
    return held


def workers_of(process: subprocess.Popen) -> list[int]:
    children = Path(f"/proc/{process.pid}/task/{process.pid}/children").read_text().split()
    return [int(c) for c in children]


def test_connections_spread_over_the_workers_and_a_taken_port_is_named(tmp_path: Path) -> None:
    lake = Lake.create(tmp_path / "lake")
    generate(lake, icps=3, days=1, start=dt.date(2018, 6, 1), seed=1)
    port = free_port()
    process = serve(lake, port)
    try:
        wait_ready(process, f"http://127.0.0.1:{port}", time.monotonic() + 120)
        spread: dict[int, set[str]] = {}
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:  # until both workers listen
            connections = [http.client.HTTPConnection("127.0.0.1", port, timeout=10) for _ in range(16)]
            for c in connections:
                c.request("GET", "/healthz")
                assert c.getresponse().read() is not None
            spread = owners(port, workers_of(process), "01")
            for c in connections:
                c.close()
            if len(spread) == 2:
                break
            time.sleep(1)
        assert len(spread) == 2 and sum(len(v) for v in spread.values()) == 16, spread
        listening = owners(port, workers_of(process), "0A")  # one socket each, not one shared
        assert len(listening) == 2 and len(set.union(*listening.values())) == 2, listening
        second = subprocess.run([sys.executable, "-m", "cli.main", "--lake", str(lake.root), "serve", "--port",
                                 str(port), "--workers", "2", "--flight-port", "0"], cwd=REPO, capture_output=True,
                                timeout=60)
        assert second.returncode == 2
        assert f"error: cannot serve HTTP on 127.0.0.1:{port}: Address already in use" in second.stderr.decode()
    finally:
        os.killpg(process.pid, signal.SIGINT)
        _, err = process.communicate(timeout=60)
    assert f"HTTP on http://127.0.0.1:{port} (2 workers, one listening socket each)" in err.decode()
