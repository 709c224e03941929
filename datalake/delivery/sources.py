"""Reading deliveries (CSV, Parquet, Arrow IPC) as batches of text columns, each row
tagged with its position in the source (a CSV line number, or a 1-based row number), so
that validation can say exactly where a bad value is."""
from __future__ import annotations

import csv
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv
import pyarrow.ipc as ipc
import pyarrow.parquet as pq

from datalake.delivery.eiep import detect_eiep
from datalake.delivery.rawtypes import TypedReads
from datalake.errors import RowError, ValidationError
from datalake.schema import ROW

Format = Literal["csv", "parquet", "arrow", "eiep3", "eiep13a"]
CSV_BLOCK_BYTES = 32 << 20
CSV_PARSE_BYTES = 4 << 20   # blocks parsed in parallel within one read
BATCH_ROWS = 1 << 20


@dataclass
class Batch:
    table: pa.Table            # ROW (int64) + the expected columns as strings
    bad_rows: list[RowError]   # rows that could not even be split into fields
    bytes_done: int
    # The rows typed by their reader (an EIEP file); then ``table`` holds only ROW, icp_id
    # and energy_flow_direction.
    typed: TypedReads | None = None


def detect_format(path: Path) -> Format:
    """Parquet and Arrow by their magic bytes, EIEP3 and EIEP13A by their header record
    (``HDR,ICPHH``, ``HDR,ICPCONS``); anything else is read as CSV."""
    with open(path, "rb") as f:
        head = f.read(16)
    if (eiep := detect_eiep(head)) is not None:
        return eiep
    if head.startswith(b"PAR1"):
        return "parquet"
    if head.startswith(b"ARROW1") or head.startswith(b"\xff\xff\xff\xff"):
        return "arrow"
    return "csv"


def read_batches(path: Path, columns: Sequence[str], *, name: str | None = None,
                 fmt: Format | None = None, native: bool = False, dictionary: bool = False) -> Iterator[Batch]:
    """Yield the delivery at ``path`` in batches. Structural problems that make the whole
    file unreadable (wrong header, truncated Parquet) raise ``ValidationError``. With
    ``native``, columns of a Parquet or Arrow delivery keep their own types (see
    ``as_text``); CSV columns are always text, and with ``dictionary`` may come as
    dictionary arrays of text (the CSV reader encodes them while it parses, on all cores)."""
    name = name or path.name
    fmt = fmt or detect_format(path)
    if fmt == "csv":
        yield from _csv_batches(path, columns, name, dictionary)
    else:
        yield from _columnar_batches(path, columns, name, fmt, native)


def _clean_header(cell: str) -> str:
    return cell.strip().strip('"').strip().lower()


def _check_columns(found: Sequence[str], expected: Sequence[str], name: str, row: int | None) -> None:
    missing = [c for c in expected if c not in found]
    extra = [c for c in found if c not in expected]
    dupes = sorted({c for c in found if list(found).count(c) > 1})
    if missing or extra or dupes:
        parts = []
        if missing:
            parts.append(f"missing column(s) {', '.join(missing)}")
        if extra:
            parts.append(f"unexpected column(s) {', '.join(extra)}")
        if dupes:
            parts.append(f"repeated column(s) {', '.join(dupes)}")
        reason = "; ".join(parts) + f" (expected {','.join(expected)})"
        err = RowError(name, row, "header", ",".join(found), reason)
        raise ValidationError(f"{name}: wrong columns", [err], 1)


def _csv_batches(path: Path, columns: Sequence[str], name: str, dictionary: bool = False) -> Iterator[Batch]:
    with open(path, "rb") as f:
        header_bytes = f.readline()
        try:
            header_line = header_bytes.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise ValidationError(f"{name}: header is not UTF-8 text",
                                  [RowError(name, 1, "header", None, "not UTF-8 text")], 1) from None
        header = [_clean_header(c) for c in next(csv.reader([header_line]), [])]
        _check_columns(header, columns, name, 1)
        line = 2
        done = len(header_bytes)
        block = CSV_BLOCK_BYTES
        while True:
            chunk = f.read(block)
            if not chunk:
                return
            end = len(chunk)
            if f.peek(1):
                end = chunk.rfind(b"\n") + 1
                if end == 0:  # one line longer than a block: read it again with a larger one
                    f.seek(-len(chunk), os.SEEK_CUR)
                    block *= 2
                    continue
                f.seek(end - len(chunk), os.SEEK_CUR)  # the next block starts with the cut line
            done += end
            table, bad, lines = _parse_csv_block(chunk, end, header, columns, name, line, dictionary)
            yield Batch(table, bad, done)
            line += lines


