"""Reading published algorithm output: which run answers for each trading date, and the
aggregations the service and analysts ask for. Results are Arrow tables.

Periods are text that sorts in time order: ``interval`` gives the trading period as
``YYYY-MM-DD/NN`` (NN = 01..50; unambiguous on daylight-saving days, unlike a local
time), ``day`` ``YYYY-MM-DD``, ``week`` the ISO week ``YYYY-Www``, ``month`` ``YYYY-MM``.
"""
from __future__ import annotations

import bisect
import contextlib
import datetime as dt
import functools
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Literal

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.ipc as ipc
import pyarrow.parquet as pq

from . import cursor as cursors
from . import schema, serving, sql
from .errors import InvalidArgumentError, MeterlakeError
from .lake import Lake, check_range, parse_date
from .layout import check_run_id
from .reads import check_icp_id
from .runs import get_run, output_files, records, run_record
from .serving import EPOCH
from .storage import version

Granularity = Literal["interval", "day", "week", "month"]
PERIOD_SQL: dict[str, str] = {
    "interval": "strftime(read_date, '%Y-%m-%d') || '/' || lpad(CAST(trading_period AS VARCHAR), 2, '0')",
    "day": "strftime(read_date, '%Y-%m-%d')",
    "week": "strftime(read_date, '%G-W%V')",
    "month": "strftime(read_date, '%Y-%m')",
}
KEY_SQL: dict[str, str] = {"icp_id": "icp_id", "read_date": "read_date", "buyer_seller": "buyer_seller"}
MAX_LIMIT = 100_000

SUMMARY_SCHEMA = pa.schema([
    pa.field("period", pa.string()),
    pa.field("buyer_seller", pa.string()),
    pa.field("matched_amount", schema.AMOUNT_DECIMAL),
    pa.field("intervals", pa.int64()),
    pa.field("runs", pa.list_(pa.string())),
])
KEY_TYPES = {"icp_id": pa.string(), "read_date": pa.date32(), "buyer_seller": pa.string()}


def resolve_runs(lake: Lake, start: dt.date | str, end: dt.date | str, run: str = "latest") -> dict[dt.date, str]:
    """The run that answers for each trading date in ``start``..``end``. "latest" is the
    most recently published, not retracted run whose window covers the date (dates no
    such run covers are absent); a run id pins that run (published or retracted) for the
    dates of its window."""
    start, end = parse_date(start, "start"), parse_date(end, "end")
    check_range(start, end)
    if run != "latest":
        record = get_run(lake, check_run_id(run, "run"))
        output_files(lake, run)  # open and aborted runs have no output to read
        candidates = [record]
    else:
        candidates = sorted(records(lake, status="published", start=start, end=end),
                            key=lambda r: (r["publish_seq"], r["run_id"]))  # two hosts may tie
    resolved: dict[dt.date, str] = {}
    for record in candidates:  # later publishes overwrite earlier ones
        first = max(start, dt.date.fromisoformat(record["start"]))
        last = min(end, dt.date.fromisoformat(record["end"]))
        for i in range((last - first).days + 1):
            resolved[first + dt.timedelta(days=i)] = record["run_id"]
    return dict(sorted(resolved.items()))


def output_summary(lake: Lake, icp_id: str, *, start: dt.date | str | None = None,
                   end: dt.date | str | None = None, buyer_seller: str | None = None,
                   granularity: Granularity = "day", run: str = "latest", limit: int | None = 100,
                   cursor: str | None = None, con: duckdb.DuckDBPyConnection | None = None
                   ) -> tuple[pa.Table, str | None]:
    """One ICP's output by period and buyer_seller (exact sums, interval counts, runs),
    in key order, a page of at most ``limit`` rows, and the cursor of the next page (None
    on the last). Without ``start``/``end`` it covers every date a run covers."""
    check_icp_id(icp_id)
    _check_side(buyer_seller)
    if granularity not in PERIOD_SQL:
        raise InvalidArgumentError(f"granularity must be one of {', '.join(PERIOD_SQL)}, got {granularity!r}",
                                   field="granularity", value=granularity)
    _check_limit(limit)
    start, end = _window(start, end)
    query = {"k": "summary", "icp": icp_id, "s": _iso(start), "e": _iso(end), "bs": buyer_seller,
             "g": granularity, "run": run}
    pinned, after = _page_state(lake, cursor, query, 2, start, end, run)
    text = sql.query("output_summary_for_icp").replace("{period}", PERIOD_SQL[granularity])
    params = {"buyer_seller": buyer_seller, "limit": None if limit is None else limit + 1,
              "after_period": after[0] if after else None, "after_side": after[1] if after else None}
    rows = serving.output_rows(lake, icp_id, pinned)  # from the run indexes, when built
    if rows is None:
        files = _files(lake, pinned)
        if not files:
            return SUMMARY_SCHEMA.empty_table(), None
        con = con or sql.connect()
        rows = con.sql(sql.query("output_rows_for_icp"), params={"files": files, "icp_id": icp_id}).to_arrow_table()
    table = summarize(rows, granularity, buyer_seller, after, params["limit"])
    if table is None:  # the few inputs only SQL answers exactly (see summarize)
        con = con or sql.connect()
        con.register("icp_output", rows)
        try:
            table = con.sql(text, params=params).to_arrow_table()
        finally:
            con.unregister("icp_output")
    return _with_cursor(table.cast(SUMMARY_SCHEMA), limit, query, pinned, ["period", "buyer_seller"])


