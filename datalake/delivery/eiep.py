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
from typing import Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from datalake import schema
from datalake.delivery.eiepfields import Problems, check_fields
from datalake.delivery.rawtypes import TypedReads, decimal_array
from datalake.errors import ValidationError
from datalake.schema import ROW
from datalake.trading import trading_date_and_period

EiepFormat = Literal["eiep3", "eiep13a"]
EIEP_FORMATS: tuple[EiepFormat, ...] = ("eiep3", "eiep13a")
HEADS: dict[bytes, EiepFormat] = {b"HDR,ICPHH": "eiep3", b"HDR,ICPCONS": "eiep13a"}
# The attributes of each detail record, stored beside the raw reads (datalake/raw/attributes.py).
ATTRIBUTE_DECIMAL = pa.decimal128(18, 6)  # reactive and apparent energy
MAX_READ_MILLI = 10**18  # a raw read is DECIMAL(18, 3)
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
    """An EIEP file as raw reads, typed (``typed``; ``table`` gives each read's first line,
    icp_id and energy_flow_direction, which the ingest path reports rows by), and the
    attributes of its detail records (``attributes``: raw key, stream, the file's fields)."""

    header: Header
    table: pa.Table
    typed: TypedReads
    attributes: pa.Table
    repeats_collapsed: int

    def source_fields(self) -> dict:
        """What the ingest record says of the file, beside its name, format and hash."""
        return {"detail_records": self.attributes.num_rows + self.repeats_collapsed,
                "repeats_collapsed": self.repeats_collapsed, "file_identifier": self.header.file_identifier,
                "file_status": self.header.file_status}


def delivery(header: Header, details: Details, problems: Problems) -> EiepDelivery:
    """Check repeats, then sum each (ICP, period, direction) over its streams and registers."""
    icp_codes, icp_values = codes(pa.array(details.icps, pa.string()))
    stream_codes, _ = codes(pa.array(details.streams, pa.string()))
    register_codes, _ = codes(pa.array(details.registers, pa.string()))
    direction_codes, direction_values = codes(pa.array(details.directions, pa.string()))
    all_ends = np.array(details.ends_us, dtype=np.int64)
    all_milli = np.array(details.milli, dtype=np.int64)
    all_lines = np.array(details.lines, dtype=np.int64)
    seen = first_rows(group_ids(icp_codes, stream_codes, register_codes, all_ends, direction_codes))
    for i in np.flatnonzero(all_milli != all_milli[seen]).tolist():
        first = int(seen[i])
        problems.add(details.lines[i], details.value_field, _kwh(details.milli[i]),
                     f"conflicts with line {details.lines[first]} ({_kwh(details.milli[first])} kWh) for the same "
                     "ICP, stream, register, period and direction")
    problems.check()
    pick = np.flatnonzero(seen == np.arange(len(seen)))
    n = len(pick)
    taken = pa.array(pick)
    icps = icp_values.take(pa.array(icp_codes[pick]))
    directions = direction_values.take(pa.array(direction_codes[pick]))
    ends, milli, lines = all_ends[pick], all_milli[pick], all_lines[pick]
    # Sum per raw key: one read per (ICP, instant, direction), tagged with its first line.
    grouped = pa.table({"icp": icps, "end": ends, "dir": directions, "milli": milli, "line": lines}).group_by(
        ["icp", "end", "dir"], use_threads=False).aggregate([("milli", "sum"), ("line", "min")]).sort_by("line_min")
    summed_ends = grouped["end"].to_numpy()
    icp_codes_read, icp_values_read = codes(grouped["icp"])
    table, typed = raw_reads(grouped["line_min"].to_numpy(), grouped["icp"], grouped["dir"], icp_codes_read,
                             icp_values_read, summed_ends, *trading_date_and_period(summed_ends),
                             pc.equal(grouped["dir"], "X").to_numpy(zero_copy_only=False),
                             grouped["milli_sum"].to_numpy(), problems)
    days, periods = trading_date_and_period(ends)
    attributes = pa.table({
        "icp_id": icps,
        "read_timestamp": pa.array(ends, schema.TIMESTAMP),
        "read_date": pa.array(days.astype(np.int32), pa.date32()),
        "trading_period": pa.array(periods.astype(np.int16)),
        "energy_flow_direction": directions,
        "stream_id": pa.array(details.streams, pa.string()).take(taken),
        "register_content_code": pa.array(details.registers, pa.string()).take(taken),
        "reading_type": pa.array(details.reading_types, pa.string()).take(taken),
        "interval_read": decimal_array(milli, schema.READ_DECIMAL),
        "reactive_read": scaled_decimal(pa.array(details.reactive, pa.int64()).take(taken)),
        "apparent_read": scaled_decimal(pa.array(details.apparent, pa.int64()).take(taken)),
        "offset_inferred": pa.array(details.inferred, pa.bool_()).take(taken),
        "line": pa.array(lines),
        **file_columns(header, n),
    })
    return EiepDelivery(header, table, typed, attributes, len(details.lines) - n)


