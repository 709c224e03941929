"""The completeness report and one ICP's completeness through a real server, in JSON, CSV
and Arrow, over generated reads with a short ICP and a revision."""
from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Iterator

import httpx
import pyarrow.ipc as ipc
import pytest

from datalake.demo.generate import generate
from datalake.raw.ingest import ingest_file
from datalake.lake import Lake
from tests.factories.raw import day_rows, write_csv

from .conftest import lake_icps
from .server import serve

JUNE = dt.date(2018, 6, 1)


@pytest.fixture(scope="module")
def quality_http(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[httpx.Client, list[str]]]:
    """6 ICPs x 2 days (ing-00000001), SHORT1 with 30 reads of June 2 (-02)."""
    root = tmp_path_factory.mktemp("quality")
    lake = Lake.create(root / "lake")
    generate(lake, icps=6, days=2, start=JUNE, seed=31)
    ingest_file(lake, write_csv(root / "short.csv", day_rows("SHORT1", JUNE + dt.timedelta(days=1))[:30]))
    with serve(lake.root) as url, httpx.Client(base_url=url, timeout=60) as http:
        yield http, lake_icps(lake)


def test_the_report_in_json_csv_and_arrow(quality_http) -> None:
    http, _ = quality_http
    params = {"start": "2018-06-01", "end": "2018-06-02"}
    body = http.get("/v1/quality/reads", params=params).json()
    assert (body["start"], body["end"], body["as_of"]) == ("2018-06-01", "2018-06-02", None)
    x = {i["read_date"]: i for i in body["items"] if i["energy_flow_direction"] == "X"}
    assert x["2018-06-01"] == {"read_date": "2018-06-01", "energy_flow_direction": "X", "expected_intervals": 48,
                               "icps": 7, "icps_complete": 6, "icps_short": 1, "present_intervals": 288,
                               "missing_intervals": 48, "revised_reads": 0, "latest_ingest": "ing-00000001"}
    assert (x["2018-06-02"]["present_intervals"], x["2018-06-02"]["missing_intervals"],
            x["2018-06-02"]["latest_ingest"]) == (318, 18, "ing-00000002")
    as_csv = list(csv.DictReader(io.StringIO(http.get("/v1/quality/reads", params={**params, "format": "csv"}).text)))
    assert [r["missing_intervals"] for r in as_csv] == [str(i["missing_intervals"]) for i in body["items"]]
    arrow = http.get("/v1/quality/reads", params={**params, "format": "arrow"})
    table = ipc.open_stream(arrow.content).read_all()
    assert table.column("icps_short").to_pylist() == [i["icps_short"] for i in body["items"]]
    before = http.get("/v1/quality/reads", params={**params, "as_of": "ing-00000001"}).json()
    assert before["as_of"] == "ing-00000001"
    assert {i["icps"] for i in before["items"] if i["energy_flow_direction"] == "X"} == {6}


def test_one_icp(quality_http) -> None:
    http, icps = quality_http
    body = http.get("/v1/icps/SHORT1/quality", params={"start": "2018-06-01", "end": "2018-06-02"}).json()
    assert body["icp_id"] == "SHORT1"
    assert [(i["read_date"], i["present_intervals"], i["missing_intervals"], i["complete"]) for i in body["items"]] \
        == [("2018-06-01", 0, 48, False), ("2018-06-02", 30, 18, False)]
    full = http.get(f"/v1/icps/{icps[0]}/quality", params={"start": "2018-06-01", "end": "2018-06-01"}).json()
    assert all(i["complete"] and i["missing_intervals"] == 0 for i in full["items"])
    none = http.get("/v1/icps/NOREADS1/quality", params={"start": "2018-06-01", "end": "2018-06-01"})
    assert none.status_code == 200 and none.json()["items"] == []


@pytest.mark.parametrize(("path", "params", "status", "field"), [
    ("/v1/quality/reads", {"start": "2018-06-01", "end": "2019-06-02"}, 400, "end"),
    ("/v1/quality/reads", {"start": "2018-06-01"}, 400, "end"),
    ("/v1/quality/reads", {"start": "2018-06-01", "end": "2018-06-02", "as_of": "ing-00000042"}, 404, "as_of"),
    ("/v1/icps/BAD-ICP/quality", {"start": "2018-06-01", "end": "2018-06-02"}, 400, "icp_id"),
])
def test_errors_name_the_parameter(quality_http, path: str, params: dict, status: int, field: str) -> None:
    http, _ = quality_http
    r = http.get(path, params=params)
    assert (r.status_code, r.json()["field"]) == (status, field), r.text
    assert r.headers["content-type"].startswith("application/problem+json")
