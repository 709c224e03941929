"""Trading dates and periods in the market's time zone."""
from __future__ import annotations

import datetime as dt
import functools
from zoneinfo import ZoneInfo

import numpy as np

from datalake.schema import MARKET_TZ

ZONE = ZoneInfo(MARKET_TZ)
HALF_HOUR = dt.timedelta(minutes=30)
HALF_HOUR_US = 1800 * 10**6
DAY_US = 86400 * 10**6
EPOCH = dt.date(1970, 1, 1)


def day_bounds(day: dt.date) -> tuple[dt.datetime, dt.datetime]:
    """The UTC instants of local midnight at the start and the end of ``day``."""
    start = dt.datetime.combine(day, dt.time(0), ZONE).astimezone(dt.UTC)
    end = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(0), ZONE).astimezone(dt.UTC)
    return start, end


def periods_in_day(day: dt.date) -> int:
    """48 on a normal day, 46 when daylight saving starts, 50 when it ends."""
    start, end = day_bounds(day)
    return (end - start) // HALF_HOUR


def period_start(day: dt.date, period: int) -> dt.datetime:
    """UTC start of trading period ``period`` (1-based) of ``day``."""
    return day_bounds(day)[0] + (period - 1) * HALF_HOUR


@functools.cache
def _transitions(year: int) -> tuple[tuple[int, int], ...]:
    """(UTC instant in µs, UTC offset in µs from then on) for each offset change in ``year``,
    preceded by the offset in force at the start of the year."""
    def offset(instant: dt.datetime) -> int:
        return int(instant.astimezone(ZONE).utcoffset().total_seconds()) * 10**6

    t = dt.datetime(year, 1, 1, tzinfo=dt.UTC)
    found = [(int(t.timestamp()) * 10**6, offset(t))]
    day = dt.timedelta(days=1)
    while t.year == year:
        if offset(t + day) != offset(t):
            step = t
            while offset(step) == offset(t):
                step += dt.timedelta(minutes=15)
            found.append((int(step.timestamp()) * 10**6, offset(step)))
        t += day
    return tuple(found)


def utc_offsets(instants_us: np.ndarray) -> np.ndarray:
    """The market's UTC offset (µs) at each UTC instant (µs since the epoch)."""
    if len(instants_us) == 0:
        return np.zeros(0, dtype=np.int64)
    first = dt.datetime.fromtimestamp(int(instants_us.min()) // 10**6, dt.UTC).year
    last = dt.datetime.fromtimestamp(int(instants_us.max()) // 10**6, dt.UTC).year
    table = np.array([tr for year in range(first, last + 1) for tr in _transitions(year)], dtype=np.int64)
    idx = np.searchsorted(table[:, 0], instants_us, side="right") - 1
    return table[idx, 1]


def trading_date_and_period(read_ts_us: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Trading date (days since the epoch) and period of raw reads stamped at the END of
    their half hour, vectorised: the same rule as queries/raw/validate_batch.sql."""
    start = read_ts_us - HALF_HOUR_US
    local_day = (start + utc_offsets(start)) // DAY_US
    if len(local_day) == 0:
        return local_day, local_day
    first = int(local_day.min())
    midnights = np.array([midnight_us(d) for d in range(first, int(local_day.max()) + 1)], dtype=np.int64)
    return local_day, 1 + (start - midnights[local_day - first]) // HALF_HOUR_US


@functools.lru_cache(maxsize=65536)
def midnight_us(day: int) -> int:
    """UTC µs of local midnight at the start of day number ``day`` (days since the epoch)."""
    return int(day_bounds(EPOCH + dt.timedelta(days=day))[0].timestamp()) * 10**6
