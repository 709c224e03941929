"""Candidates, promotion and aliases through a real server with tokens, over real runs made
over real raw reads: who may do what, a candidate read by id but never as latest, promotion
refused on failing checks unless forced, aliases with history in queries 2-4 and over
Flight, and the audit log naming who changed what."""
from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Iterator

import pyarrow as pa
import pyarrow.flight as flight
import pytest

from client import ApiError, MeterlakeClient
from datalake.demo.generate import generate
from datalake.lake import Lake
from datalake.maintenance.check import check_lake
from tests.factories.output import days, interval_rows

from .conftest import lake_icps
from .flightserver import options, serve_flight
from .server import serve
from .test_auth import SECRETS, store
from .test_errors import check_problem

START = dt.date(2018, 6, 1)
END = START + dt.timedelta(days=1)
SCHEMA = pa.schema([("icp_id", pa.string()), ("matched_amount", pa.decimal128(18, 4)), ("read_date", pa.string()),
                    ("read_time", pa.string()), ("publish_datetime", pa.string()), ("buyer_seller", pa.string()),
                    ("trading_period", pa.int16())])


@pytest.fixture
def secured(tmp_path) -> Iterator[tuple[Lake, dict[str, MeterlakeClient], str]]:
    """8 ICPs x 2 days of raw reads and one run answering latest; a client per token."""
    lake = Lake.create(tmp_path / "lake")
    generate(lake, icps=8, days=2, start=START, seed=17)
    with serve(lake.root, tokens=store()) as url:
        clients = {name: MeterlakeClient(url, token=secret) for name, secret in SECRETS.items()}
        latest = upload(clients["writer"], lake_icps(lake), seed=1)
        assert latest["stage"] == "latest" and latest["publish_seq"] == 1
        yield lake, clients, latest["run_id"]
        for c in clients.values():
            c.close()


def upload(client: MeterlakeClient, icps: list[str], *, seed: int, stage: str = "latest",
           allow_partial: bool = False) -> dict:
    part = pa.Table.from_pylist(interval_rows(icps, days(START, 2), seed=seed), schema=SCHEMA)
    return client.upload_run([part], start=START, end=END, algorithm="m", version=str(seed), stage=stage,
                             allow_partial=allow_partial)


def runs_in(client: MeterlakeClient, path: str, **params: str) -> set[str]:
    body = client._get(path, params).json()
    return {r for item in body["items"] for r in item["runs"]}


def test_write_publishes_a_candidate_read_by_id_and_never_as_latest(secured) -> None:
    lake, clients, latest = secured
    writer, reader = clients["writer"], clients["reader"]
    icp = lake_icps(lake)[0]
    candidate = upload(writer, lake_icps(lake), seed=2, stage="candidate")
    run = candidate["run_id"]
    assert (candidate["stage"], candidate["publish_seq"], candidate["published_by"]) == ("candidate", None, "writer")
    for path in (f"/v1/icps/{icp}/output/summary", "/v1/output"):
        range_ = {"start": str(START), "end": str(END)}
        assert runs_in(reader, path, **range_, run=run) == {run}  # queries 2/3 and 4 by its id
        assert runs_in(reader, path, **range_) == {latest}  # latest without it
    assert runs_in(reader, f"/v1/icps/{icp}/output/summary") == {latest}  # the whole history too
    assert reader.get_run(run)["stage"] == "candidate"
    check_problem(writer.http.post("/v1/runs/run-00000001/publish", params={"stage": "staging"}), 400,
                  "invalid_argument", "stage")

    for request in (lambda c: c.http.post(f"/v1/runs/{run}/promote"),
                    lambda c: c.http.put("/v1/aliases/production", json={"run_id": run}),
                    lambda c: c.http.delete("/v1/aliases/production")):
        p = check_problem(request(writer), 403, "forbidden")
        assert "needs admin" in p["detail"]
    assert reader.list_aliases() == [] and reader.get_run(run)["stage"] == "candidate"

    promoted = clients["operator"].promote_run(run)
    assert (promoted["stage"], promoted["publish_seq"], promoted["promoted_by"]) == ("latest", 2, "operator")
    assert runs_in(reader, "/v1/output", start=str(START), end=str(END)) == {run}
    retracted = clients["operator"].retract_run(run)
    assert retracted["status"] == "retracted"
    assert runs_in(reader, "/v1/output", start=str(START), end=str(END)) == {latest}
    assert check_lake(lake).ok


def test_promotion_is_refused_while_checks_fail_unless_forced(secured) -> None:
    lake, clients, latest = secured
    operator = clients["operator"]
    partial = upload(clients["writer"], lake_icps(lake)[:3], seed=3, stage="candidate", allow_partial=True)["run_id"]
    p = check_problem(operator.http.post(f"/v1/runs/{partial}/promote"), 422, "checks_failed", "checks")
    assert p["failed_checks"] == ["missing_icps"] and "missing_icps" in p["detail"] and "force" in p["detail"]
    assert operator.get_run(partial)["stage"] == "candidate"
    check_problem(operator.http.post(f"/v1/runs/{latest}/promote"), 409, "conflict", "stage")
    check_problem(operator.http.post("/v1/runs/run-00000099/promote"), 404, "not_found", "run_id")
    check_problem(operator.http.post(f"/v1/runs/{partial}/promote", params={"alias": "Prod"}), 400,
                  "invalid_argument", "alias")

    forced = operator.promote_run(partial, force=True, alias="production")
    assert (forced["stage"], forced["publish_seq"], forced["promoted_forced"]) == ("latest", 2, True)
    assert operator.get_alias("production")["run_id"] == partial
    check_problem(operator.http.post(f"/v1/runs/{partial}/promote"), 409, "conflict", "stage")


