"""Figures of run review and data quality at scale: the diff of two runs, the checks on a
run, and the completeness report of the raw data.

    .venv/bin/python bench/review_bench.py [--icps 100000] [--days 14] [--lake PATH] [--repeat 5]

Builds (or, with ``--lake`` naming an existing folder, reuses) a lake of ``icps`` x ``days``
generated raw reads and two runs over the whole window, one output row per ICP, date and half
hour each (``runs_bench.build_parts``), then times, in this process on the engine calls the
service makes: the first page of ``rundiff.run_diff`` (cold: a new process's first call; warm:
again), ``runchecks.run_checks``, and ``quality.reads_quality`` over the window and
``quality.icp_quality`` of one ICP. Writes JSON to bench/results/review-<icps>x<days>.json."""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from datalake.raw import quality  # noqa: E402
from datalake.runs import checks as runchecks
from datalake.runs import diff as rundiff
from datalake import runs  # noqa: E402
from datalake.demo.generate import generate  # noqa: E402
from datalake.lake import Lake  # noqa: E402
from runs_bench import build_parts, publish  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
START = dt.date(2018, 6, 1)


def log(*parts: object) -> None:
    print(f"[{time.strftime('%H:%M:%S')}]", *parts, flush=True)


def build(root: Path, icps: int, days: int) -> Lake:
    """A lake with ``icps`` x ``days`` of raw reads and two published runs, unless ``root``
    holds one already."""
    if (root / "lake.json").exists():
        lake = Lake(root)
        if len(runs.list_runs(lake, status="published")) >= 2:
            return lake
    lake = Lake.create(root)
    end = START + dt.timedelta(days=days - 1)
    began = time.perf_counter()
    generate(lake, icps=icps, days=days, start=START, seed=42)
    log(f"generated {icps:,} ICPs x {days} days in {time.perf_counter() - began:.1f} s")
    with tempfile.TemporaryDirectory(dir=root.parent) as work:
        for seed in (1, 2):
            paths = build_parts(Path(work), icps, 8, seed, START, end)
            record = publish(lake, paths, START, end, str(seed))
            log(f"published {record['run_id']}: {record['rows']:,} rows in {record['publish_s']:.1f} s")
            for p in paths:
                p.unlink()
    return lake


def timed(fn, repeat: int) -> dict:
    """The first call and the median and best of ``repeat`` more, in milliseconds, wall time
    and this process's CPU time (on a shared machine the CPU time says what an idle one
    would see, at most: the work uses up to 2 threads)."""
    t, c = time.perf_counter(), time.process_time()
    fn()
    first, first_cpu = (time.perf_counter() - t) * 1000, (time.process_time() - c) * 1000
    times, cpu = [], []
    for _ in range(repeat):
        t, c = time.perf_counter(), time.process_time()
        fn()
        times.append((time.perf_counter() - t) * 1000)
        cpu.append((time.process_time() - c) * 1000)
    return {"first_ms": round(first, 1), "median_ms": round(statistics.median(times), 1),
            "best_ms": round(min(times), 1), "first_cpu_ms": round(first_cpu, 1),
            "median_cpu_ms": round(statistics.median(cpu), 1), "n": repeat}


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--icps", type=int, default=100_000)
    ap.add_argument("--days", type=int, default=14)
    ap.add_argument("--lake", type=Path, default=None, help="build the lake here, or reuse the one there")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--build-only", action="store_true")
    args = ap.parse_args(argv)
    holder = None
    if args.lake is None:
        holder = tempfile.TemporaryDirectory(prefix="review-bench-")
        args.lake = Path(holder.name) / "lake"
    lake = build(args.lake, args.icps, args.days)
    if args.build_only:
        return {}
    res = measure(lake, args)
    out = args.out or ROOT / "bench" / "results" / f"review-{args.icps}x{args.days}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(res, indent=2) + "\n")
    log(json.dumps(res, indent=2))
    if holder is not None:
        holder.cleanup()
    return res


def measure(lake: Lake, args: argparse.Namespace) -> dict:
    published = [r["run_id"] for r in runs.list_runs(lake, status="published")]
    run, against = published[-1], published[-2]
    record = runs.get_run(lake, run)
    start, end = record["start"], record["end"]
    res: dict = {"icps": args.icps, "days": args.days, "run": run, "against": against,
                 "output_rows": record["rows"], "raw_rows": sum(f.rows for f in lake.raw_files()),
                 "load_average_start": os.getloadavg()[0]}

    def cold_diff() -> None:
        rundiff._indexed_cells.cache_clear()
        rundiff._cells.cache_clear()
        rundiff.run_diff(lake, run, against, limit=100)

    res["diff_first_page_cold"] = timed(cold_diff, args.repeat)
    first = rundiff.run_diff(lake, run, against, limit=100)
    res["diff_next_page_cached"] = timed(lambda: rundiff.run_diff(lake, run, against, limit=100,
                                                                  cursor=first.next_cursor), args.repeat)
    res["diff_cells"] = sum(s["added"] + s["removed"] + s["changed"] + s["unchanged"]
                            for s in first.sides.to_pylist())
    log("diff", res["diff_first_page_cold"], res["diff_next_page_cached"])
    res["checks"] = timed(lambda: runchecks.run_checks(lake, run), args.repeat)
    log("checks", res["checks"])
    res["quality_report"] = timed(lambda: quality.reads_quality(lake, start, end), args.repeat)
    log("quality report", res["quality_report"])
    icp = quality.reads_quality(lake, start, start).num_rows and \
        rundiff.run_diff(lake, run, against, limit=1).changes["icp_id"][0].as_py()
    res["quality_one_icp"] = timed(lambda: quality.icp_quality(lake, icp, start, end), args.repeat * 4)
    log("quality of one ICP", res["quality_one_icp"])
    res["load_average_end"] = os.getloadavg()[0]
    return res


if __name__ == "__main__":
    main()
