"""The run record over HTTP carries every transition's actor and the publish order, as the
record on disk does, and the OpenAPI ``Run`` schema declares them."""
from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator

import httpx
import pytest

from datalake.demo.generate import generate
from datalake.lake import Lake
from service.auth import Token, TokenStore, hash_token
from client import MeterlakeClient
from tests.factories.output import days

from .conftest import lake_icps
from .server import serve
from .test_runs_output import output_table

START = dt.date(2018, 6, 1)
SECRETS = {"algo": "algo-secret", "ops": "ops-secret"}


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Lake]]:
    lake = Lake.create(tmp_path_factory.mktemp("record") / "lake")
    generate(lake, icps=2, days=1, start=START, seed=9)
    tokens = TokenStore([Token("algo", "write", hash_token(SECRETS["algo"])),
                         Token("ops", "admin", hash_token(SECRETS["ops"]))])
    with serve(lake.root, tokens=tokens) as url:
        yield url, lake


def test_transitions_name_who_made_them_and_the_publish_order(served: tuple[str, Lake]) -> None:
    url, lake = served
    table = output_table(lake_icps(lake), days(START, 1), seed=1)
    with MeterlakeClient(url, token=SECRETS["algo"]) as algo, MeterlakeClient(url, token=SECRETS["ops"]) as ops:
        first = algo.upload_run([table], start=START, end=START, algorithm="m", version="1")
        second = algo.upload_run([table], start=START, end=START, algorithm="m", version="2")
        retracted = ops.retract_run(first["run_id"])
        dropped = algo.create_run(start=START, end=START, algorithm="m", version="3")
        aborted = ops.abort_run(dropped["run_id"])
        fetched = {r: algo.get_run(r) for r in (first["run_id"], second["run_id"], dropped["run_id"])}
        listed = {r["run_id"]: r for r in algo._get("/v1/runs", {}).json()["items"]}

    assert (first["publish_seq"], second["publish_seq"]) == (1, 2)
    assert retracted["retracted_by"] == "ops" and retracted["published_by"] == "algo"
    assert aborted["aborted_by"] == "ops" and aborted["publish_seq"] is None
    for run_id, record in fetched.items():
        on_disk = json.loads((lake.root / "_meta" / "runs" / f"{run_id}.json").read_text())
        for key in ("publish_seq", "published_by", "retracted_by", "aborted_by", "created_by"):
            assert record[key] == on_disk[key] == listed[run_id][key], (run_id, key)
    assert fetched[first["run_id"]]["retracted_by"] == "ops"
    assert fetched[second["run_id"]]["publish_seq"] == 2 and fetched[second["run_id"]]["retracted_by"] is None
    assert fetched[dropped["run_id"]]["aborted_by"] == "ops"


def test_the_openapi_run_schema_declares_them(served: tuple[str, Lake]) -> None:
    url, _ = served
    schema = httpx.get(url + "/schema/openapi.json").json()["components"]["schemas"]["Run"]
    props = schema["properties"]
    for key in ("publish_seq", "published_by", "retracted_by", "retracted_at", "aborted_by", "aborted_at"):
        assert key in props, key
    assert {"type": "integer"} in props["publish_seq"]["oneOf"] and "latest" in props["publish_seq"]["description"]
