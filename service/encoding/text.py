"""The text JSON and CSV show for instants, dates and decimals, computed with numpy and Arrow.

Instants are ISO 8601 in market time with the offset (``2018-06-14T00:30:00+12:00``, with
``.ffffff`` on every value of a column if any value has a fraction of a second), dates are
``YYYY-MM-DD``, decimals keep their fixed scale (``"0.0040"``)."""
from __future__ import annotations

import calendar
import datetime as dt
import threading
from collections.abc import Callable
from zoneinfo import ZoneInfo

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from datalake.schema import MARKET_TZ

_TENS = np.repeat(np.arange(48, 58, dtype=np.uint8), 10)  # the two digits of 00..99
_ONES = np.tile(np.arange(48, 58, dtype=np.uint8), 10)
_DAY = 86_400


class _Zone:
    """A zone's UTC offsets as (edges, offsets) per calendar year, read once from zoneinfo:
    ``offsets[i]`` (seconds) holds from ``edges[i]`` (UTC seconds) to the next edge. Data
    about the zone's rules, not about any answer."""

    def __init__(self, name: str) -> None:
        self._zone = ZoneInfo(name)
        self._years: dict[int, tuple[np.ndarray, np.ndarray]] = {}

    def offsets(self, utc_s: np.ndarray) -> np.ndarray:
        if not len(utc_s):
            return np.zeros(0, np.int64)
        first, last = (dt.datetime.fromtimestamp(int(s), dt.timezone.utc).year for s in (utc_s.min(), utc_s.max()))
        tables = [self._year(y) for y in range(first, last + 1)]
        edges = np.concatenate([t[0] for t in tables])
        offsets = np.concatenate([t[1] for t in tables])
        return offsets[np.searchsorted(edges, utc_s, side="right") - 1]

    def _offset(self, utc_s: int) -> int:
        return int(dt.datetime.fromtimestamp(utc_s, self._zone).utcoffset().total_seconds())  # type: ignore[union-attr]

    def _year(self, year: int) -> tuple[np.ndarray, np.ndarray]:
        table = self._years.get(year)
        if table is None:
            start, end = calendar.timegm((year, 1, 1, 0, 0, 0)), calendar.timegm((year + 1, 1, 1, 0, 0, 0))
            edges, offsets = [start], [self._offset(start)]
            for day in range(start, end, _DAY):
                if self._offset(min(day + _DAY, end)) != offsets[-1]:
                    lo, hi = day, min(day + _DAY, end)  # the offset changes in (lo, hi]
                    while hi - lo > 1:
                        mid = (lo + hi) // 2
                        lo, hi = (mid, hi) if self._offset(mid) == offsets[-1] else (lo, mid)
                    edges.append(hi)
                    offsets.append(self._offset(hi))
            table = self._years[year] = (np.array(edges, np.int64), np.array(offsets, np.int64))
        return table


_MARKET = _Zone(MARKET_TZ)