def test_aliases_with_history_answer_queries_2_to_4(secured, caplog: pytest.LogCaptureFixture) -> None:
    lake, clients, latest = secured
    operator, reader = clients["operator"], clients["reader"]
    icp = lake_icps(lake)[0]
    candidate = upload(clients["writer"], lake_icps(lake), seed=4, stage="candidate")["run_id"]
    with caplog.at_level(logging.INFO, logger="meterlake.audit"):
        first = operator.set_alias("production", latest)
        moved = operator.set_alias("production", candidate)
        operator.promote_run(candidate, alias="canary")
        deleted = operator.delete_alias("canary")
    assert (first["set_by"], first["history"]) == ("operator", [])
    assert moved["history"] == [{"run_id": latest, "set_at": first["set_at"], "set_by": "operator"}]
    assert (deleted["run_id"], deleted["history"][-1]["run_id"]) == (None, candidate)
    lines = [r.getMessage() for r in caplog.records if r.name == "meterlake.audit"]
    assert f"PUT /v1/aliases/production -> 200 by operator: alias production -> {candidate}, set at " \
           f"{moved['set_at']} by operator" in lines
    assert any(line.startswith(f"POST /v1/runs/{candidate}/promote -> 200 by operator: {candidate} promoted at ")
               and "publish_seq 2" in line and "alias canary" in line for line in lines), lines
    assert any(line.startswith("DELETE /v1/aliases/canary -> 200 by operator: alias canary deleted") for line in lines)

    assert [a["name"] for a in reader.list_aliases()] == ["production"]
    assert reader.get_alias("production") == moved
    check_problem(reader.http.get("/v1/aliases/canary"), 404, "not_found", "name")
    range_ = {"start": str(START), "end": str(END)}
    operator.set_alias("production", latest)  # latest is now the candidate, promoted
    for path in (f"/v1/icps/{icp}/output/summary", "/v1/output"):
        assert runs_in(reader, path, **range_, run="alias:production") == {latest}
        assert runs_in(reader, path, **range_) == {candidate}
        assert "etag" not in reader.http.get(path, params={**range_, "run": "alias:production"}).headers
        assert "etag" in reader.http.get(path, params={**range_, "run": latest}).headers
        p = check_problem(reader.http.get(path, params={**range_, "run": "alias:staging"}), 404, "not_found", "run")
        assert "no alias staging" in p["detail"] and p["value"] == "alias:staging"
        check_problem(reader.http.get(path, params={**range_, "run": "alias:Bad!"}), 400, "invalid_argument", "run")
    assert reader.output(START, END, run="alias:production").column("runs").to_pylist()[0] == [latest]


def test_alias_changes_are_checked(secured) -> None:
    lake, clients, latest = secured
    operator = clients["operator"]
    check_problem(operator.http.put("/v1/aliases/production", json={"run_id": "run-00000099"}), 404, "not_found",
                  "run_id")
    check_problem(operator.http.put("/v1/aliases/production", json={"run": latest}), 400, "invalid_argument")
    check_problem(operator.http.put("/v1/aliases/production", json={"run_id": "latest"}), 400, "invalid_argument")
    check_problem(operator.http.put("/v1/aliases/production", content=b"run_id=x",
                                    headers={"Content-Type": "text/plain"}), 415, "unsupported_media_type")
    check_problem(operator.http.put("/v1/aliases/Production", json={"run_id": latest}), 400, "invalid_argument",
                  "name")
    opened = operator.create_run(start=START, end=END, algorithm="m", version="9")["run_id"]
    check_problem(operator.http.put("/v1/aliases/production", json={"run_id": opened}), 409, "conflict", "run_id")
    check_problem(operator.http.delete("/v1/aliases/production"), 404, "not_found", "name")
    with pytest.raises(ApiError) as failed:
        operator.get_alias("production")
    assert failed.value.status == 404
    assert not lake.layout.aliases_dir.exists()


def test_flight_output_ticket_takes_an_alias(secured) -> None:
    lake, clients, latest = secured
    candidate = upload(clients["writer"], lake_icps(lake), seed=5, stage="candidate")["run_id"]
    clients["operator"].set_alias("production", candidate)
    with serve_flight(lake.root, tokens=store()) as server:
        conn = flight.connect(f"grpc://127.0.0.1:{server.port}")
        auth = options(SECRETS["reader"])

        def output(run: str) -> flight.FlightStreamReader:
            ticket = {"output": {"start": str(START), "end": str(END), "run": run}}
            return conn.do_get(flight.Ticket(json.dumps(ticket).encode()), options=auth)

        assert set(output("alias:production").read_all().column("run_id").to_pylist()) == {candidate}
        assert set(output("latest").read_all().column("run_id").to_pylist()) == {latest}
        descriptor = flight.FlightDescriptor.for_command(json.dumps(
            {"output": {"start": str(START), "end": str(END), "run": "alias:production"}}))
        [endpoint] = conn.get_flight_info(descriptor, options=auth).endpoints
        assert json.loads(endpoint.ticket.ticket)["output"]["run"] == candidate  # pinned to what it named
        with pytest.raises(pa.ArrowKeyError, match=r"not_found \(field run\): run=alias:staging: no alias staging"):
            output("alias:staging").read_all()
        conn.close()
