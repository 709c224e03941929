"""The benchmark of issue 5, end to end: `make bench` (100k ICPs x 14 days, PostgreSQL side
by side, then query 1 and the bulk stream at 500k ICPs) and `make bench-smoke` (a tiny
scale that exercises every step in a minute or two).

    .venv/bin/python bench/run.py [--icps 100000] [--days 14] [--large-icps 500000|0]
                                  [--postgres auto|skip] [--smoke]

Steps: generate a lake and export its reads as the brief's CSV; ingest that CSV through the
CLI (rows/s); start the service (2 workers, loopback);
publish two runs of the raw data's size through the HTTP API with the Python client
(rows/s); check every query's answers against plain DuckDB over the lake's files; time
queries 1-4 in JSON and Arrow over random ICPs; query 1 under 16 concurrent clients from a
separate process; the bulk 14-day Arrow stream, whole and as 4 parallel shards (each plain and
with dictionary=true), with the
workers' peak memory; the same window by Flight DoGet (1 and 4 shards, each plain and with
dictionaries) and a run uploaded by DoPut and published by DoAction (bench/flightside.py); PostgreSQL 15 on loopback loaded with the same reads and output,
queries 1, 2 and 4 checked and timed; the diff of the two runs, the checks on one and the
completeness report (``review_bench.measure``); two dates exported as EIEP3 and ingested
into a new lake, then a revision of one into this lake and its change feed
(``eiep_bench.measure``); then query 1 and the bulk stream on a larger lake.
Raw figures go to bench/results/bench-<icps>x<days>.json; `bench/report.py` renders them."""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import duckdb  # noqa: E402
import httpx  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402

import checks  # noqa: E402
import flightside  # noqa: E402
import httpside  # noqa: E402
import machine  # noqa: E402
import pgside  # noqa: E402
import eiep_bench  # noqa: E402
import review_bench  # noqa: E402
from datalake import sql  # noqa: E402
from datalake.demo.generate import generate  # noqa: E402
from datalake.lake import Lake  # noqa: E402
from datalake.output.reads import resolve_runs  # noqa: E402
from datalake.runs.record import output_files  # noqa: E402
from runs_bench import build_parts  # noqa: E402
from client import MeterlakeClient  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
START = dt.date(2018, 6, 1)
PAGE = 100
HIVE = "hive_partitioning = true, hive_types = {'run_id': VARCHAR, 'read_date': DATE}"


def log(*parts: object) -> None:
    print(f"[{time.strftime('%H:%M:%S')}]", *parts, flush=True)


def cli(*args: object) -> str:
    out = subprocess.run([sys.executable, "-m", "cli.main", *map(str, args)], cwd=ROOT, check=True,
                         capture_output=True, text=True)
    return out.stdout.strip()


def timed_step(fn, *args, **kwargs) -> tuple[object, float]:
    started = time.perf_counter()
    value = fn(*args, **kwargs)
    return value, time.perf_counter() - started


def lake_bytes(lake: Lake) -> int:
    return sum(p.stat().st_size for p in lake.layout.raw_dir.rglob("*.parquet"))


def build_lake(work: Path, name: str, icps: int, days: int, res: dict) -> Lake:
    lake = Lake.create(work / name)
    g, seconds = timed_step(generate, lake, icps=icps, days=days, start=START, seed=42)
    res["generate"] = {"rows": g.rows_new, "seconds": round(seconds, 1), "lake_bytes": lake_bytes(lake),
                       "bytes_per_row": round(lake_bytes(lake) / g.rows_new, 3)}
    log("generated", res["generate"])
    res["serving_bytes"] = serving_bytes(lake)
    log("serving state", res["serving_bytes"])
    return lake


def serving_bytes(lake: Lake) -> dict:
    """Every byte that is not row Parquet or a commit record, against the row Parquet."""
    def size(folder: Path, pattern: str = "*") -> int:
        return sum(p.stat().st_size for p in folder.rglob(pattern) if p.is_file())

    rows = size(lake.layout.raw_dir, "*.parquet") + size(lake.layout.output_dir, "*.parquet")
    state = size(lake.layout.blocks_dir) + size(lake.layout.serving_dir) + size(lake.layout.runs_dir, "*.icps.parquet")
    return {"row_parquet": rows, "serving": state, "ratio": round(state / rows, 3) if rows else None}


def export_and_ingest(lake: Lake, work: Path, rows: int, res: dict) -> Path:
    csv = work / "reads.csv"
    con = sql.connect()
    files = [str(f.path) for f in lake.raw_files()]
    _, seconds = timed_step(lambda: con.sql(sql.query("raw/export_csv"), params={"files": files}).write_csv(str(csv)))
    res["export_csv"] = {"seconds": round(seconds, 1), "bytes": csv.stat().st_size}
    target = work / "ingested"
    cli("--lake", target, "init")
    out, seconds = timed_step(cli, "--lake", target, "ingest", csv)
    res["ingest_csv"] = {"rows": rows, "seconds": round(seconds, 1), "rows_per_s": int(rows / seconds),
                         "lake_bytes": lake_bytes(Lake(target)), "summary": out}
    log("ingest", res["ingest_csv"])
    shutil.rmtree(target)
    return csv


