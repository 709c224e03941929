"""EIEP3 and EIEP13A files for tests, written to the public record layouts."""
from __future__ import annotations

import datetime as dt
import random
from collections.abc import Iterable
from pathlib import Path

from datalake.trading import HALF_HOUR, ZONE, day_bounds, periods_in_day


def eiep3_header(count: int, *, version: str = "11.0", identifier: str = "0001", status: str = "I",
                 month: str = "201806") -> str:
    return f"HDR,ICPHH,{version},MEPX,,RETL,18/07/2018,15:29:07,{identifier},{count},{month},E,{status}"


def eiep3_det(icp: str, day: dt.date, period: int, kwh: str, *, stream: str = "215504779", reading: str = "F",
              direction: str = "X", reactive: str = "0.000") -> str:
    return f"DET,{icp},{stream},{reading},{day:%d/%m/%Y},{period},{kwh},{reactive},,{direction},"


def eiep3_day(icp: str, day: dt.date, *, seed: int = 1, **options) -> list[str]:
    """One DET a trading period of ``day`` (46, 48 or 50 of them)."""
    rng = random.Random(f"{seed}-{icp}-{day}")
    return [eiep3_det(icp, day, p, f"{rng.randint(0, 3000) / 1000:.3f}", **options)
            for p in range(1, periods_in_day(day) + 1)]


def eiep13a_header(count: int, *, identifier: str = "CONS0001", start: str = "01/04/2018",
                   end: str = "30/04/2018") -> str:
    return f"HDR,ICPCONS,1.0,RETL,,RQST,18/07/2018,{identifier},{count},{start},{end}"


def eiep13a_det(icp: str, start: dt.datetime, kwh: str, *, status: str = "RD", adjustment: str = "",
                meter: str = "215504779", register: str = "24", direction: str = "X", end_style: str = "30") -> str:
    """One read period from the local (naive) time ``start``; ``end_style`` "30" ends it at
    hh:30:00 (start at hh:00:01, as the published sample), "29" at hh:29:59."""
    first = start + dt.timedelta(seconds=1) if end_style == "30" else start
    last = start + HALF_HOUR - (dt.timedelta(0) if end_style == "30" else dt.timedelta(seconds=1))
    return (f"DET,AUTH1,{icp},000,{adjustment},{meter},{direction},{register},7304,{first:%d/%m/%Y %H:%M:%S},"
            f"{last:%d/%m/%Y %H:%M:%S},{status},{kwh},0")


def local_starts(day: dt.date) -> list[dt.datetime]:
    """The clock time each half hour of ``day`` starts at, in order (02:00-02:59 twice the
    day daylight saving ends)."""
    first = day_bounds(day)[0]
    return [(first + i * HALF_HOUR).astimezone(ZONE).replace(tzinfo=None) for i in range(periods_in_day(day))]


def eiep13a_day(icp: str, day: dt.date, *, seed: int = 1, **options) -> list[str]:
    rng = random.Random(f"13a-{seed}-{icp}-{day}")
    return [eiep13a_det(icp, s, f"{rng.randint(0, 3000) / 1000:.3f}", **options) for s in local_starts(day)]


def write_eiep(path: Path, header: str, details: Iterable[str]) -> Path:
    path.write_text(header + "\n" + "".join(d + "\n" for d in details))
    return path


def write_eiep3(path: Path, details: list[str], **header) -> Path:
    return write_eiep(path, eiep3_header(len(details), **header), details)


def write_eiep13a(path: Path, details: list[str], **header) -> Path:
    return write_eiep(path, eiep13a_header(len(details), **header), details)
