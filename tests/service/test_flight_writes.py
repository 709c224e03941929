"""Flight with tokens: UNAUTHENTICATED without a valid one, PERMISSION_DENIED without the
scope the HTTP operation needs; run parts by DoPut (validated as the HTTP upload validates
them) and publish by DoAction; each call in the audit log and the figures."""
from __future__ import annotations

import datetime as dt
import json
import logging
from pathlib import Path

import pyarrow as pa
import pyarrow.flight as flight
import pytest

from datalake import runs
from datalake.demo.generate import generate
from datalake.lake import Lake
from service.auth import Token, TokenStore, hash_token
from tests.factories.output import days, interval_rows, typed_table

from .flightserver import client, options, serve_flight

SECRETS = {"reader": "read-secret-0123456789", "writer": "write-secret-0123456789"}
START = dt.date(2018, 6, 1)


@pytest.fixture
def secured(tmp_path: Path):
    lake = Lake.create(tmp_path / "lake")
    generate(lake, icps=6, days=2, start=START, seed=3)
    tokens = TokenStore([Token("reader", "read", hash_token(SECRETS["reader"])),
                         Token("writer", "write", hash_token(SECRETS["writer"]))])
    with serve_flight(lake.root, tokens=tokens) as server:
        yield lake, server




def put_part(server, token: str | None, run_id: str, part: int, table: pa.Table) -> dict:
    descriptor = flight.FlightDescriptor.for_command(json.dumps({"run_part": {"run_id": run_id, "part": part}}))
    call = options(token) if token else flight.FlightCallOptions()
    writer, metadata = client(server).do_put(descriptor, table.schema, options=call)
    writer.write_table(table, max_chunksize=500)
    writer.done_writing()
    answer = metadata.read()
    writer.close()
    return json.loads(answer.to_pybytes())


def publish(server, token: str, run_id: str) -> dict:
    """Publish by DoAction; these runs cover three ICPs of the raw lake's six: a partial run."""
    body = json.dumps({"run_id": run_id, "allow_partial": True}).encode()
    results = client(server).do_action(flight.Action("publish", body), options=options(token))
    return json.loads(next(iter(results)).body.to_pybytes())


def files(lake: Lake) -> list[Path]:
    return sorted(p for p in lake.root.rglob("*") if "_staging" not in p.parts)


READS = flight.Ticket(json.dumps({"reads": {"start": "2018-06-01", "end": "2018-06-02"}}).encode())


def test_without_a_valid_token_every_call_is_unauthenticated(secured, caplog):
    lake, server = secured
    before = files(lake)
    caplog.set_level(logging.INFO, logger="meterlake.audit")
    for call in (flight.FlightCallOptions(), options("not-a-token")):
        with pytest.raises(flight.FlightUnauthenticatedError, match="unauthorized: "):
            client(server).do_get(READS, options=call).read_all()
        with pytest.raises(flight.FlightUnauthenticatedError):
            list(client(server).do_action(flight.Action("publish", b'{"run_id": "run-00000001"}'), options=call))
    assert files(lake) == before
    assert "flight do_get - -> unauthenticated by (unauthenticated)" in caplog.text
    assert 'meterlake_flight_requests_total{method="do_get",status="unauthenticated"} 2' in \
        server.observer.exposition()


def test_a_read_token_reads_but_may_not_write(secured, caplog):
    lake, server = secured
    caplog.set_level(logging.INFO, logger="meterlake.audit")
    n = client(server).do_get(READS, options=options(SECRETS["reader"])).read_all().num_rows
    assert n >= 6 * 2 * 48
    run = runs.create_run(lake, start=START, end=START, algorithm="m", version="1")
    before = files(lake)
    table = typed_table(interval_rows(["A1"], days(START, 1)))
    with pytest.raises(flight.FlightUnauthorizedError, match="forbidden: token reader has scope read; .* needs write"):
        put_part(server, SECRETS["reader"], run["run_id"], 1, table)
    with pytest.raises(flight.FlightUnauthorizedError, match="needs write"):
        publish(server, SECRETS["reader"], run["run_id"])
    assert files(lake) == before
    assert runs.get_run(lake, run["run_id"])["parts"] == []
    assert f"flight do_get reads 2018-06-01..2018-06-02 -> ok by reader ({n} rows)" in caplog.text
    assert "-> permission_denied by reader" in caplog.text


