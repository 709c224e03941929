"""Block files: the lookup structure written with each data file, in the same commit.

A block file holds the rows of one data file (one trading date) grouped by ICP, as blocks
of about ``BLOCK_ROWS`` rows that each hold whole ICPs, compressed on their own, and a
footer that gives the first ICP of every block. One ICP's rows of a date are one read of
one block; a bulk read decodes the blocks in order. The file is a second form of the
Parquet it stands beside, never a source of truth: ``check`` compares the two.

Layout (little-endian)::

    block 0 | block 1 | ... | footer | u64 footer offset | u32 footer length | b"MLB1"

A footer is an Arrow IPC stream of one table (``FOOTER_SCHEMA``, one row a block) whose
schema metadata ``meterlake`` holds the file's JSON facts (kind, read_date, rows). A block
is one zstd frame of::

    u32 icps | u32 rows | u32 n | n bytes: the ICP ids, in order, joined by "\\n"
    | u16 rows_of_icp[icps] | i8 period[rows] | i8 code[rows]
    | value: i64 base, u8 width, width byte planes of (value - base)
    | seq:   i64 base, u8 width, width byte planes of (seq - base)

Rows of an ICP are in (period, code, seq) order. ``code`` is the direction (0 I, 1 X) of a
raw read or the side (0 buyer, 1 seller) of an output row; ``value`` is the read or amount
as an integer at the column's scale; ``seq`` is the ingest sequence number of a raw row (0
for output). A byte plane holds byte k of every value, so the planes of high bytes, nearly
all zero, compress to almost nothing."""
from __future__ import annotations

import bisect
import functools
import json
import os
import struct
import threading
import weakref
from collections import OrderedDict
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.ipc as ipc

from datalake.storage.location import is_local
from datalake.storage.files import fsync_file

MAGIC = b"MLB1"
TRAILER = struct.Struct("<QI4s")
BLOCK_ROWS = 8192
LEVEL = 6
FOOTER_SCHEMA = pa.schema([
    pa.field("first_icp", pa.string()),
    pa.field("offset", pa.int64()),
    pa.field("length", pa.int32()),
    pa.field("raw_length", pa.int32()),
    pa.field("icps", pa.int32()),
    pa.field("rows", pa.int32()),
])
_CODEC = pa.Codec("zstd", compression_level=LEVEL)
_DECODER = pa.Codec("zstd")


class BlockFileError(Exception):
    """A block file that is missing, truncated or does not match its format."""


def write(path: Path, ids: pa.Array, period: np.ndarray, code: np.ndarray, value: np.ndarray,
          seq: np.ndarray, facts: dict, *, block_rows: int = BLOCK_ROWS) -> int:
    """Write the block file of rows sorted by (icp, period, code, seq) to ``path`` (local);
    ``ids`` is the ICP of each row. Returns the file's size."""
    n = len(period)
    if not (len(ids) == len(code) == len(value) == len(seq) == n):
        raise ValueError("block file columns differ in length")
    ids = ids.cast(pa.string())
    starts = _run_starts(ids)
    icp_ids = ids.take(pa.array(starts))
    row_offsets = np.append(starts, n).astype(np.int64)
    # Whole ICPs a block, a new block once the rows before an ICP pass a multiple of block_rows.
    block_of = row_offsets[:-1] // block_rows
    edges = np.flatnonzero(np.diff(block_of, prepend=-1))
    edges = np.append(edges, len(starts))
    footer = {name: [] for name in FOOTER_SCHEMA.names}
    offset = 0
    with open(path, "wb") as f:
        for a, b in zip(edges[:-1], edges[1:]):
            lo, hi = int(row_offsets[a]), int(row_offsets[b])
            raw = _block_bytes(icp_ids.slice(a, b - a), np.diff(row_offsets[a:b + 1]),
                               period[lo:hi], code[lo:hi], value[lo:hi], seq[lo:hi])
            packed = _CODEC.compress(raw, asbytes=True)
            f.write(packed)
            for name, v in zip(FOOTER_SCHEMA.names,
                               (icp_ids[int(a)].as_py(), offset, len(packed), len(raw), int(b - a), hi - lo)):
                footer[name].append(v)
            offset += len(packed)
        table = pa.table(footer, schema=FOOTER_SCHEMA.with_metadata(
            {"meterlake": json.dumps({**facts, "rows": n, "format": 1})}))
        sink = pa.BufferOutputStream()
        with ipc.new_stream(sink, table.schema) as writer:
            writer.write_table(table)
        body = sink.getvalue().to_pybytes()
        f.write(body)
        f.write(TRAILER.pack(offset, len(body), MAGIC))
    fsync_file(path)
    return offset + len(body) + TRAILER.size


