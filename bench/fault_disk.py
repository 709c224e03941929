"""Disk-full harness: writes that run out of disk part-way, on a real tmpfs.

The lake lives on a tmpfs (or, with ``--store``, the lake is on SeaweedFS and the tmpfs holds
the writers' local side, ``METERLAKE_CACHE_DIR``: staging, parts, the lock). Before each
trial the tmpfs is resized to what it holds plus a budget, so the write runs out of space
part-way: in Parquet writing, block files, staged parts, the record write. The budgets of an
operation spread over 0..1.3x the peak its first, unconstrained run took. Operations: the CLI
``ingest`` and ``runs import`` in a child process, and in this process
``datalake.raw.ingest.ingest_file`` and ``datalake.runs.lifecycle.publish_run`` (of a run created and
uploaded with room to spare). After each write that failed:

  1. it failed with a one-line "no space left on device while <step>" (exit 2, no traceback);
  2. the committed state is unchanged: the commit records, the published runs' records, the
     one-ICP reads (``read_icp``) and the views' counts and totals;
  3. ``check_lake`` finds no damage; its leftovers, if any, ``check --repair`` removes;
  4. with the space back, the same write succeeds, and the lake holds exactly the deliveries
     committed (the crash harness's invariants).

Needs root (mount). ``.venv/bin/python bench/fault_disk.py --points 30 [--store]``
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench.crash_harness import DAYS, ICPS, Harness  # noqa: E402
from datalake.storage import leftovers  # noqa: E402
from datalake.runs import lifecycle as runs  # noqa: E402
from datalake import sql
from datalake import views
from datalake.maintenance.check import check_lake  # noqa: E402
from datalake.errors import StorageFullError, environment_error  # noqa: E402
from datalake.raw.ingest import ingest_file  # noqa: E402
from datalake.lake import Lake  # noqa: E402
from datalake.raw.reads import read_icp  # noqa: E402
from tests.seaweed import SeaweedServer  # noqa: E402

OPERATIONS = ("ingest", "publish", "ingest-api", "publish-api")
ROOMY = 256 * 2**20
STEP_RE = re.compile(r"no space left on device while ([^:]+):")


class Tmpfs:
    """A tmpfs mounted at ``path`` for as long as the context lasts."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __enter__(self) -> Tmpfs:
        self.path.mkdir(parents=True, exist_ok=True)
        subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={ROOMY}", "tmpfs", str(self.path)], check=True)
        # Never an empty tmpfs: a size limit of 0 is no limit, and cannot be remounted to one.
        (self.path / ".ballast").write_bytes(b"\0" * 4096)
        return self

    def __exit__(self, *exc: object) -> None:
        subprocess.run(["umount", "-l", str(self.path)], check=False)

    def used(self) -> int:
        st = os.statvfs(self.path)
        return (st.f_blocks - st.f_bfree) * st.f_frsize

    def resize(self, size: int) -> None:
        subprocess.run(["mount", "-o", f"remount,size={size}", str(self.path)], check=True)

    def leave_free(self, budget: int) -> None:
        self.resize(self.used() + budget)


def committed_state(location: str) -> dict:
    """What no failed write may change: commit records, published runs, reads, views."""
    lake = Lake(location)
    published = {r["run_id"]: r for r in runs.records(lake, fresh=True) if r["status"] in ("published", "retracted")}
    reads = [read_icp(lake, icp, DAYS[0], DAYS[-1]).to_pylist() for icp in ICPS[:3]]
    con = sql.connect()
    try:
        views.define_views(con, lake)
        totals = (con.sql("SELECT count(*), sum(interval_read) FROM raw_reads").fetchall(),
                  con.sql("SELECT count(*), sum(matched_amount) FROM output_latest").fetchall())
    finally:
        con.close()
    return {"commits": json.dumps(lake.commits(fresh=True), sort_keys=True, default=str),
            "published": json.dumps(published, sort_keys=True, default=str), "reads": reads, "views": totals}


def differences(before: dict, after: dict) -> list[str]:
    return [f"{key} changed" for key in before if before[key] != after[key]]


