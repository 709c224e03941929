"""Raw reads over HTTP: one ICP in every format, bulk streams, sharding, uploads."""
from __future__ import annotations

import datetime as dt
import csv
import io
from collections import Counter

import httpx
import pyarrow as pa
import pyarrow.ipc as ipc
import pyarrow.parquet as pq
import pytest

from datalake.raw.bulk import shard_of
from datalake.lake import Lake
from tests.factories.raw import HEADER, day_rows, write_csv

from .conftest import START, lake_icps
from .golden import check_golden

ARROW = "application/vnd.apache.arrow.stream"
RANGE = {"start": "2018-06-01", "end": "2018-06-03"}


def arrow_table(response: httpx.Response) -> pa.Table:
    return ipc.open_stream(io.BytesIO(response.content)).read_all()


def csv_rows(response: httpx.Response) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(response.text)))


def test_icp_reads_json_matches_golden(http: httpx.Client, reads_lake: Lake) -> None:
    icp = lake_icps(reads_lake)[0]
    r = http.get(f"/v1/icps/{icp}/reads", params={"start": "2018-06-02", "end": "2018-06-02"})
    assert r.status_code == 200 and r.headers["content-type"] == "application/json"
    assert r.headers["x-raw-snapshot"] == "ing-00000002"
    body = r.json()
    check_golden("icp_reads", body)
    assert [x["trading_period"] for x in body["reads"]] == list(range(1, 49))
    assert body["reads"][0]["read_timestamp"] == "2018-06-02T00:30:00+12:00"


def test_icp_reads_as_of_shows_the_earlier_snapshot(http: httpx.Client, reads_lake: Lake) -> None:
    icp = lake_icps(reads_lake)[0]
    params = {"start": "2018-06-02", "end": "2018-06-02", "direction": "X"}
    now = http.get(f"/v1/icps/{icp}/reads", params=params).json()
    before = http.get(f"/v1/icps/{icp}/reads", params={**params, "as_of": "ing-00000001"}).json()
    check_golden("icp_reads_as_of", before)
    assert before["as_of"] == "ing-00000001" and now["as_of"] == "ing-00000002"
    assert [x["interval_read"] for x in before["reads"]] != [x["interval_read"] for x in now["reads"]]


@pytest.mark.parametrize("how", ["param", "accept"])
def test_icp_reads_csv_and_arrow_carry_the_same_rows(http: httpx.Client, reads_lake: Lake, how: str) -> None:
    icp = lake_icps(reads_lake)[3]
    url = f"/v1/icps/{icp}/reads"

    def get(fmt: str, media: str) -> httpx.Response:
        if how == "param":
            return http.get(url, params={**RANGE, "format": fmt})
        return http.get(url, params=RANGE, headers={"Accept": media})

    rows = http.get(url, params=RANGE).json()["reads"]
    as_csv = get("csv", "text/csv")
    assert as_csv.headers["content-type"].startswith("text/csv")
    parsed = csv_rows(as_csv)
    assert [{**r, "trading_period": int(r["trading_period"])} for r in parsed] == rows
    as_arrow = get("arrow", ARROW)
    assert as_arrow.headers["content-type"] == ARROW
    table = arrow_table(as_arrow)
    assert table.schema.field("interval_read").type == pa.decimal128(18, 3)
    assert [str(v) for v in table["interval_read"].to_pylist()] == [r["interval_read"] for r in rows]
    assert table.num_rows == len(rows) == 3 * 48 * len(set(r["energy_flow_direction"] for r in rows))


def test_icp_reads_unknown_icp_is_empty_and_etag_is_honoured(http: httpx.Client) -> None:
    r = http.get("/v1/icps/NOSUCHICP/reads", params=RANGE)
    assert r.status_code == 200 and r.json()["reads"] == []
    tag = r.headers["etag"]
    assert tag.startswith('"') and not tag.startswith("W/")
    again = http.get("/v1/icps/NOSUCHICP/reads", params=RANGE, headers={"If-None-Match": tag})
    assert again.status_code == 304 and again.content == b"" and again.headers["etag"] == tag
    other = http.get("/v1/icps/NOSUCHICP/reads", params={**RANGE, "format": "csv"}, headers={"If-None-Match": tag})
    assert other.status_code == 200 and other.text.startswith('"read_timestamp"')


def expected_bulk(lake: Lake) -> pa.Table:
    """Latest revision of every key in the lake, straight from the files."""
    tables = [pq.read_table(f.path).append_column("read_date", pa.array([f.read_date] * f.rows, pa.date32()))
              for f in lake.raw_files()]
    rows = {}
    for row in pa.concat_tables(tables).sort_by("ingest_id").to_pylist():
        rows[(row["icp_id"], row["read_timestamp"], row["energy_flow_direction"])] = row
    return pa.Table.from_pylist([rows[k] for k in sorted(rows)])


