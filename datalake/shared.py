"""Work that concurrent callers share: the first caller of a key computes its result, the
others that ask while it does wait for that result, and the newest results, up to a number
of bytes, are kept for the callers that come a little later."""
from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from concurrent.futures import Future
from typing import Generic, TypeVar

T = TypeVar("T")


class SharedResults(Generic[T]):
    """Results of ``make`` by key, the most recently made ``capacity`` bytes of them
    (``size_of`` gives a result's). A key must name its result for ever: an entry is never
    stale. Thread-safe; a failed ``make`` is raised to each caller that waited for it, and
    not kept."""

    def __init__(self, size_of: Callable[[T], int], capacity: int) -> None:
        self.size_of = size_of
        self.capacity = capacity
        self._results: OrderedDict[Hashable, Future] = OrderedDict()
        self._sizes: dict[Hashable, int] = {}
        self._bytes = 0
        self._lock = threading.Lock()

    def get(self, key: Hashable, make: Callable[[], T]) -> T:
        with self._lock:
            found = self._results.get(key)
            if found is None:
                self._results[key] = pending = Future()
            else:
                self._results.move_to_end(key)
        if found is not None:
            return found.result()
        try:
            result = make()
        except BaseException as e:
            with self._lock:
                self._results.pop(key, None)
            pending.set_exception(e)
            raise
        pending.set_result(result)
        with self._lock:
            if key in self._results:
                self._sizes[key] = size = self.size_of(result)
                self._bytes += size
            while self._bytes > self.capacity and self._sizes:
                oldest = next(k for k in self._results if k in self._sizes)
                self._bytes -= self._sizes.pop(oldest)
                del self._results[oldest]
        return result

    @property
    def bytes(self) -> int:
        return self._bytes
