"""EIEP3 (half-hourly metering information, file type ICPHH): its header and detail
records checked field by field and turned into raw reads by trading date and period."""
from __future__ import annotations

import datetime as dt
import functools
import re
from pathlib import Path

from datalake.delivery.eiep import Details, EiepDelivery, Header, check_count, delivery, header, header_values
from datalake.delivery.eiepfields import (Problems, check_date, detail_fields, check_icp, check_number, check_text,
                                          header_and_details)
from datalake.trading import HALF_HOUR_US, midnight_us, periods_in_day

HEADER_FIELDS = ("record type", "file type", "version", "sender", "on behalf of", "recipient", "report date",
                 "report time", "file identifier", "number of detail records", "report month", "utility type",
                 "file status")
DETAIL_FIELDS = ("record type", "ICP", "stream identifier", "reading type", "trading date", "trading period",
                 "active energy", "reactive energy", "apparent energy", "flow direction", "stream type")
VERSIONS = ("10.0", "11.0")
FILE_STATUSES = ("I", "R", "X")  # initial, replacement, partial update
TIME_RE = re.compile(r"^([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]$")
MONTH_RE = re.compile(r"^[0-9]{4}(0[1-9]|1[0-2])$")
PERIOD_RE = re.compile(r"^[0-9]{1,2}$")
EPOCH = dt.date(1970, 1, 1)


def read_eiep3(path: Path, name: str) -> EiepDelivery:
    """The file at ``path`` as raw reads; any bad record raises ``ValidationError`` naming
    its line and field (every problem of the file, the first 20 listed)."""
    problems = Problems(name)
    first, lines = header_and_details(path, name)
    header = _header(*first, problems)
    details = Details()
    count = 0
    for number, fields in lines:
        count += 1
        _detail(number, fields, details, problems)
    check_count(header, count, problems)
    problems.check()
    return delivery(header, details, problems)


def _header(line: int, fields: list[str], problems: Problems) -> Header:
    values = header_values(problems, line, fields, "EIEP3", "ICPHH", HEADER_FIELDS)
    check_text(problems, line, "version", values["version"], required=True, choices=VERSIONS)
    for name in ("sender", "on behalf of", "recipient", "file identifier"):
        values[name] = check_text(problems, line, name, values[name])
    check_date(problems, line, "report date", values["report date"], required=False)
    if values["report time"] and not TIME_RE.match(values["report time"]):
        problems.add(line, "report time", values["report time"], "must be a time hh:mm:ss")
    if values["report month"] and not MONTH_RE.match(values["report month"]):
        problems.add(line, "report month", values["report month"], "must be a month yyyymm")
    check_text(problems, line, "utility type", values["utility type"], choices=("E",))
    values["file status"] = check_text(problems, line, "file status", values["file status"], choices=FILE_STATUSES)
    return header(problems, line, values, "eiep3")


def _detail(line: int, fields: list[str], details: Details, problems: Problems) -> None:
    fields = detail_fields(problems, line, fields, len(DETAIL_FIELDS))
    if fields is None:
        return
    _, icp, stream, reading_type, date, period, active, reactive, apparent, direction, stream_type = fields
    before = len(problems.errors)
    icp = check_icp(problems, line, icp)
    stream = check_text(problems, line, "stream identifier", stream)
    reading_type = check_text(problems, line, "reading type", reading_type)
    check_text(problems, line, "stream type", stream_type)
    day = check_date(problems, line, "trading date", date)
    number = _period(problems, line, period, day)
    milli = check_number(problems, line, "active energy", active, 3, required=True)
    reactive_units = check_number(problems, line, "reactive energy", reactive, 6)
    apparent_units = check_number(problems, line, "apparent energy", apparent, 6)
    direction = check_text(problems, line, "flow direction", direction, required=True, choices=("X", "I"))
    if len(problems.errors) > before:
        return
    end_us = midnight_us((day - EPOCH).days) + number * HALF_HOUR_US
    details.add(line, icp, stream, None, reading_type, direction, end_us, milli, reactive_units, apparent_units)


def _period(problems: Problems, line: int, value: str, day: dt.date | None) -> int | None:
    """Trading period 1-48, or 1-46 the day daylight saving starts, 1-50 the day it ends."""
    if not PERIOD_RE.match(value) or int(value) < 1:
        problems.add(line, "trading period", value[:80], "must be a whole number from 1")
        return None
    if day is None:
        return None
    most = _periods(day)
    if int(value) > most:
        problems.add(line, "trading period", value, f"{day:%d/%m/%Y} has {most} trading periods")
        return None
    return int(value)


@functools.lru_cache(maxsize=4096)
def _periods(day: dt.date) -> int:
    return periods_in_day(day)