def output_by_key(lake: Lake, start: dt.date | str, end: dt.date | str, *,
                  by: Sequence[str] = ("icp_id", "buyer_seller"), run: str = "latest",
                  buyer_seller: str | None = None, limit: int | None = None, cursor: str | None = None,
                  con: duckdb.DuckDBPyConnection | None = None) -> tuple[pa.Table, str | None]:
    """Output for trading dates ``start``..``end`` grouped by ``by`` (some of icp_id,
    read_date, buyer_seller, in the order given), with exact sums, interval counts and
    runs, in key order. ``limit=None`` returns every row and no cursor."""
    by = list(by) if not isinstance(by, str) else [by]
    if not by or len(set(by)) != len(by) or any(k not in KEY_SQL for k in by):
        raise InvalidArgumentError(f"by must be distinct names from {', '.join(KEY_SQL)}, got {by!r}",
                                   field="by", value=",".join(map(str, by)))
    _check_side(buyer_seller)
    _check_limit(limit)
    start, end = parse_date(start, "start"), parse_date(end, "end")
    check_range(start, end)
    query = {"k": "by_key", "s": _iso(start), "e": _iso(end), "by": by, "bs": buyer_seller, "run": run}
    pinned, after = _page_state(lake, cursor, query, len(by), start, end, run)
    keys, lead = ", ".join(KEY_SQL[k] for k in by), KEY_SQL[by[0]]
    params: dict[str, object] = {"buyer_seller": buyer_seller}
    after_lead = predicate = "true"
    if after:
        names = [f"$after_{i}" for i in range(len(by))]
        after_lead = f"{lead} >= $after_0"
        # The leading >= lets the scan skip row groups; the row comparison is the keyset.
        predicate = f"{after_lead} AND ({keys}) > ({', '.join(names)})"
        for i, (key, value) in enumerate(zip(by, after)):
            params[f"after_{i}"] = _key_value(key, value)
    out_schema = pa.schema([pa.field(k, KEY_TYPES[k]) for k in by] + list(SUMMARY_SCHEMA)[2:])
    files = _files(lake, pinned)
    if not files:
        return out_schema.empty_table(), None
    runs = sorted(set(pinned.values()))
    if len(runs) == 1:
        out_schema = _OneRun(out_schema, runs[0])
    # The runs' daily totals (ICP x date x side) when the service has built them: a date
    # is 100k rows instead of 4.8M, and one date of one run by ICP and side is them as is.
    daily = serving.daily_output(lake, pinned)
    if daily is not None and by == ["icp_id", "buyer_seller"]:
        table = _one_date_by_icp(daily, buyer_seller, [params[f"after_{i}"] for i in range(2)] if after else None,
                                 limit)
        if table is not None:
            table = out_schema.complete(table) if isinstance(out_schema, _OneRun) else table.cast(out_schema)
            return _with_cursor(table, limit, query, pinned, by)
    con = con or sql.connect()
    name = "output_by_key" + ("_daily" if daily is not None else "") + ("_one_run" if len(runs) == 1 else "")
    text = sql.query(name).replace("{keys}", keys)
    source = {"files": files} if daily is None else {}
    first = params.get("after_0") if lead == "icp_id" else None
    if limit is None:
        with _daily_relation(con, daily, len(runs) > 1, first, None):
            return _query(con, text.replace("{after}", predicate), params, source, None, out_schema), None
    # A page aggregates only the keys up to a bound: limit + 2 distinct leading keys from
    # the cursor on hold at least limit + 1 groups (the first may be used up) unless keys
    # are sparse (an ICP absent on the pinned dates, or lacking the side asked for), in
    # which case the bound is widened until the page is full or reaches the last key.
    n = limit + 2
    while True:
        bound = _bound(lake, con, pinned, files, lead, after_lead, params, buyer_seller, n, scan=daily is None)
        if bound is None:
            return out_schema.empty_table(), None
        value, last = bound
        page_params = params if last else {**params, "bound": value}
        page_predicate = predicate if last else f"{predicate} AND {lead} <= $bound"
        with _daily_relation(con, daily, len(runs) > 1, first, None if last or lead != "icp_id" else value):
            table = _query(con, text.replace("{after}", page_predicate), page_params, source, limit, out_schema)
        if last or table.num_rows > limit:
            return _with_cursor(table, limit, query, pinned, by)
        n *= 4


