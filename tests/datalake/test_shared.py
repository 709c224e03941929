"""Shared results: one computation a key for callers that ask at once, failures not kept,
and the newest results kept up to their capacity in bytes."""
from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from datalake.shared import SharedResults


def test_callers_that_ask_at_once_share_one_computation() -> None:
    made, release = [], threading.Event()
    shared: SharedResults[str] = SharedResults(len, capacity=1000)

    def make() -> str:
        made.append(1)
        release.wait(5)
        return "rows"

    with ThreadPoolExecutor(max_workers=4) as pool:
        futures = [pool.submit(shared.get, "range-1", make) for _ in range(4)]
        release.set()
        assert [f.result() for f in futures] == ["rows"] * 4
    assert len(made) == 1 and shared.bytes == 4


def test_a_failure_reaches_the_caller_and_is_not_kept() -> None:
    shared: SharedResults[str] = SharedResults(len, capacity=1000)

    def fail() -> str:
        raise OSError("disk gone")

    with pytest.raises(OSError, match="disk gone"):
        shared.get("k", fail)
    assert shared.get("k", lambda: "again") == "again"


def test_the_oldest_results_go_once_past_capacity() -> None:
    shared: SharedResults[str] = SharedResults(len, capacity=10)
    for key in "abc":
        shared.get(key, lambda key=key: key * 4)  # 4 bytes each
    assert shared.bytes == 8
    assert shared.get("a", lambda: "AAAA") == "AAAA"  # "a" was dropped; now "b" goes
    assert shared.get("c", lambda: "not made") == "cccc"
    assert shared.get("b", lambda: "BBBB") == "BBBB"
