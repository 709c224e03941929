"""DuckDB for the service: one in-process database, and a connection per thread.

A DuckDB connection must not be used from two threads at once. Sync handlers run whole in
one worker thread, so each worker thread keeps its own cursor (creating one costs ~0.5 ms,
more than a small query); a streamed response is consumed across threads and gets a cursor
of its own, which the stream closes. All cursors share the database's Parquet metadata
cache. ``Watchdog`` bounds a request's query time."""
from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterable, Iterator
from typing import TypeVar

import duckdb

from datalake import sql

from .problems import QueryTimeoutError

T = TypeVar("T")


class Database:
    def __init__(self, query_timeout: float | None = None) -> None:
        self._root = sql.connect()
        self._lock = threading.Lock()
        self._local = threading.local()
        self.query_timeout = query_timeout
        self.watchdog = Watchdog()

    @contextlib.contextmanager
    def bounded_cursor(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """This thread's connection, its queries interrupted after the query timeout (504)."""
        con = self.cursor()
        with self.watchdog.deadline(con, self.query_timeout):
            yield con

    def deadline(self, con: duckdb.DuckDBPyConnection | None) -> contextlib.AbstractContextManager[None]:
        return self.watchdog.deadline(con, self.query_timeout)

    def bounded(self, items: Iterable[T], con: duckdb.DuckDBPyConnection | None) -> Iterator[T]:
        """A stream's items, each produced within the query timeout."""
        return self.watchdog.bounded(items, con, self.query_timeout)

    def cursor(self) -> duckdb.DuckDBPyConnection:
        """This thread's connection; use it within one handler call only."""
        cur = getattr(self._local, "cursor", None)
        if cur is None:
            cur = self._local.cursor = self.private_cursor()
        return cur

    def private_cursor(self) -> duckdb.DuckDBPyConnection:
        """A connection for one owner (e.g. a streamed response), who must close it."""
        with self._lock:
            return sql.cursor(self._root)

    def close(self) -> None:
        self._root.close()


class Watchdog:
    """Bounds the time of a request's queries. ``deadline(con, seconds)`` wraps a request's
    work on ``con``; once the time is up the watchdog thread calls ``con.interrupt()`` (again
    every 50 ms, should a next query start) and the block ends in ``QueryTimeoutError``
    (504), even if the work finished meanwhile, so the answer does not depend on a race.
    One thread serves every request: a timer thread per request would cost more than a
    small query."""

    REPEAT = 0.05

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._watched: dict[int, list] = {}   # id -> [due, con, expired]
        self._next_id = 0
        self._thread: threading.Thread | None = None

    @contextlib.contextmanager
    def deadline(self, con: duckdb.DuckDBPyConnection | None, seconds: float | None) -> Iterator[None]:
        if not seconds:
            yield
            return
        key = self._watch(con, seconds)
        try:
            yield
        except duckdb.InterruptException:
            self._unwatch(key)
            raise QueryTimeoutError(seconds) from None
        except BaseException:
            self._unwatch(key)
            raise
        if self._unwatch(key):
            raise QueryTimeoutError(seconds)

    def bounded(self, items: Iterable[T], con: duckdb.DuckDBPyConnection | None, seconds: float | None
                ) -> Iterator[T]:
        """``items`` with each item's production bounded by ``seconds`` (a stream's slices)."""
        iterator = iter(items)
        try:
            while True:
                with self.deadline(con, seconds):
                    try:
                        item = next(iterator)
                    except StopIteration:
                        return
                yield item
        finally:
            close = getattr(items, "close", None)
            if close:
                close()

    def _watch(self, con: duckdb.DuckDBPyConnection | None, seconds: float) -> int:
        with self._cond:
            self._next_id += 1
            self._watched[self._next_id] = [time.monotonic() + seconds, con, False]
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="query-watchdog", daemon=True)
                self._thread.start()
            self._cond.notify()
            return self._next_id

    def _unwatch(self, key: int) -> bool:
        """Stop watching; True if the time ran out (whether or not the thread noticed yet)."""
        with self._cond:
            due, _, expired = self._watched.pop(key)
            return expired or time.monotonic() >= due

    def _run(self) -> None:
        with self._cond:
            while True:
                now = time.monotonic()
                for entry in self._watched.values():
                    if entry[0] <= now:
                        entry[0], entry[2] = now + self.REPEAT, True
                        if entry[1] is not None:
                            try:
                                entry[1].interrupt()
                            except duckdb.Error:  # closed meanwhile (a finished stream)
                                pass
                due = min((e[0] for e in self._watched.values()), default=None)
                self._cond.wait(None if due is None else max(due - time.monotonic(), 0.001))
