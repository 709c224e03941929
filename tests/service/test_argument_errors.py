"""A bad argument's problem names the parameter as the caller wrote it, and says what it
must be in the words of the docs: no parser's phrasing, regex or codec error."""
from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import httpx
import pytest

from datalake.demo.generate import generate
from datalake.lake import Lake

from .server import serve
from .test_errors import check_problem

R = {"start": "2018-06-01", "end": "2018-06-01"}
ICP = "/v1/icps/ABC123/reads"
SUMMARY = "/v1/icps/ABC123/output/summary"
NEW_RUN = {"start": "2018-06-01", "end": "2018-06-01", "algorithm": "a", "version": "1"}

CASES = [
    # (method, path, query, JSON body, status, field, detail)
    ("GET", ICP, {"start": "2018-13-01", "end": "2018-06-01"}, None, 400, "start",
     "start must be a date like 2018-06-01, got '2018-13-01'"),
    ("GET", ICP, {"end": "2018-06-01"}, None, 400, "start", "start is required: a date like 2018-06-01"),
    ("GET", "/v1/icps/BAD-ICP/reads", R, None, 400, "icp_id",
     "icp_id must be 1 to 32 letters and digits, like 0000012345TR9A1, got 'BAD-ICP'"),
    ("GET", ICP, {**R, "direction": "Q"}, None, 400, "direction", "direction must be one of I, X, got 'Q'"),
    ("GET", ICP, {**R, "as_of": "yesterday"}, None, 400, "as_of",
     "as_of must be an ingest id like ing-00000001, or an RFC 3339 time like 2018-06-20T09:00:00+12:00, "
     "got 'yesterday'"),
    ("GET", ICP, {**R, "as_of": "ing-00000009"}, None, 404, "as_of",
     "as_of=ing-00000009 names nothing in this lake (no ingest ing-00000009)"),
    ("GET", "/v1/reads", {**R, "as_of": "ing-00000009"}, None, 404, "as_of",
     "as_of=ing-00000009 names nothing in this lake (no ingest ing-00000009)"),
    ("GET", "/v1/reads", {**R, "shard": "1-4"}, None, 400, "shard", "shard must be k/n with 0 <= k < n, like 0/4, got '1-4'"),
    ("GET", "/v1/reads", {**R, "dictionary": "maybe"}, None, 400, "dictionary",
     "dictionary must be true or false, got 'maybe'"),
    ("GET", "/v1/runs", {"cursor": "abc"}, None, 400, "cursor",
     "cursor is not one this server gave out, got 'abc': pass the next_cursor of the previous page unchanged"),
    ("GET", "/v1/output", {**R, "cursor": "Zm9v"}, None, 400, "cursor",
     "cursor is not one this server gave out, got 'Zm9v': pass the next_cursor of the previous page unchanged"),
    ("GET", "/v1/output", {**R, "cursor": "x" * 8_001}, None, 400, "cursor",
     "cursor must be at most 8,000 characters, got 'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx...'"),
    ("GET", "/v1/runs", {"limit": "abc"}, None, 400, "limit", "limit must be a whole number of at least 1, got 'abc'"),
    ("GET", "/v1/runs", {"status": "done"}, None, 400, "status",
     "status must be one of open, published, retracted, aborted, got 'done'"),
    ("GET", SUMMARY, {"run": "run-00000077"}, None, 404, "run",
     "run=run-00000077 names nothing in this lake (no run run-00000077)"),
    ("GET", SUMMARY, {"run": "newest"}, None, 400, "run",
     "run must be latest, a run id like run-00000001, or alias:NAME like alias:production, got 'newest'"),
    ("GET", "/v1/runs/run-7", {}, None, 400, "run_id", "run_id must be a run id like run-00000001, got 'run-7'"),
    ("PUT", "/v1/runs/run-00000001/parts/0", {}, None, 400, "part", "part must be a whole number from 1 to 99999, got '0'"),
    ("POST", "/v1/runs", {}, {**NEW_RUN, "raw_as_of": "ing-00000099"}, 404, "raw_as_of",
     "raw_as_of=ing-00000099 names nothing in this lake (no ingest ing-00000099)"),
    ("POST", "/v1/runs", {}, {**NEW_RUN, "raw_as_of": "x"}, 400, "raw_as_of",
     "raw_as_of must be an ingest id like ing-00000001, got 'x'"),
]


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    lake = Lake.create(tmp_path_factory.mktemp("arguments") / "lake")
    generate(lake, icps=2, days=1, start=dt.date(2018, 6, 1), seed=4)
    with serve(lake.root) as url, httpx.Client(base_url=url, timeout=30) as http:
        yield http


@pytest.mark.parametrize(("method", "path", "query", "body", "status", "field", "detail"), CASES,
                         ids=[f"{c[0]} {c[1]} {c[5]}" for c in CASES])
def test_the_problem_names_the_parameter_in_the_callers_words(client: httpx.Client, method: str, path: str,
                                                              query: dict, body: dict | None, status: int,
                                                              field: str, detail: str) -> None:
    r = client.request(method, path, params=query, json=body)
    p = check_problem(r, status, "not_found" if status == 404 else "invalid_argument", field)
    assert p["detail"] == detail
    sent = {**query, **(body or {})}.get(field)
    if sent is not None:
        assert p["value"] == sent  # the value whole, even when the detail cuts it short
    for leak in ("RFC3339", "regex", "codec", "Expected `", "ingest_id", "utf-8"):
        assert leak not in p["detail"], p["detail"]
