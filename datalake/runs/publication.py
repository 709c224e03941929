"""Writing a run's output files and computing its statistics, before the commit that
makes them visible (see ``runs.publish_run``)."""
from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.ipc as ipc
import pyarrow.parquet as pq

from datalake import schema
from datalake import sql
from datalake.runs.coverage import Coverage, coverage
from datalake.errors import RowError, ValidationError
from datalake.lake import RawFile
from datalake.storage import blocks
from datalake.output.blocks import Columns, UnsortedError, block_columns, write_table_blocks
from datalake.storage.parquet import write_parquet
from datalake.storage.files import fsync_dir, sha256_file

KEY = ("icp_id", "trading_period", "buyer_seller")


def publish_files(con: duckdb.DuckDBPyConnection, parts: list[str], folder: Path, run_id: str,
                  blocks_into: Path) -> tuple[list[dict], list[Path]]:
    """Write ``folder/read_date=<date>/part-00000.parquet`` for every date of the staged
    ``parts``, each sorted by (icp_id, trading_period, buyer_seller), and its block file
    under ``blocks_into``, from the same rows. Raises ``ValidationError`` if a key occurs
    more than once; returns the files (paths relative to ``folder``) and their block files.

    Each date's rows are read from the record batches of the parts that hold that date
    (the staged parts keep each date in batches of its own) and are kept in the order they arrive when
    that order is already the file's order, which is the usual case for parts sharded by
    ICP (writing the block file checks it); otherwise, or when a key repeats, DuckDB sorts
    them."""
    groups = _row_groups_by_date(parts)
    failed = threading.Event()  # a repeated key somewhere: the other dates are checked, not written
    repeats: dict[dt.date, tuple[list[RowError], int]] = {}  # by date: the first reported, and how many

    def date_files(day: dt.date) -> tuple[dict, Path] | None:
        """The date's file entry and block file, or None (no rows, or a repeated key)."""
        table = _rows_for_date(groups[day], day)
        if table.num_rows == 0:
            return None
        partition = folder / f"read_date={day.isoformat()}"
        relative = (partition / "part-00000.parquet").relative_to(folder).as_posix()
        local_blocks = (blocks_into / relative).with_suffix(".blocks")
        try:
            rows, columns = _columns(table, day, run_id)
        except UnsortedError:
            cursor = con.cursor()  # one a thread
            cursor.register("day_rows", table)
            table = cursor.sql(sql.query("runs/day_rows_sorted")).to_arrow_table()
            cursor.close()
            found = _duplicates(table, day)
            if found[1]:
                repeats[day] = found
                failed.set()
                return None
            rows, columns = _columns(table, day, run_id)
        if failed.is_set():
            return None
        partition.mkdir(parents=True)
        path = folder / relative
        write_parquet(path, schema.OUTPUT_FILE_SCHEMA, rows.to_batches(schema.ROW_GROUP_ROWS),
                      options=schema.OUTPUT_WRITE_OPTIONS)
        fsync_dir(partition)
        write_table_blocks(columns, local_blocks, read_date=day, run_id=run_id)
        return {"read_date": day.isoformat(), "path": relative, "rows": rows.num_rows,
                "bytes": path.stat().st_size, "sha256": sha256_file(path)}, local_blocks

    # Two dates at a time, each read, checked and written by its own thread.
    with ThreadPoolExecutor(max_workers=2) as pool:
        done = list(pool.map(date_files, sorted(groups)))
    if repeats:
        errors = [e for day in sorted(repeats) for e in repeats[day][0]]
        raise ValidationError(f"{run_id}: nothing published", errors[:ValidationError.MAX_REPORTED],
                              sum(count for _, count in repeats.values()))
    fsync_dir(folder)
    written = [w for w in done if w is not None]
    return [f for f, _ in written], [b for _, b in written]


def _columns(table: pa.Table, day: dt.date, run_id: str) -> tuple[pa.Table, Columns]:
    """A date's rows as its Parquet file holds them, and as its block file does (which
    checks their order)."""
    rows = table.drop_columns(["_part", "_row"]).cast(schema.OUTPUT_FILE_SCHEMA)
    return rows, block_columns(rows, f"{run_id} {day}")


_COLUMNS = ["icp_id", "read_time", "trading_period", "matched_amount", "publish_datetime", "buyer_seller",
            "_part", "_row"]


Loader = Callable[[], pa.Table]


