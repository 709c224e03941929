"""The diff of two published runs over the dates both windows cover: each run's total, the
difference and counts of cells added, removed, changed and unchanged per side, and the largest
changes per (ICP, date, side) cell, keyset-paginated.

A cell is an (icp_id, read_date, buyer_seller) with its day's total in a run. It is *added*
when only ``run`` has it, *removed* when only ``against`` has it, *changed* when both have it
with different totals and *unchanged* otherwise; ``difference`` is run minus ``against`` (a
missing cell counts 0). Changes are ordered by the size of the difference, largest first, then
by read_date, icp_id and buyer_seller. The cells come from the runs' ICP indexes, which hold
each ICP's total by date and side (``runtotals``), or, for runs published before those, from
the totals by ICP and side of each output block file (``outputblocks.day_totals``). Published
output never changes (retraction only hides it from "latest"), so the cells of a pair of runs
are computed once and kept for the next pages.
"""
from __future__ import annotations

import bisect
import datetime as dt
import functools
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from datalake import cursor as cursors
from datalake.output import blocks as outputblocks
from datalake.runs import totals as runtotals
from datalake import schema
from datalake.errors import ConflictError, InvalidArgumentError
from datalake.lake import Lake
from datalake.storage.layout import check_run_id
from datalake.output.groups import TotalOutOfRangeError, dates
from datalake.output.pages import MAX_LIMIT
from datalake.delivery.rawtypes import decimal_array
from datalake.runs.record import output_files, run_record

AMOUNT = schema.AMOUNT_DECIMAL
CHANGE_SCHEMA = pa.schema([
    pa.field("icp_id", pa.string()),
    pa.field("read_date", pa.date32()),
    pa.field("buyer_seller", pa.string()),
    pa.field("change", pa.string()),  # added, removed or changed
    pa.field("run_amount", AMOUNT),
    pa.field("against_amount", AMOUNT),
    pa.field("difference", AMOUNT),
])
SIDE_SCHEMA = pa.schema([
    pa.field("buyer_seller", pa.string()),
    pa.field("run_total", AMOUNT),
    pa.field("against_total", AMOUNT),
    pa.field("difference", AMOUNT),
    pa.field("added", pa.int64()),
    pa.field("removed", pa.int64()),
    pa.field("changed", pa.int64()),
    pa.field("unchanged", pa.int64()),
])
DATE_SCHEMA = pa.schema([pa.field("read_date", pa.date32()), *SIDE_SCHEMA])
KINDS = np.array(["changed", "added", "removed"])


@dataclass(frozen=True)
class Diff:
    run_id: str
    against: str
    start: dt.date
    end: dt.date
    sides: pa.Table      # SIDE_SCHEMA, one row a side
    changes: pa.Table    # CHANGE_SCHEMA, one page
    next_cursor: str | None


@dataclass(frozen=True)
class _Cells:
    """Every cell of a pair of runs, in (read_date, icp_id, buyer_seller) order: the ICP (an
    index into ``icps``, which is in id order), date (days since 1970-01-01), side code,
    unscaled totals (0 where absent) and which run has it."""

    icps: pa.Array
    icp: np.ndarray
    day: np.ndarray
    side: np.ndarray
    run: np.ndarray
    against: np.ndarray
    in_run: np.ndarray
    in_against: np.ndarray

    @functools.cached_property
    def size(self) -> np.ndarray:
        return np.abs(self.run - self.against)

    @functools.cached_property
    def names(self) -> list[str]:
        return self.icps.to_pylist()

    def key(self, i: int) -> tuple[int, str, int]:
        return int(self.day[i]), self.names[int(self.icp[i])], int(self.side[i])


def run_diff(lake: Lake, run_id: str, against: str, *, limit: int = 100, cursor: str | None = None) -> Diff:
    """``run_id`` against ``against``: totals and counts per side over the dates both windows
    cover, and a page of at most ``limit`` changed cells with the cursor of the next (None
    on the last)."""
    check_run_id(run_id, "run_id")
    check_run_id(against, "against")
    if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= MAX_LIMIT:
        raise InvalidArgumentError(f"limit must be an integer 1..{MAX_LIMIT}, got {limit!r}",
                                   field="limit", value=limit)
    start, end, cells = _pair(lake, run_id, against)
    query = {"k": "diff", "run": run_id, "against": against}
    after = cursors.decode(cursor, query, 4).after if cursor is not None else None
    page, last = _page(cells, after, limit)
    next_cursor = None
    if last is not None:
        day, icp, side = cells.key(last)
        next_cursor = cursors.encode(cursors.Cursor(query, {}, [str(int(cells.size[last])), day, icp,
                                                                schema.BUYER_SELLER[side]]))
    return Diff(run_id, against, start, end, _sides(cells), page, next_cursor)