def test_bulk_reads_arrow_stream_is_every_latest_row_in_order(http: httpx.Client, reads_lake: Lake) -> None:
    with http.stream("GET", "/v1/reads", params=RANGE) as r:
        assert r.status_code == 200 and r.headers["content-type"] == ARROW
        assert r.headers["x-raw-snapshot"] == "ing-00000002"
        reader = ipc.open_stream(io.BytesIO(r.read()))
        table = reader.read_all()
    expected = expected_bulk(reads_lake)
    keys = ["icp_id", "read_timestamp", "energy_flow_direction"]
    assert table.select(keys + ["interval_read"]).to_pylist() == expected.select(keys + ["interval_read"]).to_pylist()
    assert table.column_names == ["icp_id", "read_timestamp", "read_date", "trading_period", "interval_read",
                                  "energy_flow_direction"]


def test_bulk_reads_csv(http: httpx.Client, reads_lake: Lake) -> None:
    r = http.get("/v1/reads", params={**RANGE, "direction": "I", "format": "csv"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    rows = csv_rows(r)
    expected = [x for x in expected_bulk(reads_lake).to_pylist() if x["energy_flow_direction"] == "I"]
    assert len(rows) == len(expected) > 0
    assert {r["energy_flow_direction"] for r in rows} == {"I"}
    assert rows[0]["read_timestamp"].endswith("+12:00")


def test_bulk_reads_sharded_four_ways_cover_every_row_once(http: httpx.Client, reads_lake: Lake) -> None:
    seen: Counter = Counter()
    for k in range(4):
        table = arrow_table(http.get("/v1/reads", params={**RANGE, "shard": f"{k}/4"}))
        assert {shard_of(i, 4) for i in table["icp_id"].to_pylist()} <= {k}
        seen.update(zip(table["icp_id"].to_pylist(), table["read_timestamp"].to_pylist(),
                        table["energy_flow_direction"].to_pylist()))
    expected = expected_bulk(reads_lake)
    assert len(seen) == expected.num_rows and set(seen.values()) == {1}


def test_bulk_reads_empty_range_is_an_empty_stream(http: httpx.Client) -> None:
    table = arrow_table(http.get("/v1/reads", params={"start": "2019-01-01", "end": "2019-01-02"}))
    assert table.num_rows == 0 and "icp_id" in table.column_names
    empty_csv = http.get("/v1/reads", params={"start": "2019-01-01", "end": "2019-01-02", "format": "csv"})
    assert empty_csv.status_code == 200


def test_ingest_csv_then_redelivery_is_a_noop(fresh: httpx.Client, tmp_path) -> None:
    body = write_csv(tmp_path / "d.csv", day_rows("0000012345TR9A1", START)).read_bytes()
    r = fresh.post("/v1/reads", content=body, headers={"Content-Type": "text/csv"},
                   params={"source_name": "d.csv"})
    assert r.status_code == 201
    record = r.json()
    check_golden("ingest_created", record)
    again = fresh.post("/v1/reads", content=body, headers={"Content-Type": "text/csv"},
                       params={"source_name": "d.csv"})
    assert again.status_code == 200 and again.json()["status"] == "noop"
    reads = fresh.get("/v1/icps/0000012345TR9A1/reads", params={"start": "2018-06-01", "end": "2018-06-01"}).json()
    assert len(reads["reads"]) == 48 and reads["as_of"] == record["ingest_id"]


@pytest.mark.parametrize("fmt", ["parquet", "arrow"])
def test_ingest_columnar_bodies(fresh: httpx.Client, fmt: str) -> None:
    rows = day_rows("ABC123", START, "I")
    table = pa.table({name: [r[i] for r in rows] for i, name in enumerate(HEADER.split(","))})
    sink = io.BytesIO()
    if fmt == "parquet":
        pq.write_table(table, sink)
        media = "application/vnd.apache.parquet"
    else:
        with ipc.new_stream(sink, table.schema) as w:
            w.write_table(table)
        media = ARROW
    r = fresh.post("/v1/reads", content=sink.getvalue(), headers={"Content-Type": media})
    assert r.status_code == 201, r.text
    assert r.json()["rows_new"] == 48


def test_ingest_with_bad_rows_is_422_with_row_errors(fresh: httpx.Client, tmp_path) -> None:
    rows = day_rows("ABC123", START)
    rows[4] = (rows[4][0], "-1.000", "X", "ABC123")
    rows[9] = (rows[9][0], "0.5", "Z", "ABC123")
    r = fresh.post("/v1/reads", content=write_csv(tmp_path / "bad.csv", rows).read_bytes())
    assert r.status_code == 422
    assert r.headers["content-type"] == "application/problem+json"
    problem = r.json()
    check_golden("ingest_rejected", problem)
    assert problem["code"] == "validation_failed" and problem["total_errors"] == 2
    assert [(e["row"], e["field"]) for e in problem["errors"]] == [(6, "interval_read"),
                                                                   (11, "energy_flow_direction")]
    quarantined = fresh.post("/v1/reads", content=write_csv(tmp_path / "bad.csv", rows).read_bytes(),
                             params={"on_error": "quarantine"})
    assert quarantined.status_code == 201 and quarantined.json()["rows_rejected"] == 2


def test_ingest_over_the_cap_is_413(fresh: httpx.Client) -> None:
    big = (HEADER + "\n").encode() + b"2018-06-01 00:30:00+12,1.000,X,A\n" * 40_000  # > 1 MiB cap
    r = fresh.post("/v1/reads", content=big, headers={"Content-Type": "text/csv"})
    assert r.status_code == 413 and r.json()["code"] == "payload_too_large"

    def chunks():
        for _ in range(40):
            yield b"x" * 40_000

    chunked = fresh.post("/v1/reads", content=chunks(), headers={"Content-Type": "text/csv"})
    assert chunked.status_code == 413 and chunked.json()["code"] == "payload_too_large"


def test_ingest_eiep_bodies_by_content_type(fresh: httpx.Client, tmp_path) -> None:
    from tests.factories.eiep import eiep3_day, eiep3_det, eiep13a_day, write_eiep3, write_eiep13a

    day = dt.date(2018, 9, 30)  # daylight saving starts: 46 trading periods
    hh = write_eiep3(tmp_path / "hh.txt", eiep3_day("ICPHH1", day)).read_bytes()
    r = fresh.post("/v1/reads", content=hh, headers={"Content-Type": "text/x-eiep3"},
                   params={"source_name": "ICPHH.txt"})
    assert r.status_code == 201, r.text
    assert r.json()["rows_new"] == 46 and r.json()["source"] == "ICPHH.txt"
    cons = write_eiep13a(tmp_path / "cons.txt", eiep13a_day("ICPCONS1", day)).read_bytes()
    r = fresh.post("/v1/reads", content=cons, headers={"Content-Type": "text/x-eiep13a"})
    assert r.status_code == 201 and r.json()["rows_new"] == 46
    reads = fresh.get("/v1/icps/ICPCONS1/reads", params={"start": "2018-09-30", "end": "2018-09-30"}).json()
    assert [x["trading_period"] for x in reads["reads"]] == list(range(1, 47))
    # fields=all: the attributes of each read's delivery; a CSV-delivered read has none.
    fresh.post("/v1/reads", content=write_csv(tmp_path / "csv.csv", day_rows("ICPCONS1", day, "I")).read_bytes())
    full = fresh.get("/v1/icps/ICPCONS1/reads", params={"start": "2018-09-30", "end": "2018-09-30",
                                                         "fields": "all"}).json()["reads"]
    eiep = [x for x in full if x["energy_flow_direction"] == "X"]
    assert {(x["reading_type"], x["stream_id"], x["file_type"], x["offset_inferred"]) for x in eiep} == {
        ("RD", "215504779", "eiep13a", False)}
    assert {x["ingest_id"] for x in eiep} == {"ing-00000002"}
    assert {(x["file_type"], x["ingest_id"]) for x in full if x["energy_flow_direction"] == "I"} == {
        (None, "ing-00000003")}
    arrow = fresh.get("/v1/icps/ICPCONS1/reads", params={"start": "2018-09-30", "end": "2018-09-30",
                                                          "fields": "all", "format": "arrow"})
    assert "register_content_code" in ipc.open_stream(io.BytesIO(arrow.content)).schema.names
    bad = write_eiep3(tmp_path / "bad.txt", [eiep3_det("ICPHH1", day, 47, "0.100")]).read_bytes()
    r = fresh.post("/v1/reads", content=bad, headers={"Content-Type": "text/x-eiep3"})
    assert r.status_code == 422 and r.headers["content-type"] == "application/problem+json"
    assert [(e["row"], e["field"], e["value"]) for e in r.json()["errors"]] == [(2, "trading period", "47")]
    # The wrong format named: the header record says so.
    other = write_eiep13a(tmp_path / "other.txt", eiep13a_day("ICPCONS2", day)).read_bytes()
    r = fresh.post("/v1/reads", content=other, headers={"Content-Type": "text/x-eiep3"})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "record type"