def test_parts_put_then_published_are_the_output(secured, caplog):
    lake, server = secured
    caplog.set_level(logging.INFO, logger="meterlake.audit")
    icps = sorted({r["icp_id"] for r in interval_rows(["B2", "A1", "C3"], days(START, 2))})
    rows = interval_rows(icps, days(START, 2), seed=9)
    run = runs.create_run(lake, start=START, end=START + dt.timedelta(days=1), algorithm="m", version="1")
    entries = [put_part(server, SECRETS["writer"], run["run_id"], n + 1, typed_table(rows[n::2])) for n in range(2)]
    assert [e["part"] for e in entries] == [1, 2] and sum(e["rows"] for e in entries) == len(rows)
    record = publish(server, SECRETS["writer"], run["run_id"])
    assert record["status"] == "published" and record["rows"] == len(rows) and record["published_by"] == "writer"
    out = client(server).do_get(flight.Ticket(json.dumps(
        {"output": {"start": "2018-06-01", "end": "2018-06-02"}}).encode()), options=options(SECRETS["reader"]))
    got = out.read_all()
    assert got.num_rows == len(rows)
    assert sum(got["matched_amount"].to_pylist()) == sum(r["matched_amount"] for r in rows)
    assert f"flight do_put run_part {run['run_id']} part 1 -> ok by writer" in caplog.text
    assert f"flight do_action publish {run['run_id']} -> ok by writer" in caplog.text


def test_a_bad_part_names_the_row_and_field_and_changes_nothing(secured):
    lake, server = secured
    run = runs.create_run(lake, start=START, end=START, algorithm="m", version="1")
    rows = interval_rows(["A1"], days(START, 1))
    rows[7]["buyer_seller"] = "broker"
    before = files(lake)
    with pytest.raises(pa.ArrowInvalid, match=r"(?s)^validation_failed: part 1: .*1 bad row.*part 1:8: buyer_seller='broker' must be buyer or seller"):
        put_part(server, SECRETS["writer"], run["run_id"], 1, typed_table(rows))
    assert files(lake) == before
    assert runs.get_run(lake, run["run_id"])["parts"] == []


@pytest.mark.parametrize("command,field", [
    ({"run_part": {"run_id": "run-1", "part": 1}}, "run_id"),
    ({"run_part": {"run_id": "run-00000001", "part": 0}}, "part"),
    ({"run_part": {"run_id": "run-00000001", "part": 1, "colour": 1}}, "colour"),
    ({"run": {}}, "descriptor"),
])
def test_a_bad_put_descriptor_names_the_field(secured, command, field):
    lake, server = secured
    descriptor = flight.FlightDescriptor.for_command(json.dumps(command))
    table = typed_table(interval_rows(["A1"], days(START, 1)))
    with pytest.raises(pa.ArrowInvalid, match=rf"field {field}"):
        writer, _ = client(server).do_put(descriptor, table.schema, options=options(SECRETS["writer"]))
        writer.write_table(table)
        writer.close()


def test_actions_listed_unknown_refused_and_publishing_twice_is_a_conflict(secured):
    lake, server = secured
    c = client(server)
    listed = [a.type for a in c.list_actions(options=options(SECRETS["reader"]))]
    assert listed[0] == "publish" and "CreatePreparedStatement" in listed
    with pytest.raises(pa.ArrowInvalid, match=r"field action"):
        list(c.do_action(flight.Action("retract", b"{}"), options=options(SECRETS["writer"])))
    run = runs.create_run(lake, start=START, end=START, algorithm="m", version="1")
    put_part(server, SECRETS["writer"], run["run_id"], 1, typed_table(interval_rows(["A1"], days(START, 1))))
    assert publish(server, SECRETS["writer"], run["run_id"])["status"] == "published"
    with pytest.raises(flight.FlightServerError, match=r"^conflict \(field status\): cannot publish run run-00000001: it is published") as raised:
        publish(server, SECRETS["writer"], run["run_id"])
    assert json.loads(raised.value.extra_info)["code"] == "conflict"
    with pytest.raises(pa.ArrowKeyError, match=r"not_found"):
        publish(server, SECRETS["writer"], "run-00000099")