def publish_runs(url: str, work: Path, icps: int, days: int, parts: int, res: dict, concurrency: int = 1) -> None:
    """Two runs over the whole window, each one row per ICP, date and half hour, uploaded
    as Parquet parts (``concurrency`` at a time) and published through the HTTP API with the
    Python client."""
    end = START + dt.timedelta(days=days - 1)
    res["runs"] = []
    with MeterlakeClient(url, timeout=3600) as ml:
        for seed in (1, 2):
            paths, build_s = timed_step(build_parts, work, icps, parts, seed, START, end)
            started = time.perf_counter()
            run = ml.create_run(start=START, end=end, algorithm="bench", version=str(seed))
            ml.upload_parts(run["run_id"], (p.read_bytes() for p in paths), content_type="application/vnd.apache.parquet",
                            concurrency=concurrency)
            upload_s = time.perf_counter() - started
            record = ml.publish_run(run["run_id"])
            seconds = time.perf_counter() - started
            res["runs"].append({"run_id": record["run_id"], "rows": record["rows"], "parts": parts,
                                "build_parts_s": round(build_s, 1), "upload_s": round(upload_s, 1),
                                "publish_s": round(seconds - upload_s, 1), "seconds": round(seconds, 1),
                                "rows_per_s": int(record["rows"] / seconds),
                                "upload_bytes": sum(p.stat().st_size for p in paths)})
            log("run", res["runs"][-1])
            for p in paths:
                p.unlink()


def sample_icps(lake: Lake, runs: dict[dt.date, str], n: int, seed: int) -> list[tuple[str, str]]:
    """``n`` random (icp_id, buyer_seller) pairs that have output."""
    day = max(runs)
    pairs = duckdb.execute(f"SELECT DISTINCT icp_id, buyer_seller FROM read_parquet($f, {HIVE}) ORDER BY ALL",
                           {"f": output_files(lake, runs[day])[day]}).fetchall()
    return random.Random(seed).choices(pairs, k=n)


