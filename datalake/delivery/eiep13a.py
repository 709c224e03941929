"""EIEP13A (detailed consumption for consumers, file type ICPCONS): its header and detail
records checked field by field, and each half-hour read period placed in time, inferring
the offset on the day daylight saving ends when the daylight-saving field is blank."""
from __future__ import annotations

import datetime as dt
import functools
import re
from pathlib import Path

from datalake.delivery.eiep import Details, EiepDelivery, Header, check_count, delivery, header, header_values
from datalake.delivery.eiepfields import (Problems, absent, check_date, detail_fields, check_icp, check_number,
                                          check_text, header_and_details)
from datalake.trading import HALF_HOUR, ZONE

HEADER_FIELDS = ("record type", "file type", "version", "sender", "on behalf of", "recipient", "report date",
                 "file identifier", "number of detail records", "report start date", "report end date")
DETAIL_FIELDS = ("record type", "authorisation code", "ICP", "response code", "daylight saving adjustment",
                 "metering component", "flow direction", "register content code", "period of availability",
                 "read period start", "read period end", "read status", "active units", "reactive units")
ACCEPTED = "000"
READ_STATUSES = ("RD", "ES")  # actual, estimated
# A blank adjustment means clock time (NZST in winter, NZDT in summer); NZST, that every
# time is standard time; NZDT, daylight time.
FIXED_OFFSETS = {"NZST": dt.timedelta(hours=12), "NZDT": dt.timedelta(hours=13)}
STAMP_RE = re.compile(r"^([0-9]{2})/([0-9]{2})/([0-9]{4}) ([0-9]{2}):([0-9]{2}):([0-9]{2})$")
LENGTHS = (HALF_HOUR, HALF_HOUR - dt.timedelta(seconds=1))  # end hh:30:00, or hh:29:59


def read_eiep13a(path: Path, name: str) -> EiepDelivery:
    """The file at ``path`` as raw reads; any bad record, or a read period whose offset
    cannot be told, raises ``ValidationError`` naming its line and field."""
    problems = Problems(name)
    first, lines = header_and_details(path, name)
    header = _header(*first, problems)
    details = Details(value_field="active units")
    folds = _Folds()
    count = 0
    for number, fields in lines:
        count += 1
        _detail(number, fields, details, folds, problems)
    check_count(header, count, problems)
    folds.resolve(details, problems)
    problems.check()
    return delivery(header, details, problems)


def _header(line: int, fields: list[str], problems: Problems) -> Header:
    values = header_values(problems, line, fields, "EIEP13A", "ICPCONS", HEADER_FIELDS)
    for name in ("version", "sender", "on behalf of", "recipient", "file identifier"):
        values[name] = check_text(problems, line, name, values[name], required=name == "version")
    for name in ("report date", "report start date", "report end date"):
        check_date(problems, line, name, values[name], required=False)
    return header(problems, line, values, "eiep13a")


def _detail(line: int, fields: list[str], details: Details, folds: _Folds, problems: Problems) -> None:
    fields = detail_fields(problems, line, fields, len(DETAIL_FIELDS))
    if fields is None:
        return
    (_, authorisation, icp, response, adjustment, meter, direction, register, availability, start, end, status,
     active, reactive) = fields
    if response != ACCEPTED:  # a refused request carries no consumption
        check_text(problems, line, "response code", response, required=True)
        return
    before = len(problems.errors)
    check_text(problems, line, "authorisation code", authorisation)
    icp = check_icp(problems, line, icp)
    adjustment = check_text(problems, line, "daylight saving adjustment", adjustment, choices=tuple(FIXED_OFFSETS))
    meter = check_text(problems, line, "metering component", meter)
    direction = check_text(problems, line, "flow direction", direction, required=True, choices=("X", "I"))
    register = check_text(problems, line, "register content code", register)
    check_text(problems, line, "period of availability", availability)
    status = check_text(problems, line, "read status", status, choices=READ_STATUSES)
    milli = check_number(problems, line, "active units", active, 3, required=True)
    reactive_units = check_number(problems, line, "reactive units", reactive, 6)
    wall = _half_hour(problems, line, start, end)
    if len(problems.errors) > before or wall is None:
        return
    if adjustment is not None:
        instant = wall.replace(tzinfo=dt.timezone(FIXED_OFFSETS[adjustment]))
        inferred = False
    else:
        instant = _clock_instant(wall)
        if instant is None:
            problems.add(line, "read period start", start, "does not exist: clocks skip this hour the day "
                         "daylight saving starts")
            return
        inferred = instant == "ambiguous"
        if inferred:
            folds.defer(len(details.lines), (icp, meter, register, direction, wall))
            instant = wall.replace(tzinfo=ZONE)
    end_us = _end_us(instant)
    details.add(line, icp, meter, register, status, direction, end_us, milli, reactive_units, None, inferred)


