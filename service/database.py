"""DuckDB for the service: one in-process database, and a connection per thread.

A DuckDB connection must not be used from two threads at once. Sync handlers run whole in
one worker thread, so each worker thread keeps its own cursor (creating one costs ~0.5 ms,
more than a small query); a streamed response is consumed across threads and gets a cursor
of its own, which the stream closes. All cursors share the database's Parquet metadata
cache."""
from __future__ import annotations

import threading

import duckdb

from datalake import sql


class Database:
    def __init__(self) -> None:
        self._root = sql.connect()
        self._lock = threading.Lock()
        self._local = threading.local()

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