def query_latencies(http: httpx.Client, icps: list[tuple[str, str]], start: dt.date, end: dt.date, n: int,
                    depth: int) -> dict:
    window = {"start": start.isoformat(), "end": end.isoformat()}
    get = httpside.getter
    out: dict = {}
    for fmt, headers in httpside.FORMATS.items():
        out[f"q1_{fmt}"] = httpside.timed(httpside.cycle(
            [get(http, f"/v1/icps/{i}/reads", window, headers) for i, _ in icps]), n)
        out[f"q2_{fmt}"] = httpside.timed(httpside.cycle(
            [get(http, f"/v1/icps/{i}/output/summary", {**window, "buyer_seller": s}, headers) for i, s in icps]), n)
        out[f"q3_first_{fmt}"] = httpside.timed(httpside.cycle(
            [get(http, f"/v1/icps/{i}/output/summary", {"granularity": "interval", "limit": PAGE}, headers)
             for i, _ in icps]), n)
        deep = icps[:max(20, n // 4)]
        cursors = [httpside.deep_cursor(http, i, depth) for i, _ in deep]
        out[f"q3_deep_{fmt}"] = httpside.timed(httpside.cycle(
            [get(http, f"/v1/icps/{i}/output/summary", {"granularity": "interval", "limit": PAGE, "cursor": c},
                 headers) for (i, _), c in zip(deep, cursors)]), n)
        log("queries", fmt, {k: v["median_ms"] for k, v in out.items() if k.endswith(fmt)})
    days = [start + dt.timedelta(days=i) for i in range((end - start).days + 1)]
    rng = random.Random(5)
    for fmt, headers, params in (("json", httpside.JSON, {"limit": 1000}), ("arrow", httpside.ARROW, {})):
        out[f"q4_day_{fmt}"] = httpside.timed(httpside.cycle(
            [get(http, "/v1/output", {"start": d.isoformat(), "end": d.isoformat(), **params}, headers)
             for d in rng.sample(days, len(days))]), max(10, n // 20), warmup=2)
        out[f"q4_window_{fmt}"] = httpside.timed(get(http, "/v1/output", {**window, **params}, headers),
                                                 max(3, n // 100), warmup=1)
        log("q4", fmt, out[f"q4_day_{fmt}"]["median_ms"], out[f"q4_window_{fmt}"]["median_ms"])
    out["healthz"] = httpside.timed(get(http, "/healthz", {}, {}), n)
    return out


def postgres_side(work: Path, lake: Lake, csv: Path, runs: dict[dt.date, str], icps: list[tuple[str, str]],
                  start: dt.date, end: dt.date, n: int) -> dict:
    res: dict = {}
    latest = sorted(set(runs.values()))
    out_csv = work / "output.csv"
    files = [f for run in latest for fs in output_files(lake, run).values() for f in fs]
    duckdb.execute(f"SET TimeZone = 'UTC'; COPY (SELECT run_id, icp_id, read_date, trading_period, read_time, "
                   f"buyer_seller, matched_amount, publish_datetime FROM read_parquet({files!r}, {HIVE})) "
                   f"TO '{out_csv}' (HEADER)")
    # Its own folder in the system's temporary directory, which the postgres user can reach.
    cluster = pgside.PgCluster(Path(tempfile.mkdtemp(prefix="meterlake-bench-pg-")), httpside.free_port())
    try:
        conninfo = cluster.start()
        res["version"] = pgside.version(conninfo)
        res["load"] = pgside.load(conninfo, csv, out_csv)
        log("postgres load", res["load"])
        out_csv.unlink()
        pg = pgside.PgQueries(conninfo, latest)
        res["checks"] = checks.check_postgres(pg, lake, runs, icps[:5], start, end)
        cyc = httpside.cycle
        res["q1_json"] = httpside.timed(cyc([lambda i=i: pg.q1_json(i, start, end) for i, _ in icps]), n)
        res["q2_json"] = httpside.timed(cyc([lambda i=i, s=s: pg.q2_json(i, start, end, s) for i, s in icps]), n)
        days = [start + dt.timedelta(days=i) for i in range((end - start).days + 1)]
        res["q4_day_arrow"] = httpside.timed(cyc([lambda d=d: pg.q4_arrow(d, d) for d in days]), max(5, n // 40),
                                             warmup=1)
        res["q4_day_fetch_only"] = httpside.timed(cyc([lambda d=d: pg.q4_rows(d, d) and b"" for d in days]),
                                                  max(5, n // 40), warmup=1)
        res["q4_window_arrow"] = httpside.timed(lambda: pg.q4_arrow(start, end), 1, warmup=0)
        log("postgres queries", {k: v["median_ms"] for k, v in res.items() if k.startswith("q")})
        pg.close()
    finally:
        cluster.stop()
    return res


def serve_and_measure(lake: Lake, work: Path, args: argparse.Namespace, res: dict, *, full: bool) -> None:
    end = START + dt.timedelta(days=args.days - 1)
    service = httpside.Service(lake.root, 2, work / "service.log")
    try:
        service.wait_ready()
        res["workers_rss_idle_mib"] = service.peak_rss_mib()
        if full:
            publish_runs(service.url, work, args.icps, args.days, args.parts, res, args.upload_concurrency)
            res["serving_bytes"] = serving_bytes(lake)
        httpside.warm_page_cache(lake.root)
        runs = resolve_runs(lake, START, end) if full else {}
        with httpx.Client(base_url=service.url, timeout=600) as http:
            if full:
                icps = sample_icps(lake, runs, args.requests, seed=1)
                depth = max(1, min(1000, args.days * 48 - PAGE))  # an ICP has days x 48 intervals
                res["q3_depth_rows"] = depth
                res["checks"] = checks.check_service(http, lake, runs, icps[:5], START, end, depth, PAGE)
                log("answers checked", res["checks"])
                res["queries"] = query_latencies(http, icps, START, end, args.requests, depth)
            else:
                ids = pq.read_table(lake.raw_files()[0].path, columns=["icp_id"])["icp_id"].unique().to_pylist()
                icps = [(i, "") for i in random.Random(1).choices(ids, k=args.requests)]
                window = {"start": START.isoformat(), "end": end.isoformat()}
                res["queries"] = {f"q1_{fmt}": httpside.timed(httpside.cycle(
                    [httpside.getter(http, f"/v1/icps/{i}/reads", window, h) for i, _ in icps]), args.requests)
                    for fmt, h in httpside.FORMATS.items()}
                log("queries", res["queries"])
        if full:
            paths = [f"/v1/icps/{i}/reads?start={START}&end={end}" for i, _ in icps]
            res["q1_throughput"] = httpside.throughput(service.port, paths, work, 16, args.load_seconds, 100_000)
            log("throughput", res["q1_throughput"])
        # Plain, then with icp_id and direction as dictionaries (dictionary=true), alternating.
        for suffix, dictionary in (("", False), ("_dictionary", True)):
            res["bulk" + suffix] = httpside.bulk(service, START.isoformat(), end.isoformat(), dictionary=dictionary)
            log("bulk" + suffix, res["bulk" + suffix])
        if full:
            for suffix, dictionary in (("", False), ("_dictionary", True)):
                res["bulk_4_shards" + suffix] = httpside.bulk(service, START.isoformat(), end.isoformat(), shards=4,
                                                              dictionary=dictionary)
                log("bulk 4 shards" + suffix, res["bulk_4_shards" + suffix])
        # The same window by Flight DoGet from the same service (medians), then a run by DoPut.
        flightside.measure_reads(service, START.isoformat(), end.isoformat(), res, shards=full,
                                 repeat=args.flight_repeat)
        log("flight", {k: v["rows_per_s"] for k, v in res.items() if k.startswith("flight_bulk")})
        if full:
            res["flight_run"] = flightside.measure_run(service, lake, work, args.icps, args.days, args.parts, START)
            log("flight run", res["flight_run"])
        res["workers_vmhwm_mib"] = service.peak_rss_mib()
    finally:
        service.stop()
    if full:
        res["output_bytes"] = {r["run_id"]: sum(p.stat().st_size for p in (lake.root / "output" / f"run_id={r['run_id']}")
                                                .rglob("*.parquet")) for r in res["runs"]}
        res["_icps"], res["_runs"] = icps, runs


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--icps", type=int, default=100_000)
    ap.add_argument("--days", type=int, default=14)
    ap.add_argument("--parts", type=int, default=8, help="parts per published run")
    ap.add_argument("--upload-concurrency", type=int, default=1, help="parts uploaded at a time")
    ap.add_argument("--requests", type=int, default=400, help="timed requests per query and format")
    ap.add_argument("--load-seconds", type=float, default=20, help="duration of the 16-client run")
    ap.add_argument("--flight-repeat", type=int, default=3, help="runs of each Flight DoGet (the median is kept)")
    ap.add_argument("--large-icps", type=int, default=500_000, help="0 skips the larger lake")
    ap.add_argument("--postgres", choices=["auto", "skip"], default="auto")
    ap.add_argument("--workdir", type=Path, default=None)
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--docs", type=Path, default=None, help="put the table of targets in this page")
    ap.add_argument("--keep-lake", type=Path, default=None, help="move the main lake here afterwards (to profile it)")
    ap.add_argument("--smoke", action="store_true", help="300 ICPs x 3 days, 1,000-ICP larger lake, short runs")
    args = ap.parse_args(argv)
    if args.smoke:
        args.icps, args.days, args.parts, args.requests, args.load_seconds, args.flight_repeat = 300, 3, 2, 40, 2, 1
        args.large_icps = min(args.large_icps, 1000)
    work = Path(tempfile.mkdtemp(prefix="meterlake-bench-", dir=args.workdir))
    res: dict = {"icps": args.icps, "days": args.days, "args": {k: str(v) for k, v in vars(args).items()},
                 "machine": machine.describe(), "started": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                 "load_average": {"start": os.getloadavg()}}
    try:
        log("work folder", work)
        lake = build_lake(work, "lake", args.icps, args.days, res)
        csv = export_and_ingest(lake, work, res["generate"]["rows"], res)
        res["load_average"]["before_queries"] = os.getloadavg()
        serve_and_measure(lake, work, args, res, full=True)
        icps, runs = res.pop("_icps"), res.pop("_runs")
        # The two runs just published: their diff, their checks, the raw data's completeness.
        res["review"] = review_bench.measure(lake, argparse.Namespace(icps=args.icps, days=args.days, repeat=3))
        res["load_average"]["after_queries"] = os.getloadavg()
        if args.postgres == "auto" and pgside.ensure_installed():
            res["postgres"] = postgres_side(work, lake, csv, runs, icps, START, START + dt.timedelta(days=args.days - 1),
                                            args.requests)
            res["load_average"]["after_postgres"] = os.getloadavg()
        # Last on this lake, since its revision delivery changes the lake: EIEP3 ingest and the
        # change feed.
        res["eiep"] = eiep_bench.measure(lake, work, START, ingest_days=2)
        log("eiep", res["eiep"])
        if args.keep_lake:
            shutil.move(work / "lake", args.keep_lake)
        else:
            shutil.rmtree(work / "lake")
        csv.unlink()
        if args.large_icps:
            large: dict = {"icps": args.large_icps, "days": args.days}
            big = build_lake(work, "large", args.large_icps, args.days, large)
            serve_and_measure(big, work, args, large, full=False)
            res["large"] = large
            res["load_average"]["after_large"] = os.getloadavg()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    res["finished"] = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    out = args.out or ROOT / "bench" / "results" / f"bench-{args.icps}x{args.days}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(res, indent=2, default=str) + "\n")
    log("results in", out)
    import report

    print(report.table(res))
    if args.docs:
        report.update_docs(args.docs, report.table(res) + "\n\n" + report.details(res), report.HEADING)
    return res


if __name__ == "__main__":
    main()
