"""The bulk stream with ``fields=all``, over HTTP and Flight, on a lake of generated, CSV,
EIEP3 and EIEP13A deliveries: every row carries the attributes one ICP's reads give it, the
default stream is unchanged, ``as_of`` before the EIEP ingests gives nulls, shards split it."""
from __future__ import annotations

import csv
import io
import json

import httpx
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.flight as flight
import pyarrow.ipc as ipc
import pytest

from client import MeterlakeClient
from datalake.lake import Lake
from datalake.raw.bulk import BULK_READS_DICTIONARY_SCHEMA, BULK_READS_SCHEMA
from datalake.raw.bulkattributes import ATTRIBUTE_FIELDS
from tests.factories.attrlake import BEFORE_EIEP, START, build_attributes_lake, generated_icps

from .flightserver import client, serve_flight
from .server import serve

WINDOW = {"start": START.isoformat(), "end": "2018-06-02"}
ATTRIBUTES = [f.name for f in ATTRIBUTE_FIELDS]
KEY = ["icp_id", "read_timestamp", "energy_flow_direction"]


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> Lake:
    return build_attributes_lake(tmp_path_factory.mktemp("bulkattr"))


@pytest.fixture(scope="module")
def http(lake: Lake):
    with serve(lake.root) as url, httpx.Client(base_url=url, timeout=60) as c:
        yield c


@pytest.fixture(scope="module")
def flight_server(lake: Lake):
    with serve_flight(lake.root) as server:
        yield server


@pytest.fixture(scope="module")
def flights(flight_server):
    return client(flight_server)


def bulk(http: httpx.Client, **params: object) -> pa.Table:
    r = http.get("/v1/reads", params={**WINDOW, "format": "arrow", **params})
    assert r.status_code == 200, r.text
    return ipc.open_stream(io.BytesIO(r.content)).read_all()


def one_icp(http: httpx.Client, icp: str, **params: object) -> pa.Table:
    r = http.get(f"/v1/icps/{icp}/reads", params={**WINDOW, "fields": "all", "format": "arrow", **params})
    assert r.status_code == 200, r.text
    return ipc.open_stream(io.BytesIO(r.content)).read_all()


def by_key(table: pa.Table) -> dict[tuple, tuple]:
    return {tuple(row[k] for k in KEY): tuple(row[c] for c in ATTRIBUTES) for row in table.to_pylist()}


def query1(http: httpx.Client, icps: list[str], **params: object) -> dict[tuple, tuple]:
    """Every read of ``icps`` by query 1 with fields=all, keyed as the bulk stream's rows."""
    out = {}
    for icp in icps:
        table = one_icp(http, icp, **params)
        out |= by_key(table.append_column("icp_id", pa.repeat(pa.scalar(icp), table.num_rows)))
    return out


@pytest.mark.parametrize("as_of", [None, BEFORE_EIEP])
def test_every_row_has_the_attributes_of_one_icps_reads(http: httpx.Client, as_of: str | None) -> None:
    extra = {"as_of": as_of} if as_of else {}
    full = bulk(http, fields="all", **extra)
    assert full.schema == pa.schema([*BULK_READS_SCHEMA, *ATTRIBUTE_FIELDS])
    icps = sorted(set(full["icp_id"].to_pylist()))
    assert len(icps) == (302 if as_of else 305)
    got = by_key(full)
    assert len(got) == full.num_rows and got == query1(http, icps, **extra)
    eiep = full.filter(pc.is_valid(full["file_type"]))
    if as_of:  # the rows the EIEP files later revised were there, without attributes
        assert eiep.num_rows == 0 and set(full["ingest_id"].to_pylist()) == {"ing-00000001", "ing-00000002"}
        assert {generated_icps()[10], generated_icps()[150]} <= set(icps)
        return
    assert eiep.num_rows == 336
    summed = eiep.filter(pc.equal(eiep["icp_id"], generated_icps()[10]))
    assert set(summed["stream_id"].to_pylist()) == {"S1,S2"} and set(summed["file_status"].to_pylist()) == {"R"}
    registers = eiep.filter(pc.equal(eiep["icp_id"], "E13A000001DD"))
    assert {(r["register_content_code"], r["reading_type"], r["file_status"]) for r in registers.to_pylist()} == {
        ("24,25", "ES,RD", None)}
    plain = full.filter(pc.equal(full["icp_id"], "CSV0000001AA"))
    assert plain.num_rows == 96 and plain.select(ATTRIBUTES[1:]).to_pylist() == [dict.fromkeys(ATTRIBUTES[1:])] * 96


