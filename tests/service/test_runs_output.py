"""Runs and output over HTTP, driven through the Python client: a run uploaded in parts
and published, then queried in every format; pagination; ETags; lifecycle conflicts."""
from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Iterator
from decimal import Decimal

import httpx
import polars as pl
import pyarrow as pa
import pyarrow.ipc as ipc
import pytest

from datalake.demo.generate import generate
from datalake.lake import Lake
from client import ApiError, MeterlakeClient
from tests.factories.output import days, interval_rows

from .conftest import lake_icps
from .golden import check_golden
from .server import serve

START = dt.date(2018, 6, 1)
SCHEMA = pa.schema([("icp_id", pa.string()), ("matched_amount", pa.decimal128(18, 4)), ("read_date", pa.string()),
                    ("read_time", pa.string()), ("publish_datetime", pa.string()), ("buyer_seller", pa.string()),
                    ("trading_period", pa.int16())])


def output_table(icps: list[str], dates: list[dt.date], seed: int) -> pa.Table:
    return pa.Table.from_pylist(interval_rows(icps, dates, seed=seed), schema=SCHEMA)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[MeterlakeClient, list[str]]]:
    """Six ICPs x 2 days of raw reads; run-00000001 covers both days (two parts: a pyarrow
    Table and a Polars DataFrame), run-00000002 re-answers day 2 for the first three ICPs."""
    lake = Lake.create(tmp_path_factory.mktemp("runs") / "lake")
    generate(lake, icps=6, days=2, start=START, seed=3)
    icps = lake_icps(lake)
    with serve(lake.root) as url, MeterlakeClient(url) as client:
        first = client.upload_run(
            [output_table(icps[:3], days(START, 2), seed=1), pl.from_arrow(output_table(icps[3:], days(START, 2), 1))],
            start=START, end=START + dt.timedelta(days=1), algorithm="matcher", version="1.0", params={"k": 1})
        assert first["status"] == "published"
        client.upload_run([output_table(icps[:3], days(START + dt.timedelta(days=1), 1), seed=2)],
                          start=START + dt.timedelta(days=1), end=START + dt.timedelta(days=1),
                          algorithm="matcher", version="1.1", allow_partial=True)  # 3 of the 6 ICPs
        yield client, icps


def test_runs_are_recorded_with_totals(served) -> None:
    client, icps = served
    run = client.get_run("run-00000001")
    check_golden("run", run)
    assert [p["part"] for p in run["parts"]] == [1, 2] and run["rows"] == 6 * 2 * 48 * 2
    expected = sum((r["matched_amount"] for r in interval_rows(icps, days(START, 2), seed=1)
                    if r["buyer_seller"] == "buyer"), Decimal(0))
    assert Decimal(run["totals"]["buyer"]) == expected
    listed = client.http.get("/v1/runs", params={"limit": 1}).json()
    assert [r["run_id"] for r in listed["items"]] == ["run-00000001"] and listed["next_cursor"]
    rest = client.http.get("/v1/runs", params={"limit": 1, "cursor": listed["next_cursor"]}).json()
    assert [r["run_id"] for r in rest["items"]] == ["run-00000002"] and rest["next_cursor"] is None
    assert [r["run_id"] for r in client.list_runs(status="published", start="2018-06-02")] == \
        ["run-00000001", "run-00000002"]


def test_summary_for_a_range_and_side_query_2(served) -> None:
    client, icps = served
    r = client.http.get(f"/v1/icps/{icps[0]}/output/summary",
                        params={"start": "2018-06-01", "end": "2018-06-02", "buyer_seller": "buyer"})
    assert r.status_code == 200
    body = r.json()
    check_golden("summary_day", body)
    assert [(i["period"], i["runs"]) for i in body["items"]] == [("2018-06-01", ["run-00000001"]),
                                                                 ("2018-06-02", ["run-00000002"])]
    day2 = [x for x in interval_rows([icps[0]], [START + dt.timedelta(days=1)], seed=2) if x["buyer_seller"] == "buyer"]
    assert Decimal(body["items"][1]["matched_amount"]) == sum(x["matched_amount"] for x in day2)
    month = client.http.get(f"/v1/icps/{icps[0]}/output/summary",
                            params={"granularity": "month", "buyer_seller": "seller"}).json()
    check_golden("summary_month", month)


