"""Two real processes, each as a separate host (its own ``METERLAKE_CACHE_DIR``), racing
through the CLI on one lake, on a local folder and on SeaweedFS: exactly one wins each run
transition, both of two ingests land under distinct ids, and the records stay consistent.

``METERLAKE_RACE_ROUNDS`` sets the rounds of each race (``make test``: 5; ``make race``: 50).
A probe of the store itself checks that its conditional PUTs have one winner, so that a
defect of the store is not taken for ours."""
from __future__ import annotations

import datetime as dt
import json
import os
import random
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import botocore.session
import pyarrow.parquet as pq
import pytest

from cli.main import main as cli_main
from datalake import runs
from datalake.lake import Lake
from tests.conftest import REPO
from tests.factories import output as out_rows
from tests.factories.raw import day_rows, write_csv
from tests.seaweed import ACCESS_KEY, SECRET_KEY, SeaweedServer

ROUNDS = int(os.environ.get("METERLAKE_RACE_ROUNDS", "5"))
D = dt.date(2018, 6, 1)
ICPS = [f"00000{n:05d}RC{n % 10}A{n % 7}" for n in range(12)]


@pytest.fixture(params=["local", "seaweedfs"])
def location(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("METERLAKE_CACHE_DIR", str(tmp_path / "cache-parent"))
    if request.param == "local":
        return str(tmp_path / "lake")
    s3 = request.getfixturevalue("seaweed")
    for name, value in s3.environment().items():
        monkeypatch.setenv(name, value)
    return s3.url()


class Worker:
    """One ``tests.race_worker`` process: a host of its own."""

    def __init__(self, env: dict[str, str]) -> None:
        self.process = subprocess.Popen([sys.executable, "-m", "tests.race_worker"], cwd=REPO, env=env,
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)

    def send(self, line: str) -> None:
        self.process.stdin.write(line + "\n")
        self.process.stdin.flush()

    def answer(self) -> str:
        line = self.process.stdout.readline()
        assert line, f"worker exited with {self.process.wait()}"
        return line.strip()


@pytest.fixture
def workers(tmp_path: Path) -> Iterator[list[Worker]]:
    pair = [Worker({**os.environ, "METERLAKE_CACHE_DIR": str(tmp_path / f"host-{n}")}) for n in range(2)]
    yield pair
    for w in pair:
        w.process.stdin.close()
        w.process.wait(30)


def race(workers: list[Worker], *jobs: tuple[list[str], float]) -> list[dict]:
    """Run one CLI command in each worker, released together, each after its delay."""
    for worker, (args, delay) in zip(workers, jobs, strict=True):
        worker.send(json.dumps({"args": args, "delay": delay}))
        assert worker.answer() == "ready"
    for worker in workers:
        worker.send("go")
    return [json.loads(w.answer()) for w in workers]


def cli(location: str, *args: object) -> int:
    return cli_main(["--lake", location, *map(str, args)])


def new_lake(location: str, folder: Path) -> Lake:
    assert cli(location, "init") == 0
    rows = [r for icp in ICPS for r in day_rows(icp, D)]
    assert cli(location, "ingest", write_csv(folder / "raw.csv", rows)) == 0
    return Lake(location)


def open_run(lake: Lake, folder: Path) -> str:
    run = runs.create_run(lake, start=D, end=D, algorithm="race", version="1")["run_id"]
    rows = out_rows.interval_rows(ICPS, [D])
    runs.upload_part(lake, run, 1, out_rows.write_csv(folder / f"{run}.csv", rows))
    return run


def run_files(lake: Lake, run: str) -> set[str]:
    return {p.relative_to(lake.root).as_posix() for p in lake.layout.run_dir(run).rglob("*.parquet")}


def assert_lost_cleanly(outcome: dict) -> None:
    """A loser exits non-zero and says why: a lost race exits 1 with "conflict" (naming the
    winner); a command that came after the winner's commit is refused by the run's state."""
    assert outcome["code"] in (1, 2), outcome
    assert ("conflict" in outcome["stderr"]) == (outcome["code"] == 1), outcome
    assert "Traceback" not in outcome["stderr"], outcome


def test_publish_and_abort_of_one_run_never_both_win(location: str, tmp_path: Path,
                                                    workers: list[Worker]) -> None:
    lake = new_lake(location, tmp_path)
    rng = random.Random(1)
    winners = []
    for _ in range(ROUNDS):
        run = open_run(lake, tmp_path)
        published, aborted = race(workers, (["--lake", location, "runs", "publish", run], 0.0),
                                  (["--lake", location, "runs", "abort", run], rng.uniform(0, 0.4)))
        assert [published["code"], aborted["code"]].count(0) == 1, (published, aborted)
        loser = aborted if published["code"] == 0 else published
        assert_lost_cleanly(loser)
        record = runs.get_run(Lake(location), run)
        if published["code"] == 0:
            assert record["status"] == "published"
            assert run_files(lake, run) == {f["path"] for f in record["files"]}
        else:
            assert record["status"] == "aborted" and record["files"] == []
            assert run_files(lake, run) == set(), "the losing publisher's files are removed"
        winners.append(record["status"])
    assert cli(location, "check") == 0
    print(f"publish vs abort, {ROUNDS} rounds: {winners.count('published')} published, "
          f"{winners.count('aborted')} aborted")


def test_publish_and_retract_of_one_run_keep_their_order(location: str, tmp_path: Path,
                                                        workers: list[Worker]) -> None:
    """A retract can only follow a publish: either it came first and was refused, or it
    came after the publish's commit and withdrew it. Never a retract of a run that ends up
    published, and never two publishes' worth of output."""
    lake = new_lake(location, tmp_path)
    rng = random.Random(2)
    for _ in range(ROUNDS):
        run = open_run(lake, tmp_path)
        published, retracted = race(workers, (["--lake", location, "runs", "publish", run], 0.0),
                                    (["--lake", location, "runs", "retract", run], rng.uniform(0, 0.4)))
        assert published["code"] == 0, published
        record = runs.get_run(Lake(location), run)
        if retracted["code"] == 0:
            assert record["status"] == "retracted" and record["retracted_at"] >= record["published_at"]
        else:
            assert_lost_cleanly(retracted)
            assert record["status"] == "published"
        assert run_files(lake, run) == {f["path"] for f in record["files"]}
    assert cli(location, "check") == 0


def test_two_ingests_for_one_date_both_land(location: str, tmp_path: Path, workers: list[Worker]) -> None:
    """Both deliveries race for the same next ingest id: one commits it, the other retries
    with the next id and rewrites its rows under that id. No row is lost or doubled."""
    lake = new_lake(location, tmp_path)
    rng = random.Random(3)
    halves = (ICPS[:6], ICPS[6:])
    for n in range(ROUNDS):
        day = D + dt.timedelta(days=n + 1)
        files = [write_csv(tmp_path / f"d{n}-{k}.csv", [r for icp in half for r in day_rows(icp, day)])
                 for k, half in enumerate(halves)]
        before = len(Lake(location).commits(fresh=True))
        outcomes = race(workers, *[(["--lake", location, "ingest", str(f)], rng.uniform(0, 0.05)) for f in files])
        assert [o["code"] for o in outcomes] == [0, 0], outcomes
        records = Lake(location).commits(fresh=True)[before:]
        assert len(records) == 2, records
        icps_by_commit = []
        for record in records:
            [file] = record["files"]
            with (lake.root / file["path"]).open("rb") as f:
                table = pq.read_table(f)
            assert set(table.column("ingest_id").to_pylist()) == {record["ingest_id"]}
            assert record["ingest_id"] in file["path"]
            icps_by_commit.append(tuple(sorted(set(table.column("icp_id").to_pylist()))))
        assert sorted(icps_by_commit) == sorted(tuple(h) for h in halves)
        day_files = {p.name for p in (lake.layout.raw_partition(day)).iterdir()}
        assert day_files == {Path(r["files"][0]["path"]).name for r in records}, "the loser's first try is gone"
    assert cli(location, "check") == 0


def candidate(lake: Lake, folder: Path) -> str:
    run = open_run(lake, folder)
    runs.publish_run(lake, run, stage="candidate")
    return run


def alias_changes(lake: Lake, name: str) -> list[str | None]:
    """The run ids an alias pointed at, oldest first, the current one last ([] if never set)."""
    record = runs.aliases.read_alias(lake, name, fresh=True)
    return [] if record is None else [h["run_id"] for h in record["history"]] + [record["run_id"]]


def test_two_promotions_of_one_candidate_never_both_win(location: str, tmp_path: Path,
                                                        workers: list[Worker]) -> None:
    lake = new_lake(location, tmp_path)
    rng = random.Random(4)
    seqs = []
    for _ in range(ROUNDS):
        run = candidate(lake, tmp_path)
        outcomes = race(workers, *[(["--lake", location, "runs", "promote", run], rng.uniform(0, 0.05))
                                   for _ in workers])
        assert [o["code"] for o in outcomes].count(0) == 1, outcomes
        assert_lost_cleanly(next(o for o in outcomes if o["code"] != 0))
        record = runs.get_run(Lake(location), run)
        assert record["stage"] == "latest" and record["publish_seq"] not in seqs
        seqs.append(record["publish_seq"])
    assert seqs == sorted(seqs) and cli(location, "check") == 0


def test_two_promotions_moving_one_alias_change_nothing_when_they_lose(location: str, tmp_path: Path,
                                                                      workers: list[Worker]) -> None:
    """Two candidates promoted at once, each with --alias production: a loser of the race for
    the alias is not promoted, every winner is, and the alias moved once per winner."""
    lake = new_lake(location, tmp_path)
    rng = random.Random(5)
    lost = 0
    for _ in range(ROUNDS):
        pair = [candidate(lake, tmp_path), candidate(lake, tmp_path)]
        before = alias_changes(Lake(location), "production")
        outcomes = race(workers, *[(["--lake", location, "runs", "promote", run, "--alias", "production"],
                                    rng.uniform(0, 0.05)) for run in pair])
        winners = [run for run, o in zip(pair, outcomes) if o["code"] == 0]
        assert winners, outcomes
        for run, o in zip(pair, outcomes):
            stage = runs.get_run(Lake(location), run)["stage"]
            if o["code"] == 0:
                assert stage == "latest", o
            else:
                assert_lost_cleanly(o)
                assert "conflict" in o["stderr"] and stage == "candidate", o
                lost += 1
        moved = alias_changes(Lake(location), "production")[len(before):]
        assert sorted(moved) == sorted(winners), (moved, winners, outcomes)
    assert cli(location, "check") == 0
    print(f"promotions moving one alias, {ROUNDS} rounds: {lost} lost the race")


def test_two_writers_setting_one_alias_never_both_win(location: str, tmp_path: Path, workers: list[Worker]) -> None:
    """Of two writers pointing one alias at two runs at once, one commits and the other exits 1
    with a conflict, changing nothing; one after the other, both changes are in the history."""
    lake = new_lake(location, tmp_path)
    rng = random.Random(6)
    lost = 0
    for _ in range(ROUNDS):
        pair = [candidate(lake, tmp_path), candidate(lake, tmp_path)]
        before = alias_changes(Lake(location), "production")
        outcomes = race(workers, *[(["--lake", location, "runs", "alias", "set", "production", run],
                                    rng.uniform(0, 0.02)) for run in pair])
        winners = [run for run, o in zip(pair, outcomes) if o["code"] == 0]
        for o in outcomes:
            if o["code"] != 0:
                assert o["code"] == 1 and "conflict: another writer changed alias production first" in o["stderr"], o
                lost += 1
        moved = alias_changes(Lake(location), "production")[len(before):]
        assert winners and sorted(moved) == sorted(winners), (moved, winners, outcomes)
    assert cli(location, "check") == 0
    print(f"two writers setting one alias, {ROUNDS} rounds: {lost} lost the race")


def _client(s3: SeaweedServer):
    return botocore.session.get_session().create_client(
        "s3", endpoint_url=s3.endpoint, aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY,
        region_name="us-east-1")


def _together(n: int, write) -> list[bool]:
    """``write(k)`` in n threads released at once; which of them succeeded."""
    barrier, done = threading.Barrier(n), [False] * n

    def one(k: int) -> None:
        barrier.wait()
        try:
            write(k)
            done[k] = True
        except botocore.exceptions.ClientError as e:
            assert e.response["ResponseMetadata"]["HTTPStatusCode"] == 412, e.response

    threads = [threading.Thread(target=one, args=(k,)) for k in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    return done


def test_the_store_gives_each_conditional_put_one_winner(seaweed: SeaweedServer) -> None:
    s3 = seaweed
    """Three writers creating one key with ``If-None-Match: *``, and three replacing one
    version with ``If-Match``: exactly one of each three succeeds, and the key holds its body."""
    clients = [_client(s3) for _ in range(3)]
    for n in range(max(ROUNDS, 10)):
        key = f"probe/{n}"
        created = _together(3, lambda k: clients[k].put_object(Bucket=s3.bucket, Key=key, Body=f"c{k}".encode(),
                                                                IfNoneMatch="*"))
        assert created.count(True) == 1, created
        head = clients[0].get_object(Bucket=s3.bucket, Key=key)
        assert head["Body"].read() == f"c{created.index(True)}".encode()
        replaced = _together(3, lambda k: clients[k].put_object(Bucket=s3.bucket, Key=key, Body=f"r{k}".encode(),
                                                                 IfMatch=head["ETag"]))
        assert replaced.count(True) == 1, replaced
        body = clients[0].get_object(Bucket=s3.bucket, Key=key)["Body"].read()
        assert body == f"r{replaced.index(True)}".encode()
