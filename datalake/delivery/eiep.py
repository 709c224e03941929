"""What EIEP3 and EIEP13A deliveries share: reading their records, checking field shapes,
and turning their detail records into raw reads plus the per-stream attributes they carry.

A format module (``eiep3``, ``eiep13a``) reads its header and details into ``Details``;
``delivery`` then checks repeats (the same ICP, stream, register, period and direction
twice: the same value collapses, different values are a conflict naming both lines), sums
the streams and registers of each (ICP, period, direction) into one raw read, and gives the
reads as the text columns every other format gives, one batch, each row tagged with the
line of its first detail record."""
from __future__ import annotations

import csv
import datetime as dt
import functools
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Literal

import numpy as np
import pyarrow as pa

from datalake import schema
from datalake.errors import RowError, ValidationError
from datalake.trading import trading_date_and_period

EiepFormat = Literal["eiep3", "eiep13a"]
EIEP_FORMATS: tuple[EiepFormat, ...] = ("eiep3", "eiep13a")
HEADS: dict[bytes, EiepFormat] = {b"HDR,ICPHH": "eiep3", b"HDR,ICPCONS": "eiep13a"}
ROW = "_row"
ICP_RE = re.compile(rf"^[A-Za-z0-9]{{1,{schema.ICP_ID_MAX_LEN}}}$")
NUMBER_RE = re.compile(r"^-?[0-9]+(\.[0-9]+)?$")
DATE_RE = re.compile(r"^([0-9]{2})/([0-9]{2})/([0-9]{4})$")
TEXT_RE = re.compile(r"^[\x20-\x7e]{1,64}$")

# The attributes of each detail record, stored beside the raw reads (datalake/raw/attributes.py).
ATTRIBUTE_DECIMAL = pa.decimal128(18, 6)  # reactive and apparent energy
ATTRIBUTE_COLUMNS = ("stream_id", "register_content_code", "reading_type", "reactive_read", "apparent_read",
                     "offset_inferred", "line")


def detect_eiep(head: bytes) -> EiepFormat | None:
    """The EIEP format whose header record ``head`` (a file's first bytes) starts with."""
    head = head.removeprefix(b"\xef\xbb\xbf").lstrip(b'"')
    return next((fmt for prefix, fmt in HEADS.items() if head.upper().startswith(prefix)), None)


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


@dataclass
class Header:
    fmt: EiepFormat
    line: int
    fields: dict[str, str | None]
    count: int | None                 # the number of detail records it declares

    @property
    def file_identifier(self) -> str | None:
        return self.fields.get("file identifier")

    @property
    def file_status(self) -> str | None:
        return self.fields.get("file status")


@dataclass
class Details:
    """Detail records as columns, one entry a record; ``value_field`` names the active
    energy field in the format's words."""

    value_field: str = "active energy"
    lines: list[int] = field(default_factory=list)
    icps: list[str] = field(default_factory=list)
    streams: list[str | None] = field(default_factory=list)
    registers: list[str | None] = field(default_factory=list)
    reading_types: list[str | None] = field(default_factory=list)
    directions: list[str] = field(default_factory=list)
    ends_us: list[int] = field(default_factory=list)     # UTC end of the half hour
    milli: list[int] = field(default_factory=list)       # active kWh x 1000
    reactive: list[int | None] = field(default_factory=list)  # x 10**6
    apparent: list[int | None] = field(default_factory=list)  # x 10**6
    inferred: list[bool] = field(default_factory=list)

    def add(self, line: int, icp: str, stream: str | None, register: str | None, reading_type: str | None,
            direction: str, end_us: int, milli: int, reactive: int | None, apparent: int | None,
            inferred: bool = False) -> None:
        self.lines.append(line)
        self.icps.append(icp)
        self.streams.append(stream)
        self.registers.append(register)
        self.reading_types.append(reading_type)
        self.directions.append(direction)
        self.ends_us.append(end_us)
        self.milli.append(milli)
        self.reactive.append(reactive)
        self.apparent.append(apparent)
        self.inferred.append(inferred)


@dataclass
class EiepDelivery:
    """An EIEP file as raw reads (``batches``, for the ingest path) and the attributes of
    its detail records (``attributes``: raw key, stream, the file's fields)."""

    header: Header
    table: pa.Table
    attributes: pa.Table
    repeats_collapsed: int

    def source_fields(self) -> dict:
        """What the ingest record says of the file, beside its name, format and hash."""
        return {"detail_records": self.attributes.num_rows + self.repeats_collapsed,
                "repeats_collapsed": self.repeats_collapsed, "file_identifier": self.header.file_identifier,
                "file_status": self.header.file_status}


