"""The attributes of raw reads delivered in EIEP files (stream, register, reading type or
read status, the file's identifier and status), stored as one Parquet file per ingest
beside the raw reads and committed with them."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from datalake.storage import commit
from datalake import schema
from datalake.delivery.eiep import ATTRIBUTE_DECIMAL, constant
from datalake.lake import Lake
from datalake.storage.parquet import write_parquet
from datalake.storage.files import sha256_file


# One row per detail record (after identical repeats collapse): the raw key it adds to, its
# own stream's value, and what the file says about it. ``interval_read`` of the raw read is
# the sum of its rows' ``interval_read`` (one row per stream or register).
ATTRIBUTES_FILE_SCHEMA = pa.schema([
    pa.field("icp_id", pa.string(), nullable=False),
    pa.field("read_timestamp", schema.TIMESTAMP, nullable=False),
    pa.field("read_date", pa.date32(), nullable=False),
    pa.field("trading_period", pa.int16(), nullable=False),
    pa.field("energy_flow_direction", pa.string(), nullable=False),
    pa.field("stream_id", pa.string()),
    pa.field("register_content_code", pa.string()),
    pa.field("reading_type", pa.string()),
    pa.field("interval_read", schema.READ_DECIMAL, nullable=False),
    pa.field("reactive_read", ATTRIBUTE_DECIMAL),
    pa.field("apparent_read", ATTRIBUTE_DECIMAL),
    pa.field("offset_inferred", pa.bool_(), nullable=False),
    pa.field("line", pa.int64(), nullable=False),
    pa.field("file_type", pa.string(), nullable=False),
    pa.field("file_identifier", pa.string()),
    pa.field("file_status", pa.string()),
    pa.field("ingest_id", pa.string(), nullable=False),
])
SORT_KEY = [("read_date", "ascending"), ("icp_id", "ascending"), ("read_timestamp", "ascending"),
            ("energy_flow_direction", "ascending"), ("stream_id", "ascending"),
            ("register_content_code", "ascending")]
# Decimals as INT64 and the ever-increasing integers delta-encoded, as in the raw files: a
# third smaller and faster to write than fixed-length bytes and plain pages. No Arrow schema is
# stored, so columns written from dictionaries read back as the text of ATTRIBUTES_FILE_SCHEMA.
WRITE_OPTIONS = dict(schema.PARQUET_WRITE_OPTIONS, store_schema=False,
                     use_dictionary=["icp_id", "energy_flow_direction", "stream_id", "register_content_code",
                                     "reading_type", "file_type", "file_identifier", "file_status", "ingest_id"],
                     store_decimal_as_integer=True,
                     column_encoding={"read_timestamp": "DELTA_BINARY_PACKED", "interval_read": "DELTA_BINARY_PACKED",
                                      "line": "DELTA_BINARY_PACKED"})


def write_attributes(attributes: pa.Table, ingest: str, work: Path) -> tuple[Path, int, str]:
    """Write ``attributes`` as commit ``ingest``'s attributes file in ``work``: its path, rows
    and sha256. Touches only that local file, so it may run beside the raw files' writers."""
    table = attributes.append_column("ingest_id", constant(ingest, attributes.num_rows))
    # Columns that come as dictionaries stay so, and are written as the file schema's text.
    given = table.schema
    written = pa.schema([f.with_type(given.field(f.name).type) if pa.types.is_dictionary(given.field(f.name).type)
                         else f for f in ATTRIBUTES_FILE_SCHEMA])
    table = table.select(written.names).cast(written)
    if not _in_order(table):  # a file in key order, as an export writes it, needs no sort
        table = table.take(pc.sort_indices(table, sort_keys=SORT_KEY))
    local = work / f"attributes-{ingest}.parquet"
    rows = write_parquet(local, written, table.to_batches(schema.ROW_GROUP_ROWS), options=WRITE_OPTIONS)
    return local, rows, sha256_file(local)


def stage_attributes(lake: Lake, written: tuple[Path, int, str], ingest: str, staged: commit.Staged) -> dict:
    """Stage the attributes file ``written`` (``write_attributes``) to go into the lake with
    the raw files; the entry for its commit record."""
    local, rows, digest = written
    target = staged.add(local, lake.layout.attributes_file(ingest, commit.token()))
    return {"path": lake.layout.relative(target), "rows": rows, "bytes": local.stat().st_size, "sha256": digest}


def _in_order(table: pa.Table) -> bool:
    """Whether ``table`` is already in ``SORT_KEY`` order (a stable sort would not move a row);
    False also when a key column holds some nulls, which the sort places last."""
    n = table.num_rows
    if n < 2:
        return True
    tied = np.ones(n - 1, dtype=bool)  # adjacent rows equal in every key column so far
    for name, _ in SORT_KEY:
        column = table[name].combine_chunks()
        if column.null_count == n:
            continue
        if column.null_count:
            return False
        after, before = column.slice(1), column.slice(0, n - 1)
        if bool(np.any(tied & np.asarray(pc.less(after, before)))):
            return False
        tied &= np.asarray(pc.equal(after, before))
        if not tied.any():
            return True
    return True


def attribute_files(lake: Lake, records: list[dict] | None = None) -> list[Path]:
    """The committed attributes files (of ``records``, default every ingest), oldest first."""
    return [lake.layout.absolute(r["attributes"]["path"]) for r in (lake.ingests() if records is None else records)
            if r.get("attributes")]


