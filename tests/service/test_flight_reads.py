"""Flight DoGet and GetFlightInfo against HTTP: the same rows, order and types for the same
request, shards that split the rows exactly, output rows as the views hold them, and bad
tickets refused with the field named."""
from __future__ import annotations

import io
import json

import pyarrow as pa
import pyarrow.flight as flight
import pyarrow.ipc as ipc
import pytest

from datalake import sql
from datalake import views

from .flightserver import client, flight_lake, flight_server  # noqa: F401 - fixtures
from .server import serve


@pytest.fixture(scope="module")
def http_url(flight_lake):
    with serve(flight_lake.root) as url:
        yield url


def ticket(kind: str, **fields: object) -> flight.Ticket:
    return flight.Ticket(json.dumps({kind: fields}).encode())


def http_reads(url: str, **params: object) -> pa.Table:
    import httpx

    query = {k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in params.items()}
    response = httpx.get(f"{url}/v1/reads", params={**query, "format": "arrow"}, timeout=60)
    assert response.status_code == 200, response.text
    return ipc.open_stream(io.BytesIO(response.content)).read_all()


REQUESTS = [
    {"start": "2018-06-01", "end": "2018-06-03"},
    {"start": "2018-06-01", "end": "2018-06-03", "dictionary": True},
    {"start": "2018-06-02", "end": "2018-06-03", "shard": "1/3", "direction": "X"},
    {"start": "2018-06-01", "end": "2018-06-03", "as_of": "ing-00000001"},
]


@pytest.mark.parametrize("fields", REQUESTS, ids=lambda f: ",".join(f"{k}={v}" for k, v in f.items()))
def test_reads_ticket_is_what_http_answers(flight_server, http_url, fields):
    got = client(flight_server).do_get(ticket("reads", **fields)).read_all()
    expected = http_reads(http_url, **fields)
    assert got.num_rows > 0
    assert got.schema.equals(expected.schema)
    if fields.get("dictionary"):  # each batch has its own dictionary: compare the values
        got, expected = (t.cast(pa.schema([f.with_type(pa.string()) if pa.types.is_dictionary(f.type) else f
                                           for f in t.schema])) for t in (got, expected))
    assert got.equals(expected)


def test_the_revision_is_read_only_after_its_ingest(flight_server):
    newest = client(flight_server).do_get(ticket("reads", start="2018-06-02", end="2018-06-02")).read_all()
    first = client(flight_server).do_get(ticket("reads", start="2018-06-02", end="2018-06-02",
                                                as_of="ing-00000001")).read_all()
    assert newest.num_rows == first.num_rows and not newest.equals(first)


def test_flight_info_gives_one_endpoint_per_shard_pinned_to_one_snapshot(flight_server, http_url):
    c = client(flight_server)
    command = {"reads": {"start": "2018-06-01", "end": "2018-06-03", "shards": 4}}
    info = c.get_flight_info(flight.FlightDescriptor.for_command(json.dumps(command)))
    assert info.schema.equals(http_reads(http_url, start="2018-06-01", end="2018-06-01").schema)
    assert len(info.endpoints) == 4
    tickets = [json.loads(e.ticket.ticket) for e in info.endpoints]
    assert [t["reads"]["shard"] for t in tickets] == ["0/4", "1/4", "2/4", "3/4"]
    assert {t["reads"]["as_of"] for t in tickets} == {"ing-00000002"}
    parts = [c.do_get(e.ticket).read_all() for e in info.endpoints]
    for k, part in enumerate(parts):
        assert part.equals(http_reads(http_url, start="2018-06-01", end="2018-06-03", shard=f"{k}/4"))
    whole = http_reads(http_url, start="2018-06-01", end="2018-06-03")
    assert sum(p.num_rows for p in parts) == whole.num_rows
    assert {i for p in parts for i in p["icp_id"].to_pylist()} == set(whole["icp_id"].to_pylist())


def view_rows(lake, query: str, **params: object) -> pa.Table:
    con = sql.connect()
    views.define_views(con, lake)
    try:
        return con.sql(query, params=params or None).to_arrow_table()
    finally:
        con.close()


def test_output_ticket_is_the_output_latest_view(flight_server, flight_lake):
    c = client(flight_server)
    got = c.do_get(ticket("output", start="2018-06-02", end="2018-06-03")).read_all()
    expected = view_rows(flight_lake, "SELECT * FROM output_latest WHERE read_date BETWEEN $s AND $e "
                         "ORDER BY read_date, icp_id, trading_period, buyer_seller", s="2018-06-02", e="2018-06-03")
    assert got.num_rows == expected.num_rows > 0
    assert set(got["run_id"].to_pylist()) == {"run-00000002"}
    assert got.to_pylist() == expected.to_pylist()
    info = c.get_flight_info(flight.FlightDescriptor.for_command(
        json.dumps({"output": {"start": "2018-06-02", "end": "2018-06-03"}})))
    assert info.schema.equals(got.schema)