def _padded(col: pa.ChunkedArray) -> bool:
    """Whether any value starts or ends with a space (as in ``101, 0.5``; a timestamp's own
    space is inside it); a dictionary column's dictionaries alone are looked at."""
    for chunk in col.chunks:
        values = chunk.dictionary if pa.types.is_dictionary(chunk.type) else chunk
        if pc.any(pc.or_(pc.starts_with(values, " "), pc.ends_with(values, " "))).as_py():
            return True
    return False


def _parse_csv_block(data: bytes, end: int, header: list[str], columns: Sequence[str], name: str,
                     first_line: int, dictionary: bool = False) -> tuple[pa.Table, list[RowError], int]:
    """Parse ``data[:end]`` (whole lines); values as dictionary arrays if ``dictionary`` and
    no value needs trimming. Bytes that need the slower steps: quotes (values spanning lines,
    quoted values to strip) and carriage returns (a lone one also ends a row)."""
    plain = data.find(b'"', 0, end) < 0 and data.find(b"\r", 0, end) < 0
    lines = None if plain else data.count(b"\n", 0, end) + (0 if data[end - 1:end] == b"\n" else 1)
    value_type = pa.dictionary(pa.int32(), pa.string()) if dictionary and plain else pa.string()
    for threads in (True, False):
        invalid: list[tuple[int | None, str, int]] = []

        def handler(row: pcsv.InvalidRow, invalid=invalid) -> str:
            invalid.append((row.number, row.text, row.actual_columns))
            return "skip"

        try:
            table = pcsv.read_csv(
                pa.BufferReader(pa.py_buffer(data).slice(0, end)),
                read_options=pcsv.ReadOptions(column_names=header, use_threads=threads,
                                              block_size=CSV_PARSE_BYTES),
                parse_options=pcsv.ParseOptions(invalid_row_handler=handler, ignore_empty_lines=False,
                                                newlines_in_values=False),
                convert_options=pcsv.ConvertOptions(column_types={c: value_type for c in header},
                                                    strings_can_be_null=False,
                                                    quoted_strings_can_be_null=False),
            )
        except (pa.ArrowInvalid, UnicodeDecodeError) as e:
            err = RowError(name, first_line, None, None, f"unreadable CSV near this line: {e}")
            raise ValidationError(f"{name}: unreadable CSV", [err], 1) from None
        if not invalid or all(n is not None for n, _, _ in invalid):
            break
    if lines is None:  # without quotes or carriage returns, every line is a row or an invalid row
        lines = table.num_rows + len(invalid)
    if table.num_rows + len(invalid) != lines:
        err = RowError(name, first_line, None, None,
                       "a quoted value spans lines; values must not contain line breaks")
        raise ValidationError(f"{name}: unreadable CSV", [err], 1)
    bad_lines = {first_line + n - 1 for n, _, _ in invalid}
    numbers = np.arange(first_line, first_line + lines, dtype=np.int64)
    if bad_lines:
        numbers = numbers[~np.isin(numbers, list(bad_lines))]
    bad = [RowError(name, first_line + n - 1, None, text[:200],
                    f"expected {len(header)} fields, found {found}")
           for n, text, found in invalid]
    # Values may be quoted, and padded as in `101, "0.0000"`: strip both.
    if not plain or any(_padded(table[c]) for c in columns):
        table = table.select(list(columns)).cast(pa.schema([(c, pa.string()) for c in columns]))
        table = pa.table({c: pc.utf8_trim(table[c], ' "') for c in columns})
    table = pa.table({ROW: pa.array(numbers), **{c: table[c] for c in columns}})
    return table, bad, lines


