"""Schemathesis against the served OpenAPI document: generated requests to every operation
(positive and negative) find no server error, no undocumented status code or content
type, and no body that breaks its documented schema. It runs with an admin token on a
server that requires one. Bounded: a few dozen examples per
operation, well under two minutes. The seed is fixed so failures reproduce; set
METERLAKE_SCHEMATHESIS_SEED to explore."""
from __future__ import annotations

import datetime as dt
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pyarrow as pa

from datalake.demo.generate import generate
from datalake.lake import Lake
from service.auth import Token, TokenStore, hash_token
from client import MeterlakeClient
from tests.factories.output import interval_rows

from .conftest import lake_icps
from .server import serve
from .test_runs_output import SCHEMA

CHECKS = ("not_a_server_error,status_code_conformance,content_type_conformance,"
          "response_schema_conformance,response_headers_conformance")


def schemathesis_command() -> list[str]:
    exe = Path(sys.executable).with_name("schemathesis")
    return [str(exe)] if exe.exists() else [shutil.which("schemathesis") or "schemathesis"]


def test_schemathesis_finds_no_server_error_or_undocumented_response(tmp_path: Path) -> None:
    lake = Lake.create(tmp_path / "lake")
    generate(lake, icps=4, days=2, start=dt.date(2018, 6, 1), seed=9)
    icps = lake_icps(lake)
    token = "schemathesis-admin-token"
    with serve(lake.root, tokens=TokenStore([Token("schemathesis", "admin", hash_token(token))])) as url:
        with MeterlakeClient(url, token=token) as client:
            table = pa.Table.from_pylist(interval_rows(icps, [dt.date(2018, 6, 1)]), schema=SCHEMA)
            client.upload_run([table], start="2018-06-01", end="2018-06-02", algorithm="a", version="1",
                              allow_partial=True)  # day 2 left empty
            client.create_run(start="2018-06-01", end="2018-06-01", algorithm="a", version="2")
        seed = os.environ.get("METERLAKE_SCHEMATHESIS_SEED", "1")
        done = subprocess.run(
            [*schemathesis_command(), "run", f"{url}/schema/openapi.json", "--checks", CHECKS,
             "--header", f"Authorization: Bearer {token}",
             "--max-examples", "25", "--seed", seed, "--generation-database", "none", "--no-color",
             "--output-truncate", "true", "--request-timeout", "30"],
            capture_output=True, text=True, timeout=240, cwd=tmp_path)
    assert done.returncode == 0, "\n".join(line[:300] for line in done.stdout.splitlines()[-80:]) + done.stderr[-2000:]