def _civil(days: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Year, month and day of days since 1970-01-01 (proleptic Gregorian; H. Hinnant's algorithm)."""
    z = days.astype(np.int64) + 719_468
    era = z // 146_097
    doe = z - era * 146_097
    yoe = (doe - doe // 1460 + doe // 36_524 - doe // 146_096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    month = np.where(mp < 10, mp + 3, mp - 9)
    return yoe + era * 400 + (month <= 2), month, doy - (153 * mp + 2) // 5 + 1


def _layout(template: str) -> tuple[np.ndarray, np.ndarray]:
    """A text's bytes and where its two-digit fields go (each ``00`` of the template)."""
    at, i = [], 0
    while (i := template.find("00", i)) >= 0:
        at.append(i)
        i += 2
    return np.frombuffer(template.encode(), np.uint8).copy(), np.array(at, np.intp)


_DATE = _layout("0000-00-00")
_INSTANT = _layout("0000-00-00T00:00:00+00:00")
_FRACTION = _layout(".000000")


def _fill(layout: tuple[np.ndarray, np.ndarray], fields: list[np.ndarray]) -> np.ndarray:
    """The text of ``layout`` for each value, its fields filled in: a width x n byte matrix
    (a column per value: each field is written as a row)."""
    template, at = layout
    values = np.stack(fields)
    out = np.empty((len(template), values.shape[1]), np.uint8)
    out[:] = template[:, None]
    out[at], out[at + 1] = _TENS[values], _ONES[values]
    return out


def _date_fields(days: np.ndarray) -> list[np.ndarray]:
    year, month, day = _civil(days)
    if len(year) and (year.min() < 0 or year.max() > 9999):
        raise ValueError("dates are rendered for years 0000-9999 only")
    return [year // 100, year % 100, month, day]


def _ints(col: pa.Array, width: pa.DataType = pa.int64()) -> np.ndarray:
    """The values' integers (nulls as 0)."""
    ints = col.view(width)
    return (ints.fill_null(0) if col.null_count else ints).to_numpy(zero_copy_only=False)


def _date_text(days: np.ndarray) -> np.ndarray:
    """``YYYY-MM-DD`` of days since 1970-01-01, an n x 10 byte matrix."""
    return np.ascontiguousarray(_fill(_DATE, _date_fields(days)).T)


def _instant_text(utc: np.ndarray) -> np.ndarray:
    """``YYYY-MM-DDTHH:MM:SS+HH:MM`` in market time of UTC seconds, an n x 25 byte matrix."""
    offsets = _MARKET.offsets(utc)
    local = utc + offsets
    days, seconds = local // _DAY, local % _DAY
    minutes = np.abs(offsets) // 60
    out = _fill(_INSTANT, [*_date_fields(days), seconds // 3600, seconds // 60 % 60, seconds % 60,
                           minutes // 60, minutes % 60])
    out[-6][offsets < 0] = ord("-")
    return np.ascontiguousarray(out.T)


class _TextCache:
    """The text of each value (whole-second instant, day) this process has rendered with
    ``render``, as a sorted key array and the matching rows of text; a lookup is a binary
    search and a take, and only values not seen yet are rendered. Every instant's and every
    date's text comes from one of these. Thread-safe: a lookup reads one (keys, rows) pair
    that is replaced, never changed; a full cache starts again from the lookup at hand."""

    MAX = 1_000_000  # at most 33 MB for instants

    def __init__(self, render: Callable[[np.ndarray], np.ndarray], width: int) -> None:
        self._render = render
        self._lock = threading.Lock()
        self._table = (np.zeros(0, np.int64), np.zeros((0, width), np.uint8))

    def rows(self, values: np.ndarray) -> np.ndarray:
        """The rows of text of ``values`` (an n x width byte matrix)."""
        keys, texts = self._table
        pos = np.searchsorted(keys, values)
        if not len(keys) or not (keys[np.minimum(pos, len(keys) - 1)] == values).all():
            keys, texts = self._add(values)
            pos = np.searchsorted(keys, values)
        return np.take(texts, pos, axis=0)

    def _add(self, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """A table holding every one of ``values``, now the cache's."""
        with self._lock:  # rendering in here too: what is missing is decided against the table at hand
            keys, texts = self._table
            new = np.setdiff1d(values, keys)
            if len(keys) + len(new) > self.MAX:  # start again, with this lookup's values
                keys, texts, new = keys[:0], texts[:0], np.unique(values)
            merged = np.concatenate([keys, new])
            order = np.argsort(merged, kind="stable")
            self._table = (merged[order], np.concatenate([texts, self._render(new)])[order])
            return self._table


_INSTANTS = _TextCache(_instant_text, 25)
_DATES = _TextCache(_date_text, 10)


def date_rows(col: pa.Array) -> np.ndarray:
    """``YYYY-MM-DD`` of a date32 or date64 array, an n x 10 byte matrix (nulls as 1970-01-01)."""
    if not pa.types.is_date32(col.type):
        col = col.cast(pa.date32())
    return _DATES.rows(_ints(col, pa.int32()).astype(np.int64))


def instant_rows(col: pa.Array) -> np.ndarray:
    """ISO 8601 in market time with the offset of a timestamp array (no time zone: UTC), an
    n x 25 byte matrix, or n x 32 with ``.ffffff`` if any value has a fraction of a second
    (nulls as 1970)."""
    us = _ints(col.cast(pa.timestamp("us", tz=col.type.tz or "UTC")))
    utc, micros = us // 1_000_000, us % 1_000_000
    rows = _INSTANTS.rows(utc)
    if not (micros[col.is_valid().to_numpy(zero_copy_only=False)] if col.null_count else micros).any():
        return rows
    fraction = _fill(_FRACTION, [micros // 10_000, micros // 100 % 100, micros % 100]).T
    return np.concatenate([rows[:, :19], fraction, rows[:, 19:]], axis=1)


def rows_as_strings(rows: np.ndarray, col: pa.Array | None = None) -> pa.Array:
    """A string array of the rows of an n x width byte matrix, null where ``col`` is."""
    n, width = rows.shape
    if n * width >= 1 << 31:
        raise ValueError("too much text for one string array")
    offsets = pa.py_buffer(np.arange(0, (n + 1) * width, width, dtype=np.int32))
    nulls = col.null_count if col is not None else 0
    validity = col.is_valid().buffers()[1] if nulls else None  # type: ignore[union-attr]
    return pa.Array.from_buffers(pa.string(), n, [validity, offsets, pa.py_buffer(np.ascontiguousarray(rows))],
                                 null_count=nulls)


def dates(col: pa.Array) -> pa.Array:
    return rows_as_strings(date_rows(col), col)


def instants(col: pa.Array) -> pa.Array:
    return rows_as_strings(instant_rows(col), col)


def decimals(col: pa.Array) -> pa.Array:
    """A decimal array's values with their fixed scale."""
    return pc.cast(col, pa.string())


def text_column(col: pa.Array) -> pa.Array:
    """The strings CSV shows for a column: instants, dates and decimals as above, lists
    joined with spaces, the rest as they are."""
    t = col.type
    if pa.types.is_list(t) or pa.types.is_large_list(t):
        return pc.binary_join(col, " ")
    if pa.types.is_timestamp(t):
        return instants(col)
    if pa.types.is_date(t):
        return dates(col)
    if pa.types.is_decimal(t):
        return decimals(col)
    return col


def render(table: pa.Table | pa.RecordBatch) -> pa.Table:
    """``table`` with every column as ``text_column`` makes it (what CSV writes)."""
    if isinstance(table, pa.RecordBatch):
        table = pa.Table.from_batches([table])
    return pa.table({name: text_column(table[name].combine_chunks()) for name in table.column_names})
