"""Reading the records of an EIEP file and checking the shape of each field: every problem is
collected with its line and field, so that one pass reports them all."""
from __future__ import annotations

import csv
import datetime as dt
import functools
import re
from collections.abc import Iterator
from decimal import Decimal, InvalidOperation
from pathlib import Path

from datalake import schema
from datalake.errors import RowError, ValidationError

ICP_RE = re.compile(rf"^[A-Za-z0-9]{{1,{schema.ICP_ID_MAX_LEN}}}$")
MAX_NUMBER = 10**12  # kWh (or kvarh, kVAh): fits DECIMAL(18, 6), and a sum of streams DECIMAL(18, 3)
NUMBER_RE = re.compile(r"^-?[0-9]+(\.[0-9]+)?$")
DATE_RE = re.compile(r"^([0-9]{2})/([0-9]{2})/([0-9]{4})$")
TEXT_RE = re.compile(r"^[\x20-\x7e]{1,64}$")


def absent(value: str) -> bool:
    """Empty fields and the text ``null`` both mean absent."""
    return value == "" or value.lower() == "null"


class Problems:
    """Row errors of one file, collected so that one pass reports them all (the first
    ``ValidationError.MAX_REPORTED`` in line order)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.errors: list[RowError] = []

    def add(self, line: int | None, fieldname: str | None, value: str | None, reason: str) -> None:
        self.errors.append(RowError(self.name, line, fieldname, value, reason))

    def check(self) -> None:
        if self.errors:
            errors = sorted(self.errors, key=lambda e: (e.row or 0))
            raise ValidationError(f"{self.name}: nothing ingested", errors[:ValidationError.MAX_REPORTED],
                                  len(errors))


def records(path: Path, name: str) -> Iterator[tuple[int, list[str]]]:
    """(line number, fields) of each non-blank line; values are stripped of spaces."""
    try:
        with open(path, encoding="utf-8-sig", newline="") as f:
            for number, fields in enumerate(csv.reader(f), start=1):
                cleaned = [v.strip() for v in fields]
                if any(cleaned):
                    yield number, cleaned
    except UnicodeDecodeError:
        raise ValidationError(f"{name}: not UTF-8 text; nothing ingested",
                              [RowError(name, None, None, None, "not UTF-8 text")], 1) from None
    except csv.Error as e:
        raise ValidationError(f"{name}: unreadable; nothing ingested",
                              [RowError(name, None, None, None, f"unreadable: {e}")], 1) from None


def header_and_details(path: Path, name: str) -> tuple[tuple[int, list[str]], Iterator[tuple[int, list[str]]]]:
    """The file's first record (its header) and the records after it; an empty file raises
    ``ValidationError``."""
    lines = records(path, name)
    first = next(lines, None)
    if first is None:
        raise ValidationError(f"{name}: empty file; nothing ingested",
                              [RowError(name, None, None, None, "no header record")], 1)
    return first, lines


@functools.lru_cache(maxsize=4096)
def parse_date(value: str) -> dt.date | None:
    """A dd/mm/yyyy date, or None if it is not one."""
    match = DATE_RE.match(value)
    if match is None:
        return None
    day, month, year = map(int, match.groups())
    try:
        return dt.date(year, month, day)
    except ValueError:
        return None


@functools.lru_cache(maxsize=65536)
def parse_scaled(value: str, scale: int) -> int | None:
    """A decimal number as an integer of 10**-scale units, or None if it is not a number or
    has more than ``scale`` decimals."""
    if not NUMBER_RE.match(value):
        return None
    try:
        scaled = Decimal(value).scaleb(scale)
    except InvalidOperation:
        return None
    return int(scaled) if scaled == scaled.to_integral_value() else None


def check_text(problems: Problems, line: int, name: str, value: str, *, required: bool = False,
               choices: tuple[str, ...] | None = None) -> str | None:
    """A text field: None when absent (an error if ``required``); one of ``choices`` if
    given; otherwise printable ASCII of at most 64 characters."""
    if absent(value):
        if required:
            problems.add(line, name, value, "is required")
        return None
    if choices is not None and value not in choices:
        problems.add(line, name, value, f"must be one of {', '.join(choices)}")
        return None
    if choices is None and not TEXT_RE.match(value):
        problems.add(line, name, value[:80], "must be 1-64 printable ASCII characters")
        return None
    return value


def check_icp(problems: Problems, line: int, value: str) -> str | None:
    if not ICP_RE.match(value):
        problems.add(line, "ICP", value[:80], f"must be 1-{schema.ICP_ID_MAX_LEN} letters and digits")
        return None
    return value


def check_number(problems: Problems, line: int, name: str, value: str, scale: int, *,
                 required: bool = False) -> int | None:
    """A non-negative decimal below ``MAX_NUMBER`` with at most ``scale`` decimals, as an
    integer of 10**-scale."""
    if absent(value):
        if required:
            problems.add(line, name, value, "is required")
        return None
    scaled = parse_scaled(value, scale)
    if scaled is None or not 0 <= scaled < MAX_NUMBER * 10**scale:
        problems.add(line, name, value[:80], f"must be a number from 0 to below {MAX_NUMBER:,} with at most "
                                             f"{scale} decimals")
        return None
    return scaled


def check_date(problems: Problems, line: int, name: str, value: str, *, required: bool = True) -> dt.date | None:
    if absent(value):
        if required:
            problems.add(line, name, value, "is required")
        return None
    day = parse_date(value)
    if day is None:
        problems.add(line, name, value[:80], "must be a date dd/mm/yyyy")
    return day


def check_fields(problems: Problems, line: int, record: str, fields: list[str], expected: int,
                 optional_tail: int = 0) -> list[str] | None:
    """The record's fields, padded to ``expected`` when up to ``optional_tail`` trailing
    optional fields are left off; None (and an error) for any other count."""
    if expected - optional_tail <= len(fields) <= expected:
        return fields + [""] * (expected - len(fields))
    problems.add(line, None, ",".join(fields)[:200], f"{record} record: expected {expected} fields, found {len(fields)}")
    return None


def detail_fields(problems: Problems, line: int, fields: list[str], expected: int) -> list[str] | None:
    """A detail record's ``expected`` fields (the last one optional), or None (and an error)
    when it is not a DET record or has another number of fields."""
    if fields[0] != "DET":
        problems.add(line, "record type", fields[0][:80], "must be DET (one header, then detail records)")
        return None
    return check_fields(problems, line, "detail", fields, expected, optional_tail=1)