def _one_date_by_icp(daily: list[tuple[str, list[pa.Table]]], buyer_seller: str | None, after: list | None,
                     limit: int | None) -> pa.Table | None:
    """Totals by (icp_id, buyer_seller) of one date of one run: that date's daily totals
    are already those groups in that order (sorted by DuckDB, whose text order is the byte
    order, as Python's is for str). None when the query is not of that shape, or a total
    does not fit DECIMAL(18, 4) (the SQL raises that error)."""
    if len(daily) != 1 or len(daily[0][1]) != 1:
        return None
    rows = daily[0][1][0]
    if buyer_seller is not None:
        rows = rows.filter(pc.equal(rows["buyer_seller"], pa.scalar(buyer_seller, pa.string())))
    lo = 0
    if after is not None:
        icps, sides = rows["icp_id"], rows["buyer_seller"]
        lo = bisect.bisect_right(range(rows.num_rows), (after[0], after[1]),
                                 key=lambda i: (icps[i].as_py(), sides[i].as_py()))
    hi = rows.num_rows if limit is None else min(rows.num_rows, lo + limit + 1)
    rows = rows.slice(lo, hi - lo)
    try:
        amounts = rows["matched_amount"].cast(schema.AMOUNT_DECIMAL)
    except pa.ArrowInvalid:
        return None
    return pa.table({"icp_id": rows["icp_id"], "buyer_seller": rows["buyer_seller"], "matched_amount": amounts,
                     "intervals": rows["intervals"]})


@contextlib.contextmanager
def _daily_relation(con: duckdb.DuckDBPyConnection, daily: list[tuple[str, list[pa.Table]]] | None,
                    with_runs: bool, first: str | None, last: str | None) -> Iterator[None]:
    """``daily_output`` registered on ``con`` for the statement run inside (nothing when
    the daily totals are not used), with only the ICPs from ``first`` to ``last`` (either
    may be None: no limit) when the statement reads no others: each date's totals are
    sorted by icp_id, so that is a binary search instead of a scan."""
    if daily is None:
        yield
        return
    tables = []
    for run_id, days in daily:
        days = [_icp_range(t, first, last) for t in days]
        table = pa.concat_tables(days) if days else serving.DAILY_SCHEMA.empty_table()
        if with_runs:
            table = table.append_column("run_id", pa.repeat(pa.scalar(run_id, pa.string()), table.num_rows))
        tables.append(table)
    con.register("daily_output", pa.concat_tables(tables))
    try:
        yield
    finally:
        con.unregister("daily_output")


def _icp_range(table: pa.Table, first: str | None, last: str | None) -> pa.Table:
    """The rows of a table sorted by icp_id (in byte order, which Python's str order is)
    whose icp_id is from ``first`` to ``last``."""
    if first is None and last is None:
        return table
    icps = table["icp_id"]
    rows = range(table.num_rows)
    lo = 0 if first is None else bisect.bisect_left(rows, first, key=lambda i: icps[i].as_py())
    hi = table.num_rows if last is None else bisect.bisect_right(rows, last, key=lambda i: icps[i].as_py())
    return table.slice(lo, max(0, hi - lo))


