"""Raw reads in block files: writing the block file of a raw Parquet file, and reading the
rows of one ICP, or of a range of ICPs, back from the block files of a snapshot.

A raw row's ``code`` is its direction (0 I, 1 X), ``value`` its interval_read in Wh (the
decimal's unscaled integer) and ``seq`` the number of the ingest that delivered it. The
read_timestamp is not stored: it is the end of trading period ``period`` of the file's
read_date, which the writer checks row by row."""
from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from datalake.storage import blocks
from datalake import schema
from datalake.storage.layout import ingest_id, ingest_seq
from datalake.delivery.rawtypes import decimal_array
from datalake.trading import EPOCH, HALF_HOUR_US, midnight_us

DIRECTION_TEXT = pa.array(schema.DIRECTIONS)


def write_raw_blocks(parquet: Path, target: Path, read_date: dt.date) -> int:
    """Write the block file of the raw Parquet file ``parquet`` (of trading date
    ``read_date``) to ``target``; returns its size."""
    # The text columns of few values come back as dictionaries: codes without hashing.
    table = pq.read_table(parquet, read_dictionary=["energy_flow_direction", "ingest_id"])
    code, seq = _direction_codes(table), _seqs(table["ingest_id"])
    if table.num_rows and not _in_block_order(table, code, seq):
        order = pc.sort_indices(table, [(c, "ascending") for c in (
            "icp_id", "trading_period", "energy_flow_direction", "ingest_id")])
        table, code, seq = table.take(order), code[order.to_numpy()], seq[order.to_numpy()]
    period = table["trading_period"].to_numpy().astype(np.int8)
    stamps = table["read_timestamp"].cast(pa.int64()).to_numpy()
    expected = midnight_us((read_date - EPOCH).days) + period.astype(np.int64) * HALF_HOUR_US
    if not np.array_equal(stamps, expected):
        row = int(np.flatnonzero(stamps != expected)[0])
        raise ValueError(f"{parquet}: row {row} has read_timestamp {table['read_timestamp'][row]} outside "
                         f"trading period {period[row]} of {read_date}")
    return write_rows(target, table["icp_id"].combine_chunks(), period, code, _unscaled(table["interval_read"]),
                      seq, read_date)


def write_rows(target: Path, ids: pa.Array, period: np.ndarray, code: np.ndarray, value: np.ndarray,
               seq: np.ndarray, read_date: dt.date) -> int:
    """Write the block file of raw rows of ``read_date`` in block order (icp, period,
    direction, ingest) to ``target``; returns its size."""
    return blocks.write(target, ids, period, code, value, seq, {"kind": "raw", "read_date": read_date.isoformat()})


def _in_block_order(table: pa.Table, code: np.ndarray, seq: np.ndarray) -> bool:
    ids = table["icp_id"].combine_chunks()
    n = table.num_rows
    same = np.asarray(pc.equal(ids.slice(1), ids.slice(0, n - 1)))
    increasing = np.asarray(pc.greater(ids.slice(1), ids.slice(0, n - 1)))
    key = (table["trading_period"].to_numpy().astype(np.int64) << 40) | (code.astype(np.int64) << 32) | seq
    return bool(np.all(increasing | (same & (key[1:] >= key[:-1]))))


def _direction_codes(table: pa.Table) -> np.ndarray:
    """0 for I, 1 for X, from the column's dictionary."""
    column = table["energy_flow_direction"].combine_chunks()
    letters = np.array([d == "X" for d in column.dictionary.to_pylist()], dtype=np.int8)
    return letters[column.indices.to_numpy(zero_copy_only=False)] if len(letters) else np.zeros(0, np.int8)


def _unscaled(column: pa.ChunkedArray) -> np.ndarray:
    """A decimal128 column's unscaled values (each must fit 64 bits, as DECIMAL(18, 3) does)."""
    words = np.concatenate([np.frombuffer(c.buffers()[1], np.int64, 2 * len(c), 16 * c.offset)
                            for c in column.chunks] or [np.zeros(0, np.int64)]).reshape(-1, 2)
    low = words[:, 0]
    if not np.array_equal(words[:, 1], low >> 63):
        raise ValueError("a decimal value does not fit 64 bits")
    return low


def _seqs(column: pa.ChunkedArray) -> np.ndarray:
    """The ingest sequence number of each row of a dictionary column, each distinct id
    parsed once."""
    encoded = column.combine_chunks()
    numbers = np.array([ingest_seq(i) for i in encoded.dictionary.to_pylist()], dtype=np.int64)
    return numbers[encoded.indices.to_numpy(zero_copy_only=False)] if len(numbers) else np.zeros(0, np.int64)


@dataclass
class Rows:
    """Raw rows of one or more ICPs and dates: ``icp`` indexes ``icp_ids``, ``day`` counts
    days since the epoch; the rest are block columns (``seq`` may be left empty by a
    reader that needs no revisions)."""

    icp_ids: list[bytes]
    icp: np.ndarray
    day: np.ndarray
    period: np.ndarray
    code: np.ndarray
    value: np.ndarray
    seq: np.ndarray

    def take(self, index: np.ndarray | slice) -> Rows:
        return Rows(self.icp_ids, self.icp[index], self.day[index], self.period[index], self.code[index],
                    self.value[index], self.seq[index] if len(self.seq) else self.seq)

    @property
    def num_rows(self) -> int:
        return len(self.period)


def in_key_order(files: Sequence) -> bool:
    """Whether the rows of ``files`` (raw files, in date order), file after file, are in key
    order with each key once: one file a date, none holding more than one revision."""
    return len({f.read_date for f in files}) == len(files) and all(f.unique_keys for f in files)


