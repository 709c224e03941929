"""as_of as an RFC 3339 time over HTTP: the same answer, snapshot header and ETag as the
ingest id it resolves to; 404 before the first ingest, 400 in the future."""
from __future__ import annotations

import datetime as dt
import io

import httpx
import pyarrow.ipc as ipc

from datalake.lake import Lake

from .conftest import lake_icps
from .test_errors import check_problem

DAY = {"start": "2018-06-02", "end": "2018-06-02"}


def committed(lake: Lake) -> list[dt.datetime]:
    return [dt.datetime.fromisoformat(r["committed_at"]) for r in lake.ingests()]


def test_a_time_reads_the_ingest_committed_at_or_before_it(http: httpx.Client, reads_lake: Lake) -> None:
    icp = lake_icps(reads_lake)[0]
    t1, t2 = committed(reads_lake)
    between = (t1 + (t2 - t1) / 2).astimezone(dt.timezone(dt.timedelta(hours=12))).isoformat()
    by_id = http.get(f"/v1/icps/{icp}/reads", params={**DAY, "as_of": "ing-00000001"})
    # httpx encodes the '+' of the offset as %2B, as a caller must.
    by_time = http.get(f"/v1/icps/{icp}/reads", params={**DAY, "as_of": between})
    assert "%2B12%3A00" in str(by_time.request.url)
    assert by_time.status_code == 200, by_time.text
    assert by_time.json() == by_id.json() and by_time.json()["as_of"] == "ing-00000001"
    assert by_time.headers["x-raw-snapshot"] == "ing-00000001"
    assert by_time.headers["etag"] == by_id.headers["etag"]  # the ETag pins the resolved ingest
    again = http.get(f"/v1/icps/{icp}/reads", params={**DAY, "as_of": between},
                     headers={"If-None-Match": by_id.headers["etag"]})
    assert again.status_code == 304
    later = http.get(f"/v1/icps/{icp}/reads", params={**DAY, "as_of": t2.isoformat().replace("+00:00", "Z")})
    assert later.json()["as_of"] == "ing-00000002" and later.json() != by_id.json()


def test_bulk_reads_by_time_name_the_resolved_snapshot(http: httpx.Client, reads_lake: Lake) -> None:
    t1 = committed(reads_lake)[0]
    r = http.get("/v1/reads", params={**DAY, "as_of": t1.isoformat()})
    assert r.status_code == 200 and r.headers["x-raw-snapshot"] == "ing-00000001"
    by_id = http.get("/v1/reads", params={**DAY, "as_of": "ing-00000001"})
    assert ipc.open_stream(io.BytesIO(r.content)).read_all() == ipc.open_stream(io.BytesIO(by_id.content)).read_all()


def test_before_the_first_ingest_is_404_and_the_future_400(http: httpx.Client, reads_lake: Lake) -> None:
    icp = lake_icps(reads_lake)[0]
    early = (committed(reads_lake)[0] - dt.timedelta(seconds=1)).isoformat()
    for path in (f"/v1/icps/{icp}/reads", "/v1/reads"):
        p = check_problem(http.get(path, params={**DAY, "as_of": early}), 404, "not_found", "as_of")
        assert "before the first ingest" in p["detail"]
        p = check_problem(http.get(path, params={**DAY, "as_of": "2999-01-01T00:00:00Z"}), 400,
                          "invalid_argument", "as_of")
        assert "in the future" in p["detail"]
        check_problem(http.get(path, params={**DAY, "as_of": "2018-06-20T09:00:00"}), 400, "invalid_argument",
                      "as_of")  # no zone: which instant is meant is unknown
