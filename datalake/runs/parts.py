"""Uploaded parts of an open run: every row validated (in Arrow when the whole batch types,
else in DuckDB with a reason per bad row) and kept, typed and by date, as an Arrow IPC file
that publish reads back."""
from __future__ import annotations

import datetime as dt
import itertools
from concurrent.futures import ThreadPoolExecutor
from collections.abc import Iterator
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.ipc as ipc

from datalake import prefetch, schema, sql
from datalake.delivery import checked
from datalake.schema import ROW
from datalake.delivery.sources import Format, read_batches, source_columns, text_columns
from datalake.errors import RowError, ValidationError
from datalake.lake import Lake
from datalake.runs.outputtypes import type_output_batch, type_output_native
from datalake.storage.files import fsync_file

MEMORY_LIMIT = "2GB"

# A staged part: the typed rows plus where each came from, for error reports at publish.
PART_SCHEMA = pa.schema([
    pa.field("icp_id", pa.string(), nullable=False),
    pa.field("read_date", pa.date32(), nullable=False),
    pa.field("read_time", pa.string(), nullable=False),
    pa.field("trading_period", pa.int16(), nullable=False),
    pa.field("matched_amount", schema.AMOUNT_DECIMAL, nullable=False),
    pa.field("publish_datetime", schema.TIMESTAMP, nullable=False),
    pa.field("buyer_seller", pa.string(), nullable=False),
    pa.field("_part", pa.int32(), nullable=False),
    pa.field("_row", pa.int64(), nullable=False),
])


def stage_part(path: Path, part: int, fmt: Format, window: tuple[dt.date, dt.date], work: Path,
               staged: Path) -> tuple[int, list[str]]:
    """Validate part ``part`` (``path``, in ``fmt``) of a run over ``window`` and write it,
    typed and by date, to ``staged``. Returns its row count and first and last date; any bad
    row raises ``ValidationError`` and nothing is staged."""
    con = _LazyConnection(work)
    try:
        rows, dates, typed = _validate_part(con, path, part, fmt, window)
        if typed is not None:
            _write_part(staged, _by_date(typed, part))
        else:
            # By date only: publish reads one date at a time and sorts it by icp_id itself.
            reader = con.sql(sql.query("runs/part_rows_by_date")).to_arrow_reader(schema.ROW_GROUP_ROWS)
            _write_part(staged, (pa.Table.from_batches([b]) for b in reader))
    finally:
        con.close()
    return rows, dates


class _LazyConnection:
    """The DuckDB connection of an upload, opened (with its ``valid`` and ``rejects``
    tables) only when a batch needs SQL: a part that types in Arrow never opens one."""

    def __init__(self, work: Path) -> None:
        self.work = work
        self.con: duckdb.DuckDBPyConnection | None = None

    @property
    def opened(self) -> bool:
        return self.con is not None

    def __getattr__(self, name: str):
        if self.con is None:
            con = sql.connect(memory_limit=MEMORY_LIMIT, temp_directory=str(self.work / "spill"))
            checked.create_tables(con, "runs")
            self.con = con
        return getattr(self.con, name)

    def close(self) -> None:
        if self.con is not None:
            self.con.close()


