"""The JSON of a table's rows, built column by column with Arrow and numpy (no Python object per value)."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any, Union

import msgspec
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from . import text

# What a row's JSON is made of: text the same in every row, a string array with one value
# per row, or an n x width byte matrix (a fixed-width piece, a row of bytes per row).
Piece = Union[str, pa.Array, np.ndarray]

_ESCAPES = {c: msgspec.json.encode(chr(c))[1:-1].decode() for c in [*range(0x20), 0x22, 0x5C]}


def json_body(table: pa.Table, envelope: Callable[[Any], Any]) -> bytes:
    """The JSON document ``envelope(rows)`` where ``rows`` is the JSON array of ``table``'s
    rows; msgspec encodes the envelope around it."""
    return msgspec.json.encode(envelope(msgspec.Raw(json_array(table))))


def json_array(table: pa.Table) -> bytes:
    """``table``'s rows as a JSON array of objects, a key per column in column order:
    strings escaped as JSON escapes them, integers and floats as numbers (NaN and infinities
    as null), booleans, decimals, dates and instants as ``text`` renders them (quoted), lists
    as arrays, nulls as null."""
    if not table.num_rows:
        return b"[]"
    pieces: list[Piece] = []
    for i, name in enumerate(table.column_names):
        key = msgspec.json.encode(name).decode()
        pieces += ["{" if i == 0 else ",", key, ":", *_value(table.column(i).combine_chunks())]
    rows = _join([*pieces, "},"], table.num_rows)
    start, stop = _text_range(rows)
    return b"".join((b"[", memoryview(rows.buffers()[2])[start:stop - 1], b"]"))


def _value(col: pa.Array) -> list[Piece]:
    """The pieces of one column's JSON values."""
    t = col.type
    if pa.types.is_dictionary(t):
        return _value(col.dictionary_decode())
    if pa.types.is_null(t):
        return ["null"]
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return _quoted(_escaped(col.cast(pa.string())))
    if pa.types.is_timestamp(t):
        return _quoted(text.instant_rows(col) if not col.null_count else text.instants(col))
    if pa.types.is_date(t):
        return _quoted(text.date_rows(col) if not col.null_count else text.dates(col))
    if pa.types.is_decimal(t):
        return _quoted(text.decimals(col))
    if pa.types.is_integer(t):
        return [_nulls(pc.cast(col, pa.string()))]
    if pa.types.is_boolean(t):
        return [_nulls(pc.if_else(col, "true", "false"))]
    if pa.types.is_floating(t):
        return [_floats(col)]
    if pa.types.is_list(t) or pa.types.is_large_list(t):
        return [_list(col)]
    raise TypeError(f"no JSON rendering for a column of {t}")


def _nulls(col: pa.Array) -> pa.Array:
    return col.fill_null("null") if col.null_count else col


def _quoted(col: pa.Array | np.ndarray) -> list[Piece]:
    """Text in quotes: around the column when it has no nulls (the quotes join the text
    around it), each value's own otherwise."""
    if isinstance(col, np.ndarray) or not col.null_count:
        return ['"', col, '"']
    return [_nulls(pc.binary_join_element_wise('"', col, '"', ""))]


def _escaped(col: pa.Array) -> pa.Array:
    """Strings with quotes, backslashes and control characters escaped as msgspec escapes them."""
    start, stop = _text_range(col)
    data = np.frombuffer(col.buffers()[2], np.uint8, stop - start, start) if stop > start else np.zeros(0, np.uint8)
    found = data[(data < 0x20) | (data == 0x22) | (data == 0x5C)]
    for c in sorted(set(found.tolist()), key=lambda c: c != 0x5C):  # backslashes first
        col = pc.replace_substring(col, chr(c), _ESCAPES[c])
    return col


