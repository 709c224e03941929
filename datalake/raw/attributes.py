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
from datalake.delivery.eiep import ATTRIBUTE_DECIMAL
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
WRITE_OPTIONS = dict(schema.PARQUET_WRITE_OPTIONS,
                     use_dictionary=["icp_id", "energy_flow_direction", "stream_id", "register_content_code",
                                     "reading_type", "file_type", "file_identifier", "file_status", "ingest_id"])


def stage_attributes(lake: Lake, attributes: pa.Table, ingest: str, staged: commit.Staged, work: Path) -> dict:
    """Write ``attributes`` as commit ``ingest``'s attributes file, staged to go into the
    lake with the raw files; the entry for its commit record."""
    table = attributes.append_column("ingest_id", pa.repeat(pa.scalar(ingest, pa.string()), attributes.num_rows))
    table = table.select(ATTRIBUTES_FILE_SCHEMA.names).cast(ATTRIBUTES_FILE_SCHEMA)
    if not _in_order(table):  # a file in key order, as an export writes it, needs no sort
        table = table.take(pc.sort_indices(table, sort_keys=SORT_KEY))
    local = work / f"attributes-{ingest}.parquet"
    rows = write_parquet(local, ATTRIBUTES_FILE_SCHEMA, table.to_batches(schema.ROW_GROUP_ROWS),
                         options=WRITE_OPTIONS)
    target = staged.add(local, lake.layout.attributes_file(ingest, commit.token()))
    return {"path": lake.layout.relative(target), "rows": rows, "bytes": local.stat().st_size,
            "sha256": sha256_file(local)}


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


# The attributes ``fields=all`` adds to one ICP's reads. A read summed from several streams or
# registers shows each text attribute's distinct values joined by "," (in order), and
# offset_inferred true if any of them was inferred.
READ_ATTRIBUTES = ("stream_id", "register_content_code", "reading_type", "file_type", "file_identifier",
                   "file_status")
READ_ATTRIBUTES_SCHEMA = pa.schema([pa.field(c, pa.string()) for c in READ_ATTRIBUTES]
                                   + [pa.field("offset_inferred", pa.bool_())])


def with_attributes(lake: Lake, reads: pa.Table, icp_id: str) -> pa.Table:
    """``reads`` of one ICP (with their ``ingest_id``) and the attributes their values came
    with; null for reads delivered in a format that has none (CSV, Parquet, Arrow)."""
    wanted = set(reads["ingest_id"].to_pylist()) if reads.num_rows else set()
    paths = [lake.layout.absolute(r["attributes"]["path"]) for r in lake.ingests()
             if r["ingest_id"] in wanted and r.get("attributes")]
    found: dict[tuple, list[dict]] = {}
    if paths:
        days = reads["read_date"]
        filters = [("icp_id", "=", icp_id), ("read_date", ">=", pc.min(days).as_py()),
                   ("read_date", "<=", pc.max(days).as_py())]
        columns = ["read_timestamp", "energy_flow_direction", "ingest_id", *READ_ATTRIBUTES, "offset_inferred"]
        for path in paths:
            for row in pq.read_table(path, columns=columns, filters=filters).to_pylist():
                found.setdefault((row["read_timestamp"], row["energy_flow_direction"], row["ingest_id"]),
                                 []).append(row)
    keys = zip(reads["read_timestamp"].to_pylist(), reads["energy_flow_direction"].to_pylist(),
               reads["ingest_id"].to_pylist())
    rows = [found.get(key, []) for key in keys]
    columns = {c: pa.array([_joined(r, c) for r in rows], pa.string()) for c in READ_ATTRIBUTES}
    columns["offset_inferred"] = pa.array([any(x["offset_inferred"] for x in r) if r else None for r in rows],
                                          pa.bool_())
    for name, column in columns.items():
        reads = reads.append_column(name, column)
    return reads


def _joined(rows: list[dict], column: str) -> str | None:
    values = sorted({r[column] for r in rows if r[column] is not None})
    return ",".join(values) if values else None