def delivery(header: Header, details: Details, problems: Problems) -> EiepDelivery:
    """Check repeats, then sum each (ICP, period, direction) over its streams and registers."""
    from datalake.delivery.rawtypes import decimal_array  # rawtypes -> sources -> this module

    first: dict[tuple, int] = {}
    keep = []
    for i, key in enumerate(zip(details.icps, details.streams, details.registers, details.ends_us,
                                details.directions)):
        seen = first.setdefault(key, i)
        if seen == i:
            keep.append(i)
        elif details.milli[seen] != details.milli[i]:
            problems.add(details.lines[i], details.value_field, _kwh(details.milli[i]),
                         f"conflicts with line {details.lines[seen]} ({_kwh(details.milli[seen])} kWh) for the same "
                         "ICP, stream, register, period and direction")
    problems.check()
    n = len(keep)
    pick = np.array(keep, dtype=np.int64)
    icps = np.array(details.icps, dtype=object)[pick]
    directions = np.array(details.directions, dtype=object)[pick]
    ends = np.array(details.ends_us, dtype=np.int64)[pick]
    milli = np.array(details.milli, dtype=np.int64)[pick]
    lines = np.array(details.lines, dtype=np.int64)[pick]
    # Sum per raw key: one read per (ICP, instant, direction), tagged with its first line.
    keys = pa.table({"icp": pa.array(icps, pa.string()), "end": ends, "dir": pa.array(directions, pa.string())})
    grouped = keys.append_column("milli", pa.array(milli)).append_column("line", pa.array(lines)).group_by(
        ["icp", "end", "dir"], use_threads=False).aggregate([("milli", "sum"), ("line", "min")])
    total = grouped["milli_sum"].to_numpy()
    stamps = np.datetime_as_string(grouped["end"].to_numpy().astype("datetime64[us]"), unit="s")
    table = pa.table({
        ROW: grouped["line_min"],
        "read_timestamp": pa.array(np.char.add(stamps.astype(str), "Z"), pa.string()),
        "interval_read": pa.array([f"{m // 1000}.{m % 1000:03d}" for m in total.tolist()], pa.string()),
        "energy_flow_direction": grouped["dir"],
        "icp_id": grouped["icp"],
    }).sort_by(ROW)
    days, periods = trading_date_and_period(ends)
    attributes = pa.table({
        "icp_id": pa.array(icps, pa.string()),
        "read_timestamp": pa.array(ends, schema.TIMESTAMP),
        "read_date": pa.array(days.astype(np.int32), pa.date32()),
        "trading_period": pa.array(periods.astype(np.int16)),
        "energy_flow_direction": pa.array(directions, pa.string()),
        "stream_id": pa.array([details.streams[i] for i in keep], pa.string()),
        "register_content_code": pa.array([details.registers[i] for i in keep], pa.string()),
        "reading_type": pa.array([details.reading_types[i] for i in keep], pa.string()),
        "interval_read": decimal_array(milli, schema.READ_DECIMAL),
        "reactive_read": pa.array([_decimal6(details.reactive[i]) for i in keep], ATTRIBUTE_DECIMAL),
        "apparent_read": pa.array([_decimal6(details.apparent[i]) for i in keep], ATTRIBUTE_DECIMAL),
        "offset_inferred": pa.array([details.inferred[i] for i in keep], pa.bool_()),
        "line": pa.array(lines),
        "file_type": pa.repeat(pa.scalar(header.fmt), n),
        "file_identifier": pa.repeat(pa.scalar(header.file_identifier, pa.string()), n),
        "file_status": pa.repeat(pa.scalar(header.file_status, pa.string()), n),
    })
    return EiepDelivery(header, table, attributes, len(details.lines) - n)



def _decimal6(scaled: int | None) -> Decimal | None:
    return None if scaled is None else Decimal(scaled).scaleb(-6)


def _kwh(milli: int) -> str:
    return f"{milli // 1000}.{milli % 1000:03d}"


def check_count(header: Header, details: int, problems: Problems) -> None:
    """The header's number of detail records must equal the number of DET records."""
    if header.count is not None and header.count != details:
        problems.add(header.line, "number of detail records", str(header.count),
                     f"the header declares {header.count} detail records, the file has {details}")


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
    """A non-negative decimal with at most ``scale`` decimals, as an integer of 10**-scale."""
    if absent(value):
        if required:
            problems.add(line, name, value, "is required")
        return None
    scaled = parse_scaled(value, scale)
    if scaled is None or scaled < 0:
        problems.add(line, name, value[:80], f"must be a number of at least 0 with at most {scale} decimals")
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


def header_values(problems: Problems, line: int, fields: list[str], fmt: str, record: str,
                  names: tuple[str, ...]) -> dict[str, str]:
    """The fields of a file's first record by name, once it is known to be the ``HDR,record``
    header of ``fmt``."""
    if fields[:2] != ["HDR", record]:
        problems.add(line, "record type", ",".join(fields[:2]), f"the first record must be an {fmt} header "
                     f"(HDR,{record})")
        problems.check()
    return dict(zip(names, check_fields(problems, line, "header", fields, len(names)) or [""] * len(names)))


def header(problems: Problems, line: int, values: dict[str, str], kind: Literal["eiep3", "eiep13a"]) -> Header:
    """The checked header, with its count of detail records; raises what ``problems`` holds."""
    count = values["number of detail records"]
    if not count.isdigit():
        problems.add(line, "number of detail records", count, "must be a whole number")
    problems.check()
    return Header(kind, line, values, int(count))
