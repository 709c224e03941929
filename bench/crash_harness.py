"""Crash harness: run every kind of write (ingest, run upload, publication, abort and
retraction, compaction, vacuum, and the checkpoints that commits write every few commits)
through the real CLI in a child process, SIGKILL it at a random moment, and check the lake's
invariants. On a local folder, or with ``--store`` on SeaweedFS (started here).

After every kill:
  1. `meterlake check` finds no damage: every committed file present with its recorded size
     and sha256, schemas as declared, run records legal, and each ingest's rows in the raw
     snapshot equal to its record (fully visible or not at all, never twice).
  2. Latest revision of every key (bulk read, and the analyst view raw_reads) equals the state
     built from the committed deliveries in commit order; so does the read as of a random
     earlier ingest. Every published run holds exactly the rows of the file it was given.
  3. The same command run again finishes (exit 0), and after it (or after `meterlake check
     --repair` when it had nothing to write) no leftovers remain.

    .venv/bin/python bench/crash_harness.py --trials 1000 --seed 1 [--store] [--json result.json]
"""
from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import hashlib
import io
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from cli.main import main as cli_main  # noqa: E402
from datalake.storage import checkpoint  # noqa: E402
from datalake import runs  # noqa: E402
from datalake import sql
from datalake import views
from datalake.storage import leftovers  # noqa: E402
from datalake.raw.bulk import read_bulk  # noqa: E402
from datalake.maintenance.check import check_lake  # noqa: E402
from datalake.lake import Lake  # noqa: E402
from datalake.trading import ZONE, day_bounds, periods_in_day  # noqa: E402
from tests.seaweed import SeaweedServer  # noqa: E402

DAYS = [dt.date(2018, 6, 14) + dt.timedelta(days=i) for i in range(3)]
ICPS = [f"{n:010d}TR{n % 7}A{n % 3}" for n in range(1, 41)]
OPERATIONS = {"ingest": 4, "publish": 3, "upload": 1, "abort": 1, "retract": 1, "compact": 3, "vacuum": 1}
# Transitions that a second run after a committed kill rightly refuses (the run moved on).
ONE_SHOT = {"abort", "retract"}
# Every write's environment: a checkpoint every 4 commits, so that kills hit checkpoint
# writes; no grace period for leftovers on a store (no other host writes this lake).
RIG_ENV = {"METERLAKE_CHECKPOINT_INTERVAL": "4", "METERLAKE_LEFTOVER_GRACE_S": "0"}
Key = tuple[str, dt.datetime, str]


@dataclass
class Trial:
    n: int
    operation: str
    delay: float
    outcome: str          # killed-before-commit, killed-after-commit, finished-before-kill
    leftovers: int        # uncommitted files and staging folders the kill left
    rerun: str            # how the leftovers went: "none", "next command", "check --repair"
    problems: list[str] = field(default_factory=list)


@dataclass
class Summary:
    trials: int = 0
    failures: int = 0
    seconds: float = 0.0
    operations: dict = field(default_factory=dict)
    outcomes: dict = field(default_factory=dict)
    leftovers_after_kill: int = 0
    cleaned_by: dict = field(default_factory=dict)
    commits: int = 0
    published_runs: int = 0
    problems: list[str] = field(default_factory=list)