# The attributes ``fields=all`` adds to a read (one ICP's reads, and the bulk stream). A read
# summed from several streams or registers shows each text attribute's distinct values joined by
# "," (in order), and offset_inferred true if any of them was inferred.
READ_ATTRIBUTES = ("stream_id", "register_content_code", "reading_type", "file_type", "file_identifier",
                   "file_status")
READ_ATTRIBUTES_SCHEMA = pa.schema([pa.field(c, pa.string()) for c in READ_ATTRIBUTES]
                                   + [pa.field("offset_inferred", pa.bool_())])
# A read's attributes are the rows of its key and of the ingest that delivered its value.
READ_KEY = ("icp_id", "read_timestamp", "energy_flow_direction", "ingest_id")
ROW_COLUMNS = [*READ_KEY, *READ_ATTRIBUTES, "offset_inferred"]


def with_attributes(lake: Lake, reads: pa.Table, icp_id: str) -> pa.Table:
    """``reads`` of one ICP (with their ``ingest_id``) and the attributes their values came
    with; null for reads delivered in a format that has none (CSV, Parquet, Arrow)."""
    wanted = set(reads["ingest_id"].to_pylist()) if reads.num_rows else set()
    paths = [path for ingest, path in ingest_attribute_files(lake).items() if ingest in wanted]
    rows = None
    if paths:
        days = reads["read_date"]
        rows = attribute_rows(paths, [("icp_id", "=", icp_id), ("read_date", ">=", pc.min(days).as_py()),
                                      ("read_date", "<=", pc.max(days).as_py())])
    keys = reads.append_column("icp_id", pa.repeat(pa.scalar(icp_id, pa.string()), reads.num_rows))
    for name, column in zip(READ_ATTRIBUTES_SCHEMA.names, present(keys, rows).columns):
        reads = reads.append_column(name, column)
    return reads


def ingest_attribute_files(lake: Lake) -> dict[str, Path]:
    """The attributes file of each ingest that has one, by ingest id."""
    return {r["ingest_id"]: lake.layout.absolute(r["attributes"]["path"]) for r in lake.ingests()
            if r.get("attributes")}


def attribute_rows(paths: list[Path], filters: list[tuple]) -> pa.Table:
    """The rows of the attributes files ``paths`` that pass ``filters`` (pyarrow's), in the
    columns ``present`` reads."""
    tables = [pq.read_table(path, columns=ROW_COLUMNS, filters=filters) for path in paths]
    return pa.concat_tables(tables) if tables else pa.table({c: [] for c in ROW_COLUMNS})


def present(reads: pa.Table, rows: pa.Table | None) -> pa.Table:
    """The attributes of each of ``reads`` (a table with the ``READ_KEY`` columns), in their
    order, from the attribute ``rows`` (of ``ROW_COLUMNS``; None or rows of other reads
    give nulls): each text attribute's distinct non-null values of the read's rows, sorted
    and joined by ",", and offset_inferred true if any row's is. The one rule for every
    answer that shows a read's attributes (``READ_ATTRIBUTES_SCHEMA``)."""
    n = reads.num_rows
    if rows is None or rows.num_rows == 0 or n == 0:
        return READ_ATTRIBUTES_SCHEMA.empty_table() if n == 0 else pa.table(
            [pa.nulls(n, f.type) for f in READ_ATTRIBUTES_SCHEMA], schema=READ_ATTRIBUTES_SCHEMA)
    keys = pa.table({c: reads[c] for c in READ_KEY}).append_column("read", pa.array(np.arange(n), pa.int64()))
    matched = rows.select(ROW_COLUMNS).join(keys, list(READ_KEY), join_type="inner")
    columns = [_joined(matched.select(["read", c]), c, n) for c in READ_ATTRIBUTES]
    inferred = matched.group_by("read").aggregate([("offset_inferred", "any")])
    columns.append(_scatter(inferred["offset_inferred_any"].combine_chunks(), inferred["read"].to_numpy(), n))
    return pa.table(columns, schema=READ_ATTRIBUTES_SCHEMA)


def _joined(pairs: pa.Table, column: str, n: int) -> pa.Array:
    """Per read (0..n-1), the distinct non-null values of ``column`` among its ``pairs`` (read,
    value), sorted and joined by ","; null for a read without any."""
    distinct = pairs.filter(pc.is_valid(pairs[column])).group_by(["read", column]).aggregate([])
    distinct = distinct.sort_by([("read", "ascending"), (column, "ascending")])
    read = distinct["read"].to_numpy()
    starts = np.flatnonzero(np.concatenate([[True], read[1:] != read[:-1]])) if len(read) else np.zeros(0, np.int64)
    offsets = pa.array(np.append(starts, len(read)).astype(np.int32))
    lists = pa.ListArray.from_arrays(offsets, distinct[column].combine_chunks().cast(pa.string()))
    return _scatter(pc.binary_join(lists, ","), read[starts], n)


def _scatter(values: pa.Array, reads: np.ndarray, n: int) -> pa.Array:
    """``values[i]`` at position ``reads[i]`` of ``n``, null elsewhere."""
    where = np.full(n, -1, np.int64)
    where[reads] = np.arange(len(reads))
    return values.take(pa.array(where, mask=where < 0))
