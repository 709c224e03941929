"""The crash harness's short version: ingest, run publication, compaction and vacuum through
the real CLI, SIGKILLed at random moments; after each kill the lake passes `meterlake check`,
reads equal the committed deliveries, and the next command finishes and cleans up. The long
version is `make crash` (see docs/reliability.md)."""
from __future__ import annotations

from bench.crash_harness import run


def test_killed_writers_leave_a_consistent_lake(tmp_path):
    summary, trials = run(10, seed=11, workdir=tmp_path, log=lambda line: None)
    assert summary.failures == 0, "\n".join(summary.problems)
    assert any(t.outcome.startswith("killed") for t in trials)
    assert summary.commits > 3