def _bound(lake: Lake, con, pinned: dict[dt.date, str], files: list[str], lead: str, after_lead: str,
           params: dict, buyer_seller: str | None, n: int, *, scan: bool = True) -> tuple[object, bool] | None:
    """The n-th distinct leading key from the cursor on, and whether it is the last one;
    None when there is none. By icp_id it comes from the runs' ICP indexes, without a scan;
    otherwise from a scan of the files, or (``scan=False``) no bound: (None, True)."""
    after = params.get("after_0")
    keys = _icp_keys(lake, tuple(sorted(set(pinned.values())))) if lead == "icp_id" else None
    if keys is not None:
        start = bisect.bisect_left(keys, after) if after is not None else 0
        if start >= len(keys):
            return None
        at = min(start + n - 1, len(keys) - 1)
        return keys[at], at == len(keys) - 1
    if not scan:
        return None, True
    text = sql.query("output_by_key_bound").replace("{lead}", lead).replace("{after}", after_lead)
    bound_params = {"files": files, "buyer_seller": buyer_seller, "n": n}
    if after is not None:
        bound_params["after_0"] = after
    value, count = con.sql(text, params=bound_params).fetchall()[0]
    return None if count == 0 else (value, count < n)


@functools.lru_cache(maxsize=16)
def _icp_keys_cached(paths: tuple[tuple[Path, tuple], ...]) -> list[str]:
    tables = []
    for path, _ in paths:
        if path.name.endswith(".arrow"):  # an output index's ICP table, on local disk
            tables.append(ipc.open_file(pa.memory_map(str(path))).read_all().select(["icp_id"]))
            continue
        with path.open("rb") as f:
            tables.append(pq.read_table(f, columns=["icp_id"]))
    keys = pc.unique(pa.chunked_array([t["icp_id"].combine_chunks() for t in tables]))
    return sorted(keys.to_pylist())


def _icp_keys(lake: Lake, run_ids: tuple[str, ...]) -> list[str] | None:
    """The sorted union of the runs' ICP indexes (immutable once published), or None if a
    run has none: published before publish wrote them, and without a built output index
    (whose ICP table lists the same ICPs)."""
    paths = []
    for run in run_ids:
        index = run_record(lake, run).get("icp_index")
        if index:
            path = lake.root / index
        elif (lake.layout.output_index(run) / "manifest.json").exists():
            path = lake.layout.output_index(run) / "icps.arrow"
        else:
            return None
        paths.append((path, version(path)))
    return _icp_keys_cached(tuple(paths))


# -- one ICP's summary in numpy -------------------------------------------------------------

_INT64_LIMIT = 1 << 63
_AMOUNT_LIMIT = 10 ** 18  # DECIMAL(18, 4) holds unscaled values below 10^18


