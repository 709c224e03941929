"""What the benchmark's queries return, checked: the service's answers (JSON and Arrow)
against a reference computed straight from the lake's Parquet files with plain DuckDB SQL
(not the engine's queries), and PostgreSQL's answers against the same reference. A fast
wrong answer is not a result, so the harness runs these before it reports figures."""
from __future__ import annotations

import datetime as dt
import io
from decimal import Decimal

import duckdb
import httpx
import msgspec
import pyarrow.ipc as ipc

from datalake.lake import Lake
from datalake.runs.record import output_files

HIVE = "hive_partitioning = true, hive_types = {'run_id': VARCHAR, 'read_date': DATE}"


def _con() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    return con


def reads_tuple(item: dict) -> tuple:
    return (dt.datetime.fromisoformat(item["read_timestamp"]), item["read_date"], int(item["trading_period"]),
            Decimal(item["interval_read"]), item["energy_flow_direction"])


def q1_reference(lake: Lake, icp: str, start: dt.date, end: dt.date) -> list[tuple]:
    files = [str(f.path) for f in lake.raw_files(start, end)]
    rows = _con().execute(f"""
        SELECT read_timestamp, read_date, trading_period, interval_read, energy_flow_direction
        FROM read_parquet($files, hive_partitioning = true, hive_types = {{'read_date': DATE}})
        WHERE icp_id = $icp AND read_date BETWEEN $start AND $end
        QUALIFY row_number() OVER (PARTITION BY read_timestamp, energy_flow_direction ORDER BY ingest_id DESC) = 1
        ORDER BY read_timestamp, energy_flow_direction""",
                          {"files": files, "icp": icp, "start": start, "end": end}).fetchall()
    return [(ts, d.isoformat(), tp, v, fd) for ts, d, tp, v, fd in rows]


def _output_files(lake: Lake, runs: dict[dt.date, str], start: dt.date, end: dt.date) -> list[str]:
    files: list[str] = []
    for day, run in runs.items():
        if start <= day <= end:
            files += output_files(lake, run).get(day, [])
    return files


def summary_reference(lake: Lake, runs: dict[dt.date, str], icp: str, start: dt.date, end: dt.date,
                      buyer_seller: str | None, period: str) -> list[tuple]:
    """(period, side, amount, intervals, runs) of one ICP; ``period`` is 'day' or 'interval'."""
    expr = ("strftime(read_date, '%Y-%m-%d')" if period == "day" else
            "strftime(read_date, '%Y-%m-%d') || '/' || lpad(CAST(trading_period AS VARCHAR), 2, '0')")
    rows = _con().execute(f"""
        SELECT {expr} AS period, buyer_seller, sum(matched_amount), count(*), list(DISTINCT run_id ORDER BY run_id)
        FROM read_parquet($files, {HIVE})
        WHERE icp_id = $icp AND ($side IS NULL OR buyer_seller = $side)
        GROUP BY ALL ORDER BY 1, 2""", {"files": _output_files(lake, runs, start, end), "icp": icp,
                                        "side": buyer_seller}).fetchall()
    return [(p, s, Decimal(a), int(n), list(r)) for p, s, a, n, r in rows]


def by_key_reference(lake: Lake, runs: dict[dt.date, str], start: dt.date, end: dt.date) -> list[tuple]:
    rows = _con().execute(f"""
        SELECT icp_id, buyer_seller, sum(matched_amount), count(*), list(DISTINCT run_id ORDER BY run_id)
        FROM read_parquet($files, {HIVE}) GROUP BY ALL ORDER BY 1, 2""",
                          {"files": _output_files(lake, runs, start, end)}).fetchall()
    return [(i, s, Decimal(a), int(n), list(r)) for i, s, a, n, r in rows]


def summary_tuple(item: dict) -> tuple:
    return (item["period"], item["buyer_seller"], Decimal(item["matched_amount"]), int(item["intervals"]),
            list(item["runs"]))


