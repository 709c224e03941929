"""The diff of two published runs over the dates both windows cover: each run's total, the
difference and counts of cells added, removed, changed and unchanged per side, and the largest
changes per (ICP, date, side) cell, keyset-paginated.

A cell is an (icp_id, read_date, buyer_seller) with its day's total in a run. It is *added*
when only ``run`` has it, *removed* when only ``against`` has it, *changed* when both have it
with different totals and *unchanged* otherwise; ``difference`` is run minus ``against`` (a
missing cell counts 0). Changes are ordered by the size of the difference, largest first, then
by icp_id, read_date and buyer_seller. Published output never changes (retraction only hides
it from "latest"), so the cells of a pair of runs are computed once and kept for the next
pages.
"""
from __future__ import annotations

import bisect
import datetime as dt
import functools
import threading
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from . import cursor as cursors
from . import schema, sql
from .errors import ConflictError, InvalidArgumentError
from .lake import Lake
from .layout import check_run_id
from .outputblocks import unscaled
from .outputpages import MAX_LIMIT
from .rawtypes import decimal_array
from .runs import output_files, run_record

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
    """Every cell of a pair of runs, in (icp_id, read_date, buyer_seller) order, with the
    unscaled totals (0 where absent) and which run has it."""

    table: pa.Table      # icp_id, read_date, buyer_seller
    run: np.ndarray
    against: np.ndarray
    in_run: np.ndarray
    in_against: np.ndarray

    @functools.cached_property
    def size(self) -> np.ndarray:
        return np.abs(self.run - self.against)

    def key(self, i: int) -> tuple[str, int, str]:
        return (self.table["icp_id"][i].as_py(), self.table["read_date"][i].value,
                self.table["buyer_seller"][i].as_py())


def run_diff(lake: Lake, run_id: str, against: str, *, limit: int = 100, cursor: str | None = None) -> Diff:
    """``run_id`` against ``against``: totals and counts per side over the dates both windows
    cover, and a page of at most ``limit`` changed cells with the cursor of the next (None
    on the last)."""
    check_run_id(run_id, "run_id")
    check_run_id(against, "against")
    if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= MAX_LIMIT:
        raise InvalidArgumentError(f"limit must be an integer 1..{MAX_LIMIT}, got {limit!r}",
                                   field="limit", value=limit)
    mine, theirs = run_record(lake, run_id), run_record(lake, against)
    files = {r["run_id"]: output_files(lake, r["run_id"]) for r in (mine, theirs)}
    start = max(dt.date.fromisoformat(mine["start"]), dt.date.fromisoformat(theirs["start"]))
    end = min(dt.date.fromisoformat(mine["end"]), dt.date.fromisoformat(theirs["end"]))
    if start > end:
        raise ConflictError(f"{run_id} ({mine['start']}..{mine['end']}) and {against} "
                            f"({theirs['start']}..{theirs['end']}) share no date", field="against", value=against)
    query = {"k": "diff", "run": run_id, "against": against}
    after = cursors.decode(cursor, query, 4).after if cursor is not None else None
    cells = _cells(lake, tuple(sorted(f for d, fs in files[run_id].items() if start <= d <= end for f in fs)),
                   tuple(sorted(f for d, fs in files[against].items() if start <= d <= end for f in fs)))
    page, last = _page(cells, after, limit)
    next_cursor = None
    if last is not None:
        icp, day, side = cells.key(last)
        next_cursor = cursors.encode(cursors.Cursor(query, {}, [str(int(cells.size[last])), icp, day, side]))
    return Diff(run_id, against, start, end, _sides(cells), page, next_cursor)


_lock = threading.Lock()


@functools.lru_cache(maxsize=4)
def _cached_cells(run_files: tuple[str, ...], against_files: tuple[str, ...]) -> _Cells:
    con = sql.connect()
    try:
        if run_files and against_files:
            table = con.sql(sql.query("run_diff_cells"), params={
                "run_files": list(run_files), "against_files": list(against_files)}).to_arrow_table()
        else:
            one = con.sql(sql.query("run_diff_one_side"), params={"files": list(run_files or against_files)}
                          ).to_arrow_table()
            none = pa.nulls(one.num_rows, AMOUNT)
            table = one.drop_columns(["amount"]).append_column("run_amount", one["amount"] if run_files else none) \
                .append_column("against_amount", none if run_files else one["amount"])
    finally:
        con.close()
    run, against = table["run_amount"].combine_chunks(), table["against_amount"].combine_chunks()
    values = [unscaled(pc.fill_null(v, pa.scalar(0, AMOUNT))) for v in (run, against)]
    return _Cells(table.select(["icp_id", "read_date", "buyer_seller"]).combine_chunks(),
                  np.asarray(values[0], np.int64), np.asarray(values[1], np.int64),
                  run.is_valid().to_numpy(zero_copy_only=False), against.is_valid().to_numpy(zero_copy_only=False))


def _cells(lake: Lake, run_files: tuple[str, ...], against_files: tuple[str, ...]) -> _Cells:
    with _lock:  # one computation of a pair at a time; the next pages find it cached
        return _cached_cells(run_files, against_files)


def _page(cells: _Cells, after: list | None, limit: int) -> tuple[pa.Table, int | None]:
    """The changed cells after the key ``after`` (size, icp_id, read_date, buyer_seller), at
    most ``limit``, and the last one's index if more follow."""
    size = cells.size
    changed = (size > 0) | (cells.in_run != cells.in_against)
    if after is not None:
        try:
            bound, key = int(after[0]), (str(after[1]), int(after[2]), str(after[3]))
        except (TypeError, ValueError):
            raise InvalidArgumentError("invalid cursor: bad key", field="cursor", value=str(after)) from None
        at = bisect.bisect_right(range(cells.table.num_rows), key, key=cells.key)
        index = np.arange(len(size))
        changed &= (size < bound) | ((size == bound) & (index >= at))
    candidates = np.flatnonzero(changed)
    if len(candidates) > limit + 1:  # only the largest limit + 1 (and their ties) need ordering
        threshold = np.partition(size[candidates], len(candidates) - limit - 1)[len(candidates) - limit - 1]
        candidates = candidates[size[candidates] >= threshold]
    order = candidates[np.lexsort((candidates, -size[candidates]))][:limit + 1]
    more = len(order) > limit
    order = order[:limit]
    picked = pa.array(order, pa.int64())
    kinds = np.where(cells.in_run[order] & cells.in_against[order], 0, np.where(cells.in_run[order], 1, 2))
    page = pa.Table.from_arrays([
        cells.table["icp_id"].take(picked), cells.table["read_date"].take(picked),
        cells.table["buyer_seller"].take(picked), pa.array(KINDS[kinds], pa.string()),
        _amounts(cells.run[order], cells.in_run[order]), _amounts(cells.against[order], cells.in_against[order]),
        _amounts(cells.run[order] - cells.against[order], None),
    ], schema=CHANGE_SCHEMA)
    return page, int(order[-1]) if more else None


def _sides(cells: _Cells) -> pa.Table:
    side = cells.table["buyer_seller"]
    rows = {name: [] for name in SIDE_SCHEMA.names}
    for name in schema.BUYER_SELLER:
        mine = pc.equal(side, name).to_numpy(zero_copy_only=False)
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
