"""Reading raw reads back: the latest revision of every key, optionally as of an ingest."""
from __future__ import annotations

import datetime as dt
import re

import duckdb
import pyarrow as pa

from . import schema, sql
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


def read_icp(lake: Lake, icp_id: str, start: dt.date | str, end: dt.date | str, *,
             direction: str | None = None, as_of: str | None = None,
             con: duckdb.DuckDBPyConnection | None = None) -> pa.Table:
    """Raw reads of one ICP for trading dates ``start``..``end`` (inclusive), the latest
    revision of each (read_timestamp, direction) as of ingest ``as_of`` (default: now)."""
    check_icp_id(icp_id)
    check_direction(direction)
    start, end = parse_date(start, "start"), parse_date(end, "end")
    check_range(start, end)
    files = [str(f.path) for f in lake.raw_files(start, end, as_of)]
    if not files:
        return ICP_READS_SCHEMA.empty_table()
    con = con or sql.connect()
    params = {"files": files, "icp_id": icp_id, "direction": direction,
              "as_of": as_of or lake.head_ingest()}
    return con.sql(sql.query("raw_reads_for_icp"), params=params).to_arrow_table().cast(ICP_READS_SCHEMA)