def _columnar_batches(path: Path, columns: Sequence[str], name: str, fmt: Format,
                      native: bool = False) -> Iterator[Batch]:
    try:
        if fmt == "parquet":
            pf = pq.ParquetFile(path)
            schema = pf.schema_arrow
            total = pf.metadata.num_rows
            _check_columns([f.lower() for f in schema.names], columns, name, None)
            batches = pf.iter_batches(batch_size=BATCH_ROWS, columns=_pick(schema.names, columns))
        else:
            batches, schema = _open_ipc(path)
            total = None
            _check_columns([f.lower() for f in schema.names], columns, name, None)
        _check_types(schema, name)
        row = 1
        size = path.stat().st_size
        seen = 0
        for batch in batches:
            table = pa.Table.from_batches([batch]).rename_columns([c.lower() for c in batch.schema.names])
            table = table.select(list(columns))
            table = pa.table({ROW: pa.array(np.arange(row, row + table.num_rows, dtype=np.int64)),
                              **{c: table[c] if native else as_text(table[c]) for c in columns}})
            row += table.num_rows
            seen += table.num_rows
            yield Batch(table, [], int(size * seen / total) if total else size)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, OSError) as e:
        err = RowError(name, None, None, None, f"unreadable {fmt} file: {e}")
        raise ValidationError(f"{name}: unreadable {fmt} file", [err], 1) from None


def _pick(names: Sequence[str], columns: Sequence[str]) -> list[str]:
    lower = {n.lower(): n for n in names}
    return [lower[c] for c in columns]


def _open_ipc(path: Path) -> tuple[Iterator[pa.RecordBatch], pa.Schema]:
    source = pa.memory_map(str(path))
    try:
        reader = ipc.open_file(source)
        return (reader.get_batch(i) for i in range(reader.num_record_batches)), reader.schema
    except pa.ArrowInvalid:
        source.seek(0)
        reader = ipc.open_stream(source)
        return iter(reader), reader.schema


def _check_types(schema: pa.Schema, name: str) -> None:
    for f in schema:
        if pa.types.is_timestamp(f.type) and f.type.tz is None:
            err = RowError(name, None, f.name, str(f.type),
                           "timestamp column has no time zone; instants need an offset or UTC")
            raise ValidationError(f"{name}: wrong column type", [err], 1)


def text_columns(table: pa.Table, columns: Sequence[str], name: str, fmt: Format) -> dict[str, pa.ChunkedArray]:
    """``as_text`` of each column of a ``native`` batch, failing as ``read_batches`` does
    when a value cannot be rendered (e.g. a sub-microsecond instant)."""
    try:
        return {c: as_text(table[c]) for c in columns}
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as e:
        err = RowError(name, None, None, None, f"unreadable {fmt} file: {e}")
        raise ValidationError(f"{name}: unreadable {fmt} file", [err], 1) from None


def as_text(col: pa.ChunkedArray) -> pa.ChunkedArray:
    """A column of a columnar delivery as the text the validators parse."""
    if pa.types.is_timestamp(col.type) and col.type.tz is not None:
        # Same text as casting the zoned type ("2018-06-27 04:39:36.057601Z"), but casting
        # a zoned timestamp to text looks the zone up per value: 15x slower.
        utc = pc.cast(pc.cast(col, pa.timestamp("us", tz="UTC")), pa.timestamp("us"))
        return pc.binary_join_element_wise(pc.cast(utc, pa.string()), "Z", "")
    if pa.types.is_timestamp(col.type):
        col = pc.cast(col, pa.timestamp("us", tz="UTC"))
    if pa.types.is_dictionary(col.type):
        col = pc.cast(col, col.type.value_type)
    return pc.cast(col, pa.string())


ProgressFn = Callable[[int, int], None]


def source_columns(path: Path, fmt: Format | None = None) -> list[str]:
    """The column names of a delivery, cleaned as ``read_batches`` cleans them, so a caller
    can decide which optional columns to ask for. Unreadable files give an empty list and
    ``read_batches`` then reports the problem."""
    fmt = fmt or detect_format(path)
    try:
        if fmt == "csv":
            with open(path, encoding="utf-8-sig", errors="replace") as f:
                return [_clean_header(c) for c in next(csv.reader([f.readline()]), [])]
        if fmt == "parquet":
            return [n.lower() for n in pq.read_schema(path).names]
        return [n.lower() for n in _open_ipc(path)[1].names]
    except (pa.ArrowInvalid, OSError):
        return []