def run_diff_by_date(lake: Lake, run_id: str, against: str) -> pa.Table:
    """``run_id`` against ``against`` per date both windows cover and per side (``DATE_SCHEMA``,
    in date then side order, every date of the common window): each run's total, the
    difference and the counts of cells added, removed, changed and unchanged, from the same
    cells as ``run_diff``, whose ``sides`` are these rows added up over the dates."""
    start, end, cells = _pair(lake, run_id, against)
    first, days, sides = (start - outputblocks.EPOCH).days, (end - start).days + 1, len(schema.BUYER_SELLER)
    group = (cells.day - first) * sides + cells.side  # row of each cell: date, then side

    def total(values: np.ndarray) -> np.ndarray:
        out = np.zeros(days * sides, np.int64)
        np.add.at(out, group, values)  # exact in int64, as the sums of ``_sides``
        return out

    def count(mask: np.ndarray) -> pa.Array:
        return pa.array(np.bincount(group[mask], minlength=days * sides).astype(np.int64), pa.int64())

    both = cells.in_run & cells.in_against
    same = both & (cells.run == cells.against)
    run_total, against_total = total(cells.run), total(cells.against)
    return pa.Table.from_arrays([
        dates(np.repeat(np.arange(first, first + days), sides)),
        outputblocks.SIDES.take(pa.array(np.tile(np.arange(sides), days), pa.int8())),
        _amounts(run_total, None), _amounts(against_total, None), _amounts(run_total - against_total, None),
        count(cells.in_run & ~cells.in_against), count(cells.in_against & ~cells.in_run), count(both & ~same),
        count(same),
    ], schema=DATE_SCHEMA)


def _pair(lake: Lake, run_id: str, against: str) -> tuple[dt.date, dt.date, _Cells]:
    """The dates both runs' windows cover (first, last) and the cells of the pair there; a
    ConflictError if a run is not published (or retracted) or the windows share no date."""
    check_run_id(run_id, "run_id")
    check_run_id(against, "against")
    mine, theirs = run_record(lake, run_id), run_record(lake, against)
    for record in (mine, theirs):
        output_files(lake, record["run_id"])  # only published (or retracted) runs have output
    start = max(dt.date.fromisoformat(mine["start"]), dt.date.fromisoformat(theirs["start"]))
    end = min(dt.date.fromisoformat(mine["end"]), dt.date.fromisoformat(theirs["end"]))
    if start > end:
        raise ConflictError(f"{run_id} ({mine['start']}..{mine['end']}) and {against} "
                            f"({theirs['start']}..{theirs['end']}) share no date", field="against", value=against)
    days = tuple((start + dt.timedelta(days=i)).isoformat() for i in range((end - start).days + 1))
    with _lock:  # one computation of a pair at a time; the next pages find it cached
        cells = (_indexed_cells(lake, mine["icp_index"], theirs["icp_index"], days)
                 if all(r.get("icp_index") for r in (mine, theirs)) else None)
        if cells is None:  # a run published before its index held totals
            sources = tuple(tuple(tuple(outputblocks.run_sources(lake, r).get(d, ())) for d in days)
                            for r in (mine, theirs))
            cells = _cells(lake, *sources)
    return start, end, cells


_lock = threading.Lock()


@functools.lru_cache(maxsize=4)
def _indexed_cells(lake: Lake, mine: str, theirs: str, days: tuple[str, ...]) -> _Cells | None:
    """The cells from the two runs' ICP indexes (``runtotals``), named by their paths (each
    written once, at publish); None if one holds no totals."""
    totals = [runtotals.read_totals(lake, {"icp_index": index, "dates": list(days)}, list(days))
              for index in (mine, theirs)]
    if any(t is None for t in totals):
        return None
    icps, columns = runtotals.cells(totals[0], totals[1], list(days))
    return _Cells(icps, *columns)


@functools.lru_cache(maxsize=4)
def _cells(lake: Lake, run_sources: tuple, against_sources: tuple) -> _Cells:
    """The cells of the dates whose sources (per date, per run) are given, from the totals by
    ICP and side of each block file, read two dates at a time."""
    with ThreadPoolExecutor(max_workers=2) as pool:  # block reads and numpy release the GIL
        totals = list(pool.map(lambda ss: outputblocks.day_totals(lake, list(ss)), run_sources + against_sources))
    mine, theirs = totals[:len(run_sources)], totals[len(run_sources):]
    names = [t.icp for t in totals if len(t)]
    icps = pc.unique(pa.chunked_array(names, pa.string())) if names else pa.array([], pa.string())
    icps = icps.take(pc.sort_indices(icps))
    pieces = []
    for a, b in zip(mine, theirs):
        ka, va = _keyed(a, icps)
        kb, vb = _keyed(b, icps)
        keys = _union(ka, kb)
        run, against = np.zeros(len(keys), np.int64), np.zeros(len(keys), np.int64)
        in_run, in_against = np.zeros(len(keys), bool), np.zeros(len(keys), bool)
        at = np.searchsorted(keys, ka)
        run[at], in_run[at] = va, True
        at = np.searchsorted(keys, kb)
        against[at], in_against[at] = vb, True
        day = (a.day[0] if len(a) else b.day[0]) if len(keys) else 0
        pieces.append((keys // 2, np.full(len(keys), day, np.int64), (keys % 2).astype(np.int8), run, against,
                       in_run, in_against))
    columns = [np.concatenate([p[k] for p in pieces]) for k in range(7)]
    return _Cells(icps, *columns)


