"""Row-by-row validation in DuckDB, for the batches of a raw delivery or a run part that do not
type in Arrow: each good row goes to table ``valid``, each bad one to ``rejects`` with its row
number, the field at fault, its value and why (``queries/delivery/``, and the ``valid_*`` and
``validate_batch`` statements of ``queries/raw/`` and ``queries/runs/``)."""
from __future__ import annotations

from typing import Literal

import duckdb
import pyarrow as pa

from datalake import sql
from datalake.delivery.sources import Batch
from datalake.errors import RowError, ValidationError

Kind = Literal["raw", "runs"]


def create_tables(con: duckdb.DuckDBPyConnection, kind: Kind) -> None:
    """The empty ``valid`` table of ``kind`` and the ``rejects`` table."""
    con.execute(sql.query(f"{kind}/valid_table"))
    con.execute(sql.query("delivery/rejects_table"))


def check_batch(con: duckdb.DuckDBPyConnection, kind: Kind, batch: pa.Table, *, params: dict | None = None,
                part: int | None = None) -> None:
    """Validate ``batch`` (text columns and ``_row``) with ``queries/<kind>/validate_batch.sql``
    and add its rows to ``valid`` and ``rejects``; ``part``: the run part they belong to."""
    con.register("batch", batch)
    try:
        con.execute(sql.query("delivery/drop_checked"))
        con.sql(sql.query(f"{kind}/validate_batch"), params=params or None).create("checked")
    finally:
        con.unregister("batch")
    con.execute(sql.query("delivery/rejects_from_checked"))
    con.execute(sql.query(f"{kind}/valid_from_checked"), {"part": part} if part is not None else None)


def add_bad_rows(con: duckdb.DuckDBPyConnection, batch: Batch) -> None:
    """Append the batch's rows that could not be split into fields to the ``rejects`` table
    (row, field, value, reason) of a validation connection."""
    if not batch.bad_rows:
        return
    bad = pa.Table.from_pylist([{"row": e.row, "field": e.field, "value": e.value, "reason": e.reason}
                                for e in batch.bad_rows],
                               schema=pa.schema([("row", pa.int64()), ("field", pa.string()),
                                                 ("value", pa.string()), ("reason", pa.string())]))
    con.register("bad_rows", bad)
    con.execute(sql.query("delivery/rejects_from_bad_rows"))
    con.unregister("bad_rows")


def add_typed(con: duckdb.DuckDBPyConnection, kind: Kind, typed: pa.Table, *, part: int | None = None) -> None:
    """Add a batch already typed in Arrow to ``valid``."""
    con.register("typed", typed)
    try:
        con.execute(sql.query(f"{kind}/valid_from_typed"), {"part": part} if part is not None else None)
    finally:
        con.unregister("typed")


def reject_count(con: duckdb.DuckDBPyConnection) -> int:
    return con.execute(sql.query("delivery/reject_count")).fetchall()[0][0]


def validation_error(con: duckdb.DuckDBPyConnection, source: str, summary: str, total: int) -> ValidationError:
    """The error that reports the first rejects of ``source`` (``total`` in all)."""
    rows = con.execute(sql.query("delivery/first_rejects"), {"n": ValidationError.MAX_REPORTED}).fetchall()
    return ValidationError(summary, [RowError(source, *r) for r in rows], total)


def all_rejects(con: duckdb.DuckDBPyConnection) -> list[tuple]:
    """Every reject, in row order: (row, field, value, reason)."""
    return con.execute(sql.query("delivery/all_rejects")).fetchall()
