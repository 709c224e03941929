"""A `meterlake` process that runs CLI commands on cue, for races between real processes.

Each job is one JSON line on stdin: ``{"args": [...], "delay": seconds}``. The worker
answers ``ready``, waits for a line ``go``, sleeps ``delay`` and runs the command in-process
(``cli.main``), then prints ``{"code": exit status, "stderr": ...}``. Starting Python once and
cueing every round keeps two workers' commands within a millisecond of each other.

    python -m tests.race_worker       # with METERLAKE_CACHE_DIR set per worker, as per host
"""
from __future__ import annotations

import contextlib
import io
import json
import sys
import time

from cli.main import main


def serve() -> None:
    while line := sys.stdin.readline():
        job = json.loads(line)
        print("ready", flush=True)
        sys.stdin.readline()
        time.sleep(job["delay"])
        err = io.StringIO()
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            try:
                code = main(job["args"])
            except SystemExit as e:
                code = e.code
        print(json.dumps({"code": code, "stderr": err.getvalue()}), flush=True)


if __name__ == "__main__":
    serve()
