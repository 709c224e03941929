"""Every error path of the API answers with the same problem shape (RFC 9457) and a
stable code, naming the field and value at fault where there is one."""
from __future__ import annotations

import base64
import datetime as dt
import json

import httpx

from datalake.demo.generate import generate
from datalake.lake import Lake
from client import MeterlakeClient
from tests.factories.output import interval_rows

from .test_runs_output import SCHEMA

import pyarrow as pa

ICP = "/v1/icps/ABC123/reads"
R = {"start": "2018-06-01", "end": "2018-06-01"}


def tampered(cursor: str) -> str:
    body = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    body["m"] = [["2018-06-01", "2018-06-01", "run-00000099"]]
    return base64.urlsafe_b64encode(json.dumps(body).encode()).decode().rstrip("=")


def check_problem(r: httpx.Response, status: int, code: str, field: str | None = None) -> dict:
    assert r.status_code == status, (r.request.url, r.text)
    assert r.headers["content-type"] == "application/problem+json", r.request.url
    p = r.json()
    assert {"type", "title", "status", "code", "detail", "instance"} <= p.keys(), p
    assert p["status"] == status and p["code"] == code and p["type"].endswith(code), (r.request.url, p)
    assert p["instance"] == r.request.url.path and p["detail"]
    if field is not None:
        assert p.get("field") == field, (r.request.url, p)
    return p


