"""Trading dates and periods in the market's time zone."""
from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from .schema import MARKET_TZ

ZONE = ZoneInfo(MARKET_TZ)
HALF_HOUR = dt.timedelta(minutes=30)


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
