"""Reading raw reads back: the latest revision of every key, optionally as of an ingest."""
from __future__ import annotations

import datetime as dt
import re

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from . import schema, serving, sql
from .errors import InvalidArgumentError
from .lake import Lake, check_range, parse_date

ICP_ID_RE = re.compile(rf"^[A-Za-z0-9]{{1,{schema.ICP_ID_MAX_LEN}}}$")

ICP_READS_SCHEMA = pa.schema([
    pa.field("read_timestamp", schema.TIMESTAMP),
    pa.field("read_date", pa.date32()),
    pa.field("trading_period", pa.int16()),
    pa.field("interval_read", schema.READ_DECIMAL),
    pa.field("energy_flow_direction", pa.string()),
    pa.field("ingest_id", pa.string()),
])


def check_icp_id(value: str) -> str:
    if not isinstance(value, str) or not ICP_ID_RE.match(value):
        raise InvalidArgumentError(
            f"icp_id must be 1-{schema.ICP_ID_MAX_LEN} letters and digits, got {value!r}",
            field="icp_id", value=value)
    return value


def check_direction(value: str | None) -> str | None:
    if value is not None and value not in schema.DIRECTIONS:
        raise InvalidArgumentError(f"direction must be I or X, got {value!r}", field="direction", value=value)
    return value


def served_by_index(lake: Lake, start: dt.date, end: dt.date, as_of: str | None = None) -> bool:
    """Whether ``read_icp`` answers from the raw index alone, without a DuckDB query (about a
    millisecond): lets a caller decide where to run it."""
    index = serving.index_for(lake)
    return index is not None and index.covers(lake.raw_files(start, end, as_of))


def read_icp(lake: Lake, icp_id: str, start: dt.date | str, end: dt.date | str, *,
             direction: str | None = None, as_of: str | None = None,
             con: duckdb.DuckDBPyConnection | None = None, ingest_id: bool = True,
             index_only: bool = False) -> pa.Table | None:
    """Raw reads of one ICP for trading dates ``start``..``end`` (inclusive), the latest
    revision of each (read_timestamp, direction) as of ingest ``as_of`` (default: now).
    ``ingest_id=False`` leaves out the ingest_id column (which costs a little to build).
    ``index_only=True`` answers only from the raw index alone (no DuckDB query, about a
    millisecond) and returns None when that cannot be done: lets a caller decide where to
    run the slower read.

    Served from the raw index (``datalake.serving``) plus the files of commits newer than
    it, when an index is built; from the lake's files alone otherwise."""
    check_icp_id(icp_id)
    check_direction(direction)
    start, end = parse_date(start, "start"), parse_date(end, "end")
    check_range(start, end)
    snapshot = as_of or lake.head_ingest()
    files = lake.raw_files(start, end, as_of)
    index = serving.index_for(lake)
    if index_only and (index is None or not index.covers(files)):
        return None
    if index is None:
        table = _read_files(files, icp_id, direction, snapshot, con)
        return table if ingest_id else table.drop_columns(["ingest_id"])
    rows = index.rows_of(icp_id, start, end)
    newer = [str(f.path) for f in files if f.max_ingest_id > index.head]
    if newer:
        con = con or sql.connect()
        overlay = con.sql(sql.query("raw_rows_for_icp"),
                          params={"files": newer, "icp_id": icp_id, "as_of": snapshot}).to_arrow_table()
        rows = _plain(pa.Table.from_batches([rows]) if isinstance(rows, pa.RecordBatch) else rows)
        rows = pa.concat_tables([rows, overlay.cast(rows.schema)])
        rows = rows.take(pc.sort_indices(rows, [("read_timestamp", "ascending"),
                                                ("energy_flow_direction", "ascending"),
                                                ("ingest_seq", "ascending")]))
    latest = serving.latest_revisions(rows, snapshot)
    if direction is not None:
        latest = latest.filter(pa.array(serving.direction_codes(latest.column("energy_flow_direction"))
                                        == schema.DIRECTIONS.index(direction)))
    columns = {
        "read_timestamp": latest.column("read_timestamp"),
        "read_date": latest.column("read_date"),
        "trading_period": latest.column("trading_period"),
        "interval_read": latest.column("interval_read"),
        "energy_flow_direction": serving.direction_strings(latest.column("energy_flow_direction")),
    }
    if not ingest_id:
        return pa.table(columns, schema=ICP_READS_SCHEMA.remove(ICP_READS_SCHEMA.get_field_index("ingest_id")))
    return pa.table({**columns, "ingest_id": serving.ingest_ids(latest.column("ingest_seq"))}, schema=ICP_READS_SCHEMA)


def _plain(rows: pa.Table) -> pa.Table:
    return rows.set_column(4, "energy_flow_direction", rows.column("energy_flow_direction").cast(pa.string()))


def _read_files(files: list, icp_id: str, direction: str | None, snapshot: str | None,
                con: duckdb.DuckDBPyConnection | None) -> pa.Table:
    if not files:
        return ICP_READS_SCHEMA.empty_table()
    con = con or sql.connect()
    params = {"files": [str(f.path) for f in files], "icp_id": icp_id, "direction": direction,
              "as_of": snapshot}
    return con.sql(sql.query("raw_reads_for_icp"), params=params).to_arrow_table().cast(ICP_READS_SCHEMA)
