"""Reading published algorithm output: which run answers for each trading date, and the
aggregations the service and analysts ask for. Results are Arrow tables.

Every answer comes from the block files of the output files (``outputblocks``), written in
the commit that published them: one ICP's rows of a date are one block read, and totals by
key read the blocks of the ICPs a page needs. There is no other path, and nothing to build.

Periods are text that sorts in time order: ``interval`` gives the trading period as
``YYYY-MM-DD/NN`` (NN = 01..50; unambiguous on daylight-saving days, unlike a local
time), ``day`` ``YYYY-MM-DD``, ``week`` the ISO week ``YYYY-Www``, ``month`` ``YYYY-MM``.
Text keys sort in byte order, as DuckDB's VARCHAR does.
"""
from __future__ import annotations

import bisect
import datetime as dt
from collections.abc import Iterator, Sequence
from typing import Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from datalake.output import blocks as outputblocks
from datalake import schema
from datalake.output import pages
from datalake.errors import InvalidArgumentError
from datalake.lake import Lake, check_range, parse_date
from datalake.output.blocks import EPOCH, SIDES, Rows, Source
from datalake.output.groups import TotalOutOfRangeError, dates, group, period_key, period_text
from datalake.output.pages import MAX_LIMIT, resolve_runs
from datalake.raw.reads import check_icp_id

Granularity = Literal["interval", "day", "week", "month"]
GRANULARITIES = ("interval", "day", "week", "month")
KEYS = ("icp_id", "read_date", "buyer_seller")
KEY_SQL = {k: k for k in KEYS}  # the keys by name, as the service imports them
STREAM_PAGE_ROWS = 65_536  # rows a page of a streamed answer (CSV, Arrow)

SUMMARY_SCHEMA = pa.schema([
    pa.field("period", pa.string()),
    pa.field("buyer_seller", pa.string()),
    pa.field("matched_amount", schema.AMOUNT_DECIMAL),
    pa.field("intervals", pa.int64()),
    pa.field("runs", pa.list_(pa.string())),
])
KEY_TYPES = {"icp_id": pa.string(), "read_date": pa.date32(), "buyer_seller": pa.string()}
# Also of this module's interface: MAX_LIMIT, resolve_runs (outputpages), TotalOutOfRangeError.
__all__ = ["MAX_LIMIT", "TotalOutOfRangeError", "output_by_key", "output_summary", "resolve_runs", "summarize"]


def output_summary(lake: Lake, icp_id: str, *, start: dt.date | str | None = None,
                   end: dt.date | str | None = None, buyer_seller: str | None = None,
                   granularity: Granularity = "day", run: str = "latest", limit: int | None = 100,
                   cursor: str | None = None) -> tuple[pa.Table, str | None]:
    """One ICP's output by period and buyer_seller (exact sums, interval counts, runs),
    in key order, a page of at most ``limit`` rows, and the cursor of the next page (None
    on the last). Without ``start``/``end`` it covers every date a run covers."""
    check_icp_id(icp_id)
    pages.check_side(buyer_seller)
    if granularity not in GRANULARITIES:
        raise InvalidArgumentError(f"granularity must be one of {', '.join(GRANULARITIES)}, got {granularity!r}",
                                   field="granularity", value=granularity)
    pages.check_limit(limit)
    start, end = pages.window(start, end)
    query = {"k": "summary", "icp": icp_id, "s": pages.iso(start), "e": pages.iso(end), "bs": buyer_seller,
             "g": granularity, "run": run}
    pinned, after = pages.page_state(lake, cursor, query, 2, start, end, run)
    if after is not None and not all(isinstance(v, str) for v in after):
        raise InvalidArgumentError("invalid cursor: bad key value", field="cursor", value=str(after))
    rows = outputblocks.icp_rows(lake, icp_id, pages.sources(lake, pinned))
    table = summarize(rows, granularity, buyer_seller, after, None if limit is None else limit + 1)
    return pages.with_cursor(table, limit, query, pinned, ["period", "buyer_seller"])


def summarize(rows: Rows, granularity: str, buyer_seller: str | None, after: list | None,
              limit: int | None) -> pa.Table:
    """One ICP's rows by period and buyer_seller: at most ``limit`` groups after the key
    ``after``, in key order."""
    if buyer_seller is not None:
        rows = _where(rows, rows.side == schema.BUYER_SELLER.index(buyer_seller))
    groups = group(period_key(granularity, rows.day, rows.period) * 2 + rows.side, rows)

    def key(i: int) -> tuple[str, str]:
        row = groups.first[i]
        return (period_text(granularity, int(rows.day[row]), int(rows.period[row])),
                schema.BUYER_SELLER[rows.side[row]])

    lo = bisect.bisect_right(range(len(groups)), tuple(after), key=key) if after else 0
    hi = len(groups) if limit is None else min(len(groups), lo + limit)
    return pa.Table.from_arrays([
        pa.array([key(i)[0] for i in range(lo, hi)], pa.string()),
        SIDES.take(pa.array(rows.side[groups.first[lo:hi]])), *groups.columns(lo, hi)], schema=SUMMARY_SCHEMA)


