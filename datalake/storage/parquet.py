"""Writing the lake's Parquet files: one schema, large row groups, a page index."""
from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from datalake import schema
from datalake.storage.files import fsync_file


def write_parquet(path: Path, file_schema: pa.Schema, batches: Iterable[pa.RecordBatch], *,
                  options: dict | None = None) -> int:
    """Write ``batches`` (cast to ``file_schema``) to ``path``, one row group per batch of up
    to ``ROW_GROUP_ROWS`` rows; returns the row count. The file is fsynced."""
    rows = 0
    with pq.ParquetWriter(path, file_schema, **(options or schema.PARQUET_WRITE_OPTIONS)) as writer:
        pending: list[pa.RecordBatch] = []
        pending_rows = 0
        for batch in batches:
            if batch.num_rows == 0:
                continue
            pending.append(batch)
            pending_rows += batch.num_rows
            if pending_rows >= schema.ROW_GROUP_ROWS:
                rows += _flush(writer, file_schema, pending)
                pending, pending_rows = [], 0
        if pending:
            rows += _flush(writer, file_schema, pending)
    fsync_file(path)
    return rows


def _flush(writer: pq.ParquetWriter, file_schema: pa.Schema, batches: list[pa.RecordBatch]) -> int:
    table = pa.Table.from_batches(batches).cast(file_schema)
    writer.write_table(table, row_group_size=max(table.num_rows, 1))
    return table.num_rows