def _row_groups_by_date(parts: list[str]) -> dict[dt.date, list[tuple[Loader, bool]]]:
    """For each date: (a loader of a piece of a staged part, whether that piece also holds
    other dates), in part order. Parts are Arrow IPC files (pieces: record batches) or, as
    staged by earlier versions, Parquet files (pieces: row groups, by their statistics; a
    group without them counts as holding every date). Loaders open their file themselves:
    two threads may load from one part at once."""
    spans: list[tuple[Loader, dt.date | None, dt.date | None]] = []
    for path in parts:
        if path.endswith(".parquet"):
            spans += _parquet_spans(path)
            continue
        reader = ipc.open_file(pa.memory_map(path))
        dates = ipc.open_file(pa.memory_map(path), options=ipc.IpcReadOptions(
            included_fields=[reader.schema.get_field_index("read_date")]))
        for i in range(reader.num_record_batches):
            bounds = pc.min_max(dates.get_batch(i).column(0))
            spans.append((lambda i=i, path=path: pa.Table.from_batches(
                              [ipc.open_file(pa.memory_map(path)).get_batch(i)]),
                          bounds["min"].as_py(), bounds["max"].as_py()))
    if any(lo is None for _, lo, _ in spans):
        days = {d for load, _, _ in spans for d in pc.unique(load()["read_date"]).to_pylist() if d is not None}
    else:
        days = {lo + dt.timedelta(days=i) for _, lo, hi in spans for i in range((hi - lo).days + 1)}
    found: dict[dt.date, list[tuple[Loader, bool]]] = {}
    for load, lo, hi in spans:
        for day in sorted(days):
            if lo is None or lo <= day <= hi:
                found.setdefault(day, []).append((load, lo != hi or lo is None))
    return found


def _parquet_spans(path: str) -> list[tuple[Loader, dt.date | None, dt.date | None]]:
    pf = pq.ParquetFile(path)
    column = pf.schema_arrow.get_field_index("read_date")
    spans = []
    for rg in range(pf.num_row_groups):
        stats = pf.metadata.row_group(rg).column(column).statistics
        known = stats is not None and stats.has_min_max
        spans.append((lambda rg=rg: pq.ParquetFile(path).read_row_group(rg, columns=["read_date", *_COLUMNS]),
                      stats.min if known else None, stats.max if known else None))
    return spans


def _rows_for_date(pieces: list[tuple[Loader, bool]], day: dt.date) -> pa.Table:
    tables = []
    for load, mixed in pieces:
        table = load()
        if mixed:
            table = table.filter(pc.equal(table["read_date"], pa.scalar(day, pa.date32())))
        tables.append(table.select(_COLUMNS))
    return pa.concat_tables(tables) if tables else pa.table({})


def _duplicates(table: pa.Table, day: dt.date) -> tuple[list[RowError], int]:
    """Rows whose key equals the previous row's (the table is sorted by key, so every
    repeat follows its first occurrence)."""
    n = table.num_rows
    if n < 2:
        return [], 0
    same = None
    for column in KEY:
        values = table[column]
        eq = pc.equal(values.slice(1), values.slice(0, n - 1))
        same = eq if same is None else pc.and_(same, eq)
    at = pc.indices_nonzero(same)
    count = len(at)
    errors = []
    for i in at[:ValidationError.MAX_REPORTED].to_pylist():
        first, dup = table.slice(i, 1).to_pylist()[0], table.slice(i + 1, 1).to_pylist()[0]
        errors.append(RowError(
            f"part {dup['_part']}", dup["_row"], "icp_id", dup["icp_id"],
            f"duplicate of part {first['_part']} row {first['_row']}: same icp_id, read_date {day}, "
            f"trading period {dup['trading_period']} and buyer_seller {dup['buyer_seller']}"))
    return errors, count


def run_stats(con: duckdb.DuckDBPyConnection, files: list[dict], block_files: list[Path], icp_index: Path,
              raw_files: list[RawFile], raw_as_of: str | None, start: dt.date, end: dt.date) -> tuple[dict, Coverage]:
    """Row counts, exact totals per buyer_seller (decimal strings, from the block files'
    footers) and the coverage of the window and raw snapshot (``coverage``), for the record
    of a run about to publish; ``files`` and ``block_files`` as ``publish_files`` returns
    them, and its ICP index."""
    sums, counts = {}, {}
    for path in block_files:
        for side, (total, rows) in zip(schema.BUYER_SELLER, blocks.BlockFile.open(path).facts["sides"]):
            if rows:
                sums[side], counts[side] = sums.get(side, 0) + total, counts.get(side, 0) + rows
    totals = {side: f"{Decimal(total).scaleb(-schema.AMOUNT_SCALE):.{schema.AMOUNT_SCALE}f}"
              for side, total in sums.items()}
    cov = coverage(con, [str(icp_index)] if files else [], [f["read_date"] for f in files],
                   [str(f.path) for f in raw_files], raw_as_of, start, end)
    stats = {"rows": sum(counts.values()), "rows_by_buyer_seller": counts, "totals": totals, **cov.stats()}
    return stats, cov