def latest(rows: Rows, *, as_of: str | None, direction: str | None, ordered: bool) -> Rows:
    """The latest revision of each (icp, day, period, direction) key as of ingest ``as_of``
    (None: every ingest), in key order, optionally of one direction. ``ordered``: the rows
    are in key order already, each key once (one file a date, no revisions)."""
    keep = None
    if as_of is not None:
        keep = rows.seq <= ingest_seq(as_of)
    if direction is not None:
        wanted = rows.code == schema.DIRECTIONS.index(direction)
        keep = wanted if keep is None else keep & wanted
    if keep is not None and not keep.all():
        rows = rows.take(np.flatnonzero(keep))
    if ordered or rows.num_rows < 2:
        return rows
    order = np.lexsort((rows.seq, rows.code, rows.period, rows.day, rows.icp))
    rows = rows.take(order)
    last = np.ones(rows.num_rows, dtype=bool)
    last[:-1] = ((rows.icp[1:] != rows.icp[:-1]) | (rows.day[1:] != rows.day[:-1])
                 | (rows.period[1:] != rows.period[:-1]) | (rows.code[1:] != rows.code[:-1]))
    return rows if last.all() else rows.take(np.flatnonzero(last))


def icp_rows(paths: Sequence[tuple[dt.date, Path]], icp_id: str) -> Rows:
    """One ICP's rows in the block files ``paths`` (with the read_date of each), file by file."""
    pieces = []
    for day, path in paths:
        found = blocks.footers.get(path).rows_of(icp_id)
        if found is None:
            continue
        block, lo, hi = found
        pieces.append(((day - EPOCH).days, block.period[lo:hi], block.code[lo:hi], block.value(lo, hi),
                       block.seq(lo, hi)))
    n = sum(len(p[1]) for p in pieces)
    if not pieces:
        return Rows([icp_id.encode()], *(np.zeros(0, t) for t in (np.int32, np.int32, np.int8, np.int8,
                                                                    np.int64, np.int64)))
    return Rows([icp_id.encode()], np.zeros(n, np.int32),
                np.concatenate([np.full(len(p[1]), p[0], np.int32) for p in pieces]),
                *(np.concatenate([p[k] for p in pieces]) for k in range(1, 5)))


def timestamps(rows: Rows) -> pa.Array:
    """The read_timestamp of each row: the end of its trading period."""
    if rows.num_rows == 0:
        return pa.array([], schema.TIMESTAMP)
    first, last = int(rows.day.min()), int(rows.day.max())
    midnights = np.array([midnight_us(d) for d in range(first, last + 1)], dtype=np.int64)
    at = np.multiply(rows.period, HALF_HOUR_US, dtype=np.int64)
    at += midnights.take(rows.day - first) if last > first else midnights[0]
    return pa.Array.from_buffers(schema.TIMESTAMP, len(at), [None, pa.py_buffer(at)])


def reads_columns(rows: Rows) -> dict[str, pa.Array]:
    """The columns every raw read answer has, but icp_id and energy_flow_direction."""
    n = rows.num_rows
    return {
        "read_timestamp": timestamps(rows),
        "read_date": pa.Array.from_buffers(pa.date32(), n, [None, pa.py_buffer(rows.day.astype(np.int32,
                                                                                                   copy=False))]),
        "trading_period": pa.Array.from_buffers(pa.int16(), n, [None, pa.py_buffer(rows.period.astype(np.int16))]),
        "interval_read": decimal_array(rows.value, schema.READ_DECIMAL),
    }


def directions(rows: Rows) -> pa.Array:
    """The directions as text: one letter a row, I (73) or X (88)."""
    letters = rows.code.view(np.uint8) * np.uint8(ord("X") - ord("I"))
    letters += np.uint8(ord("I"))
    return pa.Array.from_buffers(pa.string(), rows.num_rows, [None, _steps(rows.num_rows + 1), pa.py_buffer(letters)])


def icp_ids(rows: Rows) -> pa.Array:
    """The icp_id of each row as text (ids of one length are copied as fixed-width bytes)."""
    lengths = {len(i) for i in rows.icp_ids}
    if rows.num_rows and len(lengths) == 1 and rows.num_rows * next(iter(lengths)) < 2**31:
        width = lengths.pop()
        table = np.frombuffer(b"".join(rows.icp_ids), np.uint8).reshape(-1, width)
        data = table.take(rows.icp, axis=0)
        return pa.Array.from_buffers(pa.string(), rows.num_rows, [None, _steps(rows.num_rows + 1, width),
                                                                  pa.py_buffer(data)])
    names = pa.array([i.decode() for i in rows.icp_ids], pa.string())
    return names.take(pa.array(rows.icp, pa.int32()))


_STEPS: dict[int, np.ndarray] = {}


def _steps(n: int, step: int = 1) -> pa.Buffer:
    """The int32 values 0, step, 2 step, ... (n of them): the offsets of text of one width,
    sliced from one read-only array per step that grows to the next power of two."""
    have = _STEPS.get(step)
    if have is None or len(have) < n:
        size = 1 << (n - 1).bit_length()
        have = np.arange(0, (size if size * step < 2**31 else n) * step, step, dtype=np.int32)
        have.flags.writeable = False
        _STEPS[step] = have
    return pa.py_buffer(have[:n])


def ingest_ids(rows: Rows) -> pa.Array:
    """The id of the ingest that delivered each row, formatting each distinct id once."""
    distinct, codes = np.unique(rows.seq, return_inverse=True)
    return pa.DictionaryArray.from_arrays(pa.array(codes.astype(np.int32)),
                                          pa.array([ingest_id(int(s)) for s in distinct])).cast(pa.string())