def summarize(rows: pa.Table, granularity: str, buyer_seller: str | None, after: list | None,
              limit: int | None) -> pa.Table | None:
    """``output_summary_for_icp.sql`` over one ICP's rows (read_date, trading_period,
    buyer_seller, matched_amount, run_id), computed with numpy: the same rows, values and
    order (period, buyer_seller), at most ``limit`` rows after the key ``after``. DuckDB
    needs several milliseconds to bind and plan that statement, for a few hundred rows.

    Periods are grouped by integers whose order is that of their text (dates are
    0001..9999, so ``YYYY``-first text sorts in time order; a trading period 0..99 pads to
    two digits), and only the rows returned get their text. Returns None when only the SQL
    gives the exact answer: null values, a trading period outside 0..99 (``lpad`` would cut
    it), a sum that might leave int64 or DECIMAL(18, 4) (DuckDB raises), or a cursor key
    that is not text."""
    if after is not None and not all(isinstance(v, str) for v in after):
        return None
    if any(rows.column(c).null_count for c in ("read_date", "trading_period", "buyer_seller", "matched_amount",
                                                 "run_id")):
        return None
    if rows.schema.field("matched_amount").type != schema.AMOUNT_DECIMAL:
        return None
    if buyer_seller is not None:
        rows = rows.filter(pc.equal(rows.column("buyer_seller"), pa.scalar(buyer_seller, pa.string())))
    n = rows.num_rows
    if n == 0:
        return _summary_table([], [], np.zeros(0, np.int64), np.zeros(0, np.int64), [], np.zeros(1, np.int32))
    days = rows.column("read_date").cast(pa.int32()).to_numpy().astype(np.int64)
    periods = rows.column("trading_period").to_numpy().astype(np.int64)
    if granularity == "interval":
        if periods.min() < 0 or periods.max() > 99:
            return None
        period_key = days * 100 + periods
    elif granularity == "day":
        period_key = days
    elif granularity == "week":
        period_key = (days + 3) // 7  # ISO weeks start on Monday; 1970-01-01 was a Thursday
    else:
        period_key = days.astype("datetime64[D]").astype("datetime64[M]").astype(np.int64)
    side_names, side_codes = _codes(rows.column("buyer_seller"))
    run_names, run_codes = _codes(rows.column("run_id"))
    amounts = _unscaled(rows.column("matched_amount"))
    if amounts is None or max(int(amounts.max()), -int(amounts.min())) * n >= _INT64_LIMIT:
        return None
    group_key = period_key * len(side_names) + side_codes
    order = np.argsort(group_key, kind="stable")
    sorted_key = group_key[order]
    starts = np.flatnonzero(np.r_[True, sorted_key[1:] != sorted_key[:-1]])
    first_row = order[starts]  # a row of each group, for its period and side
    group_sides = side_codes[first_row]

    def period_text(i: int) -> str:
        return _period_text(granularity, int(days[first_row[i]]), int(periods[first_row[i]]))

    lo = 0
    if after is not None:
        lo = bisect.bisect_right(range(len(starts)), (after[0], after[1]),
                                 key=lambda i: (period_text(i), side_names[group_sides[i]]))
    hi = len(starts) if limit is None else min(len(starts), lo + limit)
    sums = np.add.reduceat(amounts[order], starts)[lo:hi]
    if len(sums) and max(int(sums.max()), -int(sums.min())) >= _AMOUNT_LIMIT:
        return None
    counts = np.diff(np.r_[starts, n])[lo:hi]
    # Distinct runs of each group, in run id order: distinct (group, run) pairs, sorted.
    group_of_row = np.empty(n, np.int64)
    group_of_row[order] = np.cumsum(np.r_[False, sorted_key[1:] != sorted_key[:-1]])
    pairs = np.unique(group_of_row * len(run_names) + run_codes)
    pair_groups, pair_runs = pairs // len(run_names), pairs % len(run_names)
    bounds = np.searchsorted(pair_groups, np.arange(lo, hi + 1))
    return _summary_table([period_text(i) for i in range(lo, hi)],
                          [side_names[c] for c in group_sides[lo:hi]], sums, counts,
                          [run_names[c] for c in pair_runs[bounds[0]:bounds[-1]]],
                          (bounds - bounds[0]).astype(np.int32))


def _codes(column: pa.ChunkedArray) -> tuple[list[str], np.ndarray]:
    """A text column's distinct values in byte order (DuckDB's VARCHAR order) and each
    row's position among them."""
    encoded = column.combine_chunks().dictionary_encode()
    names = encoded.dictionary.to_pylist()
    ranked = sorted(range(len(names)), key=lambda i: names[i].encode())
    position = np.empty(len(names), np.int64)
    position[ranked] = np.arange(len(names))
    return [names[i] for i in ranked], position[encoded.indices.to_numpy().astype(np.int64)]


def _unscaled(column: pa.ChunkedArray) -> np.ndarray | None:
    """A DECIMAL(18, 4) column's unscaled values as int64 (None if one does not fit)."""
    array = column.combine_chunks()
    words = np.frombuffer(array.buffers()[1], dtype="<i8").reshape(-1, 2)[array.offset:array.offset + len(array)]
    low, high = words[:, 0], words[:, 1]
    if not (high == (low >> 63)).all():
        return None
    return low


def _period_text(granularity: str, day_number: int, trading_period: int) -> str:
    """PERIOD_SQL's text of one period, from a date (days since 1970-01-01) in it."""
    if granularity == "interval":
        return f"{_day_text(granularity, day_number)}/{trading_period:02d}"
    return _day_text(granularity, day_number)


@functools.lru_cache(maxsize=8192)
def _day_text(granularity: str, day_number: int) -> str:
    day = EPOCH + dt.timedelta(days=day_number)
    if granularity in ("interval", "day"):
        return day.isoformat()
    if granularity == "week":
        year, week, _ = day.isocalendar()
        return f"{year:04d}-W{week:02d}"
    return f"{day.year:04d}-{day.month:02d}"


def _summary_table(periods: list[str], sides: list[str], sums: np.ndarray, counts: np.ndarray,
                   runs: list[str], run_offsets: np.ndarray) -> pa.Table:
    words = np.empty((len(sums), 2), np.int64)
    words[:, 0], words[:, 1] = sums, sums >> 63
    amounts = pa.Array.from_buffers(schema.AMOUNT_DECIMAL, len(sums), [None, pa.py_buffer(words.tobytes())])
    return pa.Table.from_arrays([
        pa.array(periods, pa.string()), pa.array(sides, pa.string()), amounts,
        pa.array(counts, pa.int64()),
        pa.ListArray.from_arrays(pa.array(run_offsets, pa.int32()), pa.array(runs, pa.string())),
    ], schema=SUMMARY_SCHEMA)


