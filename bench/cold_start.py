"""A cold reader of a lake with a long history: the requests and the time to open a lake
handle and list its raw files, and to list its runs, with the checkpoints and without them
(the same lake with `_meta/checkpoints/` removed), on local disk and on SeaweedFS (started
here).

    .venv/bin/python bench/cold_start.py --ingests 500 --runs 200   # -> bench/results/cold-start-500.json
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]

import s3fs  # noqa: E402

from datalake.storage import checkpoint  # noqa: E402
from datalake import runs  # noqa: E402
from datalake.raw.ingest import ingest_file  # noqa: E402
from datalake.lake import Lake  # noqa: E402
from datalake.storage.files import remove_tree  # noqa: E402
from tests.factories.raw import day_rows, write_csv  # noqa: E402
from tests.seaweed import SeaweedServer  # noqa: E402

START = dt.date(2018, 6, 1)
ICPS = [f"00000{n:05d}CS{n % 10}B{n % 7}" for n in range(4)]


def build(location: str, folder: Path, ingests: int, run_count: int) -> None:
    lake = Lake.create(location)
    for k in range(ingests):  # one small delivery a day, as a retailer's feed would be
        day = START + dt.timedelta(days=k)
        rows = [r for icp in ICPS for r in day_rows(icp, day)]
        ingest_file(lake, write_csv(folder / "delivery.csv", rows), source_name=f"day-{day}.csv")
    for k in range(run_count):  # runs that ended in either state, every third aborted
        run = runs.create_run(lake, start=START, end=START, algorithm="cold", version="1")["run_id"]
        if k % 3 == 0:
            runs.abort_run(lake, run)


class Requests:
    """Counts the store requests s3fs makes (the async calls and the sync wrapper's)."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self._async = s3fs.S3FileSystem._call_s3
        counter = self

        async def counted(fs, method, *args, **kwargs):
            counter.calls.append(method)
            return await counter._async(fs, method, *args, **kwargs)

        s3fs.S3FileSystem._call_s3 = counted

    def watch(self, lake: Lake) -> None:
        if hasattr(lake.root, "fs"):
            sync = lake.root.fs.call_s3

            def counted_sync(method, *args, **kwargs):
                self.calls.append(method)
                return sync(method, *args, **kwargs)

            lake.root.fs.call_s3 = counted_sync


def cold(location: str, requests: Requests, trials: int) -> dict:
    times, counts, run_times, run_counts = [], [], [], []
    for _ in range(trials):
        started = time.perf_counter()
        lake = Lake(location)
        requests.watch(lake)
        requests.calls.clear()
        files = lake.raw_files()
        times.append(time.perf_counter() - started)
        counts.append(len(requests.calls))
        requests.calls.clear()
        runs._cache.clear()  # the process's records and run checkpoint: a cold reader has none
        checkpoint._saved.clear()
        started = time.perf_counter()
        found = runs.list_runs(lake)
        run_times.append(time.perf_counter() - started)
        run_counts.append(len(requests.calls))
        if hasattr(lake.root, "fs"):
            del lake.root.fs.call_s3
    remote = location.startswith("s3://")
    return {"raw_files": len(files), "median_s": round(statistics.median(times), 4),
            "requests": counts[-1] if remote else None,
            "runs": len(found), "runs_median_s": round(statistics.median(run_times), 4),
            "runs_requests": run_counts[-1] if remote else None}


def measure(location: str, folder: Path, ingests: int, run_count: int, requests: Requests, trials: int) -> dict:
    started = time.perf_counter()
    build(location, folder, ingests, run_count)
    built = round(time.perf_counter() - started, 1)
    lake = Lake(location)
    checkpoints = [p.name for p in lake.layout.checkpoints_dir.glob("*.jsonl")]
    with_checkpoints = cold(location, requests, trials)
    remove_tree(lake.layout.checkpoints_dir)
    without = cold(location, requests, trials)
    return {"ingests": ingests, "runs": run_count, "build_s": built, "checkpoints": checkpoints,
            "with_checkpoints": with_checkpoints, "without_checkpoints": without}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--ingests", type=int, default=500)
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--trials", type=int, default=5)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    out = args.out or HERE / "results" / f"cold-start-{args.ingests}.json"
    requests = Requests()
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        results["local"] = measure(str(folder / "lake"), folder, args.ingests, args.runs, requests, args.trials)
        with SeaweedServer(folder / "seaweed") as store:
            import os

            os.environ.update(store.environment(), METERLAKE_CACHE_DIR=str(folder / "cache"))
            results["s3"] = measure(store.url("cold"), folder, args.ingests, args.runs, requests, args.trials)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