def test_summary_history_pages_cover_every_period_once_query_3(served) -> None:
    client, icps = served
    everything = client.http.get(f"/v1/icps/{icps[4]}/output/summary",
                                 params={"granularity": "interval", "limit": 10_000}).json()["items"]
    assert len(everything) == 48 * 2  # day 2 is answered by run-00000002, which left this ICP out
    seen, cursor = [], None
    while True:
        params = {"granularity": "interval", "limit": 37, **({"cursor": cursor} if cursor else {})}
        page = client.http.get(f"/v1/icps/{icps[4]}/output/summary", params=params).json()
        seen += page["items"]
        if not (cursor := page["next_cursor"]):
            break
    assert seen == everything
    assert everything[0]["period"] == "2018-06-01/01"


def test_summary_csv_and_arrow_match_json(served) -> None:
    client, icps = served
    url = f"/v1/icps/{icps[1]}/output/summary"
    items = client.http.get(url, params={"limit": 3}).json()["items"]
    as_csv = client.http.get(url, params={"limit": 3, "format": "csv"})
    rows = list(csv.DictReader(io.StringIO(as_csv.text)))
    assert [(r["period"], r["matched_amount"], r["runs"]) for r in rows] == \
        [(i["period"], i["matched_amount"], " ".join(i["runs"])) for i in items]
    assert as_csv.headers["x-next-cursor"]
    table = client.summary(icps[1], page_size=3)  # Arrow, following X-Next-Cursor
    everything = client.http.get(url).json()["items"]
    assert [f"{v:.4f}" for v in table["matched_amount"].to_pylist()] == [i["matched_amount"] for i in everything]
    assert table.schema.field("matched_amount").type == pa.decimal128(18, 4)


def test_output_by_key_query_4_pages_and_streams(served) -> None:
    client, icps = served
    params = {"start": "2018-06-01", "end": "2018-06-02"}
    first = client.http.get("/v1/output", params=params).json()
    check_golden("output_by_key", first)
    assert len(first["items"]) == 12 and first["next_cursor"] is None
    pages, cursor = [], None
    while True:
        paging = {"limit": 5, **({"cursor": cursor} if cursor else {})}
        page = client.http.get("/v1/output", params={**params, **paging}).json()
        pages += page["items"]
        if not (cursor := page["next_cursor"]):
            break
    assert pages == first["items"]
    table = client.output("2018-06-01", "2018-06-02")
    assert table.column_names[:2] == ["icp_id", "buyer_seller"]
    assert [f"{v:.4f}" for v in table["matched_amount"].to_pylist()] == [i["matched_amount"] for i in pages]
    rows = list(csv.DictReader(io.StringIO(client.http.get("/v1/output", params={**params, "format": "csv"}).text)))
    assert [r["matched_amount"] for r in rows] == [i["matched_amount"] for i in pages]
    by_date = client.http.get("/v1/output", params={**params, "by": "read_date,buyer_seller", "run": "run-00000001"})
    check_golden("output_by_date", by_date.json())


def test_pinned_run_results_carry_a_strong_etag(served) -> None:
    client, icps = served
    params = {"start": "2018-06-01", "end": "2018-06-02", "run": "run-00000001", "format": "arrow"}
    r = client.http.get("/v1/output", params=params)
    tag = r.headers["etag"]
    assert ipc.open_stream(io.BytesIO(r.content)).read_all().num_rows == 12
    assert client.http.get("/v1/output", params=params, headers={"If-None-Match": tag}).status_code == 304
    latest = client.http.get("/v1/output", params={**params, "run": "latest"})
    assert "etag" not in latest.headers
    s = client.http.get(f"/v1/icps/{icps[0]}/output/summary", params={"run": "run-00000002"})
    assert client.http.get(f"/v1/icps/{icps[0]}/output/summary", params={"run": "run-00000002"},
                           headers={"If-None-Match": s.headers["etag"]}).status_code == 304


