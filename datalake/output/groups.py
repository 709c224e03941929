"""Grouping output rows (``outputblocks.Rows``) by an integer key in numpy: the exact sums,
row counts and runs of each group, and the Arrow columns of the groups returned."""
from __future__ import annotations

import datetime as dt
import functools
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from datalake import schema
from datalake.errors import MeterlakeError
from datalake.output.blocks import EPOCH, Rows

AMOUNT_LIMIT = 10 ** 18  # DECIMAL(18, 4) holds unscaled values below 10^18
_INT64_LIMIT = 1 << 63


class TotalOutOfRangeError(MeterlakeError):
    """A total of matched_amount that DECIMAL(18, 4), the type of every output total, cannot hold."""

    code = "total_out_of_range"


@dataclass
class Groups:
    """Groups in key order: a row of each (for its key values), exact sums (unscaled), row
    counts, and the distinct runs of group i, ``run_codes[run_starts[i]:run_starts[i + 1]]``
    (indexes into ``runs``, which is in run id order)."""

    first: np.ndarray
    sums: np.ndarray
    counts: np.ndarray
    run_starts: np.ndarray
    run_codes: np.ndarray
    runs: list[str]

    def __len__(self) -> int:
        return len(self.first)

    def columns(self, lo: int, hi: int) -> list[pa.Array]:
        """matched_amount, intervals and runs of groups lo..hi-1."""
        starts = self.run_starts[lo:hi + 1]
        names = pa.array(self.runs, pa.string()).take(pa.array(self.run_codes[starts[0]:starts[-1]], pa.int64()))
        runs = pa.ListArray.from_arrays(pa.array(starts - starts[0], pa.int32()), names)
        return [amounts(self.sums[lo:hi]), pa.array(self.counts[lo:hi], pa.int64()), runs]


def group(key: np.ndarray, rows: Rows) -> Groups:
    """``rows`` grouped by ``key`` (one integer a row, ordered as the groups are to be)."""
    n = len(key)
    if n < 2 or bool(np.all(key[1:] > key[:-1])):  # already one row a group, in order
        order, starts = None, np.arange(n)
    else:
        order = np.argsort(key, kind="stable")
        ordered = key[order]
        starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
    counts = rows.count if rows.count is not None else np.ones(n, np.int64)
    if order is None:
        sums, group_counts, first = rows.value, counts, starts
    else:
        sums = _exact_sums(rows.value[order], starts)
        group_counts = np.add.reduceat(counts[order], starts) if n else counts
        first = order[starts]
    g = len(starts)
    if len(rows.runs) <= 1:
        run_starts, run_codes = np.arange(g + 1), np.zeros(g, np.int64)
    else:
        group_of_row = np.zeros(n, np.int64)
        group_of_row[starts] = 1
        group_of_row = np.cumsum(group_of_row) - 1
        runs = rows.run if order is None else rows.run[order]
        pairs = np.unique(group_of_row * len(rows.runs) + runs)
        run_starts = np.searchsorted(pairs // len(rows.runs), np.arange(g + 1))
        run_codes = pairs % len(rows.runs)
    return Groups(first, sums, group_counts, run_starts, run_codes, rows.runs)


def _exact_sums(values: np.ndarray, starts: np.ndarray) -> np.ndarray:
    if len(values) == 0:
        return values
    if values.dtype != object and max(int(values.max()), -int(values.min())) * len(values) >= _INT64_LIMIT:
        values = values.astype(object)  # int64 sums could overflow: Python ints are exact
    return np.add.reduceat(values, starts)


def amounts(sums: np.ndarray) -> pa.Array:
    """Unscaled sums as DECIMAL(18, 4); ``TotalOutOfRangeError`` if one does not fit."""
    if len(sums) and (int(sums.max()) >= AMOUNT_LIMIT or int(sums.min()) <= -AMOUNT_LIMIT):
        raise TotalOutOfRangeError("a total of matched_amount is beyond DECIMAL(18, 4) (10^14 kWh): "
                                   "ask for a shorter range or a finer grouping")
    sums = sums.astype(np.int64)
    words = np.empty((len(sums), 2), np.int64)
    words[:, 0], words[:, 1] = sums, sums >> 63
    return pa.Array.from_buffers(schema.AMOUNT_DECIMAL, len(sums), [None, pa.py_buffer(words.tobytes())])


def dates(days: np.ndarray) -> pa.Array:
    return pa.array(days.astype(np.int32), pa.int32()).cast(pa.date32())


# -- periods of one ICP's summary ---------------------------------------------------------
# Periods are grouped by integers whose order is that of their text (dates are 0001..9999,
# so ``YYYY``-first text sorts in time order; trading periods are 1..50, two digits), and
# only the rows returned get their text.

def period_key(granularity: str, days: np.ndarray, periods: np.ndarray) -> np.ndarray:
    if granularity == "interval":
        return days * 100 + periods
    if granularity == "day":
        return days
    if granularity == "week":
        return (days + 3) // 7  # ISO weeks start on Monday; 1970-01-01 was a Thursday
    return days.astype("datetime64[D]").astype("datetime64[M]").astype(np.int64)


def period_text(granularity: str, day_number: int, trading_period: int) -> str:
    """A period's text (see ``output``), from a date (days since 1970-01-01) in it."""
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