def test_every_error_path_has_the_problem_shape(fresh: httpx.Client, fresh_lake: Lake) -> None:
    generate(fresh_lake, icps=2, days=1, start=dt.date(2018, 6, 1), seed=5)
    client = MeterlakeClient("", http=fresh)
    open_run = client.create_run(start="2018-06-01", end="2018-06-01", algorithm="a", version="1")["run_id"]
    icps = sorted({r["icp_id"] for r in client.reads("2018-06-01", "2018-06-01").to_pylist()})
    table = pa.Table.from_pylist(interval_rows(icps, [dt.date(2018, 6, 1)]), schema=SCHEMA)
    published = client.upload_run([table], start="2018-06-01", end="2018-06-01", algorithm="a", version="2")
    page = fresh.get("/v1/output", params={**R, "limit": 1}).json()
    get = fresh.get

    cases = [
        # (response, status, code, field)
        (get(ICP, params={"start": "2018-13-01", "end": "2018-06-01"}), 400, "invalid_argument", "start"),
        (get(ICP, params={"start": "2018-06-02", "end": "2018-06-01"}), 400, "invalid_argument", "end"),
        (get(ICP, params={"end": "2018-06-01"}), 400, "invalid_argument", "start"),
        (get("/v1/icps/bad-id!/reads", params=R), 400, "invalid_argument", "icp_id"),
        (get(ICP, params={**R, "direction": "Q"}), 400, "invalid_argument", "direction"),
        (get(ICP, params={**R, "format": "xml"}), 400, "invalid_argument", "format"),
        (get(ICP, params={**R, "as_of": "ing-00000099"}), 404, "not_found", "as_of"),
        (get(ICP, params={**R, "as_of": "yesterday"}), 400, "invalid_argument", "as_of"),
        (get("/v1/reads", params={**R, "format": "json"}), 406, "not_acceptable", "format"),
        (get("/v1/reads", params=R, headers={"Accept": "application/json"}), 406, "not_acceptable", "accept"),
        (get("/v1/reads", params={**R, "shard": "4/4"}), 400, "invalid_argument", "shard"),
        (get("/v1/reads", params={**R, "shard": "1-4"}), 400, "invalid_argument", "shard"),
        (get("/v1/reads", params={"start": "2018-06-01", "end": "2018-05-01"}), 400, "invalid_argument", "end"),
        (fresh.post("/v1/reads", content=b"nonsense\n1,2\n"), 422, "validation_failed", None),
        (fresh.post("/v1/reads", content=b"x", params={"on_error": "ignore"}), 400, "invalid_argument", "on_error"),
        (get("/v1/runs/run-00000099"), 404, "not_found", "run_id"),
        (get("/v1/runs/not-a-run"), 400, "invalid_argument", "run_id"),
        (get("/v1/runs", params={"status": "done"}), 400, "invalid_argument", "status"),
        (get("/v1/runs", params={"limit": 0}), 400, "invalid_argument", "limit"),
        (get("/v1/runs", params={"cursor": "garbage"}), 400, "invalid_argument", "cursor"),
        (fresh.post("/v1/runs", json={"start": "2018-06-02", "end": "2018-06-01", "algorithm": "a", "version": "1"}),
         400, "invalid_argument", "end"),
        (fresh.post("/v1/runs", json={"start": "2018-06-01", "end": "2018-06-01", "algorithm": "a"}),
         400, "invalid_argument", None),
        (fresh.post("/v1/runs", content=b"{not json", headers={"Content-Type": "application/json"}),
         400, "invalid_argument", None),
        (fresh.post("/v1/runs", json={"start": "2018-06-01", "end": "2018-06-01", "algorithm": "a", "version": "1",
                                      "raw_as_of": "ing-00000099"}), 404, "not_found", "raw_as_of"),
        (fresh.post(f"/v1/runs/{open_run}/publish"), 409, "conflict", None),
        (fresh.post(f"/v1/runs/{open_run}/retract"), 409, "conflict", "status"),
        (fresh.post("/v1/runs/run-00000099/publish"), 404, "not_found", "run_id"),
        (fresh.delete(f"/v1/runs/{published['run_id']}"), 409, "conflict", "status"),
        (fresh.put(f"/v1/runs/{published['run_id']}/parts/1", content=b"x"), 409, "conflict", "status"),
        (fresh.put(f"/v1/runs/{open_run}/parts/0", content=b"x"), 400, "invalid_argument", "part"),
        (fresh.put(f"/v1/runs/{open_run}/parts/1", content=b"icp_id\n1\n", headers={"Content-Type": "text/csv"}),
         422, "validation_failed", None),
        (get("/v1/icps/ABC123/output/summary", params={"granularity": "year"}), 400, "invalid_argument",
         "granularity"),
        (get("/v1/icps/ABC123/output/summary", params={"run": "run-00000099"}), 404, "not_found", "run"),
        (get("/v1/icps/ABC123/output/summary", params={"run": open_run}), 409, "conflict", "run"),
        (get("/v1/icps/ABC123/output/summary", params={"buyer_seller": "both"}), 400, "invalid_argument",
         "buyer_seller"),
        (get("/v1/output", params={**R, "limit": 10_001}), 400, "invalid_argument", "limit"),
        (get("/v1/output", params={**R, "by": "icp_id,colour"}), 400, "invalid_argument", "by"),
        (get("/v1/output", params={**R, "by": "icp_id,icp_id"}), 400, "invalid_argument", "by"),
        (get("/v1/output", params={**R, "cursor": "Zm9v"}), 400, "invalid_argument", "cursor"),
        (get("/v1/output", params={**R, "limit": 1, "cursor": tampered(page["next_cursor"])}), 400,
         "invalid_argument", "cursor"),
        (get("/v1/output", params={"start": "2018-06-01", "end": "2018-06-02", "limit": 1,
                                   "cursor": page["next_cursor"]}), 400, "invalid_argument", "cursor"),
        (get("/v1/nowhere"), 404, "not_found", None),
        (fresh.patch("/v1/reads"), 405, "method_not_allowed", None),
    ]
    for response, status, code, field in cases:
        check_problem(response, status, code, field)
    assert page["next_cursor"]  # the cursor cases above used a real one

    (fresh_lake.root / "lake.json").rename(fresh_lake.root / "lake.json.away")
    try:
        check_problem(get("/readyz"), 503, "lake_not_found")
    finally:
        (fresh_lake.root / "lake.json.away").rename(fresh_lake.root / "lake.json")
    assert get("/readyz").status_code == 200