def output_by_key(lake: Lake, start: dt.date | str, end: dt.date | str, *,
                  by: Sequence[str] = ("icp_id", "buyer_seller"), run: str = "latest",
                  buyer_seller: str | None = None, limit: int | None = None,
                  cursor: str | None = None) -> tuple[pa.Table, str | None]:
    """Output for trading dates ``start``..``end`` grouped by ``by`` (some of icp_id,
    read_date, buyer_seller, in the order given), with exact sums, interval counts and
    runs, in key order. ``limit=None`` returns every row and no cursor."""
    by = list(by) if not isinstance(by, str) else [by]
    if not by or len(set(by)) != len(by) or any(k not in KEYS for k in by):
        raise InvalidArgumentError(f"by must be distinct names from {', '.join(KEYS)}, got {by!r}",
                                   field="by", value=",".join(map(str, by)))
    pages.check_side(buyer_seller)
    pages.check_limit(limit)
    start, end = parse_date(start, "start"), parse_date(end, "end")
    check_range(start, end)
    query = {"k": "by_key", "s": pages.iso(start), "e": pages.iso(end), "by": by, "bs": buyer_seller, "run": run}
    pinned, after = pages.page_state(lake, cursor, query, len(by), start, end, run)
    after = [pages.key_value(k, v) for k, v in zip(by, after)] if after else None
    out_schema = pa.schema([pa.field(k, KEY_TYPES[k]) for k in by] + list(SUMMARY_SCHEMA)[2:])
    sources = pages.sources(lake, pinned)
    side = None if buyer_seller is None else schema.BUYER_SELLER.index(buyer_seller)
    if not sources:
        return out_schema.empty_table(), None
    if limit is None:
        return _by_key_page(lake, sources, by, side, after, None, None, out_schema), None
    if by[:2] == ["read_date", "icp_id"]:
        table = _date_by_date(lake, sources, by, side, after, limit, out_schema)
    else:
        leads = pages.lead_keys(lake, by[0], sources)
        table = _bounded_page(lake, sources, by, side, after, limit, out_schema, leads)
    return pages.with_cursor(table, limit, query, pinned, by)


def stream_by_key(lake: Lake, start: dt.date | str, end: dt.date | str, *, by: Sequence[str] = ("icp_id", "buyer_seller"),
                  run: str = "latest", buyer_seller: str | None = None,
                  page_rows: int = STREAM_PAGE_ROWS) -> tuple[pa.Schema, Iterator[pa.RecordBatch]]:
    """Every row of ``output_by_key`` as record batches of at most ``page_rows``, read a
    page at a time: the pages of one cursor, so the whole stream answers from the runs the
    first page pinned, and memory holds one page. The first page is read now (bad
    arguments raise here, before anything is sent)."""
    table, cursor = output_by_key(lake, start, end, by=by, run=run, buyer_seller=buyer_seller, limit=page_rows)

    def rest(table: pa.Table, cursor: str | None) -> Iterator[pa.RecordBatch]:
        while True:
            yield from table.to_batches()
            if cursor is None:
                return
            table, cursor = output_by_key(lake, start, end, by=by, run=run, buyer_seller=buyer_seller,
                                          limit=page_rows, cursor=cursor)

    return table.schema, rest(table, cursor)


def _bounded_page(lake: Lake, sources: list[Source], by: list[str], side: int | None, after: list | None,
                  limit: int, out_schema: pa.Schema, leads: list | None) -> pa.Table:
    """At most limit + 1 groups after ``after``, aggregating only the leading keys up to a
    bound: limit + 2 distinct ICPs from the cursor on hold at least limit + 1 groups (the
    first may be used up) unless keys are sparse (an ICP absent on the pinned dates, or
    lacking the side asked for); a date usually holds a page. Short of a full page, the
    bound is widened until the page is full or reaches the last of ``leads`` (None: no
    bound, every key is read)."""
    n = 1 if by[0] == "read_date" else limit + 2
    while True:
        at = 0 if leads is None or not after else bisect.bisect_left(leads, after[0])
        if leads is not None and at >= len(leads):
            return out_schema.empty_table()
        last = leads is None or at + n - 1 >= len(leads) - 1
        table = _by_key_page(lake, sources, by, side, after, None if last else leads[at + n - 1], limit, out_schema)
        if last or table.num_rows > limit:
            return table
        n *= 4