class DiskFull:
    def __init__(self, harness: Harness, disk: Tmpfs, env: dict[str, str], log) -> None:
        self.h, self.disk, self.env, self.log = harness, disk, env, log

    def _child(self, args: list[str]) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "cli.main", "--lake", self.h.lake_dir, *args], cwd=REPO,
                              capture_output=True, text=True, env=self.env, timeout=300)

    def _write(self, operation: str) -> tuple[callable, str]:
        """A fresh write of ``operation``: a callable doing it (exit status, stderr)."""
        if operation in ("ingest", "ingest-api"):
            path = self.h._raw_delivery()
            if operation == "ingest":
                return lambda: self._outcome(self._child(["ingest", str(path)])), "ingest"
            return lambda: self._api(lambda: ingest_file(Lake(self.h.lake_dir), path)), "ingest_file"
        if operation == "publish":
            args = ["runs", "import", str(self.h._output_delivery()), "--start", str(DAYS[0]), "--end", str(DAYS[-1]),
                    "--allow-partial"]
            return lambda: self._outcome(self._child(args)), "runs import"
        lake = Lake(self.h.lake_dir)
        run = runs.create_run(lake, start=DAYS[0], end=DAYS[-1], algorithm="diskfull", version="1")["run_id"]
        runs.upload_part(lake, run, 1, self.h._output_delivery())
        self.watched = run
        return lambda: self._api(lambda: runs.publish_run(Lake(self.h.lake_dir), run, allow_partial=True)), "publish_run"

    @staticmethod
    def _outcome(done: subprocess.CompletedProcess) -> tuple[int, str]:
        return done.returncode, done.stderr

    @staticmethod
    def _api(call) -> tuple[int, str]:
        try:
            call()
            return 0, ""
        except Exception as e:  # noqa: BLE001 - judged below
            translated = environment_error(e)
            kind = "" if isinstance(e, StorageFullError) else f"(raised {type(e).__name__}) "
            return 2, f"{kind}error: {translated.message if translated else repr(e)}"

    def _peak(self, do) -> tuple[tuple[int, str], int]:
        """Run ``do`` while sampling the tmpfs every millisecond: its result and peak growth."""
        base, peak, stop = self.disk.used(), [0], threading.Event()

        def sample() -> None:
            while not stop.is_set():
                peak[0] = max(peak[0], self.disk.used() - base)
                time.sleep(0.001)

        sampler = threading.Thread(target=sample)
        sampler.start()
        try:
            result = do()
        finally:
            stop.set()
            sampler.join()
        return result, peak[0]

    def _watched(self) -> dict | None:
        return runs.get_run(Lake(self.h.lake_dir), self.watched) if self.watched else None

    def trial(self, operation: str, budget: int | None, need: int = 0) -> dict:
        self.watched = None
        do, name = self._write(operation)
        before, run_before = committed_state(self.h.lake_dir), self._watched()
        if budget is None:  # the calibration run: room to spare, measure the peak
            (code, err), need = self._peak(do)
            budget = 0
        else:
            self.disk.leave_free(budget)
            try:
                code, err = do()
            finally:
                self.disk.resize(ROOMY)
        trial = {"operation": operation, "budget": budget, "need": need, "failed": code != 0, "step": None,
                 "leftovers": 0, "repaired": False, "problems": []}
        problems = trial["problems"]
        if code == 0:
            problems += self.h._state_problems() + check_lake(Lake(self.h.lake_dir)).problems
            return trial
        lines = [line for line in err.strip().splitlines() if line.startswith("error:")]
        found = STEP_RE.search(err)
        trial["step"] = found.group(1) if found else None
        if not found or "Traceback" in err or len(lines) != 1 or err.startswith("(raised"):
            problems.append(f"{name} did not fail with one clear line: {err.strip()[-600:]!r}")
        problems += differences(before, committed_state(self.h.lake_dir))
        if self._watched() != run_before:
            problems.append(f"{self.watched} changed: {self._watched()}")
        report = check_lake(Lake(self.h.lake_dir))
        problems += report.problems
        trial["leftovers"] = len(report.leftovers)
        if report.leftovers:
            check_lake(Lake(self.h.lake_dir), repair=True)
            trial["repaired"] = True
            if left := Lake(self.h.lake_dir).remove_abandoned(dry_run=True):
                problems.append(f"left over after check --repair: {left}")
        code, err = do()  # the same write, with the space back
        if code != 0:
            problems.append(f"{name} again, with space: exit {code}: {err.strip()[-400:]}")
        problems += self.h._state_problems() + check_lake(Lake(self.h.lake_dir)).problems
        return trial


