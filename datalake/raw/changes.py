"""The change feed: the reads that the ingests after one ingest, up to another, delivered
for the first time or revised, each with the value it had before."""
from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass

import pyarrow as pa

from datalake import cursor as cursors
from datalake import schema
from datalake import sql
from datalake.raw.asof import resolve_as_of
from datalake.errors import InvalidArgumentError
from datalake.lake import Lake
from datalake.storage.layout import INGEST_ID_RE, check_ingest_id

BEGINNING = "ing-00000000"  # since=ing-00000000: from the first ingest on
CHANGES_SCHEMA = pa.schema([
    pa.field("icp_id", pa.string()),
    pa.field("read_date", pa.date32()),
    pa.field("trading_period", pa.int16()),
    pa.field("read_timestamp", schema.TIMESTAMP),
    pa.field("energy_flow_direction", pa.string()),
    pa.field("interval_read", schema.READ_DECIMAL),
    pa.field("ingest_id", pa.string()),
    pa.field("previous_interval_read", schema.READ_DECIMAL),
    pa.field("previous_ingest_id", pa.string()),
    pa.field("change", pa.string()),
])
STREAM_PAGE_ROWS = 250_000
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_NO_LIMIT = 2**62


@dataclass(frozen=True)
class ChangeRange:
    """``since`` (exclusive) and ``until`` (inclusive), both ingest ids."""

    since: str
    until: str | None  # None: the lake has no ingest yet


def resolve_range(lake: Lake, since: str, until: str | None = None) -> ChangeRange:
    """``since`` and ``until`` as ingest ids: each an ingest id or an RFC 3339 time (as
    ``as_of``); ``since`` may also be ``ing-00000000`` (from the first ingest); ``until``
    defaults to the newest ingest."""
    if since is None:
        raise InvalidArgumentError("since is required: an ingest id like ing-00000041", field="since")
    since_id = BEGINNING if since == BEGINNING else resolve_as_of(lake, since, field="since")
    until_id = resolve_as_of(lake, until, field="until") if until is not None else lake.head_ingest()
    if until_id is not None and until_id < since_id:
        raise InvalidArgumentError(f"until ({until_id}) is before since ({since_id})", field="until", value=until)
    return ChangeRange(since_id, until_id)


def read_changes(lake: Lake, since: str, until: str | None = None, *, limit: int | None = None,
                 cursor: str | None = None) -> tuple[pa.Table, str | None, ChangeRange]:
    """One page of the change feed (every row with ``limit=None``), the cursor of the next
    page (None on the last), and the range it answers. A cursor pins the ``until`` its first
    page resolved to, so later ingests do not shift the pages."""
    if limit is not None and limit < 1:
        raise InvalidArgumentError(f"limit must be at least 1, got {limit}", field="limit", value=limit)
    query = {"k": "changes", "since": since, "until": until}
    after: list = [""] * 5
    if cursor is not None:
        after = cursors.decode(cursor, query, 5).after
        pinned = after[0]
        if not isinstance(pinned, str) or not INGEST_ID_RE.match(pinned):
            raise InvalidArgumentError("cursor is not one this server gave out", field="cursor", value=cursor)
        lake.ingest(pinned)
        span = resolve_range(lake, since, pinned)
    else:
        span = resolve_range(lake, since, until)
    if span.until is None or span.until == span.since:
        return CHANGES_SCHEMA.empty_table(), None, span
    table = _page(lake, span, after[1:], limit)
    next_cursor = None
    if limit is not None and table.num_rows == limit:
        last = table.slice(limit - 1).to_pylist()[0]
        stamp = int(last["read_timestamp"].timestamp() * 10**6)
        next_cursor = cursors.encode(cursors.Cursor(query, {}, [span.until, last["ingest_id"], last["icp_id"],
                                                                  stamp, last["energy_flow_direction"]]))
    return table, next_cursor, span


def stream_changes(lake: Lake, since: str, until: str | None = None, *,
                   page_rows: int = STREAM_PAGE_ROWS) -> tuple[ChangeRange, Iterator[pa.RecordBatch]]:
    """Every row of the feed as record batches, a page at a time from one pinned range; the
    first page is read now, so bad arguments raise before anything is sent."""
    table, next_cursor, span = read_changes(lake, since, until, limit=page_rows)

    def batches() -> Iterator[pa.RecordBatch]:
        page, token = table, next_cursor
        while True:
            yield from page.to_batches()
            if token is None:
                return
            page, token, _ = read_changes(lake, since, until, limit=page_rows, cursor=token)

    return span, batches()


def _page(lake: Lake, span: ChangeRange, after: list, limit: int | None) -> pa.Table:
    check_ingest_id(span.until, "until")
    records = [r for r in lake.ingests() if span.since < r["ingest_id"] <= span.until]
    dates = {d for r in records for d in r["dates"]}
    files = [f for f in lake.raw_files() if f.read_date.isoformat() in dates]
    delivered = [str(f.path) for f in files if f.max_ingest_id > span.since and f.min_ingest_id <= span.until]
    if not delivered:
        return CHANGES_SCHEMA.empty_table()
    history = [str(f.path) for f in files if f.min_ingest_id <= span.until]
    ingest, icp, stamp, direction = after
    params = {"delivered_files": delivered, "history_files": history, "since": span.since, "until": span.until,
              "after_ingest": ingest, "after_icp": icp, "after_direction": direction,
              "after_ts": _EPOCH + dt.timedelta(microseconds=stamp) if isinstance(stamp, int) else _EPOCH,
              "limit": limit if limit is not None else _NO_LIMIT}
    con = sql.connect()
    try:
        return con.sql(sql.query("raw/changes_page"), params=params).to_arrow_table().cast(CHANGES_SCHEMA)
    finally:
        con.close()