def arrow_rows(body: bytes) -> list[tuple]:
    table = ipc.open_stream(io.BytesIO(body)).read_all()
    return [(r["icp_id"], r["buyer_seller"], r["matched_amount"], int(r["intervals"]), list(r["runs"]))
            for r in table.to_pylist()]


def check_service(http: httpx.Client, lake: Lake, runs: dict[dt.date, str], icps: list[tuple[str, str]],
                  start: dt.date, end: dt.date, depth: int, page: int) -> dict[str, int]:
    """Each query of the contract for a few ICPs (and the last day), compared with the
    reference; raises AssertionError on the first difference. Returns how many were checked."""
    checked = {"q1": 0, "q2": 0, "q3": 0, "q4": 0}
    window = {"start": start.isoformat(), "end": end.isoformat()}
    for icp, side in icps:
        body = http.get(f"/v1/icps/{icp}/reads", params=window, headers={"Accept": "application/json"}).json()
        assert [reads_tuple(r) for r in body["reads"]] == q1_reference(lake, icp, start, end), f"q1 {icp}"
        arrow = ipc.open_stream(io.BytesIO(http.get(f"/v1/icps/{icp}/reads", params={**window, "format": "arrow"})
                                           .content)).read_all()
        assert arrow.num_rows == len(body["reads"]), f"q1 arrow {icp}"
        body = http.get(f"/v1/icps/{icp}/output/summary", params={**window, "buyer_seller": side}).json()
        expected = summary_reference(lake, runs, icp, start, end, side, "day")
        assert expected and [summary_tuple(i) for i in body["items"]] == expected, f"q2 {icp}"
        history = summary_reference(lake, runs, icp, start, end, None, "interval")
        first = http.get(f"/v1/icps/{icp}/output/summary", params={"granularity": "interval", "limit": page}).json()
        assert [summary_tuple(i) for i in first["items"]] == history[:page], f"q3 first {icp}"
        deep = http.get(f"/v1/icps/{icp}/output/summary", params={"granularity": "interval", "limit": depth}).json()
        deeper = http.get(f"/v1/icps/{icp}/output/summary", params={
            "granularity": "interval", "limit": page, "cursor": deep["next_cursor"]}).json()
        assert [summary_tuple(i) for i in deeper["items"]] == history[depth:depth + page], f"q3 deep {icp}"
        for key in checked:
            checked[key] += key != "q4"
    expected = by_key_reference(lake, runs, end, end)
    body = http.get("/v1/output", params={"start": end.isoformat(), "end": end.isoformat(), "format": "arrow"})
    assert arrow_rows(body.content) == expected, "q4 arrow"
    page_json = http.get("/v1/output", params={"start": end.isoformat(), "end": end.isoformat(), "limit": 1000}).json()
    assert [(i["icp_id"], i["buyer_seller"], Decimal(i["matched_amount"]), i["intervals"], i["runs"])
            for i in page_json["items"]] == expected[:1000], "q4 json"
    checked["q4"] = 1
    return checked


def check_postgres(pg, lake: Lake, runs: dict[dt.date, str], icps: list[tuple[str, str]],
                   start: dt.date, end: dt.date) -> dict[str, int]:
    """PostgreSQL's answers to queries 1, 2 and 4 against the same reference."""
    for icp, side in icps:
        body = msgspec.json.decode(pg.q1_json(icp, start, end))
        assert [reads_tuple(r) for r in body["reads"]] == q1_reference(lake, icp, start, end), f"pg q1 {icp}"
        body = msgspec.json.decode(pg.q2_json(icp, start, end, side))
        assert [summary_tuple(i) for i in body["items"]] == \
            summary_reference(lake, runs, icp, start, end, side, "day"), f"pg q2 {icp}"
    assert arrow_rows(pg.q4_arrow(end, end)) == by_key_reference(lake, runs, end, end), "pg q4"
    return {"q1": len(icps), "q2": len(icps), "q4": 1}