# -- helpers --------------------------------------------------------------------------------

def _check_side(value: str | None) -> None:
    if value is not None and value not in schema.BUYER_SELLER:
        raise InvalidArgumentError(f"buyer_seller must be buyer or seller, got {value!r}",
                                   field="buyer_seller", value=value)


def _check_limit(limit: int | None) -> None:
    if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool)
                              or not 1 <= limit <= MAX_LIMIT):
        raise InvalidArgumentError(f"limit must be an integer 1..{MAX_LIMIT}, got {limit!r}",
                                   field="limit", value=limit)


def _iso(day: dt.date | None) -> str | None:
    return day.isoformat() if day else None


def _window(start: dt.date | str | None, end: dt.date | str | None) -> tuple[dt.date | None, dt.date | None]:
    start = parse_date(start, "start") if start is not None else None
    end = parse_date(end, "end") if end is not None else None
    if start is not None and end is not None:
        check_range(start, end)
    return start, end


def _page_state(lake: Lake, text: str | None, query: dict, key_length: int, start: dt.date | None,
                end: dt.date | None, run: str) -> tuple[dict[dt.date, str], list | None]:
    """The pinned runs and last key: from the cursor, or resolved now for a first page."""
    if text is not None:
        state = cursors.decode(text, query, key_length)
        return state.runs, state.after
    if run != "latest":
        check_run_id(run, "run")
        record = get_run(lake, run)
        start = start or dt.date.fromisoformat(record["start"])
        end = end or dt.date.fromisoformat(record["end"])
    elif start is None or end is None:
        published = records(lake, status="published")
        if not published:
            return {}, None
        start = start or min(dt.date.fromisoformat(r["start"]) for r in published)
        end = end or max(dt.date.fromisoformat(r["end"]) for r in published)
    if end < start:
        return {}, None
    return resolve_runs(lake, start, end, run), None


def _key_value(key: str, value: object) -> object:
    try:
        if key == "read_date":
            return dt.date.fromisoformat(value)  # type: ignore[arg-type]
        if not isinstance(value, str):
            raise TypeError
        return value
    except (TypeError, ValueError):
        raise InvalidArgumentError("invalid cursor: bad key value", field="cursor", value=str(value)) from None


def _files(lake: Lake, pinned: dict[dt.date, str]) -> list[str]:
    by_run: dict[str, dict[dt.date, list[str]]] = {}
    files = []
    for day, run in pinned.items():
        if run not in by_run:
            try:
                by_run[run] = output_files(lake, run)
            except MeterlakeError as e:  # a cursor naming a run that cannot be read
                raise InvalidArgumentError(f"invalid cursor: {e}", field="cursor", value=run) from None
        files += by_run[run].get(day, [])
    return files


class _OneRun:
    """The output schema of a query over one run's files: the query leaves the runs column
    out, and it is filled in with that run."""

    def __init__(self, out_schema: pa.Schema, run: str) -> None:
        self.schema, self.run = out_schema, run

    def empty_table(self) -> pa.Table:
        return self.schema.empty_table()

    def complete(self, table: pa.Table) -> pa.Table:
        runs = pa.array([[self.run]], pa.list_(pa.string())).take(pa.array(np.zeros(table.num_rows, np.int32)))
        return table.append_column("runs", runs).cast(self.schema)


def _query(con: duckdb.DuckDBPyConnection, text: str, params: dict, source: dict, limit: int | None,
           out_schema: pa.Schema | _OneRun) -> pa.Table:
    params = {**params, **source, "limit": None if limit is None else limit + 1}
    table = con.sql(text, params=params).to_arrow_table()
    return out_schema.complete(table) if isinstance(out_schema, _OneRun) else table.cast(out_schema)


def _with_cursor(table: pa.Table, limit: int | None, query: dict, pinned: dict[dt.date, str],
                 key: list[str]) -> tuple[pa.Table, str | None]:
    if limit is None or table.num_rows <= limit:
        return table, None
    table = table.slice(0, limit)
    last = table.slice(limit - 1, 1).to_pylist()[0]
    after = [last[k].isoformat() if isinstance(last[k], dt.date) else last[k] for k in key]
    return table, cursors.encode(cursors.Cursor(query, pinned, after))