def test_without_fields_all_the_stream_is_unchanged(http: httpx.Client) -> None:
    default, full = bulk(http), bulk(http, fields="all")
    assert default.schema == BULK_READS_SCHEMA and bulk(http, fields="default").equals(default)
    assert full.select(BULK_READS_SCHEMA.names).equals(default)
    dictionary = bulk(http, dictionary="true", fields="all")
    assert dictionary.schema == pa.schema([*BULK_READS_DICTIONARY_SCHEMA, *ATTRIBUTE_FIELDS])
    assert dictionary.cast(full.schema).equals(full)
    x = bulk(http, direction="X", fields="all")
    assert x.equals(full.filter(pc.equal(full["energy_flow_direction"], "X")))


def test_shards_with_fields_all_partition_the_rows(http: httpx.Client) -> None:
    full = bulk(http, fields="all")
    parts = [bulk(http, shard=f"{k}/3", fields="all") for k in range(3)]
    assert sum(p.num_rows for p in parts) == full.num_rows
    assert all(p.num_rows for p in parts)
    assert pa.concat_tables(parts).sort_by([(k, "ascending") for k in KEY]).equals(full)


def test_csv_carries_the_attribute_columns(http: httpx.Client) -> None:
    r = http.get("/v1/reads", params={**WINDOW, "format": "csv", "fields": "all"})
    assert r.status_code == 200
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert list(rows[0]) == [*BULK_READS_SCHEMA.names, *ATTRIBUTES]
    summed = [row for row in rows if row["icp_id"] == "E13A000001DD"]
    assert {(row["register_content_code"], row["reading_type"]) for row in summed} == {("24,25", "ES,RD")}
    assert len(rows) == bulk(http).num_rows
    assert http.get("/v1/reads", params={**WINDOW, "format": "json", "fields": "all"}).status_code == 406
    assert http.get("/v1/reads", params={**WINDOW, "fields": "some"}).status_code == 400


def test_flight_reads_ticket_with_fields_all_is_what_http_answers(http: httpx.Client, flights) -> None:
    for extra in ({}, {"as_of": BEFORE_EIEP}, {"shard": "1/3"}, {"dictionary": True}):
        got = flights.do_get(flight.Ticket(json.dumps({"reads": {**WINDOW, "fields": "all", **extra}}))).read_all()
        params = {k: str(v).lower() if isinstance(v, bool) else v for k, v in extra.items()}
        assert got.equals(bulk(http, fields="all", **params)), extra
    default = flights.do_get(flight.Ticket(json.dumps({"reads": {**WINDOW, "fields": "default"}}))).read_all()
    assert default.equals(bulk(http))
    command = {"reads": {**WINDOW, "fields": "all", "shards": 2}}
    info = flights.get_flight_info(flight.FlightDescriptor.for_command(json.dumps(command)))
    assert info.schema == pa.schema([*BULK_READS_SCHEMA, *ATTRIBUTE_FIELDS])
    tickets = [json.loads(e.ticket.ticket)["reads"] for e in info.endpoints]
    assert [(t["shard"], t["fields"], t["as_of"]) for t in tickets] == [("0/2", "all", "ing-00000004"),
                                                                      ("1/2", "all", "ing-00000004")]
    parts = [flights.do_get(e.ticket).read_all() for e in info.endpoints]
    assert pa.concat_tables(parts).sort_by([(k, "ascending") for k in KEY]).equals(bulk(http, fields="all"))
    with pytest.raises(pa.ArrowInvalid, match="field fields"):
        flights.do_get(flight.Ticket(json.dumps({"reads": {**WINDOW, "fields": "some"}}))).read_all()


def test_the_client_reads_fields_all_over_both_transports(http: httpx.Client, flight_server) -> None:
    with MeterlakeClient(str(http.base_url), flight=f"grpc://127.0.0.1:{flight_server.port}") as ml:
        for transport in ("http", "flight"):
            got = pa.Table.from_batches(list(ml.iter_reads(WINDOW["start"], WINDOW["end"], fields="all",
                                                           transport=transport)))
            assert got.equals(bulk(http, fields="all")), transport
            assert got.schema.names[-len(ATTRIBUTES):] == ATTRIBUTES
