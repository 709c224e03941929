"""The crash harness's short version: every kind of write (ingest, run upload, publication,
abort, retraction, compaction, vacuum, checkpoints) through the real CLI, SIGKILLed at random
moments, on a local folder and on SeaweedFS; after each kill the lake passes `meterlake check`,
reads equal the committed deliveries, and the next command finishes and cleans up. The long
version is `make crash` (see docs/reliability.md)."""
from __future__ import annotations

from bench.crash_harness import run


def test_killed_writers_leave_a_consistent_lake(tmp_path):
    summary, trials = run(10, seed=11, workdir=tmp_path, log=lambda line: None)
    assert summary.failures == 0, "\n".join(summary.problems)
    assert any(t.outcome.startswith("killed") for t in trials)
    assert summary.commits > 3


def test_killed_writers_leave_a_consistent_lake_on_a_store(tmp_path, seaweed):
    summary, trials = run(4, seed=12, workdir=tmp_path, log=lambda line: None, store=seaweed)
    assert summary.failures == 0, "\n".join(summary.problems)
    assert summary.commits > 3
