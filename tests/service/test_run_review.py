"""Publishing partial runs, the checks on a run, and the diff of two runs, through a real
server over real runs made over real raw reads."""
from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Iterator
from decimal import Decimal

import pyarrow as pa
import pyarrow.ipc as ipc
import pytest

from datalake.demo.runs import demo_runs
from datalake.demo.generate import generate
from datalake.lake import Lake
from client import ApiError, MeterlakeClient
from tests.factories.output import days, interval_rows

from .conftest import lake_icps
from .server import serve

START = dt.date(2018, 6, 1)
SCHEMA = pa.schema([("icp_id", pa.string()), ("matched_amount", pa.decimal128(18, 4)), ("read_date", pa.string()),
                    ("read_time", pa.string()), ("publish_datetime", pa.string()), ("buyer_seller", pa.string()),
                    ("trading_period", pa.int16())])


@pytest.fixture(scope="module")
def reviewed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[MeterlakeClient, Lake, list[str]]]:
    """12 ICPs x 3 days of raw reads and two demo runs over them (run-00000001, -02)."""
    lake = Lake.create(tmp_path_factory.mktemp("review") / "lake")
    generate(lake, icps=12, days=3, start=START, seed=21)
    demo_runs(lake, count=2, seed=5)
    with serve(lake.root) as url, MeterlakeClient(url) as client:
        yield client, lake, lake_icps(lake)


def test_a_partial_run_is_refused_with_a_problem_listing_what_is_missing(reviewed) -> None:
    client, _, icps = reviewed
    part = pa.Table.from_pylist(interval_rows(icps[:4], days(START, 2), seed=3), schema=SCHEMA)
    run = client.upload_run([part], start=START, end=START + dt.timedelta(days=2), algorithm="m", version="1",
                            publish=False)["run_id"]
    r = client.http.post(f"/v1/runs/{run}/publish")
    assert r.status_code == 422 and r.headers["content-type"].startswith("application/problem+json")
    problem = r.json()
    assert problem["code"] == "partial_run" and problem["type"] == "urn:meterlake:problem:partial_run"
    assert problem["missing_dates"] == ["2018-06-03"]
    assert (problem["missing_icps"], problem["missing_icps_sample"]) == (8, icps[4:])
    assert "allow_partial" in problem["detail"] and icps[4] in problem["detail"]
    assert client.get_run(run)["status"] == "open"
    assert client.http.post(f"/v1/runs/{run}/publish", params={"allow_partial": "maybe"}).status_code == 400

    published = client.publish_run(run, allow_partial=True)
    assert published["status"] == "published" and published["partial"] is True
    assert published["missing_icps"] == 8 and published["raw_icps"] == 12
    checks = client.http.get(f"/v1/runs/{run}/checks").json()
    assert checks["passed"] is False
    failing = {c["name"]: c for c in checks["checks"] if not c["passed"]}
    assert set(failing) == {"missing_icps", "missing_dates"}
    assert failing["missing_icps"]["numbers"]["missing_icps"] == 8
    with pytest.raises(ApiError) as refused:
        client.upload_run([part], start=START, end=START + dt.timedelta(days=2), algorithm="m", version="1")
    assert refused.value.status == 422


def test_checks_of_a_full_run_pass_with_their_numbers(reviewed) -> None:
    client, lake, _ = reviewed
    r = client.http.get("/v1/runs/run-00000002/checks")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["run_id"] == "run-00000002" and body["passed"] is True
    names = [c["name"] for c in body["checks"]]
    assert names == ["missing_icps", "missing_dates", "duplicate_keys", "buyer_seller_balance", "latest_change"]
    kinds = {c["name"]: c["kind"] for c in body["checks"]}
    assert kinds["missing_icps"] == "structural" and kinds["latest_change"] == "numeric"
    latest = body["checks"][-1]["numbers"]
    others = [r for r in client.list_runs(status="published") if r["run_id"] != "run-00000002"]
    assert latest["against"] == [max(others, key=lambda r: r["publish_seq"])["run_id"]]  # covers all 3 dates
    record = client.get_run("run-00000002")
    assert body["checks"][3]["numbers"]["buyer"] == record["totals"]["buyer"]


@pytest.mark.parametrize(("path", "status", "code"), [
    ("/v1/runs/run-00000099/checks", 404, "not_found"),
    ("/v1/runs/run-00000002/checks?format=csv", 406, "not_acceptable"),
    ("/v1/runs/nope/checks", 400, "invalid_argument"),
])
def test_checks_errors(reviewed, path: str, status: int, code: str) -> None:
    client, _, _ = reviewed
    r = client.http.get(path)
    assert (r.status_code, r.json()["code"]) == (status, code), r.text


def test_checks_of_an_open_run_are_a_conflict(reviewed) -> None:
    client, _, _ = reviewed
    run = client.create_run(start=START, end=START, algorithm="m", version="2")["run_id"]
    r = client.http.get(f"/v1/runs/{run}/checks")
    assert r.status_code == 409 and "only published runs" in r.json()["detail"]


