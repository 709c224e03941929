"""The real Ausgrid household (../shared/data/ausgrid) converted to the raw input format.

The file gives the start of each half hour in Australian Eastern Standard Time (UTC+10, no
daylight saving). Each row becomes two raw reads of one ICP: GC as X (extraction) and GG as
I (injection), stamped at the END of the half hour in New Zealand local time with its
+12/+13 offset, as the brief's deliveries are."""
from __future__ import annotations

import csv
import datetime as dt
from decimal import Decimal
from pathlib import Path

from datalake.trading import ZONE

from .raw import HEADER, nz_text

AEST = dt.timezone(dt.timedelta(hours=10))
ICP = "AUSGRID12"


def source_rows(path: Path) -> list[tuple[dt.datetime, str, str]]:
    """(start instant, GC text, GG text) for every row of the source file."""
    with open(path, newline="") as f:
        reader = csv.reader(f)
        next(reader)
        return [(dt.datetime.fromisoformat(t).replace(tzinfo=AEST), gc, gg) for t, gc, gg in reader]


def convert(source: Path, target: Path) -> Path:
    with open(target, "w") as out:
        out.write(HEADER + "\n")
        for start, gc, gg in source_rows(source):
            end = nz_text(start + dt.timedelta(minutes=30))
            out.write(f"{end},{gc},X,{ICP}\n{end},{gg},I,{ICP}\n")
    return target


def expected_daily_totals(source: Path) -> dict[tuple[dt.date, str], Decimal]:
    """Per (NZ trading date, direction) totals, each value rounded to 3 decimals first:
    computed with Python's zoneinfo, independently of the engine's SQL."""
    totals: dict[tuple[dt.date, str], Decimal] = {}
    for start, gc, gg in source_rows(source):
        day = start.astimezone(ZONE).date()
        for direction, text in (("X", gc), ("I", gg)):
            key = (day, direction)
            totals[key] = totals.get(key, Decimal(0)) + round(Decimal(text), 3)
    return totals