class Harness:
    def __init__(self, workdir: Path, seed: int, log=print, location: str | None = None) -> None:
        self.work = workdir
        self.lake_dir = location or str(workdir / "lake")
        self.rng = random.Random(seed)
        self.log = log
        self.deliveries: dict[str, dict[Key, Decimal]] = {}   # sha256 of a raw file -> its rows
        self.outputs: dict[str, int] = {}                      # sha256 of an output file -> rows
        self.duration = {op: 1.5 for op in OPERATIONS}          # running estimates, seconds
        self.files = 0

    # -- inputs ----------------------------------------------------------------------

    def _raw_delivery(self, first: bool = False) -> Path:
        """Every ICP's reads for the first delivery; later ones a few ICPs and days, some
        values new, most revisions of stored keys."""
        icps = ICPS if first else self.rng.sample(ICPS, self.rng.randint(2, 8))
        days = DAYS if first else self.rng.sample(DAYS, self.rng.randint(1, 2))
        rows: dict[Key, Decimal] = {}
        lines = ["read_timestamp,interval_read,energy_flow_direction,icp_id"]
        for day in days:
            start = day_bounds(day)[0]
            for icp in icps:
                for p in range(periods_in_day(day)):
                    if not first and self.rng.random() < 0.5:
                        continue
                    end = start + dt.timedelta(minutes=30 * (p + 1))
                    value = Decimal(self.rng.randint(0, 3000)) / 1000
                    direction = "I" if (not first and self.rng.random() < 0.1) else "X"
                    rows[(icp, end.astimezone(dt.UTC), direction)] = value
                    local = end.astimezone(ZONE)
                    offset = int(local.utcoffset().total_seconds() // 3600)
                    lines.append(f"{local:%Y-%m-%d %H:%M:%S}{offset:+03d},{value:.3f},{direction},{icp}")
        return self._keep("raw", "\n".join(lines) + "\n", lambda digest: self.deliveries.__setitem__(digest, rows))

    def _output_delivery(self) -> Path:
        icps = self.rng.sample(ICPS, self.rng.randint(3, 12))
        lines = ["icp_id, matched_amount, read_date, read_time, publish_datetime, buyer_seller"]
        for day in DAYS:
            for icp in icps:
                for p in range(periods_in_day(day)):
                    lines.append(f'{icp}, "{self.rng.randint(0, 20000) / 10000:.4f}", "{day}", '
                                 f'"{p // 2:02d}:{30 * (p % 2):02d}:00", "2018-06-27 16:39:36.057601+12", '
                                 f'"{self.rng.choice(("buyer", "seller"))}"')
        return self._keep("out", "\n".join(lines) + "\n",
                          lambda digest: self.outputs.__setitem__(digest, len(lines) - 1))

    def _keep(self, kind: str, text: str, remember) -> Path:
        self.files += 1
        path = self.work / f"{kind}-{self.files:04d}.csv"
        path.write_text(text)
        remember(hashlib.sha256(text.encode()).hexdigest())
        return path

    def _command(self, operation: str) -> list[str]:
        if operation == "ingest":
            return ["ingest", str(self._raw_delivery())]
        if operation == "publish":
            # A delivery covers a few of the lake's ICPs: a partial run, on purpose.
            return ["runs", "import", str(self._output_delivery()), "--start", str(DAYS[0]),
                    "--end", str(DAYS[-1]), "--allow-partial"]
        if operation == "upload":
            return ["runs", "upload", self._open_run(), str(self._output_delivery())]
        if operation == "abort":
            return ["runs", "abort", self._open_run()]
        if operation == "retract":
            published = runs.list_runs(Lake(self.lake_dir), status="published")
            return ["runs", "retract", self.rng.choice(published)["run_id"] if published else self._published_run()]
        if operation == "compact":
            return ["compact"]
        return ["vacuum", "--older-than", "0s"]

    def _open_run(self) -> str:
        """An open run with one part uploaded (made here, not by the child)."""
        lake = Lake(self.lake_dir)
        opened = runs.list_runs(lake, status="open")
        if opened and self.rng.random() < 0.7:
            return self.rng.choice(opened)["run_id"]
        run = runs.create_run(lake, start=DAYS[0], end=DAYS[-1], algorithm="crash", version="1")["run_id"]
        runs.upload_part(lake, run, 1, self._output_delivery())
        return run

    def _published_run(self) -> str:
        run = self._open_run()
        runs.publish_run(Lake(self.lake_dir), run, allow_partial=True)
        return run

    # -- one trial -------------------------------------------------------------------

    def setup(self) -> None:
        Lake.create(self.lake_dir)
        for path in [self._raw_delivery(first=True), self._raw_delivery(), self._raw_delivery()]:
            assert self._cli(["ingest", str(path)]) == 0

    def trial(self, n: int) -> Trial:
        operation = self.rng.choices(list(OPERATIONS), weights=list(OPERATIONS.values()))[0]
        args = self._command(operation)
        before = self._state()
        # Most of a short command's life is interpreter start-up; aim most kills at the rest.
        estimate = self.duration[operation]
        delay = self.rng.uniform(0, estimate) if self.rng.random() < 0.3 else self.rng.uniform(0.55, 1.05) * estimate
        started = time.monotonic()
        child = subprocess.Popen([sys.executable, "-m", "cli.main", "--lake", str(self.lake_dir), *args],
                                 cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                 env={**os.environ, **RIG_ENV})
        try:
            child.wait(timeout=delay)
            finished = True
        except subprocess.TimeoutExpired:
            os.kill(child.pid, signal.SIGKILL)
            child.wait()
            finished = False
        stderr = child.stderr.read().decode()
        child.stderr.close()
        if finished:
            self.duration[operation] = 0.7 * estimate + 0.3 * (time.monotonic() - started)
        elif delay > 0.55 * estimate:
            self.duration[operation] = 1.1 * estimate  # killed before its end: it takes longer here
        after = self._state()
        outcome = ("finished-before-kill" if finished else
                   "killed-after-commit" if after != before else "killed-before-commit")
        problems = [] if not finished or child.returncode == 0 else [f"{operation} failed: {stderr.strip()}"]
        report = check_lake(Lake(self.lake_dir))
        problems += report.problems + self._state_problems()
        leftovers = len(report.leftovers)
        rerun = "none"
        if not finished:
            code = self._cli(args)
            refused = operation in ONE_SHOT and outcome == "killed-after-commit"
            if code != (2 if refused else 0):
                problems.append(f"re-running {operation} exited {code}")
            left = check_lake(Lake(self.lake_dir)).leftovers
            rerun = "next command" if leftovers and not left else rerun
            if left:
                check_lake(Lake(self.lake_dir), repair=True)
                rerun = "check --repair"
                if check_lake(Lake(self.lake_dir)).leftovers:
                    problems.append("leftovers remain after check --repair")
            problems += check_lake(Lake(self.lake_dir)).problems + self._state_problems()
        return Trial(n, operation, round(delay, 3), outcome, leftovers, rerun, problems)

    # -- invariants ------------------------------------------------------------------

    def _state(self) -> tuple:
        """What a committed write changes: the commit log, or a run's status or parts."""
        lake = Lake(self.lake_dir)
        return (len(lake.commits(fresh=True)),
                tuple((r["run_id"], r["status"], len(r["parts"])) for r in runs.records(lake, fresh=True)))

    def _published(self) -> int:
        return sum(1 for r in runs.list_runs(Lake(self.lake_dir)) if r["status"] == "published")

    def _state_problems(self) -> list[str]:
        lake = Lake(self.lake_dir)
        problems = []
        states, state = {}, {}
        for record in lake.ingests():
            delivery = self.deliveries.get(record["source"]["sha256"])
            if delivery is None:
                problems.append(f"{record['ingest_id']} is not a delivery the harness made")
                continue
            state.update(delivery)
            states[record["ingest_id"]] = dict(state)
        points = [None] + ([self.rng.choice(list(states))] if states else [])
        for as_of in points:
            expected = state if as_of is None else states[as_of]
            got = self._bulk(lake, as_of)
            if got != expected:
                wrong = sum(1 for k in set(got) | set(expected) if got.get(k) != expected.get(k))
                problems.append(f"latest revisions as of {as_of or 'now'}: {wrong} keys differ "
                                f"({len(got)} read, {len(expected)} expected)")
        con = sql.connect()
        views.define_views(con, lake)
        count, total = con.sql("SELECT count(*), coalesce(sum(interval_read), 0) FROM raw_reads").fetchall()[0]
        if (count, total) != (len(state), sum(state.values(), Decimal(0))):
            problems.append(f"view raw_reads: {count} rows totalling {total}, expected {len(state)} "
                            f"totalling {sum(state.values(), Decimal(0))}")
        for record in runs.list_runs(lake, status="published"):
            expected_rows = {self.outputs.get(p["sha256"]) for p in record["parts"]}
            files = [str(lake.root / f["path"]) for f in record["files"]]
            stored = con.sql("SELECT count(*) FROM read_parquet($f)", params={"f": files}).fetchall()[0][0]
            if {record["rows"]} != expected_rows or stored != record["rows"]:
                problems.append(f"{record['run_id']}: {stored} rows stored, record {record['rows']}, "
                                f"delivered {expected_rows}")
        con.close()
        return problems

    def _bulk(self, lake: Lake, as_of: str | None) -> dict[Key, Decimal]:
        table = read_bulk(lake, DAYS[0], DAYS[-1], as_of=as_of).reader().read_all()
        keys = zip(table["icp_id"].to_pylist(), table["read_timestamp"].to_pylist(),
                   table["energy_flow_direction"].to_pylist())
        got: dict[Key, Decimal] = {}
        for key, value in zip(keys, table["interval_read"].to_pylist()):
            if key in got:  # a row counted twice
                return {("<duplicate>", key[1], key[0]): Decimal(0)}
            got[key] = value
        return got

    def _cli(self, args: list[str]) -> int:
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            return cli_main(["--lake", str(self.lake_dir), *args])


def run(trials: int, seed: int, workdir: Path | None = None, log=print,
        store: bool | SeaweedServer = False) -> tuple[Summary, list[Trial]]:
    """``store``: True to start a SeaweedFS server for the lake, or a running one (DuckDB
    reads ``s3://`` through one file system per process, so a process keeps to one server)."""
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="crash-") as tmp, contextlib.ExitStack() as stack:
        work = workdir or Path(tmp)
        location = None
        if store:  # a SeaweedFS server for the lake; this process and the children its clients
            server = store if isinstance(store, SeaweedServer) else stack.enter_context(SeaweedServer(work / "seaweed"))
            saved = dict(os.environ)
            stack.callback(lambda: (os.environ.clear(), os.environ.update(saved)))
            os.environ.update(server.environment(), METERLAKE_CACHE_DIR=str(work / "cache"))
            location = server.url()
        # The rig's settings (RIG_ENV) in this process too, which checks and repairs.
        for module, name, value in ((checkpoint, "INTERVAL", 4), (leftovers, "REMOTE_LEFTOVER_GRACE_S", 0)):
            stack.callback(setattr, module, name, getattr(module, name))
            setattr(module, name, value)
        harness = Harness(work, seed, log, location)
        harness.setup()
        results = []
        for n in range(1, trials + 1):
            t = harness.trial(n)
            results.append(t)
            log(f"trial {n:4d} {t.operation:8s} delay {t.delay:5.2f}s {t.outcome:21s} leftovers {t.leftovers} "
                f"cleaned by {t.rerun:14s} {'FAIL ' + '; '.join(t.problems) if t.problems else 'ok'}")
        lake = Lake(harness.lake_dir)
        summary = Summary(
            trials=trials, failures=sum(1 for t in results if t.problems),
            seconds=round(time.monotonic() - started, 1),
            operations=dict(Counter(t.operation for t in results)),
            outcomes=dict(Counter(f"{t.operation}: {t.outcome}" for t in results)),
            leftovers_after_kill=sum(1 for t in results if t.leftovers),
            cleaned_by=dict(Counter(t.rerun for t in results if t.leftovers)),
            commits=len(lake.commits()), published_runs=harness._published(),
            problems=[f"trial {t.n} ({t.operation}): {p}" for t in results for p in t.problems])
    return summary, results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--trials", type=int, default=200)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--workdir", type=Path, help="keep the lake here (default: a temporary folder)")
    parser.add_argument("--json", type=Path, help="write the summary and every trial here")
    parser.add_argument("--store", action="store_true", help="the lake on SeaweedFS (started here)")
    args = parser.parse_args(argv)
    if args.workdir:
        args.workdir.mkdir(parents=True, exist_ok=True)
    summary, results = run(args.trials, args.seed, args.workdir, store=args.store)
    print(json.dumps(asdict(summary), indent=2))
    if args.json:
        args.json.write_text(json.dumps({"summary": asdict(summary), "trials": [asdict(t) for t in results]},
                                        indent=2) + "\n")
    return 1 if summary.failures else 0


if __name__ == "__main__":
    sys.exit(main())
