"""Store-fault harness: writes through a proxy that fails requests to the object store.

SeaweedFS holds the lake; ``tests/faultproxy.py`` stands in front of its S3 port, and each
trial runs one CLI write (``ingest`` of a new delivery, or ``runs import`` of a run's output)
in a child process whose ``AWS_ENDPOINT_URL`` is the proxy (so botocore, s3fs and DuckDB's
reads all go through it). Each trial fails, with a 500, a 503 or a dropped connection, before
or after the server saw the request, one of:

  - ``nth``: one request, chosen at random among the write's requests;
  - ``fraction``: each request with probability 2-15 %;
  - ``record``: the PUT of the commit record (``_meta/``), after the server stored it;
  - ``outage``: every request from a random one on (the store goes down mid-write; the
    writer's botocore is told to try each request twice, ``AWS_MAX_ATTEMPTS``, so that it
    gives up in seconds rather than a minute).

Then, through a clean endpoint: the write either committed exactly once (exit 0: its delivery
in exactly one ingest, or its output in exactly one published run), or failed with one line
``error: ...`` and no traceback, and committed nothing (unless that line says the outcome is
unknown, when once is allowed); ``check_lake`` finds no damage and the rows equal the
committed deliveries (no row lost or doubled, the crash harness's invariants). The same
write, run again without faults, succeeds, and ``check --repair`` leaves no leftovers.

    .venv/bin/python bench/fault_store.py --trials 60 --seed 1
"""
from __future__ import annotations

import argparse
import contextlib
import hashlib
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench.crash_harness import DAYS, RIG_ENV, Harness  # noqa: E402
from bench.fault_disk import report  # noqa: E402
from datalake.storage import checkpoint  # noqa: E402
from datalake import runs  # noqa: E402
from datalake.storage import leftovers  # noqa: E402
from datalake.maintenance.check import check_lake  # noqa: E402
from datalake.lake import Lake  # noqa: E402
from tests.faultproxy import KINDS, WHEN, FaultProxy  # noqa: E402
from tests.seaweed import SeaweedServer  # noqa: E402

MODES = ("nth", "fraction", "record", "outage")
UNKNOWN = "may have been written"


