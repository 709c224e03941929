"""The Python client over Flight: the server's Flight port found from HTTP, the same rows as
over HTTP, run parts uploaded and published, and Flight errors as ``ApiError``."""
from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pytest

from datalake import runs
from datalake.demo.generate import generate
from datalake.lake import Lake
from client import ApiError, MeterlakeClient
from tests.factories.output import days, interval_rows, typed_table

from .flightserver import flight_lake, flight_server, serve_flight  # noqa: F401 - fixtures
from .server import serve



def test_iter_reads_over_flight_is_what_http_gives(flight_server, flight_lake):
    with serve(flight_lake.root, flight_port=flight_server.port) as url, MeterlakeClient(url) as ml:
        for kwargs in ({}, {"shard": (1, 2), "dictionary": True}, {"as_of": "ing-00000001", "direction": "X"}):
            over_flight = pa.Table.from_batches(list(ml.iter_reads("2018-06-01", "2018-06-03", transport="flight",
                                                                   **kwargs)))
            over_http = ml.reads("2018-06-01", "2018-06-03", **kwargs)
            assert over_flight.num_rows > 0
            assert over_flight.schema.equals(over_http.schema)
            assert over_flight.to_pylist() == over_http.to_pylist()
        assert ml.flight().location == f"grpc://127.0.0.1:{flight_server.port}"
        with pytest.raises(ApiError) as raised:
            list(ml.iter_reads("2018-06-03", "2018-06-01", transport="flight"))
        assert raised.value.status == 400 and raised.value.code == "invalid_argument"
        assert raised.value.problem["field"] == "end"


def test_upload_part_and_publish_over_flight(tmp_path):
    lake = Lake.create(tmp_path / "lake")
    start = dt.date(2018, 6, 1)
    generate(lake, icps=3, days=1, start=start, seed=4)
    with serve_flight(lake.root) as server, serve(lake.root) as url:
        with MeterlakeClient(url, flight=f"grpc://127.0.0.1:{server.port}") as ml:
            run = ml.create_run(start=start, end=start, algorithm="m", version="1")
            rows = interval_rows(["A1", "B2"], days(start, 1))
            entry = ml.upload_part(run["run_id"], 1, typed_table(rows), transport="flight", source_name="night")
            assert entry["rows"] == len(rows) and entry["source_name"] == "night"
            bad = interval_rows(["C3"], days(start, 1))
            bad[0]["matched_amount"] = -1
            with pytest.raises(ApiError) as raised:
                ml.upload_part(run["run_id"], 2, typed_table(bad), transport="flight")
            assert raised.value.status == 400 and raised.value.code == "validation_failed"
            assert "part 2:1: matched_amount" in raised.value.problem["detail"]
            with pytest.raises(ApiError) as raised:  # its ICPs are not the raw lake's three
                ml.publish_run(run["run_id"], transport="flight")
            assert raised.value.status == 422 and raised.value.code == "partial_run"
            published = ml.publish_run(run["run_id"], transport="flight", allow_partial=True)
            assert published["status"] == "published" and published["rows"] == len(rows)
            assert runs.get_run(lake, run["run_id"])["status"] == "published"
            assert ml.output("2018-06-01", "2018-06-01", by=["icp_id"]).num_rows == 2


def test_a_server_without_flight_says_so(flight_lake):
    with serve(flight_lake.root) as url, MeterlakeClient(url) as ml:
        with pytest.raises(ApiError) as raised:
            list(ml.iter_reads("2018-06-01", "2018-06-01", transport="flight"))
        assert raised.value.status == 404 and "--flight-port 0" in raised.value.problem["detail"]
