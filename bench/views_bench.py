"""Timings of the analyst views against the engine on an existing lake.

    python bench/views_bench.py LAKE [--qualify]

Prints the best of a few runs for each query. With --qualify it also times the plain
window-function form of "latest revision" that view raw_reads replaces."""
from __future__ import annotations

import argparse
import time
from collections.abc import Callable

from datalake.output import reads as output
from datalake import sql
from datalake import views
from datalake.lake import Lake
from datalake.raw.reads import read_icp
from datalake.runs.record import list_runs

QUALIFY = """SELECT count(*), sum(interval_read) FROM (FROM raw_reads_all_revisions
QUALIFY row_number() OVER (PARTITION BY icp_id, read_date, read_timestamp, energy_flow_direction
                           ORDER BY ingest_id DESC) = 1)"""


def best(label: str, fn: Callable[[], object], n: int = 3) -> None:
    times = []
    for _ in range(n):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    print(f"{label:<48} {min(times) * 1000:9.1f} ms", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("lake")
    parser.add_argument("--qualify", action="store_true")
    args = parser.parse_args()
    lake = Lake(args.lake)
    con = sql.connect()
    best("define_views", lambda: views.define_views(con, lake))
    print(views.snapshot(lake).describe())
    first, last = (lambda d: (d[0], d[-1]))(sorted({f.read_date for f in lake.raw_files()}))
    icp = con.sql("SELECT min(icp_id) FROM raw_reads WHERE read_date = $d", params={"d": first}).fetchall()[0][0]
    q = lambda text, **p: (lambda: con.sql(text, params=p or None).fetchall())  # noqa: E731
    best("raw_reads total", q("SELECT count(*), sum(interval_read) FROM raw_reads"))
    best("raw_reads_all_revisions total", q("SELECT count(*), sum(interval_read) FROM raw_reads_all_revisions"))
    if args.qualify:
        best("QUALIFY form total", q(QUALIFY), n=1)
    best("raw_reads one date", q("SELECT count(*), sum(interval_read) FROM raw_reads WHERE read_date = $d", d=first))
    best("raw_reads one ICP, all dates", q("SELECT count(*), sum(interval_read) FROM raw_reads WHERE icp_id = $i", i=icp))
    best("engine read_icp", lambda: read_icp(lake, icp, first, last))
    if any(r["status"] == "published" for r in list_runs(lake)):
        best("output_latest by icp_id, buyer_seller", q(
            "SELECT icp_id, buyer_seller, sum(matched_amount), count(*) FROM output_latest "
            "WHERE read_date BETWEEN $a AND $b GROUP BY ALL ORDER BY ALL", a=first, b=last))
        best("engine output_by_key", lambda: output.output_by_key(lake, first, last, limit=None))
        best("output_latest one ICP by day", q(
            "SELECT read_date, buyer_seller, sum(matched_amount), count(*) FROM output_latest "
            "WHERE icp_id = $i AND read_date BETWEEN $a AND $b GROUP BY ALL ORDER BY ALL", i=icp, a=first, b=last))
        best("engine output_summary one ICP by day", lambda: output.output_summary(
            lake, icp, start=first, end=last, limit=None))
    best("write_catalog", lambda: views.write_catalog(lake, f"{lake.root}.duckdb"), n=1)


if __name__ == "__main__":
    main()