def test_diff_in_json_pages_and_in_csv_and_arrow(reviewed) -> None:
    client, lake, _ = reviewed
    path = "/v1/runs/run-00000002/diff"
    first = client.http.get(path, params={"against": "run-00000001", "limit": 5})
    assert first.status_code == 200, first.text
    body = first.json()
    assert (body["run_id"], body["against"], body["start"], body["end"]) == \
        ("run-00000002", "run-00000001", "2018-06-01", "2018-06-03")
    sides = {s["buyer_seller"]: s for s in body["sides"]}
    records = [client.get_run(r) for r in ("run-00000002", "run-00000001")]
    for side, s in sides.items():
        assert (s["run_total"], s["against_total"]) == (records[0]["totals"].get(side, "0.0000"),
                                                        records[1]["totals"].get(side, "0.0000"))
    assert len(body["changes"]) == 5 and body["next_cursor"]
    changes, cursor = list(body["changes"]), body["next_cursor"]
    while cursor:
        page = client.http.get(path, params={"against": "run-00000001", "limit": 500, "cursor": cursor}).json()
        changes += page["changes"]
        cursor = page["next_cursor"]
    assert len(changes) == sum(s["changed"] + s["added"] + s["removed"] for s in body["sides"])
    assert len({(c["icp_id"], c["read_date"], c["buyer_seller"]) for c in changes}) == len(changes)
    sizes = [abs(Decimal(c["difference"])) for c in changes]
    assert sizes == sorted(sizes, reverse=True)

    csv_page = client.http.get(path, params={"against": "run-00000001", "limit": 5, "format": "csv"})
    assert csv_page.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(csv_page.text)))
    assert [r["icp_id"] for r in rows] == [c["icp_id"] for c in body["changes"]]
    assert rows[0]["difference"] == body["changes"][0]["difference"]
    assert csv_page.headers["x-next-cursor"] == body["next_cursor"]
    arrow = client.http.get(path, params={"against": "run-00000001", "table": "sides"},
                            headers={"Accept": "application/vnd.apache.arrow.stream"})
    table = ipc.open_stream(arrow.content).read_all()
    assert table.column("buyer_seller").to_pylist() == ["buyer", "seller"]
    assert [str(v) for v in table.column("run_total").to_pylist()] == [sides["buyer"]["run_total"],
                                                                      sides["seller"]["run_total"]]


@pytest.mark.parametrize(("params", "status", "code", "field"), [
    ({"against": "run-00000042"}, 404, "not_found", "against"),
    ({}, 400, "invalid_argument", "against"),
    ({"against": "run-1"}, 400, "invalid_argument", "against"),
    ({"against": "run-00000001", "cursor": "abc"}, 400, "invalid_argument", "cursor"),
    ({"against": "run-00000001", "table": "sides"}, 400, "invalid_argument", "table"),
    ({"against": "run-00000001", "limit": 0}, 400, "invalid_argument", "limit"),
])
def test_diff_errors_name_the_parameter(reviewed, params: dict, status: int, code: str, field: str) -> None:
    client, _, _ = reviewed
    r = client.http.get("/v1/runs/run-00000002/diff", params=params)
    assert (r.status_code, r.json()["code"], r.json().get("field")) == (status, code, field), r.text


def test_diff_by_date_adds_up_to_the_diffs_sides_in_every_format(reviewed) -> None:
    client, _, _ = reviewed
    path = "/v1/runs/run-00000002/diff/dates"
    r = client.http.get(path, params={"against": "run-00000001"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["run_id"], body["against"], body["start"], body["end"]) == \
        ("run-00000002", "run-00000001", "2018-06-01", "2018-06-03")
    assert [(i["read_date"], i["buyer_seller"]) for i in body["items"]] == [
        (d, s) for d in ("2018-06-01", "2018-06-02", "2018-06-03") for s in ("buyer", "seller")]
    sides = client.http.get("/v1/runs/run-00000002/diff", params={"against": "run-00000001", "limit": 1}).json()
    for side in sides["sides"]:
        mine = [i for i in body["items"] if i["buyer_seller"] == side["buyer_seller"]]
        for name in ("run_total", "against_total", "difference"):
            assert sum(Decimal(i[name]) for i in mine) == Decimal(side[name]), name
        for name in ("added", "removed", "changed", "unchanged"):
            assert sum(i[name] for i in mine) == side[name], name
    rows = list(csv.DictReader(io.StringIO(client.http.get(path, params={"against": "run-00000001",
                                                                           "format": "csv"}).text)))
    assert [r["difference"] for r in rows] == [i["difference"] for i in body["items"]]
    arrow = ipc.open_stream(client.http.get(path, params={"against": "run-00000001", "format": "arrow"}).content)
    table = arrow.read_all()
    assert table.schema.field("difference").type == pa.decimal128(18, 4)
    assert table.column("read_date").type == pa.date32() and table.num_rows == 6
    missing = client.http.get(path, params={"against": "run-00000042"})
    assert (missing.status_code, missing.json()["field"]) == (404, "against")