def _run_starts(ids: pa.Array) -> np.ndarray:
    """The first row of each run of equal ids."""
    n = len(ids)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    change = np.asarray(pa.compute.not_equal(ids.slice(1), ids.slice(0, n - 1)))
    return np.concatenate([[0], np.flatnonzero(change) + 1]).astype(np.int64)


def _planes(values: np.ndarray) -> bytes:
    base = int(values.min()) if len(values) else 0
    spread = (values.astype(np.int64) - base).astype(np.uint64)
    top = int(spread.max()) if len(spread) else 0
    width = (top.bit_length() + 7) // 8
    head = struct.pack("<qB", base, width)
    if width == 0:
        return head
    return head + spread.view(np.uint8).reshape(-1, 8)[:, :width].T.tobytes()


def _block_bytes(icp_ids: pa.Array, counts: np.ndarray, period, code, value, seq) -> bytes:
    names = b"\n".join(i.encode() for i in icp_ids.to_pylist())
    return b"".join([
        struct.pack("<III", len(icp_ids), len(period), len(names)), names,
        counts.astype("<u2").tobytes(),
        np.asarray(period, np.int8).tobytes(), np.asarray(code, np.int8).tobytes(),
        _planes(np.asarray(value)), _planes(np.asarray(seq)),
    ])


class Block:
    """A decompressed block. ICP ids are found by binary search over their bytes (ids are
    letters and digits, so byte order is DuckDB's text order); the columns are decoded only
    for the rows asked for, and the value and seq planes located only when first read."""

    def __init__(self, raw: bytes) -> None:
        self.raw = raw
        icps, rows, names = struct.unpack_from("<III", raw)
        at = 12
        self.ids: list[bytes] = raw[at:at + names].split(b"\n") if icps else []
        at += names
        self.counts = np.frombuffer(raw, "<u2", icps, at)  # rows of each ICP
        at += 2 * icps
        self.rows = rows
        self.period = np.frombuffer(raw, np.int8, rows, at)
        self.code = np.frombuffer(raw, np.int8, rows, at + rows)
        self._planes_at = at + 2 * rows
        if len(self.ids) != icps or len(raw) < self._planes_at:
            raise BlockFileError("block does not match its header")

    @functools.cached_property
    def row_offsets(self) -> np.ndarray:
        offsets = np.concatenate([[0], np.cumsum(self.counts, dtype=np.int64)])
        if int(offsets[-1]) != self.rows:
            raise BlockFileError("block does not match its header")
        return offsets

    @functools.cached_property
    def _value(self) -> tuple[int, int, int]:
        return self._plane_at(self._planes_at)

    @functools.cached_property
    def _seq(self) -> tuple[int, int, int]:
        return self._plane_at(self._value[2] + self._value[1] * self.rows)

    def _plane_at(self, at: int) -> tuple[int, int, int]:
        base, width = struct.unpack_from("<qB", self.raw, at)
        return base, width, at + 9

    def _decode(self, plane: tuple[int, int, int], lo: int, hi: int) -> np.ndarray:
        base, width, at = plane
        if width == 0:
            return np.full(hi - lo, base, dtype=np.int64)
        planes = np.frombuffer(self.raw, np.uint8, width * self.rows, at).reshape(width, self.rows)[:, lo:hi]
        out = planes[0].astype(np.int64)
        for k in range(1, width):
            out |= planes[k].astype(np.int64) << (8 * k)
        out += base
        return out

    def value(self, lo: int = 0, hi: int | None = None) -> np.ndarray:
        return self._decode(self._value, lo, self.rows if hi is None else hi)

    def seq(self, lo: int = 0, hi: int | None = None) -> np.ndarray:
        return self._decode(self._seq, lo, self.rows if hi is None else hi)

    def rows_of(self, icp_id: str) -> tuple[int, int] | None:
        key = icp_id.encode()
        i = bisect.bisect_left(self.ids, key)
        if i == len(self.ids) or self.ids[i] != key:
            return None
        lo = int(self.counts[:i].sum())  # one sum, not every ICP's offset (a third of this call)
        hi = lo + int(self.counts[i])
        if hi > self.rows:
            raise BlockFileError("block does not match its header")
        return lo, hi


