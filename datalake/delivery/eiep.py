"""What EIEP3 and EIEP13A deliveries share: their formats, their header record,
and turning their detail records into raw reads plus the per-stream attributes they carry.

A format module (``eiep3``, ``eiep13a``) reads its header and details into ``Details``;
``delivery`` then checks repeats (the same ICP, stream, register, period and direction
twice: the same value collapses, different values are a conflict naming both lines), sums
the streams and registers of each (ICP, period, direction) into one raw read, and gives the
reads as the text columns every other format gives, one batch, each row tagged with the
line of its first detail record."""
from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Literal

import numpy as np
import pyarrow as pa

from datalake import schema
from datalake.delivery.eiepfields import Problems, check_fields
from datalake.delivery.rawtypes import decimal_array
from datalake.schema import ROW
from datalake.trading import trading_date_and_period

EiepFormat = Literal["eiep3", "eiep13a"]
EIEP_FORMATS: tuple[EiepFormat, ...] = ("eiep3", "eiep13a")
HEADS: dict[bytes, EiepFormat] = {b"HDR,ICPHH": "eiep3", b"HDR,ICPCONS": "eiep13a"}
# The attributes of each detail record, stored beside the raw reads (datalake/raw/attributes.py).
ATTRIBUTE_DECIMAL = pa.decimal128(18, 6)  # reactive and apparent energy
ATTRIBUTE_COLUMNS = ("stream_id", "register_content_code", "reading_type", "reactive_read", "apparent_read",
                     "offset_inferred", "line")


def detect_eiep(head: bytes) -> EiepFormat | None:
    """The EIEP format whose header record ``head`` (a file's first bytes) starts with."""
    head = head.removeprefix(b"\xef\xbb\xbf").lstrip(b'"')
    return next((fmt for prefix, fmt in HEADS.items() if head.upper().startswith(prefix)), None)


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
