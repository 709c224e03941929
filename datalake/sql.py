"""Loading the SQL in ``queries/`` and opening DuckDB connections set up for the lake."""
from __future__ import annotations

import functools
from importlib import resources

import duckdb

from datalake.storage import location


@functools.cache
def query(name: str) -> str:
    """The text of ``queries/<name>.sql``."""
    return resources.files("queries").joinpath(f"{name}.sql").read_text()


def connect(database: str = ":memory:", *, memory_limit: str | None = None,
            threads: int | None = None, temp_directory: str | None = None) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection in UTC (every stored instant is UTC; local time is always
    converted explicitly with ``timezone('Pacific/Auckland', ...)``)."""
    con = duckdb.connect(database)
    _configure(con)
    if memory_limit:
        con.execute(query("session/memory_limit"), {"limit": memory_limit})
    if threads:
        con.execute(query("session/threads"), {"threads": int(threads)})
    if temp_directory:
        con.execute(query("session/temp_directory"), {"dir": temp_directory})
    return con


def cursor(con: duckdb.DuckDBPyConnection) -> duckdb.DuckDBPyConnection:
    """A new connection to ``con``'s database, for one thread or one request, set up like
    ``connect`` (session settings are not inherited). Cursors of one database share its
    Parquet metadata cache."""
    cur = con.cursor()
    _configure(cur)
    return cur


def _configure(con: duckdb.DuckDBPyConnection) -> None:
    remote = location.filesystems()  # object-store lakes are read through fsspec
    if remote:
        registered = set(con.list_filesystems())  # a cursor shares its database's
        for fs in remote:
            if not registered.intersection(fs.protocol if isinstance(fs.protocol, tuple) else (fs.protocol,)):
                con.register_filesystem(fs)
    con.execute(query("session/utc"))
    con.execute(query("session/parquet_metadata_cache"))