class _Folds:
    """Read periods of the hour that occurs twice the day daylight saving ends, with a blank
    adjustment field. For each (ICP, meter, register, direction, local start) the first
    record in the file is the earlier hour (NZDT) and the second the later (NZST), as the
    "trading period run on technique" lists them in the order they occur; one record alone,
    or a third, cannot be placed."""

    def __init__(self) -> None:
        self.seen: dict[tuple, list[int]] = {}

    def defer(self, index: int, key: tuple) -> None:
        self.seen.setdefault(key, []).append(index)

    def resolve(self, details: Details, problems: Problems) -> None:
        for key, indices in self.seen.items():
            if len(indices) != 2:
                wall = key[-1]
                for i in indices:
                    problems.add(details.lines[i], "read period start", f"{wall:%d/%m/%Y %H:%M:%S}",
                                 f"{wall:%H:%M} occurs twice this day (daylight saving ends) and the daylight "
                                 f"saving adjustment is blank: {len(indices)} record(s) for it, so the offset "
                                 "cannot be inferred; give NZST or NZDT")
                continue
            for fold, i in enumerate(indices):
                instant = key[-1].replace(tzinfo=ZONE, fold=fold)
                details.ends_us[i] = _end_us(instant)


def _end_us(start: dt.datetime) -> int:
    """UTC µs of the end of the half hour that starts at the aware ``start`` (in UTC: adding
    to a zoned time would add clock time)."""
    return int((start.astimezone(dt.UTC) + HALF_HOUR).timestamp()) * 10**6


@functools.lru_cache(maxsize=8192)
def _stamp(value: str) -> dt.datetime | None:
    match = STAMP_RE.match(value)
    if match is None:
        return None
    day, month, year, hour, minute, second = map(int, match.groups())
    try:
        return dt.datetime(year, month, day, hour, minute, second)
    except ValueError:
        return None


def _half_hour(problems: Problems, line: int, start: str, end: str) -> dt.datetime | None:
    """The local start of the half hour a read period covers (start hh:00:00 or hh:00:01,
    or the same at hh:30; end 30 minutes later, or one second less)."""
    if absent(start) or absent(end):
        problems.add(line, "read period start" if absent(start) else "read period end", "", "is required")
        return None
    begin, finish = _stamp(start), _stamp(end)
    if begin is None or finish is None:
        problems.add(line, "read period start" if begin is None else "read period end",
                     (start if begin is None else end)[:80], "must be a date and time dd/mm/yyyy hh:mm:ss")
        return None
    if begin.minute not in (0, 30) or begin.second not in (0, 1):
        problems.add(line, "read period start", start, "must start a half hour (hh:00:00 or hh:30:00, or a "
                     "second later)")
        return None
    wall = begin.replace(second=0)
    if finish - wall not in LENGTHS:
        problems.add(line, "read period end", end, "must end the half hour that starts at the read period start: "
                     "only half-hourly reads are taken")
        return None
    return wall


@functools.lru_cache(maxsize=8192)
def _clock_instant(wall: dt.datetime) -> dt.datetime | str | None:
    """The instant of a clock time in New Zealand: None if the clocks skip it, "ambiguous"
    if it occurs twice."""
    early, late = wall.replace(tzinfo=ZONE, fold=0), wall.replace(tzinfo=ZONE, fold=1)
    if early.utcoffset() != late.utcoffset():
        # zoneinfo: in a gap fold 0 takes the offset before it; in an overlap the earlier.
        back = early.astimezone(dt.UTC).astimezone(ZONE).replace(tzinfo=None)
        return "ambiguous" if back == wall else None
    return early