def _union(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The sorted union of two sorted arrays of distinct keys (a sort, no hashing)."""
    if np.array_equal(a, b):
        return a
    keys = np.sort(np.concatenate([a, b]), kind="stable")
    return keys[np.r_[True, keys[1:] != keys[:-1]]] if len(keys) else keys


def _keyed(rows: outputblocks.Rows, icps: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """One date's totals of one run as sorted keys (ICP index x 2 + side) and unscaled sums."""
    if not len(rows):
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    if len(rows.icp) == len(icps) and rows.icp.equals(icps):  # one row an ICP, every ICP: no lookup
        codes = np.arange(len(icps), dtype=np.int64)
    else:
        codes = pc.index_in(rows.icp, value_set=icps).to_numpy().astype(np.int64)
    keys = codes * 2 + rows.side
    if rows.value.dtype == object or (len(rows) and int(np.abs(rows.value).max()) >= runtotals.LIMIT):
        raise TotalOutOfRangeError("a day's total of an ICP is beyond DECIMAL(18, 4): these runs cannot be diffed")
    values = rows.value
    if len(keys) > 1 and not bool(np.all(keys[1:] > keys[:-1])):  # several files of a date: add them up
        order = np.argsort(keys, kind="stable")
        keys, values = keys[order], values[order]
        starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])
        keys, values = keys[starts], np.add.reduceat(values, starts)
    return keys, values


def _page(cells: _Cells, after: list | None, limit: int) -> tuple[pa.Table, int | None]:
    """The changed cells after the key ``after`` (size, read_date, icp_id, buyer_seller), at
    most ``limit``, and the last one's index if more follow."""
    size = cells.size
    changed = (size > 0) | (cells.in_run != cells.in_against)
    if after is not None:
        try:
            bound = int(after[0])
            key = (int(after[1]), str(after[2]), schema.BUYER_SELLER.index(after[3]))
        except (TypeError, ValueError):
            raise InvalidArgumentError("invalid cursor: bad key", field="cursor", value=str(after)) from None
        at = bisect.bisect_right(range(len(size)), key, key=cells.key)
        changed &= (size < bound) | ((size == bound) & (np.arange(len(size)) >= at))
    candidates = np.flatnonzero(changed)
    if len(candidates) > limit + 1:  # only the largest limit + 1 (and their ties) need ordering
        threshold = np.partition(size[candidates], len(candidates) - limit - 1)[len(candidates) - limit - 1]
        candidates = candidates[size[candidates] >= threshold]
    order = candidates[np.lexsort((candidates, -size[candidates]))][:limit + 1]
    more = len(order) > limit
    order = order[:limit]
    kinds = np.where(cells.in_run[order] & cells.in_against[order], 0, np.where(cells.in_run[order], 1, 2))
    page = pa.Table.from_arrays([
        cells.icps.take(pa.array(cells.icp[order], pa.int64())), dates(cells.day[order]),
        outputblocks.SIDES.take(pa.array(cells.side[order], pa.int8())), pa.array(KINDS[kinds], pa.string()),
        _amounts(cells.run[order], cells.in_run[order]), _amounts(cells.against[order], cells.in_against[order]),
        _amounts(cells.run[order] - cells.against[order], None),
    ], schema=CHANGE_SCHEMA)
    return page, int(order[-1]) if more else None


def _sides(cells: _Cells) -> pa.Table:
    rows: dict[str, list] = {name: [] for name in SIDE_SCHEMA.names}
    for code, name in enumerate(schema.BUYER_SELLER):
        mine = cells.side == code
        both = mine & cells.in_run & cells.in_against
        same = both & (cells.run == cells.against)
        run_total, against_total = int(cells.run[mine].sum()), int(cells.against[mine].sum())
        rows["buyer_seller"].append(name)
        rows["run_total"].append(run_total)
        rows["against_total"].append(against_total)
        rows["difference"].append(run_total - against_total)
        rows["added"].append(int((mine & cells.in_run & ~cells.in_against).sum()))
        rows["removed"].append(int((mine & cells.in_against & ~cells.in_run).sum()))
        rows["changed"].append(int((both & ~same).sum()))
        rows["unchanged"].append(int(same.sum()))
    for name in ("run_total", "against_total", "difference"):
        rows[name] = _amounts(np.array(rows[name], np.int64), None)
    return pa.table(rows, schema=SIDE_SCHEMA)


def _amounts(unscaled_values: np.ndarray, valid: np.ndarray | None) -> pa.Array:
    """Unscaled int64 amounts as DECIMAL(18, 4), null where ``valid`` is false."""
    decimals = decimal_array(unscaled_values, AMOUNT)
    return decimals if valid is None else pc.if_else(pa.array(valid), decimals, pa.nulls(len(decimals), AMOUNT))
