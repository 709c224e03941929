"""GET /v1/reads/changes through a real server: JSON pages with next_cursor, CSV and Arrow
streams of the same rows, `meterlake changes` as a process saying the same, and errors."""
from __future__ import annotations

import csv
import io
from collections.abc import Iterator

import httpx
import pyarrow.ipc as ipc
import pytest

from datalake.raw.changes import read_changes
from datalake.lake import Lake
from tests.conftest import run_meterlake
from tests.datalake.test_changes import build

from .server import serve
from .test_errors import check_problem


@pytest.fixture(scope="module")
def changes_lake(tmp_path_factory: pytest.TempPathFactory) -> Lake:
    return build(tmp_path_factory.mktemp("changes"))


@pytest.fixture(scope="module")
def client(changes_lake: Lake) -> Iterator[httpx.Client]:
    with serve(changes_lake.root) as url, httpx.Client(base_url=url, timeout=60) as c:
        yield c


def test_json_pages_cover_the_feed_once(client: httpx.Client, changes_lake: Lake) -> None:
    expected = read_changes(changes_lake, "ing-00000001")[0]
    rows, cursor, pages = [], None, 0
    while True:
        r = client.get("/v1/reads/changes", params={"since": "ing-00000001", "limit": 20,
                                                     **({"cursor": cursor} if cursor else {})})
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["since"] == "ing-00000001" and body["until"] == "ing-00000004"
        assert r.headers["x-raw-snapshot"] == "ing-00000004"
        rows += body["changes"]
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert pages == 3 and len(rows) == expected.num_rows == 55
    first = rows[0]
    assert first["change"] == "revised" and first["previous_ingest_id"] == "ing-00000001"
    assert first["read_timestamp"] == "2018-06-14T00:30:00+12:00" and isinstance(first["interval_read"], str)
    assert [(r["icp_id"], r["ingest_id"], r["interval_read"]) for r in rows] == [
        (r["icp_id"], r["ingest_id"], f"{r['interval_read']:.3f}") for r in expected.to_pylist()]


def test_csv_and_arrow_stream_the_same_rows_as_the_cli(client: httpx.Client, changes_lake: Lake) -> None:
    params = {"since": "ing-00000001", "until": "ing-00000003"}
    arrow = client.get("/v1/reads/changes", params={**params, "format": "arrow"})
    assert arrow.status_code == 200 and arrow.headers["x-raw-snapshot"] == "ing-00000003"
    table = ipc.open_stream(io.BytesIO(arrow.content)).read_all()
    assert table == read_changes(changes_lake, "ing-00000001", "ing-00000003")[0]
    text = client.get("/v1/reads/changes", params={**params, "format": "csv"})
    assert len(list(csv.DictReader(io.StringIO(text.text)))) == table.num_rows == 54
    done = run_meterlake("--lake", changes_lake.root, "changes", "--since", "ing-00000001", "--until", "ing-00000003",
                         timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout == text.text
    tagged = client.get("/v1/reads/changes", params=params)
    assert "etag" in tagged.headers
    assert client.get("/v1/reads/changes", params=params,
                      headers={"If-None-Match": tagged.headers["etag"]}).status_code == 304


def test_errors_name_the_parameter(client: httpx.Client) -> None:
    check_problem(client.get("/v1/reads/changes"), 400, "invalid_argument", "since")
    check_problem(client.get("/v1/reads/changes", params={"since": "ing-00000042"}), 404, "not_found", "since")
    check_problem(client.get("/v1/reads/changes", params={"since": "ing-00000003", "until": "ing-00000002"}),
                  400, "invalid_argument", "until")
    check_problem(client.get("/v1/reads/changes", params={"since": "yesterday"}), 400, "invalid_argument", "since")
    check_problem(client.get("/v1/reads/changes", params={"since": "ing-00000001", "cursor": "junk"}), 400,
                  "invalid_argument", "cursor")