def test_output_ticket_of_a_pinned_run(flight_server, flight_lake):
    got = client(flight_server).do_get(ticket("output", start="2018-06-01", end="2018-06-03",
                                              run="run-00000001")).read_all()
    expected = view_rows(flight_lake, "SELECT * FROM output_all WHERE run_id = 'run-00000001' "
                         "ORDER BY read_date, icp_id, trading_period, buyer_seller")
    assert got.to_pylist() == expected.to_pylist() and got.num_rows > 0


BAD = [
    (b"not json", "ticket"),
    (b'{"reads": {"start": "2018-06-01"}}', "end"),
    (b'{"reads": {"start": "2018-06-01", "end": "2018-06-03", "colour": "red"}}', "colour"),
    (b'{"reads": {"start": "2018-13-01", "end": "2018-06-03"}}', "start"),
    (b'{"reads": {"start": "2018-06-03", "end": "2018-06-01"}}', "end"),
    (b'{"reads": {"start": "2018-06-01", "end": "2018-06-03", "shard": "4/4"}}', "shard"),
    (b'{"reads": {"start": "2018-06-01", "end": "2018-06-03", "dictionary": "yes"}}', "dictionary"),
    (b'{"reads": {"start": "2018-06-01", "end": "2018-06-03", "as_of": "ing-1"}}', "as_of"),
    (b'{"reads": {"start": "2018-06-01", "end": "2018-06-03", "shards": 2}}', "shards"),
    (b'{"reads": {"start": "2018-01-01", "end": "2018-12-31"}}', "end"),
    (b'{"output": {"start": "2018-06-01", "end": "2018-06-03", "run": "newest"}}', "run"),
    (b'{"writes": {}}', "ticket"),
    (b'[1, 2]', "ticket"),
]


@pytest.mark.parametrize("data,field", BAD, ids=[f for _, f in BAD])
def test_a_bad_ticket_is_invalid_argument_naming_the_field(flight_server, flight_lake, data, field):
    before = sorted(p for p in flight_lake.root.rglob("*"))
    with pytest.raises(pa.ArrowInvalid, match=rf"^invalid_argument \(field {field}\): "):
        client(flight_server).do_get(flight.Ticket(data)).read_all()
    assert sorted(p for p in flight_lake.root.rglob("*")) == before


def test_a_ticket_naming_what_the_lake_lacks_is_not_found(flight_server):
    with pytest.raises(pa.ArrowKeyError, match=r"field as_of"):
        client(flight_server).do_get(ticket("reads", start="2018-06-01", end="2018-06-03",
                                            as_of="ing-00000099")).read_all()
    with pytest.raises(pa.ArrowKeyError, match=r"field run"):
        client(flight_server).do_get(ticket("output", start="2018-06-01", end="2018-06-03",
                                            run="run-00000099")).read_all()


def test_a_path_descriptor_is_refused(flight_server):
    with pytest.raises(pa.ArrowInvalid, match=r"field descriptor"):
        client(flight_server).get_flight_info(flight.FlightDescriptor.for_path("raw", "reads"))



def test_shard_tickets_read_their_snapshot_after_a_newer_commit(tmp_path):
    import datetime as dt

    from datalake.raw.bulk import read_bulk
    from datalake.demo.generate import generate
    from datalake.raw.ingest import ingest_file
    from datalake.lake import Lake
    from tests.factories.raw import day_rows, write_csv

    from .flightserver import _first_icp, serve_flight

    lake = Lake.create(tmp_path / "lake")
    generate(lake, icps=8, days=1, start=dt.date(2018, 6, 1), seed=2)
    with serve_flight(lake.root) as server:
        c = client(server)
        command = {"reads": {"start": "2018-06-01", "end": "2018-06-01", "shards": 2}}
        info = c.get_flight_info(flight.FlightDescriptor.for_command(json.dumps(command)))
        ingest_file(lake, write_csv(tmp_path / "rev.csv", day_rows(_first_icp(lake), dt.date(2018, 6, 1), seed=9)))
        got = pa.concat_tables([c.do_get(e.ticket).read_all() for e in info.endpoints]).sort_by(
            [("icp_id", "ascending"), ("read_timestamp", "ascending"), ("energy_flow_direction", "ascending")])
    pinned = read_bulk(lake, "2018-06-01", "2018-06-01", as_of="ing-00000001").reader().read_all()
    newest = read_bulk(lake, "2018-06-01", "2018-06-01").reader().read_all()
    assert got.equals(pinned) and not got.equals(newest)