def _validate_part(con: _LazyConnection, path: Path, part: int, fmt: Format, window: tuple[dt.date, dt.date]
                   ) -> tuple[int, list[str], pa.Table | None]:
    """Check every row of a part. Returns its row count, first and last date, and, when
    every batch typed in Arrow, the typed rows (else they are in table ``valid`` of ``con``)."""
    source = f"part {part}"
    optional = [c for c in schema.OUTPUT_OPTIONAL_COLUMNS if c in source_columns(path, fmt)]
    columns = [*schema.OUTPUT_INPUT_COLUMNS, *optional]
    params = {"start": window[0], "end": window[1]}
    typed_batches: list[pa.Table] = []
    in_duckdb = False
    def native(batch):  # in two threads (Arrow's kernels release the interpreter lock)
        return batch, type_output_native(batch.table, *window) if fmt != "csv" else None

    for batch, typed in prefetch.mapped(native, read_batches(path, columns, name=source, fmt=fmt, native=True)):
        if batch.bad_rows:
            checked.add_bad_rows(con, batch)
        if typed is None:
            # Strip padding and quotes (`101, "0.0000"`) here: Arrow does it 20x faster than SQL
            # trim (CSV fields come stripped already).
            text = ({c: batch.table[c] for c in columns} if fmt == "csv"
                    else {c: pc.utf8_trim(v, ' "') for c, v in text_columns(batch.table, columns, source, fmt).items()})
            table = pa.table({ROW: batch.table[ROW], **text})
            if "trading_period" not in optional:
                table = table.append_column("trading_period", pa.repeat("", table.num_rows).cast(pa.string()))
            typed = type_output_batch(table, *window)
        if typed is not None:
            if in_duckdb:
                checked.add_typed(con, "runs", typed, part=part)
            else:
                typed_batches.append(typed)
            continue
        if not in_duckdb:  # from here on the rows gather in DuckDB
            for earlier in typed_batches:
                checked.add_typed(con, "runs", earlier, part=part)
            typed_batches, in_duckdb = [], True
        checked.check_batch(con, "runs", table, params=params, part=part)
    total = checked.reject_count(con) if con.opened else 0
    if total:
        raise checked.validation_error(con, source, f"{source}: nothing uploaded", total)
    if not in_duckdb:
        typed = pa.concat_tables(typed_batches) if typed_batches else None
        if typed is None or typed.num_rows == 0:
            raise ValidationError(f"{source}: nothing uploaded", [RowError(source, None, None, None, "no rows")], 1)
        bounds = pc.min_max(typed["read_date"])
        return typed.num_rows, [bounds["min"].as_py().isoformat(), bounds["max"].as_py().isoformat()], typed
    rows, first, last = con.execute(sql.query("runs/part_span")).fetchall()[0]
    if rows == 0:
        raise ValidationError(f"{source}: nothing uploaded", [RowError(source, None, None, None, "no rows")], 1)
    return rows, [first.isoformat(), last.isoformat()], None


# LZ4 frames: a part takes about 20 bytes a row instead of 78, and compressing costs less
# than writing, fsyncing and later removing the bytes it saves (an 8.4M-row part 1.5 -> 0.4 s).
_WRITE_OPTIONS = ipc.IpcWriteOptions(compression="lz4")


def _write_part(path: Path, tables: Iterator[pa.Table]) -> None:
    """A staged part as an Arrow IPC file, each date in record batches of its own (publish
    reads the ``read_date`` column alone to find them, then only the batches of a date)."""
    with pa.OSFile(str(path), "wb") as sink, ipc.new_file(sink, PART_SCHEMA, options=_WRITE_OPTIONS) as writer:
        for table in tables:
            if table.num_rows:
                writer.write_table(table.cast(PART_SCHEMA), max_chunksize=schema.ROW_GROUP_ROWS)
    fsync_file(path)


def part_file(lake: Lake, run_id: str, entry: dict) -> Path:
    """Where an uploaded part is: its entry names it; older lakes kept it under a fixed name."""
    if entry.get("path"):
        return lake.layout.absolute(entry["path"])
    path = lake.layout.run_part_file(run_id, entry["part"])
    legacy = lake.layout.legacy_run_part_file(run_id, entry["part"])
    return legacy if not path.exists() and legacy.exists() else path


def _by_date(typed: pa.Table, part: int) -> Iterator[pa.Table]:
    """A part's typed rows in the staged layout, one table per date in date order, rows in
    their upload order within a date: publish reads one date at a time (one date per row
    group lets it pick that date's rows by the group statistics)."""
    days = typed["read_date"].cast(pa.int32()).to_numpy()
    if len(days) > 1 and not bool(np.all(days[1:] >= days[:-1])):
        offsets = days - days.min()  # within a window: a uint16 sort is a radix sort
        order = np.argsort(offsets.astype(np.uint16) if offsets.max() < 1 << 16 else offsets, kind="stable")
        index = pa.array(order)
        # A column a thread (takes release the interpreter lock), each combined first: a take
        # from one array is 2-5x faster than from many chunks.
        with ThreadPoolExecutor(max_workers=2) as pool:
            typed = pa.table(list(pool.map(lambda c: c.combine_chunks().take(index), typed.columns)),
                             names=typed.column_names)
        days = days[order]
    staged = pa.table({
        **{f.name: typed[f.name] for f in PART_SCHEMA if f.name not in ("_part", "_row")},
        "_part": pa.repeat(pa.scalar(part, pa.int32()), typed.num_rows),
        "_row": typed[ROW],
    })
    edges = [0, *(np.flatnonzero(np.diff(days)) + 1).tolist(), len(days)]
    for lo, hi in itertools.pairwise(edges):
        yield staged.slice(lo, hi - lo)
