"""The general path of an ingest, in DuckDB: every row validated with a reason per bad one,
repeated keys collapsed or rejected, rejects written to a file, and the new and revised rows
found against what the lake holds and written as one sorted Parquet file per trading date."""
from __future__ import annotations

import csv
import datetime as dt
import itertools
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa

from datalake import schema, sql
from datalake.delivery import checked
from datalake.delivery.rawtypes import type_batch, typed_table
from datalake.delivery.sources import Batch, Format, read_batches
from datalake.errors import ValidationError
from datalake.lake import Lake
from datalake.storage.files import move_into_place
from datalake.storage.parquet import write_parquet
from datalake.trading import EPOCH

Progress = Callable[[int, int], None]

def load(con, path: Path, name: str, fmt: Format, progress: Progress | None, size: int,
          batches: list[Batch] | None = None) -> None:
    checked.create_tables(con, "raw")
    try:
        for batch in batches if batches is not None else read_batches(path, schema.RAW_INPUT_COLUMNS, name=name,
                                                                       fmt=fmt):
            _load_batch(con, batch)
            if progress:
                progress(batch.bytes_done, size)
    except ValidationError as e:  # the file itself is unreadable
        raise ValidationError(f"{e.summary}; nothing ingested", e.errors, e.total) from None


def _load_batch(con, batch: Batch) -> None:
    checked.add_bad_rows(con, batch)
    typed = typed_table(batch.table, batch.typed) if batch.typed is not None else type_batch(batch.table)
    if typed is not None:
        checked.add_typed(con, "raw", typed)
    else:
        checked.check_batch(con, "raw", batch.table)


def collapse_duplicates(con) -> tuple[int, int, int]:
    """Build ``delivery``: one row per key, conflicting keys left out and their rows added
    to the rejects. Returns (rejected rows, of which conflicting, copies collapsed)."""
    con.execute(sql.query("raw/delivery_duplicates"))
    if con.execute(sql.query("raw/duplicate_key_count")).fetchall()[0][0] == 0:
        con.execute(sql.query("raw/delivery_from_valid"))
        conflicting = collapsed = 0
    else:
        con.execute(sql.query("raw/delivery_conflicts"))
        con.execute(sql.query("raw/delivery_collapsed"))
        conflicting, collapsed = con.execute(sql.query("raw/duplicate_copies")).fetchall()[0]
    return checked.reject_count(con), conflicting, collapsed


def write_rejects(lake: Lake, con, name: str, digest: str) -> str:
    target = lake.layout.rejects_file(digest[:16])
    lake.layout.staging_dir.mkdir(parents=True, exist_ok=True)
    tmp = lake.layout.staging_dir / f".{target.name}.{os.getpid()}.tmp"
    with open(tmp, "w", newline="") as f:
        out = csv.writer(f)
        out.writerow(["source", "row", "field", "value", "reason"])
        for row in checked.all_rejects(con):
            out.writerow([name, *row])
    move_into_place(tmp, target)
    return lake.layout.relative(target)


def find_changes(con, lake: Lake, dates: list[dt.date]) -> None:
    con.execute(sql.query("raw/drop_changes_table"))  # from an attempt that lost a race
    con.execute(sql.query("raw/drop_changes_view"))
    wanted = set(dates)
    stored = [str(f.path) for f in lake.raw_files(min(dates), max(dates)) if f.read_date in wanted]
    if stored:
        con.execute(sql.query("raw/delivery_changes"), {"files": stored})
    else:
        con.execute(sql.query("raw/changes_all_new"))


def write_changes(con, work: Path, ingest: str) -> list[tuple[dt.date, Path, int]]:
    """Write the ``changes`` table as one sorted Parquet file per trading date, from a single
    sorted scan."""
    reader = con.sql(sql.query("raw/changes_sorted"), params={"ingest_id": ingest}
                     ).to_arrow_reader(schema.ROW_GROUP_ROWS)
    staged = []
    for day, batches in itertools.groupby(_split_by_date(reader), key=lambda piece: piece[0]):
        path = work / f"{day.isoformat()}.parquet"
        rows = write_parquet(path, schema.RAW_FILE_SCHEMA, (batch for _, batch in batches),
                             options=schema.RAW_WRITE_OPTIONS)
        staged.append((day, path, rows))
    return staged


def _split_by_date(reader: pa.RecordBatchReader) -> Iterator[tuple[dt.date, pa.RecordBatch]]:
    """Pieces of date-sorted batches, each of one read_date, without that column."""
    for batch in reader:
        days = batch.column("read_date").cast(pa.int32()).to_numpy()
        data = batch.drop_columns(["read_date"])
        edges = [0, *(np.flatnonzero(np.diff(days)) + 1), len(days)]
        for lo, hi in itertools.pairwise(edges):
            if hi > lo:
                yield EPOCH + dt.timedelta(days=int(days[lo])), data.slice(lo, hi - lo)