def _floats(col: pa.Array) -> pa.Array:
    """msgspec's text of each float (nulls and NaN as null): the column encoded as one JSON
    array, cut at its commas."""
    values = col.cast(pa.float64()).to_numpy(zero_copy_only=False)  # nulls as NaN
    if not len(values):
        return pa.array([], pa.string())
    body = np.frombuffer(msgspec.json.encode(values.tolist()), np.uint8)[1:-1]
    commas = body == ord(",")
    starts = np.concatenate([[0], np.flatnonzero(commas) + 1]) - np.arange(len(values))
    offsets = np.append(starts, len(body) - len(values) + 1).astype(np.int32)
    return pa.Array.from_buffers(pa.string(), len(values), [None, pa.py_buffer(offsets), pa.py_buffer(body[~commas])])


def _list(col: pa.Array) -> pa.Array:
    """Each list's values in brackets, as their own column's JSON values."""
    values = col.values
    items = _join(_value(values), len(values)) if len(values) else pa.array([], pa.string())
    kind = pa.LargeListArray if pa.types.is_large_list(col.type) else pa.ListArray
    lists = kind.from_arrays(col.offsets, items, mask=col.is_null() if col.null_count else None)
    return _nulls(pc.binary_join_element_wise("[", pc.binary_join(lists, ","), "]", ""))


def _join(pieces: list[Piece], n: int) -> pa.Array:
    """The ``n`` rows' text of ``pieces`` (none with nulls) as one string array. Runs of
    fixed-width pieces (constants, instants, dates, strings of one length) are laid side by
    side in one byte matrix; the rest is joined by Arrow."""
    parts: list[Piece] = []
    run: list[str | np.ndarray] = []
    for piece in [*pieces, None]:
        fixed = _fixed(piece) if isinstance(piece, pa.Array) else piece
        if isinstance(fixed, (str, np.ndarray)):
            run.append(fixed)
            continue
        if run:
            fixed_width = any(isinstance(p, np.ndarray) for p in run)
            parts.append(_matrix(run, n) if fixed_width else "".join(run))  # type: ignore[arg-type]
            run = []
        if piece is not None:
            parts.append(piece)
    if len(parts) == 1 and not isinstance(parts[0], pa.Array):
        parts = [_matrix([parts[0]], n)]  # type: ignore[list-item]
    if len(parts) == 1:
        return parts[0]  # type: ignore[return-value]
    return pc.binary_join_element_wise(*parts, "")


def _fixed(col: pa.Array) -> np.ndarray | None:
    """A string array's values as an n x width byte matrix, if they all have one width."""
    if col.null_count or not pa.types.is_string(col.type):
        return None
    offsets = np.frombuffer(col.buffers()[1], np.int32, len(col) + 1, col.offset * 4)
    width = int(offsets[1] - offsets[0])
    if offsets[-1] - offsets[0] != width * len(col) or (np.diff(offsets) != width).any():
        return None
    if not width:
        return np.zeros((len(col), 0), np.uint8)
    data = np.frombuffer(col.buffers()[2], np.uint8, width * len(col), int(offsets[0]))
    return data.reshape(len(col), width)


def _matrix(run: list[str | np.ndarray], n: int) -> pa.Array:
    """Constants and byte matrices side by side, as a string array of ``n`` rows."""
    widths = [len(p.encode()) if isinstance(p, str) else p.shape[1] for p in run]
    template = "".join(p if isinstance(p, str) else "\0" * w for p, w in zip(run, widths))
    out = np.empty((n, sum(widths)), np.uint8)
    out[:] = np.frombuffer(template.encode(), np.uint8)  # the constants, with room for the rest
    at = 0
    for block, width in zip(run, widths):
        if not isinstance(block, str):
            out[:, at:at + width] = block
        at += width
    return text.rows_as_strings(out)


def _text_range(col: pa.Array) -> tuple[int, int]:
    """Where a string array's values lie in its data buffer."""
    offsets = np.frombuffer(col.buffers()[1], np.int32, len(col) + 1, col.offset * 4)
    return int(offsets[0]), int(offsets[-1])
