"""Faults that are not crashes, short versions (the long ones are in `make crash`; see
docs/reliability.md, "Faults other than crashes"):

- a full disk, on a real tmpfs: under the lake, and under the local side of a lake on
  SeaweedFS; the write fails with one line naming the step, the committed state is as it
  was, `check` passes (and `--repair` removes the leftovers), and with the space back the
  same write succeeds;
- a store that fails requests (tests/faultproxy.py in front of SeaweedFS): the write
  commits exactly once or fails with one clear line, and the lake stays whole.
"""
from __future__ import annotations

from bench import fault_disk, fault_store


def _steps(trials: list[dict], operation: str) -> set[str]:
    return {t["step"] for t in trials if t["operation"] == operation and t["failed"]}


def test_a_full_disk_under_the_lake(tmp_path):
    # Bytes left free. Nothing fits in 0; the rest run out in one step or another (which one
    # near a boundary depends on how the two dates' files, written in parallel, interleave).
    summary, trials = fault_disk.run(0, 1, tmp_path, log=lambda line: None, budgets={
        "ingest": [0, 4096, 16384], "publish": [4096], "publish-api": [0, 12288, 16384]})
    assert summary["failures"] == 0, "\n".join(summary["problems"])
    known = {"writing a Parquet file", "writing a block file", "writing a record", "staging an uploaded part",
             "writing the run's ICP index"}
    assert all(t["step"] in known for t in trials if t["failed"])
    assert sum(t["failed"] for t in trials) >= 6
    first = {t["operation"]: t["step"] for t in reversed(trials)}  # each write's budget 0
    assert first["ingest"] == first["publish-api"] == "writing a Parquet file"
    assert len(_steps(trials, "ingest")) >= 2 and len(_steps(trials, "publish-api")) >= 2
    # 4 KiB free: the part's staging, or a record after a run checkpoint took the space.
    assert _steps(trials, "publish") and _steps(trials, "publish") <= {"staging an uploaded part", "writing a record"}


def test_a_full_disk_under_the_local_side_of_a_store_lake(tmp_path, seaweed):
    # In this process (a child's start-up costs more than the write); the local test runs the CLI.
    summary, trials = fault_disk.run(0, 1, tmp_path, log=lambda line: None, store=seaweed, budgets={
        "ingest-api": [4096], "publish-api": [0]})
    assert summary["failures"] == 0, "\n".join(summary["problems"])
    assert all(t["failed"] for t in trials)
    assert _steps(trials, "ingest-api") <= {"writing a Parquet file", "writing a block file"}
    assert _steps(trials, "publish-api") == {"copying a file to local staging"}


def test_a_store_that_fails_requests(tmp_path, seaweed):
    # The record's PUT answered with a failure after the store kept it (the retry meets a
    # 412: the write must still count as committed, once), and an outage mid-write (it fails
    # with one line, and nothing half-committed is left).
    summary, trials = fault_store.run(2, 4, tmp_path, log=lambda line: None, store=seaweed,
                                      modes=("record", "outage"))
    assert summary["failures"] == 0, "\n".join(summary["problems"])
    assert [t["mode"].split()[0] for t in trials] == ["record", "outage"]
    assert trials[0]["faults"] and trials[0]["exit"] == 0
    assert trials[1]["exit"] != 0 and trials[1]["error"].startswith("error: the object store failed")