def test_run_lifecycle_conflicts_and_validation(fresh: httpx.Client, fresh_lake: Lake) -> None:
    generate(fresh_lake, icps=2, days=1, start=START, seed=5)
    icps = lake_icps(fresh_lake)
    client = MeterlakeClient("", http=fresh)
    table = output_table(icps, [START], seed=1)
    run = client.create_run(start=START, end=START, algorithm="a", version="1")
    assert run["status"] == "open" and run["raw_as_of"] == "ing-00000001"
    with pytest.raises(ApiError) as e:
        client.publish_run(run["run_id"])
    assert e.value.status == 409 and e.value.code == "conflict"
    client.upload_part(run["run_id"], 1, table)
    client.upload_part(run["run_id"], 2, table)  # the same keys again: publish must refuse
    with pytest.raises(ApiError) as e:
        client.publish_run(run["run_id"])
    assert e.value.status == 422 and e.value.problem["errors"]
    bad = table.set_column(1, "matched_amount", pa.array(["-1"] * table.num_rows))
    with pytest.raises(ApiError) as e:
        client.upload_part(run["run_id"], 3, bad)
    assert e.value.status == 422 and e.value.problem["errors"][0]["field"] == "matched_amount"
    assert client.abort_run(run["run_id"])["status"] == "aborted"
    with pytest.raises(ApiError) as e:
        client.abort_run(run["run_id"])
    assert e.value.status == 409

    good = client.upload_run([table], start=START, end=START, algorithm="a", version="2")
    assert client.retract_run(good["run_id"])["status"] == "retracted"
    latest = fresh.get("/v1/output", params={"start": "2018-06-01", "end": "2018-06-01"}).json()
    assert latest["items"] == []
    pinned = fresh.get("/v1/output", params={"start": "2018-06-01", "end": "2018-06-01", "run": good["run_id"]})
    assert len(pinned.json()["items"]) == 4
    with pytest.raises(ApiError) as e:
        client.retract_run(good["run_id"])
    assert e.value.status == 409


def test_parts_uploaded_side_by_side_are_all_recorded(tmp_path) -> None:
    lake = Lake.create(tmp_path / "lake")
    generate(lake, icps=10, days=1, start=START, seed=4)
    icps = lake_icps(lake)
    tables = [output_table(icps[2 * k:2 * k + 2], [START], seed=k) for k in range(5)]
    with serve(lake.root) as url, MeterlakeClient(url) as client:
        run = client.create_run(start=START, end=START, algorithm="matcher", version="2")
        entries = client.upload_parts(run["run_id"], iter(tables), concurrency=3)
        assert [e["part"] for e in entries] == [1, 2, 3, 4, 5]
        recorded = client.get_run(run["run_id"])
        assert [p["part"] for p in recorded["parts"]] == [1, 2, 3, 4, 5]
        assert recorded["rows"] == sum(t.num_rows for t in tables)
        assert client.publish_run(run["run_id"])["rows"] == 10 * 48 * 2

        bad = tables[2].set_column(1, "matched_amount", pa.array([Decimal("-1")] * tables[2].num_rows,
                                                                  pa.decimal128(18, 4)))
        second = client.create_run(start=START, end=START, algorithm="matcher", version="3")
        with pytest.raises(ApiError) as e:
            client.upload_parts(second["run_id"], [tables[0], tables[1], bad, tables[3]], concurrency=2)
        assert e.value.status == 422
        assert 3 not in [p["part"] for p in client.get_run(second["run_id"])["parts"]]
