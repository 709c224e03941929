"""Hostile input: a corpus of requests, each with the status and problem code it must get.
Path-like and oversized ids, SQL in every parameter, invalid UTF-8, oversized, truncated
and decompression-bomb bodies, wrong content types, absurd ranges and limits, forged
cursors. None of them changes a file of the lake (compared by sha256 before and after) and
the server stays up. Query time is bounded: past the query timeout a request is a 504."""
from __future__ import annotations

import base64
import datetime as dt
import io
import json
import socket
import struct
import time
from collections.abc import Iterator
from urllib.parse import urlsplit

import httpx
import numpy as np
import pyarrow as pa
import pyarrow.ipc as ipc
import pyarrow.parquet as pq
import pytest

from datalake.demo.generate import generate
from datalake.lake import Lake
from client import MeterlakeClient
from tests.factories.output import interval_rows

from .conftest import lake_icps
from .lakefiles import lake_files
from .server import serve
from .test_errors import check_problem
from .test_runs_output import SCHEMA

UPLOAD_CAP = 1 << 20
R = {"start": "2018-06-01", "end": "2018-06-02"}
HEADER = b"read_timestamp,interval_read,energy_flow_direction,icp_id\n"
SQL = "1' OR '1'='1'; DROP TABLE raw_reads; --"
ICP = "/v1/icps/ABC123/reads"
SUMMARY = "/v1/icps/ABC123/output/summary"


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[httpx.Client, Lake, str]]:
    """3 ICPs x 2 days, a published run and an open one (run-00000002, for part uploads);
    a 1 MiB upload cap; no tokens (loopback)."""
    lake = Lake.create(tmp_path_factory.mktemp("hostile") / "lake")
    generate(lake, icps=3, days=2, start=dt.date(2018, 6, 1), seed=4)
    with serve(lake.root, max_upload_bytes=UPLOAD_CAP) as url, httpx.Client(base_url=url, timeout=60) as http:
        table = pa.Table.from_pylist(interval_rows(lake_icps(lake), [dt.date(2018, 6, 1)]), schema=SCHEMA)
        MeterlakeClient("", http=http).upload_run([table], start="2018-06-01", end="2018-06-02", algorithm="a",
                                                  version="1", allow_partial=True)  # day 2 left empty
        http.post("/v1/runs", json={**R, "algorithm": "a", "version": "2"}).raise_for_status()
        yield http, lake, url


def parquet_bytes(table: pa.Table, **kwargs: object) -> bytes:
    sink = io.BytesIO()
    pq.write_table(table, sink, **kwargs)
    return sink.getvalue()


def reads_table(rows: int = 3) -> pa.Table:
    return pa.table({"read_timestamp": ["2018-06-01 00:30:00+12"] * rows, "interval_read": ["1.000"] * rows,
                     "energy_flow_direction": ["X"] * rows, "icp_id": ["ZZ1"] * rows})


def footer_declaring_rows(body: bytes, rows: int) -> bytes:
    """``body`` with every num_rows of its Parquet footer (thrift field 3, i64 3 -> zigzag 6)
    rewritten to declare ``rows``."""
    length = struct.unpack("<i", body[-8:-4])[0]
    footer = body[-8 - length:-8]
    n, varint = rows << 1, b""
    while n >= 0x80:
        varint, n = varint + bytes([(n & 0x7F) | 0x80]), n >> 7
    forged = footer.replace(b"\x16\x06", b"\x16" + varint + bytes([n]))
    assert forged != footer
    return body[:-8 - length] + forged + struct.pack("<i", len(forged)) + b"PAR1"


def tiny_parquet_of_many_rows(rows: int) -> bytes:
    """A legitimate Parquet file of one repeated row: kilobytes that decompress to ``rows``."""
    zeros = pa.array(np.zeros(rows, dtype=np.int8))
    columns = {name: pa.DictionaryArray.from_arrays(zeros, pa.array([value])) for name, value in
               [("read_timestamp", "2018-06-01 00:30:00+12"), ("interval_read", "1.000"),
                ("energy_flow_direction", "X"), ("icp_id", "ZZ1")]}
    return parquet_bytes(pa.table(columns), compression="zstd", row_group_size=rows)


