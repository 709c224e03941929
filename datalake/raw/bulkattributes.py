"""The attributes of the bulk stream's reads (``fields=all``): for each range of ICPs, the
rows of the attributes files of the ingests that delivered its reads, presented per read by
the rule of one ICP's reads (``attributes.present``)."""
from __future__ import annotations

import datetime as dt

import numpy as np
import pyarrow as pa

from datalake.raw import blocks as rawblocks
from datalake.raw.attributes import READ_ATTRIBUTES_SCHEMA, attribute_rows, ingest_attribute_files, present
from datalake.lake import Lake
from datalake.storage.layout import ingest_id

# What ``fields=all`` adds to each row of the bulk stream, after its usual columns: the ingest
# that delivered the read's value and the attributes it came with (null for CSV, Parquet, Arrow).
ATTRIBUTE_FIELDS = [pa.field("ingest_id", pa.string()), *READ_ATTRIBUTES_SCHEMA]


def with_attribute_fields(schema: pa.Schema) -> pa.Schema:
    return pa.schema([*schema, *ATTRIBUTE_FIELDS])


class RangeAttributes:
    """Adds the attribute columns to the batch of each range of ICPs of a bulk read of
    trading dates ``start``..``end``."""

    def __init__(self, lake: Lake, start: dt.date, end: dt.date, schema: pa.Schema) -> None:
        self.files = ingest_attribute_files(lake)
        self.dates = [("read_date", ">=", start), ("read_date", "<=", end)]
        self.schema = with_attribute_fields(schema)

    def add(self, batch: pa.RecordBatch, rows: rawblocks.Rows, lo: bytes | None, hi: bytes | None) -> pa.RecordBatch:
        """``batch`` (made of ``rows``, the reads of ICPs lo..hi) with the attribute columns."""
        ingests = rawblocks.ingest_ids(rows)
        delivered = {ingest_id(int(s)) for s in np.unique(rows.seq)}
        paths = [path for ingest, path in self.files.items() if ingest in delivered]
        found = None
        if paths:
            bounds = ([("icp_id", ">=", lo.decode())] if lo is not None else []) + (
                [("icp_id", "<", hi.decode())] if hi is not None else [])
            found = attribute_rows(paths, self.dates + bounds)
        keys = pa.table({"icp_id": rawblocks.icp_ids(rows), "read_timestamp": batch["read_timestamp"],
                         "energy_flow_direction": rawblocks.directions(rows), "ingest_id": ingests})
        attributes = present(keys, found)
        return pa.RecordBatch.from_arrays([*batch.columns, ingests, *(c.combine_chunks() for c in attributes.columns)],
                                          schema=self.schema)