def file_columns(header, n: int) -> dict[str, pa.Array]:
    """The attributes that come from the file's header, the same on each of its ``n`` rows."""
    return {"file_type": constant(header.fmt, n), "file_identifier": constant(header.file_identifier, n),
            "file_status": constant(header.file_status, n)}


def constant(value: str | None, n: int) -> pa.Array:
    """``value`` on each of ``n`` rows, as a dictionary of one entry (which the Parquet writer
    stores without hashing every row)."""
    if value is None:
        return pa.nulls(n, pa.string())
    return pa.DictionaryArray.from_arrays(pa.array(np.zeros(n, np.int32)), pa.array([value], pa.string()))


def raw_reads(lines: np.ndarray, icps: pa.Array | pa.ChunkedArray, directions: pa.Array | pa.ChunkedArray,
              icp_codes: np.ndarray, icp_values: pa.Array, ends: np.ndarray, days: np.ndarray, periods: np.ndarray,
              exports: np.ndarray, milli: np.ndarray, problems: Problems) -> tuple[pa.Table, TypedReads]:
    """The raw reads of a file, one per (ICP, end of half hour, direction), each with its
    first line and its kWh x 1000 summed over streams (``icp_codes`` index ``icp_values``):
    a table of their line, icp_id and direction, and the reads typed. A sum too large for a
    raw read is a problem at its first line."""
    for i in np.flatnonzero(milli >= MAX_READ_MILLI)[:ValidationError.MAX_REPORTED].tolist():
        problems.add(int(lines[i]), "active energy", _kwh(int(milli[i])),
                     f"the sum over streams must be below {MAX_READ_MILLI // 1000:,} kWh")
    problems.check()
    rows = pa.array(lines, pa.int64())
    typed = TypedReads(rows=pa.chunked_array([rows]), icp_values=icp_values, icp_indices=icp_codes.astype(np.int32),
                       timestamps_us=ends, days=days.astype(np.int32), periods=periods.astype(np.int16),
                       milli=milli, exports=np.asarray(exports, dtype=bool))
    return pa.table({ROW: rows, "icp_id": icps, "energy_flow_direction": directions}), typed


def codes(column: pa.Array | pa.ChunkedArray) -> tuple[np.ndarray, pa.Array]:
    """int64 codes of a string column's values (nulls one more code), and the values."""
    encoded = pc.dictionary_encode(column, null_encoding="encode")
    if isinstance(encoded, pa.ChunkedArray):
        encoded = encoded.combine_chunks()
    return encoded.indices.to_numpy(zero_copy_only=False).astype(np.int64), encoded.dictionary


def group_ids(*columns: np.ndarray) -> np.ndarray:
    """One int64 id per row, equal for rows equal in every column."""
    if len(columns[0]) == 0:
        return np.zeros(0, dtype=np.int64)
    order = np.lexsort(columns[::-1])
    change = np.zeros(len(order), dtype=bool)
    for column in columns:
        ordered = column[order]
        change[1:] |= ordered[1:] != ordered[:-1]
    ids = np.empty(len(order), dtype=np.int64)
    ids[order] = np.cumsum(change)
    return ids


def first_rows(key: np.ndarray) -> np.ndarray:
    """For each row, the index of the first row with the same ``key``."""
    n = len(key)
    if n < 2 or bool(np.all(key[1:] > key[:-1])):  # in key order, each key once: no sort
        return np.arange(n, dtype=np.int64)
    order = np.argsort(key, kind="stable")
    ordered = key[order]
    starts = np.flatnonzero(np.concatenate(([True], ordered[1:] != ordered[:-1])))
    first = np.empty(n, dtype=np.int64)
    first[order] = np.repeat(order[starts], np.diff(np.append(starts, n)))
    return first


def scaled_decimal(scaled: pa.Array) -> pa.Array:
    """int64 values x 10**6 (null where absent) as the attributes' DECIMAL(18, 6)."""
    if scaled.null_count == len(scaled):
        return pa.nulls(len(scaled), ATTRIBUTE_DECIMAL)
    values = decimal_array(scaled.fill_null(0).to_numpy(zero_copy_only=False), ATTRIBUTE_DECIMAL)
    return values if scaled.null_count == 0 else pc.if_else(scaled.is_valid(), values,
                                                            pa.scalar(None, ATTRIBUTE_DECIMAL))


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