def run(points: int, seed: int, workdir: Path | None = None, log=print, store: bool | SeaweedServer = False,
        operations: tuple[str, ...] = OPERATIONS, budgets: dict[str, list[int]] | None = None
        ) -> tuple[dict, list[dict]]:
    """``points`` budgets per operation, spread over 0..1.3x the peak of its first run and
    narrowed to the smallest budget it then finished within; or the given ``budgets`` (bytes
    free, per operation; the deliveries follow from ``seed``)."""
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="diskfull-") as tmp, contextlib.ExitStack() as stack:
        work = workdir or Path(tmp)
        disk = stack.enter_context(Tmpfs(work / "tmpfs"))
        saved = dict(os.environ)
        stack.callback(lambda: (os.environ.clear(), os.environ.update(saved)))
        stack.callback(setattr, leftovers, "REMOTE_LEFTOVER_GRACE_S", leftovers.REMOTE_LEFTOVER_GRACE_S)
        leftovers.REMOTE_LEFTOVER_GRACE_S = 0
        os.environ["METERLAKE_LEFTOVER_GRACE_S"] = "0"
        if store:  # the lake on the store; this host's local side on the tmpfs
            server = store if isinstance(store, SeaweedServer) else stack.enter_context(SeaweedServer(work / "seaweed"))
            os.environ.update(server.environment(), METERLAKE_CACHE_DIR=str(disk.path / "cache"))
            location = server.url()
        else:
            location = str(disk.path / "lake")
        harness = Harness(work, seed, log, location)
        harness.setup()
        harness._cli(["runs", "import", str(harness._output_delivery()), "--start", str(DAYS[0]),
                      "--end", str(DAYS[-1]), "--allow-partial"])
        rig = DiskFull(harness, disk, dict(os.environ), log)
        trials = []
        for operation in budgets or operations:
            need = 0
            if budgets is None:
                calibration = rig.trial(operation, None)
                need = high = int(max(calibration["need"], 8192) * 1.3)
                if calibration["problems"]:
                    trials.append(calibration)
            for i in range(len(budgets[operation]) if budgets else points):
                budget = budgets[operation][i] if budgets else int(high * (i + harness.rng.random()) / points)
                t = rig.trial(operation, budget, int(need))
                trials.append(t)
                if not t["failed"] and budgets is None:
                    high = min(high, budget)  # the rest of the points below what sufficed
                log(f"{operation:12s} budget {t['budget']:8,d} of {need:8,d}  "
                    f"{'failed while ' + str(t['step']) if t['failed'] else 'finished':42s} leftovers {t['leftovers']} "
                    f"{'FAIL ' + '; '.join(t['problems']) if t['problems'] else 'ok'}")
        summary = {"trials": len(trials), "failures": sum(1 for t in trials if t["problems"]),
                   "store": bool(store), "seconds": round(time.monotonic() - started, 1),
                   "steps": dict(Counter(f"{t['operation']}: {t['step'] or 'finished within budget'}" for t in trials)),
                   "with_leftovers": sum(1 for t in trials if t["leftovers"]),
                   "problems": [f"{t['operation']} at {t['budget']}: {p}" for t in trials for p in t["problems"]]}
    return summary, trials


def report(summary: dict, trials: list[dict], path: Path | None) -> int:
    """Print the summary, and write it with every trial to ``path`` (if given) as JSON; the
    exit status: 1 if any trial failed."""
    print(json.dumps(summary, indent=2))
    if path:
        path.write_text(json.dumps({"summary": summary, "trials": trials}, indent=2) + "\n")
    return 1 if summary["failures"] else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--points", type=int, default=30, help="budgets per operation")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--store", action="store_true", help="the lake on SeaweedFS, the local side on the tmpfs")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    summary, trials = run(args.points, args.seed, store=args.store, log=lambda line: print(line, flush=True))
    return report(summary, trials, args.json)


if __name__ == "__main__":
    sys.exit(main())