class BlockFile:
    """An opened block file: its footer, read once; blocks are read on demand (one range
    read each, on a local disk or an object store)."""

    def __init__(self, path, footer: pa.Table) -> None:
        self.path = path
        self._fd = os.open(path, os.O_RDONLY) if is_local(path) else None
        if self._fd is not None:
            weakref.finalize(self, os.close, self._fd)
        self.facts = json.loads(footer.schema.metadata[b"meterlake"])
        self.firsts: list[str] = footer.column("first_icp").to_pylist()
        self.offsets = footer.column("offset").to_numpy()
        self.lengths = footer.column("length").to_numpy()
        self.raw_lengths = footer.column("raw_length").to_numpy()
        self.rows = footer.column("rows").to_numpy()

    @classmethod
    def open(cls, path) -> BlockFile:
        size = _size(path)
        if size < TRAILER.size:
            raise BlockFileError(f"{path}: too short for a block file")
        tail = _read_range(path, max(0, size - 65536), size)
        offset, length, magic = TRAILER.unpack(tail[-TRAILER.size:])
        if magic != MAGIC or offset + length + TRAILER.size != size:
            raise BlockFileError(f"{path}: not a block file")
        start = size - TRAILER.size - length
        body = tail[start - (size - len(tail)):-TRAILER.size] if start >= size - len(tail) \
            else _read_range(path, start, size - TRAILER.size)
        return cls(path, ipc.open_stream(pa.py_buffer(body)).read_all())

    def block_for(self, icp_id: str) -> int | None:
        i = bisect.bisect_right(self.firsts, icp_id) - 1
        return i if i >= 0 else None

    def read_block(self, i: int) -> Block:
        lo = int(self.offsets[i])
        size = int(self.lengths[i])
        packed = os.pread(self._fd, size, lo) if self._fd is not None else _read_range(self.path, lo, lo + size)
        if len(packed) != size:
            raise BlockFileError(f"{self.path}: block {i} ends early")
        return Block(_DECODER.decompress(packed, decompressed_size=int(self.raw_lengths[i]), asbytes=True))

    def rows_of(self, icp_id: str) -> tuple[Block, int, int] | None:
        """The block holding ``icp_id`` and its rows [lo, hi) there; None if it has none."""
        i = self.block_for(icp_id)
        if i is None:
            return None
        block = self.read_block(i)
        found = block.rows_of(icp_id)
        return None if found is None else (block, *found)


def _size(path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        raise BlockFileError(f"{path}: missing") from None


def _read_range(path, start: int, stop: int) -> bytes:
    if is_local(path):
        with open(path, "rb") as f:
            f.seek(start)
            return f.read(stop - start)
    return path.fs.cat_file(path.path, start=start, end=stop)


class FooterCache:
    """Opened block files, the most recently used ``size`` of them (a service's memory stays
    bounded however long the history). Files never change once committed, so an entry is
    never stale. Thread-safe."""

    def __init__(self, size: int = 1024) -> None:
        self.size = size
        self._files: OrderedDict[str, BlockFile] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, path) -> BlockFile:
        key = str(path)
        with self._lock:
            found = self._files.get(key)
            if found is not None:
                self._files.move_to_end(key)
                return found
        opened = BlockFile.open(path)
        with self._lock:
            self._files[key] = opened
            while len(self._files) > self.size:
                self._files.popitem(last=False)
        return opened

    def forget(self, path) -> None:
        with self._lock:
            self._files.pop(str(path), None)


footers = FooterCache()