class StoreFaults:
    def __init__(self, harness: Harness, proxy: FaultProxy, env: dict[str, str], seed_base: int,
                 modes: tuple[str, ...] = MODES) -> None:
        self.h, self.proxy, self.env, self.modes = harness, proxy, env, modes
        self.in_turn = modes != MODES  # modes chosen by the caller: each in turn
        self.requests = {"ingest": 120, "publish": 120}  # a write's requests, from the last trial
        self.seed_base = seed_base

    def _child(self, args: list[str], env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "cli.main", "--lake", self.h.lake_dir, *args], cwd=REPO,
                              capture_output=True, text=True, env={**self.env, **(env or {})}, timeout=600)

    def _times(self, operation: str, path: Path) -> int:
        """How many times the write of ``path`` is committed: ingests of its content, or
        published runs of it."""
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        lake = Lake(self.h.lake_dir)
        if operation == "ingest":
            return sum(1 for r in lake.ingests() if r["source"]["sha256"] == digest)
        return sum(1 for r in runs.records(lake, fresh=True)
                   if r["status"] == "published" and any(p["sha256"] == digest for p in r["parts"]))

    def _arm(self, n: int, operation: str, mode: str) -> str:
        rng = self.h.rng
        kinds, when = (rng.choice(KINDS),), (rng.choice(WHEN),)
        seed = self.seed_base * 1000 + n
        if mode == "nth":
            nth = rng.randint(1, self.requests[operation])
            self.proxy.fail(nth={nth}, kinds=kinds, when=when, seed=seed)
            return f"request {nth} {kinds[0]} {when[0]}"
        if mode == "outage":
            first = rng.randint(1, self.requests[operation] // 2)  # mid-write, not after it
            self.proxy.fail(nth=set(range(first, first + 100_000)), kinds=kinds, when=when, seed=seed)
            return f"outage from {first} {kinds[0]} {when[0]}"
        if mode == "fraction":
            fraction = round(rng.uniform(0.02, 0.15), 2)
            self.proxy.fail(fraction=fraction, kinds=KINDS, when=WHEN, seed=seed)
            return f"{fraction:.0%} of requests"
        self.proxy.fail(nth={1}, match=f"PUT /{self.h.lake_dir.removeprefix('s3://')}/_meta/", kinds=kinds,
                        when=("after",), seed=seed)
        return f"record PUT {kinds[0]} after"

    def trial(self, n: int) -> dict:
        operation = self.h.rng.choice(("ingest", "publish"))
        mode = self.modes[(n - 1) % len(self.modes)] if self.in_turn else self.h.rng.choice(self.modes)
        path = self.h._raw_delivery() if operation == "ingest" else self.h._output_delivery()
        args = (["ingest", str(path)] if operation == "ingest" else
                ["runs", "import", str(path), "--start", str(DAYS[0]), "--end", str(DAYS[-1]), "--allow-partial"])
        what = self._arm(n, operation, mode)
        started = time.monotonic()
        done = self._child(args, {"AWS_MAX_ATTEMPTS": "2"} if mode == "outage" else {})
        seconds = time.monotonic() - started
        faults = [f"{f.n} {f.method} {f.path.split('?')[0].rsplit('/', 2)[-1]} {f.kind} {f.when}"
                  for f in self.proxy.faults]
        if mode != "fraction" and not self.proxy.faults:
            what += " (not reached)"
        if self.proxy.match is None and mode != "outage":  # every request counted
            self.requests[operation] = max(20, self.proxy.requests)
        self.proxy.fail()  # the checks and the rerun: no faults
        times = self._times(operation, path)
        problems = []
        errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
        if done.returncode == 0 and times != 1:
            problems.append(f"exit 0 but committed {times} times")
        if done.returncode != 0:
            if "Traceback" in done.stderr or len(errors) != 1:
                problems.append(f"exit {done.returncode} without one clear line: {done.stderr.strip()[-800:]!r}")
            if times > (1 if errors and UNKNOWN in errors[0] else 0):
                problems.append(f"failed ({errors[:1]}) but committed {times} times")
        report = check_lake(Lake(self.h.lake_dir))
        problems += report.problems + self.h._state_problems()
        rerun = self._child(args)
        if rerun.returncode != 0:
            problems.append(f"again without faults: exit {rerun.returncode}: {rerun.stderr.strip()[-400:]}")
        if operation == "ingest" and self._times(operation, path) != 1:
            problems.append(f"after the rerun committed {self._times(operation, path)} times")
        check_lake(Lake(self.h.lake_dir), repair=True)
        after = check_lake(Lake(self.h.lake_dir))
        problems += after.problems + [f"left over after repair: {p}" for p in after.leftovers]
        problems += self.h._state_problems()
        return {"n": n, "operation": operation, "mode": what, "faults": faults, "exit": done.returncode,
                "error": errors[0] if errors else None, "committed": times, "seconds": round(seconds, 1),
                "leftovers": len(report.leftovers), "problems": problems}


def run(trials: int, seed: int, workdir: Path | None = None, log=print, store: bool | SeaweedServer = False,
        modes: tuple[str, ...] | None = None) -> tuple[dict, list[dict]]:
    """``store``: a running SeaweedFS server (this process reads the lake through its
    endpoint), or anything else to start one here. ``modes``: these, in turn (default:
    each trial one of ``MODES`` at random)."""
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="storefaults-") as tmp, contextlib.ExitStack() as stack:
        work = workdir or Path(tmp)
        server = store if isinstance(store, SeaweedServer) else stack.enter_context(SeaweedServer(work / "seaweed"))
        proxy = stack.enter_context(FaultProxy(server.endpoint))
        saved = dict(os.environ)
        stack.callback(lambda: (os.environ.clear(), os.environ.update(saved)))
        os.environ.update(server.environment(), METERLAKE_CACHE_DIR=str(work / "cache"))
        for module, name, value in ((checkpoint, "INTERVAL", 4), (leftovers, "REMOTE_LEFTOVER_GRACE_S", 0)):
            stack.callback(setattr, module, name, getattr(module, name))
            setattr(module, name, value)
        harness = Harness(work, seed, log, server.url())
        harness.setup()
        env = {**os.environ, **RIG_ENV, "AWS_ENDPOINT_URL": proxy.endpoint,
               "METERLAKE_CACHE_DIR": str(work / "cache-writer")}
        rig = StoreFaults(harness, proxy, env, seed, modes or MODES)
        results = []
        for n in range(1, trials + 1):
            t = rig.trial(n)
            results.append(t)
            log(f"trial {n:3d} {t['operation']:7s} {t['mode']:28s} faults {len(t['faults']):2d} exit {t['exit']} "
                f"committed {t['committed']} {t['seconds']:5.1f}s {(t['error'] or '')[:90]:90s} "
                f"{'FAIL ' + '; '.join(t['problems']) if t['problems'] else 'ok'}")
        summary = {"trials": trials, "failures": sum(1 for t in results if t["problems"]),
                   "seconds": round(time.monotonic() - started, 1),
                   "outcomes": dict(Counter(f"{t['operation']}: {'committed once' if t['exit'] == 0 else 'failed'}"
                                            for t in results)),
                   "modes": dict(Counter(t["mode"].split(" ")[0] if "%" not in t["mode"] else "fraction"
                                         for t in results)),
                   "faults_injected": sum(len(t["faults"]) for t in results),
                   "errors": dict(Counter((t["error"] or "")[:70] for t in results if t["exit"])),
                   "problems": [f"trial {t['n']}: {p}" for t in results for p in t["problems"]]}
    return summary, results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--trials", type=int, default=60)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    summary, results = run(args.trials, args.seed, log=lambda line: print(line, flush=True))
    return report(summary, results, args.json)


if __name__ == "__main__":
    sys.exit(main())
