"""The Flight figures of `make bench`, in the same run as HTTP's and against the same
service: DoGet of the window into a ``pyarrow.flight`` client (plain and with dictionaries,
one stream and 4 shards in parallel from GetFlightInfo's endpoints, medians of
``repeat`` runs), the Flight server's memory while streaming, and a whole run uploaded by
DoPut and published by DoAction (then retracted, so later steps see the lake as before)."""
from __future__ import annotations

import datetime as dt
import json
import statistics
import time
from pathlib import Path

import pyarrow.flight as flight
import pyarrow.parquet as pq

from datalake import runs  # noqa: E402
from datalake.lake import Lake
from httpside import MemorySampler, Service, in_threads
from runs_bench import build_parts
from client import MeterlakeClient


def _read(location: str, ticket: flight.Ticket) -> int:
    rows = 0
    for chunk in flight.connect(location).do_get(ticket):
        rows += chunk.data.num_rows
    return rows


def doget(service: Service, start: str, end: str, *, shards: int = 1, dictionary: bool = False) -> dict:
    """Every row of the window by DoGet, ``shards`` endpoints of one GetFlightInfo read in
    parallel threads; rows/s over the wall time, and the Flight process's peak memory."""
    location = f"grpc://127.0.0.1:{service.flight_port}"
    request: dict = {"start": start, "end": end, "dictionary": dictionary}
    sampler = MemorySampler(service.flight_pid())
    sampler.start()
    started = time.perf_counter()
    if shards == 1:
        counts = [_read(location, flight.Ticket(json.dumps({"reads": request}).encode()))]
    else:
        info = flight.connect(location).get_flight_info(flight.FlightDescriptor.for_command(
            json.dumps({"reads": {**request, "shards": shards}})))
        counts = [0] * shards

        def read(k: int) -> None:
            counts[k] = _read(location, info.endpoints[k].ticket)

        in_threads(read, shards)
    seconds = time.perf_counter() - started
    sampler.stop.set()
    sampler.join()
    rows = sum(counts)
    return {"rows": rows, "seconds": round(seconds, 2), "rows_per_s": int(rows / seconds),
            "flight_rss_peak_sampled_mib": round(sampler.rss / 1024, 1),
            "flight_anon_peak_sampled_mib": round(sampler.anon / 1024, 1)}


def median_of(runs_: list[dict]) -> dict:
    rates = [r["rows_per_s"] for r in runs_]
    return {"rows": runs_[0]["rows"], "rows_per_s": int(statistics.median(rates)), "runs_rows_per_s": rates,
            "flight_rss_peak_sampled_mib": max(r["flight_rss_peak_sampled_mib"] for r in runs_),
            "flight_anon_peak_sampled_mib": max(r["flight_anon_peak_sampled_mib"] for r in runs_)}


def measure_reads(service: Service, start: str, end: str, res: dict, *, shards: bool, repeat: int) -> None:
    """``flight_bulk[_dictionary]`` and, with ``shards``, ``flight_bulk_4_shards[_dictionary]``:
    the configurations alternate within each repeat, so load drifts touch all alike."""
    configs = [("flight_bulk", 1, False), ("flight_bulk_dictionary", 1, True)]
    if shards:
        configs += [("flight_bulk_4_shards", 4, False), ("flight_bulk_4_shards_dictionary", 4, True)]
    done: dict[str, list[dict]] = {name: [] for name, _, _ in configs}
    for _ in range(repeat):
        for name, n, dictionary in configs:
            done[name].append(doget(service, start, end, shards=n, dictionary=dictionary))
    for name, results in done.items():
        res[name] = median_of(results)
        if name.replace("flight_", "") in res:
            res[name]["vs_http"] = round(res[name]["rows_per_s"] / res[name.replace("flight_", "")]["rows_per_s"], 2)


def measure_run(service: Service, lake: Lake, work: Path, icps: int, days: int, parts: int, start: dt.date) -> dict:
    """A run of one row per ICP, date and half hour: its parts read into memory first (the
    algorithm holds its output), then create, DoPut each part, publish by DoAction; rows/s
    over those calls. Retracted afterwards through the engine."""
    end = start + dt.timedelta(days=days - 1)
    paths = build_parts(work, icps, parts, 3, start, end)
    tables = [pq.read_table(p) for p in paths]
    for p in paths:
        p.unlink()
    with MeterlakeClient(service.url, timeout=3600, flight=f"grpc://127.0.0.1:{service.flight_port}") as ml:
        started = time.perf_counter()
        run = ml.create_run(start=start, end=end, algorithm="bench-flight", version="3")
        for n, table in enumerate(tables, start=1):
            ml.upload_part(run["run_id"], n, table, transport="flight")
        upload_s = time.perf_counter() - started
        record = ml.publish_run(run["run_id"], transport="flight")
        seconds = time.perf_counter() - started
    runs.retract_run(lake, record["run_id"], actor="bench")
    return {"run_id": record["run_id"], "rows": record["rows"], "parts": parts, "upload_s": round(upload_s, 1),
            "publish_s": round(seconds - upload_s, 1), "seconds": round(seconds, 1),
            "rows_per_s": int(record["rows"] / seconds)}


def report_rows(res: dict) -> list[tuple[str, str, str, str, str]]:
    """The Flight lines of the table of targets (nothing when the run had no Flight step)."""
    plain, dic = res.get("flight_bulk"), res.get("flight_bulk_dictionary")
    if not plain:
        return []

    def m(x: dict | None) -> str:
        return "n/a" if not x else f"{x['rows_per_s'] / 1e6:.2f}M rows/s" + (
            f" ({x['vs_http']:.2f}x HTTP's)" if "vs_http" in x else "")

    def mark(ok: bool | None) -> str:
        return "n/a" if ok is None else "met" if ok else "**missed**"

    out = [("Flight DoGet, 14-day window into pyarrow.flight (median): dictionary / plain", ">= 40M / >= 25M rows/s",
            f"{m(dic)} / {m(plain)}", "not asked",
            mark(bool(dic) and dic["rows_per_s"] >= 40e6 and plain["rows_per_s"] >= 25e6))]
    s4, s4d = res.get("flight_bulk_4_shards"), res.get("flight_bulk_4_shards_dictionary")
    if s4:
        out.append(("Flight, 4 shards in parallel (GetFlightInfo endpoints), total: plain / dictionary",
                    ">= 1 stream", f"{m(s4)} / {m(s4d)}", "not asked",
                    mark(s4["rows_per_s"] >= plain["rows_per_s"] and (not s4d or s4d["rows_per_s"] >= dic["rows_per_s"]))))
    peak = max(r.get("flight_rss_peak_sampled_mib", 0) for r in (plain, dic, s4, s4d) if r)
    out.append(("Flight server memory while streaming (peak RSS, sampled)", "bounded, as for HTTP",
                f"{peak:.0f} MiB", "not asked", "n/a"))
    run = res.get("flight_run")
    if run:
        out.append(("DoPut of a full run's parts plus DoAction publish", ">= 5M rows/s",
                    f"{run['rows_per_s'] / 1e6:.2f}M rows/s ({run['rows'] / 1e6:.1f}M rows, upload {run['upload_s']} s,"
                    f" publish {run['publish_s']} s)", "not asked", mark(run["rows_per_s"] >= 5e6)))
    return out
