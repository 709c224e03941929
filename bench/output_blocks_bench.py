"""Engine timings of the output queries on the block files, on an existing lake with a
published run (no service, no serving indexes):

    PYTHONPATH=. .venv/bin/python bench/output_blocks_bench.py LAKE [--n 200]

query 2: one ICP's daily summary over the whole window for its side; query 3: its first
100-row interval page and the page after it; query 4: one date by icp_id, buyer_seller
(the first JSON page of 100 and of 1,000, a page from the middle, the whole date), and
the whole window by key (first pages, every row, by read_date, buyer_seller). Each is
timed warm (block footers opened by an earlier call) as median and p99 over random ICPs
or dates; the first call of each is printed as "first". DuckDB over the same Parquet
files is timed beside query 4."""
from __future__ import annotations

import argparse
import datetime as dt
import random
import statistics
import time
from collections.abc import Callable

import duckdb

from datalake.output import reads as output
from datalake.lake import Lake
from datalake.runs.record import output_files, records

HIVE = "hive_partitioning = true, hive_types = {'run_id': VARCHAR, 'read_date': DATE}"


def timed(label: str, calls: list[Callable[[], object]]) -> None:
    times = []
    for call in calls:
        began = time.perf_counter()
        call()
        times.append((time.perf_counter() - began) * 1000)
    first, rest = times[0], sorted(times[1:]) or times
    p99 = rest[min(len(rest) - 1, int(len(rest) * 0.99))]
    print(f"{label:<52} first {first:8.2f} ms   median {statistics.median(rest):8.2f} ms   "
          f"p99 {p99:8.2f} ms   (n={len(times)})", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("lake")
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    lake = Lake(args.lake)
    published = records(lake, status="published")
    start = min(dt.date.fromisoformat(r["start"]) for r in published)
    end = max(dt.date.fromisoformat(r["end"]) for r in published)
    pinned = output.resolve_runs(lake, start, end)
    files = [f for d, r in pinned.items() for f in output_files(lake, r)[d]]
    pairs = duckdb.execute(f"SELECT DISTINCT icp_id, buyer_seller FROM read_parquet($f, {HIVE}) ORDER BY ALL",
                           {"f": output_files(lake, pinned[end])[end]}).fetchall()
    rng = random.Random(args.seed)
    sample = rng.choices(pairs, k=args.n)
    days = sorted(pinned)
    print(f"{lake.root}: {len({i for i, _ in pairs})} ICPs, {len(pairs)} (ICP, side) pairs, {len(days)} dates "
          f"{start}..{end}, run(s) {sorted(set(pinned.values()))}")

    timed("q2 one ICP, day summary of the window, one side", [
        (lambda i=i, s=s: output.output_summary(lake, i, start=start, end=end, buyer_seller=s)) for i, s in sample])
    timed("q3 one ICP, first interval page of 100", [
        (lambda i=i: output.output_summary(lake, i, granularity="interval", limit=100)) for i, _ in sample])
    cursors = [(i, output.output_summary(lake, i, granularity="interval", limit=100)[1]) for i, _ in sample[:50]]
    timed("q3 one ICP, the interval page after it", [
        (lambda i=i, c=c: output.output_summary(lake, i, granularity="interval", limit=100, cursor=c))
        for i, c in cursors])
    some_days = [rng.choice(days) for _ in range(min(args.n, 40))]
    for limit in (100, 1000):
        timed(f"q4 one date by icp_id,buyer_seller, first page of {limit}", [
            (lambda d=d, n=limit: output.output_by_key(lake, d, d, limit=n)) for d in some_days])
    middle = [(d, output.output_by_key(lake, d, d, limit=len(pairs) // 2)[1]) for d in some_days[:10]]
    timed("q4 one date by icp_id,buyer_seller, page of 100 mid-way", [
        (lambda d=d, c=c: output.output_by_key(lake, d, d, limit=100, cursor=c))
        for d, c in middle])
    timed("q4 one date by icp_id,buyer_seller, whole date", [
        (lambda d=d: output.output_by_key(lake, d, d, limit=None)) for d in some_days[:8]])
    con = duckdb.connect()
    con.execute("SET parquet_metadata_cache = true")
    sql_text = (f"SELECT icp_id, buyer_seller, CAST(sum(matched_amount) AS DECIMAL(18, 4)), count(*) "
                f"FROM read_parquet($f, {HIVE}) GROUP BY ALL ORDER BY ALL")
    timed("   DuckDB, whole date by icp_id,buyer_seller", [
        (lambda d=d: con.sql(sql_text, params={"f": output_files(lake, pinned[d])[d]}).to_arrow_table())
        for d in some_days[:8]])
    timed(f"q4 {len(days)} dates by icp_id,buyer_seller, first page of 100", [
        (lambda: output.output_by_key(lake, start, end, limit=100)) for _ in range(10)])
    timed(f"q4 {len(days)} dates by read_date,icp_id, first page of 100", [
        (lambda: output.output_by_key(lake, start, end, by=["read_date", "icp_id"], limit=100)) for _ in range(10)])
    timed(f"q4 {len(days)} dates by icp_id,buyer_seller, every row", [
        (lambda: output.output_by_key(lake, start, end, limit=None)) for _ in range(2)])
    timed(f"q4 {len(days)} dates by read_date,buyer_seller", [
        (lambda: output.output_by_key(lake, start, end, by=["read_date", "buyer_seller"], limit=None))
        for _ in range(3)])
    by_date = (f"SELECT read_date, buyer_seller, CAST(sum(matched_amount) AS DECIMAL(18, 4)), count(*) "
               f"FROM read_parquet($f, {HIVE}) GROUP BY ALL ORDER BY ALL")
    timed(f"   DuckDB, {len(days)} dates by read_date,buyer_seller", [
        (lambda: con.sql(by_date, params={"f": files}).to_arrow_table()) for _ in range(3)])


if __name__ == "__main__":
    main()
