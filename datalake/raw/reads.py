"""Reading raw reads back: the latest revision of every key, optionally as of an ingest."""
from __future__ import annotations

import datetime as dt
import re

import pyarrow as pa

from datalake.storage import blocks
from datalake.raw import blocks as rawblocks
from datalake import schema
from datalake.raw.asof import resolve_as_of
from datalake.errors import InvalidArgumentError
from datalake.lake import Lake, check_range, parse_date

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
             direction: str | None = None, as_of: str | None = None, ingest_id: bool = True) -> pa.Table:
    """Raw reads of one ICP for trading dates ``start``..``end`` (inclusive), the latest
    revision of each (read_timestamp, direction) as of ``as_of`` (default: now; an ingest id
    or an RFC 3339 time, see ``asof.resolve_as_of``), in time order. ``ingest_id=False`` leaves out the ingest_id column (which costs a little
    to build). Read from the block files of the snapshot's raw files: one block read a
    file."""
    check_icp_id(icp_id)
    check_direction(direction)
    start, end = parse_date(start, "start"), parse_date(end, "end")
    check_range(start, end)
    as_of = resolve_as_of(lake, as_of)
    files = sorted(lake.raw_files(start, end, as_of), key=lambda f: (f.read_date, f.ingest_id))
    rows = rawblocks.icp_rows([(f.read_date, f.blocks) for f in files], icp_id)
    rows = rawblocks.latest(rows, as_of=as_of, direction=direction, ordered=rawblocks.in_key_order(files))
    columns = {**rawblocks.reads_columns(rows), "energy_flow_direction": rawblocks.directions(rows)}
    if not ingest_id:
        return pa.table(columns, schema=ICP_READS_SCHEMA.remove(ICP_READS_SCHEMA.get_field_index("ingest_id")))
    return pa.table({**columns, "ingest_id": rawblocks.ingest_ids(rows)}, schema=ICP_READS_SCHEMA)


def warm_up(lake: Lake, days: int = 14) -> None:
    """Open the block footers of the newest ``days`` trading dates and read one ICP over
    them, so that a fresh process answers its first requests at full speed (the footers stay
    in the bounded cache of ``blocks.footers``)."""
    files = lake.raw_files()
    if not files:
        return
    last = max(f.read_date for f in files)
    first = last - dt.timedelta(days=days - 1)
    recent = [f for f in files if f.read_date >= first]
    for f in recent:
        opened = blocks.footers.get(f.blocks)
    read_icp(lake, opened.firsts[0], first, last, ingest_id=False)