def arrow_bytes(table: pa.Table) -> bytes:
    sink = io.BytesIO()
    with ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue()


def b64(value: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")


def forged_run_map(cursor: str) -> str:
    """A real cursor (within the 8,000 characters a cursor may have) whose run map expands
    to 12 million dates."""
    body = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    body["m"] = [["0001-01-01", "0274-10-13", "run-00000001"]] * 120
    return b64(body)


def chunks(total: int) -> Iterator[bytes]:
    block = HEADER + b"2018-06-01 00:30:00+12,1.000,X,ZZ1\n" * 2000
    for _ in range(total // len(block) + 1):
        yield block


def corpus(http: httpx.Client, icp: str) -> list[tuple[str, httpx.Response, int, str]]:
    get, post, put = http.get, http.post, http.put
    csv = {"Content-Type": "text/csv"}
    parquet = {"Content-Type": "application/vnd.apache.parquet"}
    arrow = {"Content-Type": "application/vnd.apache.arrow.stream"}
    open_run = "run-00000002"
    page = get("/v1/output", params={**R, "limit": 1}).json()["next_cursor"]
    summary_page = get(SUMMARY.replace("ABC123", icp), params={"limit": 1}).json()["next_cursor"]
    good = parquet_bytes(reads_table())
    new_run = {**R, "algorithm": "a", "version": "3"}
    cases = [
        # path-like and oversized ids
        ("icp ../x", get("/v1/icps/..%2Fx/reads", params=R), 404, "not_found"),
        ("icp %2E%2E", get("/v1/icps/%2E%2E/reads", params=R), 400, "invalid_argument"),
        ("icp with slash", get("/v1/icps/A%2F..%2F..%2Flake.json/reads", params=R), 404, "not_found"),
        ("icp 10 kB", get("/v1/icps/" + "A" * 10_000 + "/reads", params=R), 400, "invalid_argument"),
        ("icp 10 kB summary", get("/v1/icps/" + "9" * 10_000 + "/output/summary"), 400, "invalid_argument"),
        ("run run-../", get("/v1/runs/run-..%2F"), 400, "invalid_argument"),
        ("run ../ publish", post("/v1/runs/run-..%2F..%2Fx/publish"), 404, "not_found"),
        ("run ../ part", put("/v1/runs/run-..%2F/parts/1", content=good, headers=parquet), 400, "invalid_argument"),
        ("run ..%2F retract", post("/v1/runs/..%2F_meta/retract"), 404, "not_found"),
        ("run 10 kB", get("/v1/runs/run-" + "0" * 10_000), 400, "invalid_argument"),
        ("as_of path", get(ICP, params={**R, "as_of": "ing-../../lake"}), 400, "invalid_argument"),
        ("run= path", get(SUMMARY, params={"run": "../../output"}), 400, "invalid_argument"),
        ("part huge", put(f"/v1/runs/{open_run}/parts/99999999999", content=good), 400, "invalid_argument"),
        # SQL fragments in every parameter
        ("sql icp_id", get(f"/v1/icps/{SQL}/reads", params=R), 400, "invalid_argument"),
        ("sql start", get(ICP, params={"start": SQL, "end": "2018-06-02"}), 400, "invalid_argument"),
        ("sql end", get("/v1/reads", params={"start": "2018-06-01", "end": SQL}), 400, "invalid_argument"),
        ("sql direction", get(ICP, params={**R, "direction": SQL}), 400, "invalid_argument"),
        ("sql as_of", get("/v1/reads", params={**R, "as_of": SQL}), 400, "invalid_argument"),
        ("sql shard", get("/v1/reads", params={**R, "shard": SQL}), 400, "invalid_argument"),
        ("sql format", get(ICP, params={**R, "format": SQL}), 400, "invalid_argument"),
        ("sql by", get("/v1/output", params={**R, "by": "icp_id,read_date) OR (1=1"}), 400, "invalid_argument"),
        ("sql by words", get("/v1/output", params={**R, "by": "icp_id,pg_sleep"}), 400, "invalid_argument"),
        ("sql run", get("/v1/output", params={**R, "run": SQL}), 400, "invalid_argument"),
        ("sql buyer_seller", get(SUMMARY, params={"buyer_seller": SQL}), 400, "invalid_argument"),
        ("sql granularity", get(SUMMARY, params={"granularity": SQL}), 400, "invalid_argument"),
        ("sql limit", get("/v1/runs", params={"limit": SQL}), 400, "invalid_argument"),
        ("sql cursor", get("/v1/runs", params={"cursor": SQL}), 400, "invalid_argument"),
        ("sql status", get("/v1/runs", params={"status": SQL}), 400, "invalid_argument"),
        ("sql on_error", post("/v1/reads", params={"on_error": SQL}, content=good), 400, "invalid_argument"),
        ("sql source_name", post("/v1/reads", params={"source_name": SQL}, content=HEADER + b"x,y,z\n", headers=csv),
         422, "validation_failed"),
        ("sql body date", post("/v1/runs", json={**new_run, "start": SQL}), 400, "invalid_argument"),
        ("sql body raw_as_of", post("/v1/runs", json={**new_run, "raw_as_of": SQL}), 400, "invalid_argument"),
        ("sql csv values", post("/v1/reads", content=HEADER + f"{SQL},1,X,A1\n2018-06-01 00:30:00+12,1,X,{SQL}\n"
                                .encode(), headers=csv), 422, "validation_failed"),
        # invalid UTF-8
        ("utf8 start", get(ICP + "?start=%FF%FE&end=2018-06-02"), 400, "invalid_argument"),
        ("utf8 cursor", get("/v1/runs?cursor=%FF%FE%80"), 400, "invalid_argument"),
        ("utf8 icp_id", get("/v1/icps/%FF%C0/reads?start=2018-06-01&end=2018-06-02"), 400, "invalid_argument"),
        ("utf8 run_id", get("/v1/runs/run-%FF%FF"), 400, "invalid_argument"),
        ("utf8 json body", post("/v1/runs", content=b'{"start": "\xff\xfe", "end": "x"}',
                                headers={"Content-Type": "application/json"}), 400, "invalid_argument"),
        ("utf8 csv body", post("/v1/reads", content=HEADER + b"2018-06-01 00:30:00+12,1.000,X,\xff\xfe\n",
                               headers=csv), 422, "validation_failed"),
        ("utf8 source_name", post("/v1/reads?source_name=%FF", content=b"x"), 422, "validation_failed"),
        # huge and truncated bodies
        ("body over cap", post("/v1/reads", content=b"x" * (UPLOAD_CAP + 1), headers=csv), 413, "payload_too_large"),
        ("chunked over cap", post("/v1/reads", content=chunks(2 * UPLOAD_CAP), headers=csv), 413,
         "payload_too_large"),
        ("part over cap", put(f"/v1/runs/{open_run}/parts/1", content=b"x" * (UPLOAD_CAP + 1)), 413,
         "payload_too_large"),
        ("json over cap", post("/v1/runs", json={**new_run, "params": {"x": "y" * UPLOAD_CAP}}), 413,
         "payload_too_large"),
        ("truncated parquet", post("/v1/reads", content=good[:len(good) // 2], headers=parquet), 422,
         "validation_failed"),
        ("parquet without footer", post("/v1/reads", content=good[:-8], headers=parquet), 422, "validation_failed"),
        ("truncated csv row", post("/v1/reads", content=HEADER + b"2018-06-01 00:30:00+12,1.0", headers=csv), 422,
         "validation_failed"),
        ("truncated arrow", post("/v1/reads", content=arrow_bytes(reads_table())[:200],
                                 headers=arrow), 422, "validation_failed"),
        ("truncated json", post("/v1/runs", content=b'{"start": "2018-06-01", "end"',
                                headers={"Content-Type": "application/json"}), 400, "invalid_argument"),
        ("empty body", post("/v1/reads", content=b""), 422, "validation_failed"),
        # decompression bombs
        ("footer 10^12 rows", post("/v1/reads", content=footer_declaring_rows(good, 10**12), headers=parquet), 413,
         "payload_too_large"),
        ("footer bomb, no type", post("/v1/reads", content=footer_declaring_rows(good, 10**12)), 413,
         "payload_too_large"),
        ("tiny file of 5M rows", post("/v1/reads", content=tiny_parquet_of_many_rows(5_000_000), headers=parquet),
         413, "payload_too_large"),
        ("part footer bomb", put(f"/v1/runs/{open_run}/parts/1", content=footer_declaring_rows(good, 10**12)), 413,
         "payload_too_large"),
        # wrong content types
        ("runs text/plain", post("/v1/runs", content=json.dumps(new_run), headers={"Content-Type": "text/plain"}),
         415, "unsupported_media_type"),
        ("runs form", post("/v1/runs", data={"start": "2018-06-01"}), 415, "unsupported_media_type"),
        ("runs csv", post("/v1/runs", content=b"a,b\n", headers=csv), 415, "unsupported_media_type"),
        ("reads xml", post("/v1/reads", content=b"<reads/>", headers={"Content-Type": "application/xml"}), 422,
         "validation_failed"),
        ("reads parquet says csv", post("/v1/reads", content=good, headers=csv), 422, "validation_failed"),
        ("reads csv says parquet", post("/v1/reads", content=HEADER, headers=parquet), 422, "validation_failed"),
        ("reads csv says arrow", post("/v1/reads", content=HEADER, headers=arrow), 422, "validation_failed"),
        ("reads json", post("/v1/reads", json={"rows": []}), 422, "validation_failed"),
        ("part parquet says arrow", put(f"/v1/runs/{open_run}/parts/1", content=good, headers=arrow), 422,
         "validation_failed"),
        # absurd date ranges and limits
        ("icp years 1-9999", get(ICP, params={"start": "0001-01-01", "end": "9999-12-31"}), 400, "invalid_argument"),
        ("bulk years 1-9999", get("/v1/reads", params={"start": "0001-01-01", "end": "9999-12-31"}), 400,
         "invalid_argument"),
        ("bulk 93 days", get("/v1/reads", params={"start": "2018-01-01", "end": "2018-04-03"}), 400,
         "invalid_argument"),
        ("output years 1-9999", get("/v1/output", params={"start": "0001-01-01", "end": "9999-12-31"}), 400,
         "invalid_argument"),
        ("run window 1-9999", post("/v1/runs", json={**new_run, "start": "0001-01-01", "end": "9999-12-31"}), 400,
         "invalid_argument"),
        ("year 0", get(ICP, params={"start": "0000-01-01", "end": "2018-06-01"}), 400, "invalid_argument"),
        ("year 99999", get(ICP, params={"start": "2018-06-01", "end": "99999-01-01"}), 400, "invalid_argument"),
        ("end before start", get(ICP, params={"start": "9999-12-31", "end": "0001-01-01"}), 400, "invalid_argument"),
        ("limit 10^12", get("/v1/runs", params={"limit": 10**12}), 400, "invalid_argument"),
        ("limit 10^40", get(SUMMARY, params={"limit": 10**40}), 400, "invalid_argument"),
        ("limit -1", get("/v1/output", params={**R, "limit": -1}), 400, "invalid_argument"),
        ("limit 0", get(SUMMARY, params={"limit": 0}), 400, "invalid_argument"),
        ("limit 1.5", get("/v1/runs", params={"limit": "1.5"}), 400, "invalid_argument"),
        ("limit 0x10", get("/v1/runs", params={"limit": "0x10"}), 400, "invalid_argument"),
        ("shard 0/10^9", get("/v1/reads", params={**R, "shard": "0/9999"}), 400, "invalid_argument"),
        # forged and tampered cursors
        ("cursor garbage", get("/v1/output", params={**R, "cursor": "!!!"}), 400, "invalid_argument"),
        ("cursor not json", get("/v1/output", params={**R, "cursor": b64("x")[:-2] + "@@"}), 400, "invalid_argument"),
        ("cursor wrong version", get("/v1/output", params={**R, "cursor": b64({"v": 99})}), 400, "invalid_argument"),
        ("cursor bad key", get("/v1/runs", params={"cursor": b64({"v": 1, "q": {"k": "runs", "status": None,
                                                                              "s": None, "e": None},
                                                                  "m": [], "a": [{"$gt": ""}]})}),
         400, "invalid_argument"),
        ("cursor of another query", get("/v1/output", params={"start": "2018-06-02", "end": "2018-06-02",
                                                              "cursor": page}), 400, "invalid_argument"),
        ("cursor run map bomb", get("/v1/output", params={**R, "limit": 1, "cursor": forged_run_map(page)}), 400,
         "invalid_argument"),
        ("summary run map bomb", get(SUMMARY.replace("ABC123", icp), params={"limit": 1,
                                                                            "cursor": forged_run_map(summary_page)}),
         400, "invalid_argument"),
        ("cursor 9k chars", get("/v1/output", params={**R, "cursor": "A" * 9_000}), 400, "invalid_argument"),
        ("cursor sql", get("/v1/output", params={**R, "cursor": b64({"v": 1, "a": [SQL]})}), 400,
         "invalid_argument"),
    ]
    return cases


def test_hostile_requests_get_a_problem_and_change_nothing(hostile: tuple[httpx.Client, Lake, str]) -> None:
    http, lake, _ = hostile
    before = lake_files(lake)
    cases = corpus(http, lake_icps(lake)[0])
    failures = []
    for name, response, status, code in cases:
        try:
            assert response.status_code == status, (response.status_code, response.text[:300])
            assert response.headers["content-type"] == "application/problem+json"
            p = response.json()
            assert p["status"] == status and p["code"] == code and len(p["detail"]) > 10, p
        except AssertionError as e:
            failures.append(f"{name}: {e}")
    assert not failures, "\n".join(failures)
    assert lake_files(lake) == before
    assert http.get("/healthz").json() == {"status": "ok"}
    assert len(cases) >= 80


def test_a_body_cut_short_by_the_client_writes_nothing(hostile: tuple[httpx.Client, Lake, str]) -> None:
    http, lake, url = hostile
    before = lake_files(lake)
    host, port = urlsplit(url).hostname, urlsplit(url).port
    body = HEADER + b"2018-06-01 00:30:00+12,1.000,X,ZZ1\n"
    with socket.create_connection((host, port), timeout=10) as sock:
        sock.sendall(b"POST /v1/reads HTTP/1.1\r\nHost: x\r\nContent-Type: text/csv\r\n"
                     b"Content-Length: 100000\r\n\r\n" + body)
        sock.shutdown(socket.SHUT_WR)  # the rest never comes
        answer = sock.recv(65536)
    assert not answer.startswith(b"HTTP/1.1 2")
    time.sleep(0.2)
    assert lake_files(lake) == before
    assert http.get("/healthz").status_code == 200


def test_a_query_past_the_timeout_is_stopped_with_a_504(hostile: tuple[httpx.Client, Lake, str]) -> None:
    _, lake, _ = hostile
    with serve(lake.root, query_timeout=1e-6) as url, httpx.Client(base_url=url, timeout=30) as http:
        for path, params in [("/v1/output", R), (SUMMARY, {})]:
            p = check_problem(http.get(path, params=params), 504, "query_timeout")
            assert "limit of 1e-06 s" in p["detail"]
        # One ICP's reads are read from block files and run no query: nothing to time out.
        assert http.get(ICP, params=R).status_code == 200
        assert http.get("/healthz").status_code == 200
        assert http.get("/v1/runs").status_code == 200  # no query engine involved


def test_the_timeout_interrupts_a_running_query() -> None:
    from service.database import Database
    from service.problems import QueryTimeoutError

    db = Database(query_timeout=0.2)
    started = time.monotonic()
    with pytest.raises(QueryTimeoutError):
        with db.bounded_cursor() as con:
            con.sql("SELECT count(*) FROM range(1000000000000) a").fetchall()
    assert time.monotonic() - started < 5
    with db.bounded_cursor() as con:  # the connection works afterwards
        assert con.sql("SELECT 42").fetchall() == [(42,)]
    db.close()
