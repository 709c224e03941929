"""The crash harness's short version: every kind of write (ingest, run upload, publication,
abort, retraction, compaction, vacuum, checkpoints) through the real CLI, SIGKILLed at random
moments, on a local folder and on SeaweedFS; after each kill the lake passes `meterlake check`,
reads equal the committed deliveries, and the next command finishes and cleans up. The long
version is `make crash` (see docs/reliability.md)."""
from __future__ import annotations

from bench.crash_harness import run


def test_killed_writers_leave_a_consistent_lake(tmp_path):
    # Kill moments are drawn from each operation's running duration; on a loaded machine a
    # run of 10 trials can, rarely, see every writer finish first: then another run, so that
    # kills are always among the trials checked.
    killed = 0
    for seed in (11, 12, 13):
        summary, trials = run(10, seed=seed, workdir=tmp_path / str(seed), log=lambda line: None)
        assert summary.failures == 0, "\n".join(summary.problems)
        assert summary.commits > 3
        killed += sum(t.outcome.startswith("killed") for t in trials)
        if killed:
            break
    assert killed


def test_killed_writers_leave_a_consistent_lake_on_a_store(tmp_path, seaweed):
    summary, trials = run(4, seed=12, workdir=tmp_path, log=lambda line: None, store=seaweed)
    assert summary.failures == 0, "\n".join(summary.problems)
    assert summary.commits > 3