def _date_by_date(lake: Lake, sources: list[Source], by: list[str], side: int | None, after: list | None,
                  limit: int, out_schema: pa.Schema) -> pa.Table:
    """A page by read_date, icp_id, ...: each date from the cursor's on is a page by
    icp_id, ... of that date's sources, until limit + 1 groups."""
    tables, need = [], limit + 1
    for day in sorted({s.day for s in sources if not after or s.day >= after[0]}):
        mine = [s for s in sources if s.day == day]
        inner = _bounded_page(lake, mine, by[1:], side, after[1:] if after and day == after[0] else None, need - 1,
                              out_schema.remove(0), pages.lead_keys(lake, "icp_id", mine))
        tables.append(inner.add_column(0, out_schema.field(0), dates(np.full(inner.num_rows, (day - EPOCH).days))))
        need -= inner.num_rows
        if need <= 0:
            break
    return pa.concat_tables(tables).slice(0, limit + 1) if tables else out_schema.empty_table()


def _by_key_page(lake: Lake, sources: list[Source], by: list[str], side: int | None, after: list | None,
                 bound: object, limit: int | None, out_schema: pa.Schema) -> pa.Table:
    """The groups after the key ``after`` whose leading key is at most ``bound`` (None: no
    bound), at most limit + 1 of them, from the totals by ICP and side of each source (by
    date and side only, when icp_id is not a key)."""
    lead = by[0]
    first = after[0] if after and lead == "icp_id" else None
    if lead == "read_date":
        sources = [s for s in sources if (not after or s.day >= after[0]) and (bound is None or s.day <= bound)]
    if "icp_id" in by:
        rows = outputblocks.day_totals(lake, sources, first, bound if lead == "icp_id" else None, side)
    else:  # totals by date and side: the footers have them
        rows = outputblocks.side_totals(lake, sources, side)
    columns = {"icp_id": lambda: _icp_codes(rows.icp), "read_date": lambda: rows.day - rows.day.min(),
               "buyer_seller": lambda: rows.side.astype(np.int64)}
    key = np.zeros(len(rows), np.int64)
    for k in by:
        if len(rows):
            column = columns[k]()
            key = key * (int(column.max()) + 1) + column
    groups = group(key, rows)
    values = {"icp_id": lambda r: rows.icp[int(r)].as_py(),
              "read_date": lambda r: EPOCH + dt.timedelta(days=int(rows.day[r])),
              "buyer_seller": lambda r: schema.BUYER_SELLER[rows.side[r]]}
    lo = bisect.bisect_right(range(len(groups)), tuple(after),
                             key=lambda i: tuple(values[k](groups.first[i]) for k in by)) if after else 0
    hi = len(groups) if limit is None else min(len(groups), lo + limit + 1)
    picked = pa.array(groups.first[lo:hi], pa.int64())
    keys = {"icp_id": lambda: rows.icp.take(picked), "read_date": lambda: dates(rows.day[groups.first[lo:hi]]),
            "buyer_seller": lambda: SIDES.take(pa.array(rows.side[groups.first[lo:hi]]))}
    return pa.Table.from_arrays([keys[k]() for k in by] + groups.columns(lo, hi), schema=out_schema)


def _icp_codes(ids: pa.Array) -> np.ndarray:
    """Each row's ICP as its rank among the distinct ICPs (byte order): counted along when
    the rows are in ICP order already (one source), else by a sort of the distinct ids."""
    n = len(ids)
    if n == 0:
        return np.zeros(0, np.int64)
    if n == 1 or pc.all(pc.less_equal(ids.slice(0, n - 1), ids.slice(1))).as_py():
        changed = pc.not_equal(ids.slice(0, n - 1), ids.slice(1)).to_numpy(zero_copy_only=False)
        return np.concatenate([[0], np.cumsum(changed)]).astype(np.int64)
    distinct = pc.unique(ids)
    distinct = distinct.take(pc.sort_indices(distinct))
    return pc.index_in(ids, value_set=distinct).to_numpy().astype(np.int64)


def _where(rows: Rows, mask: np.ndarray) -> Rows:
    pick = (lambda a: None if a is None else a[mask])
    return Rows(rows.day[mask], rows.period[mask], rows.side[mask], rows.value[mask], pick(rows.count),
                rows.run[mask], rows.runs, None if rows.icp is None else rows.icp.filter(pa.array(mask)))


