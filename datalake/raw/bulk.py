"""Bulk raw reads for the matching algorithm: every ICP of a date range as a stream of Arrow
record batches, ordered by icp_id then time, optionally one shard of n.

The stream is read from the block files of the snapshot's raw files, a range of ICPs at a
time (about ``chunk_rows`` rows): the blocks of every date file that hold those ICPs are
decoded and their rows put in (icp_id, time) order. Two threads make the next ranges while
one is sent, so at most three ranges are in memory at once."""
from __future__ import annotations

import bisect
import datetime as dt
import hashlib
import re
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from datalake.storage import blocks
from datalake.raw import blocks as rawblocks
from datalake import schema
from datalake.raw.asof import resolve_as_of
from datalake.raw.bulkattributes import RangeAttributes
from datalake.errors import InvalidArgumentError
from datalake.lake import Lake, RawFile, check_range, parse_date
from datalake.prefetch import mapped
from datalake.shared import SharedResults
from datalake.raw.reads import check_direction
from datalake.trading import EPOCH

MAX_SHARDS = 4096
CHUNK_ROWS = 1_048_576
BATCH_ROWS = 131_072
SHARD_RE = re.compile(r"^([0-9]{1,4})/([0-9]{1,4})$")

BULK_READS_SCHEMA = pa.schema([
    pa.field("icp_id", pa.string()),
    pa.field("read_timestamp", schema.TIMESTAMP),
    pa.field("read_date", pa.date32()),
    pa.field("trading_period", pa.int16()),
    pa.field("interval_read", schema.READ_DECIMAL),
    pa.field("energy_flow_direction", pa.string()),
])
# The same with icp_id and energy_flow_direction as dictionaries (``dictionary=True``).
BULK_READS_DICTIONARY_SCHEMA = pa.schema([
    pa.field("icp_id", pa.dictionary(pa.int32(), pa.string())),
    *list(BULK_READS_SCHEMA)[1:-1],
    pa.field("energy_flow_direction", pa.dictionary(pa.int8(), pa.string())),
])


@dataclass(frozen=True)
class Shard:
    """Shard ``k`` of ``n`` (0 <= k < n): the ICPs with ``shard_of(icp_id, n) == k``."""

    k: int
    n: int

    def __str__(self) -> str:
        return f"{self.k}/{self.n}"


ALL = Shard(0, 1)


def parse_shard(value: str | Shard | None) -> Shard:
    """``"k/n"`` -> ``Shard(k, n)``; ``None`` means every ICP."""
    if value is None:
        return ALL
    if isinstance(value, Shard):
        shard = value
    else:
        m = SHARD_RE.match(value) if isinstance(value, str) else None
        if not m:
            raise InvalidArgumentError(f"shard must be k/n (e.g. 0/4), got {value!r}", field="shard", value=value)
        shard = Shard(int(m[1]), int(m[2]))
    if not (1 <= shard.n <= MAX_SHARDS and 0 <= shard.k < shard.n):
        raise InvalidArgumentError(f"shard k/n needs 0 <= k < n <= {MAX_SHARDS}, got {shard}",
                                   field="shard", value=str(shard))
    return shard


def shard_of(icp_id: str, n: int) -> int:
    """The shard of ``icp_id`` among ``n``: the first 8 hex digits of its md5, mod ``n``."""
    return _hash(icp_id.encode()) % n


def _hash(icp_id: bytes) -> int:
    return int.from_bytes(hashlib.md5(icp_id).digest()[:4], "big")


@dataclass
class BulkReads:
    """An open bulk read: ``as_of`` names the raw snapshot it reads (None for an empty
    lake), ``batches`` yields the rows. Iterate ``batches`` once, or call ``close``."""

    as_of: str | None
    batches: Iterator[pa.RecordBatch]
    schema: pa.Schema = BULK_READS_SCHEMA

    def reader(self) -> pa.RecordBatchReader:
        return pa.RecordBatchReader.from_batches(self.schema, self.batches)

    def close(self) -> None:
        close = getattr(self.batches, "close", None)
        if close:
            close()


def read_bulk(lake: Lake, start: dt.date | str, end: dt.date | str, *, direction: str | None = None,
              as_of: str | None = None, shard: Shard | str | None = None, chunk_rows: int = CHUNK_ROWS,
              batch_rows: int = BATCH_ROWS, dictionary: bool = False, attributes: bool = False) -> BulkReads:
    """Raw reads of every ICP (or one shard of them) for trading dates ``start``..``end``,
    latest revision of each key as of ``as_of`` (default: the newest; an ingest id or an
    RFC 3339 time, see ``asof.resolve_as_of``). Arguments are
    checked and the files' footers read now; rows are read as ``batches`` is iterated.
    ``dictionary`` gives icp_id and energy_flow_direction as dictionary arrays
    (``BULK_READS_DICTIONARY_SCHEMA``): each batch's icp_id dictionary holds the ICPs of
    its range of the stream, which no other range repeats. ``attributes`` (``fields=all``)
    adds each read's ingest_id and the attributes its delivery gave it, after the other
    columns (``bulkattributes.ATTRIBUTE_FIELDS``; the same values as one ICP's reads)."""
    check_direction(direction)
    start, end = parse_date(start, "start"), parse_date(end, "end")
    check_range(start, end)
    shard = parse_shard(shard)
    as_of = resolve_as_of(lake, as_of)
    files = sorted(lake.raw_files(start, end, as_of), key=lambda f: (f.read_date, f.ingest_id))
    opened = [(f, blocks.footers.get(f.blocks)) for f in files]
    target = BULK_READS_DICTIONARY_SCHEMA if dictionary else BULK_READS_SCHEMA
    added = RangeAttributes(lake, start, end, target) if attributes else None
    batches = _stream(opened, _ranges(opened, chunk_rows), as_of=as_of, direction=direction, shard=shard,
                      batch_rows=batch_rows, dictionary=dictionary, attributes=added)
    return BulkReads(as_of or lake.head_ingest(), batches, added.schema if added else target)


def _ranges(opened: list[tuple[RawFile, blocks.BlockFile]], chunk_rows: int) -> list[tuple[bytes | None, bytes | None]]:
    """ICP ranges [lo, hi) of about ``chunk_rows`` rows over every file (None: unbounded),
    cut at block starts of the file with the most blocks."""
    if not opened:
        return []
    widest = max((bf for _, bf in opened), key=lambda bf: len(bf.firsts))
    step = max(1, chunk_rows // (blocks.BLOCK_ROWS * len(opened)))
    cuts = [first.encode() for first in widest.firsts[step::step]]
    return list(zip([None, *cuts], [*cuts, None]))


def _stream(opened: list[tuple[RawFile, blocks.BlockFile]], ranges: list, *, as_of: str | None,
            direction: str | None, shard: Shard, batch_rows: int, dictionary: bool,
            attributes: RangeAttributes | None) -> Iterator[pa.RecordBatch]:
    """The batches of every range of ICPs that has rows, in order. Ranges are made by two
    threads ahead of the one sending them (at most three ranges in memory). A range is made
    once, its ICPs grouped by shard, for the streams that read the window's shards at the
    same time; each takes its own slice."""
    ordered = rawblocks.in_key_order([f for f, _ in opened])
    # ingest numbers are needed only for revisions, as_of and the attributes
    seqs = not ordered or as_of is not None or attributes is not None
    readers = [_FileRange(f, bf) for f, bf in opened]
    window = tuple(str(f.blocks) for f, _ in opened)

    def merged(lo: bytes | None, hi: bytes | None) -> _Range:
        pieces = [p for p in (r.rows(lo, hi, seqs=seqs) for r in readers) if p[0]]
        ids = set().union(*(p[0] for p in pieces))
        if shard.n == 1:
            union, shards = sorted(ids), np.zeros(len(ids), np.int64)
        else:
            keyed = sorted((_hash(i) % shard.n, i) for i in ids)
            union, shards = [i for _, i in keyed], np.array([k for k, _ in keyed], np.int64)
        rows = _merge(pieces, union, seqs=seqs)
        first = np.searchsorted(shards, np.arange(shard.n + 1))  # each shard's first ICP
        return _Range(rawblocks.latest(rows, as_of=as_of, direction=direction, ordered=ordered), first)

    def batch(bounds: tuple[bytes | None, bytes | None]) -> pa.RecordBatch | None:
        lo, hi = bounds
        rows = _made.get((window, lo, hi, as_of, direction, seqs, shard.n), lambda: merged(lo, hi)).of(shard.k)
        if rows.num_rows == 0:
            return None
        made = _batch(rows, dictionary)
        return made if attributes is None else attributes.add(made, rows, lo, hi)

    for made in mapped(batch, ranges):
        for at in range(0, made.num_rows if made is not None else 0, batch_rows):
            yield made.slice(at, batch_rows)


@dataclass
class _Range:
    """The rows of every ICP of one range of the stream, the ICPs in (shard, icp_id) order
    and ``first[k]`` the first ICP of shard k (``first[n]``: their number)."""

    rows: rawblocks.Rows
    first: np.ndarray

    def of(self, k: int) -> rawblocks.Rows:
        """The rows of the ICPs of shard ``k``, and only their ids (views, not copies)."""
        a, b = int(self.first[k]), int(self.first[k + 1])
        r = self.rows
        lo, hi = np.searchsorted(r.icp, np.array([a, b], r.icp.dtype)).tolist()  # no cast of r.icp
        return rawblocks.Rows(r.icp_ids[a:b], r.icp[lo:hi] - a if a else r.icp[lo:hi], r.day[lo:hi],
                              r.period[lo:hi], r.code[lo:hi], r.value[lo:hi], r.seq[lo:hi] if len(r.seq) else r.seq)

    def nbytes(self) -> int:
        r = self.rows
        return sum(a.nbytes for a in (r.icp, r.day, r.period, r.code, r.value, r.seq)) + 64 * len(r.icp_ids)


# The most recently made ranges (128 MB of them), for the shards of a window read at the
# same time; a key names the block files read, whose paths are never reused (one commit's
# id and token each), so an entry is never stale.
_made: SharedResults[_Range] = SharedResults(_Range.nbytes, capacity=128 << 20)


class _FileRange:
    """The rows of one file's blocks for a range of ICPs, the ranges asked about in order
    (the block at the edge of two ranges is decoded once, when they are made one after the
    other)."""

    def __init__(self, file: RawFile, opened: blocks.BlockFile) -> None:
        self.day = (file.read_date - EPOCH).days
        self.file = opened
        self._last: tuple[int, blocks.Block] | None = None

    def _block(self, i: int) -> blocks.Block:
        last = self._last  # read once: ranges are made by more than one thread
        if last is None or last[0] != i:
            last = self._last = (i, self.file.read_block(i))
        return last[1]

    def rows(self, lo: bytes | None, hi: bytes | None, *, seqs: bool) -> tuple[list[bytes], np.ndarray, int, tuple]:
        """(ICP ids, rows of each, day, (period, code, value[, seq])) of the ICPs in [lo, hi)."""
        firsts = self.file.firsts
        first = 0 if lo is None else max(0, bisect.bisect_right(firsts, lo.decode()) - 1)
        last = len(firsts) - 1 if hi is None else bisect.bisect_left(firsts, hi.decode()) - 1
        ids: list[bytes] = []
        counts, columns = [], []
        for i in range(first, last + 1):
            block = self._block(i)
            a = 0 if lo is None else bisect.bisect_left(block.ids, lo)
            b = len(block.ids) if hi is None else bisect.bisect_left(block.ids, hi)
            if b <= a:
                continue
            r0, r1 = int(block.row_offsets[a]), int(block.row_offsets[b])
            ids += block.ids[a:b]
            counts.append(np.diff(block.row_offsets[a:b + 1]))
            columns.append((block.period[r0:r1], block.code[r0:r1], block.value(r0, r1),
                            *([block.seq(r0, r1)] if seqs else [])))
        if not columns:
            return [], np.zeros(0, np.int64), self.day, ()
        return ids, np.concatenate(counts), self.day, tuple(np.concatenate(c) for c in zip(*columns))


def _merge(pieces: list[tuple[list[bytes], np.ndarray, int, tuple]], union: list[bytes], *,
           seqs: bool) -> rawblocks.Rows:
    """The rows of every file's piece in (ICP, file) order, the ICPs in the order of
    ``union`` (which holds every ICP of the pieces): each file's rows are written straight
    to their places. ``seqs``: keep the ingest sequence numbers too (for revisions and
    ``as_of``)."""
    position = {icp: n for n, icp in enumerate(union)}
    files = [(np.fromiter(map(position.__getitem__, ids), np.int32, len(ids)), counts, day, columns)
             for ids, counts, day, columns in pieces]
    icp = np.concatenate([f[0] for f in files] or [np.zeros(0, np.int32)])
    count = np.concatenate([f[1] for f in files] or [np.zeros(0, np.int64)])
    file = np.repeat(np.arange(len(files), dtype=np.int32), [len(f[0]) for f in files])
    order = np.lexsort((file, icp))
    first = np.empty(len(order), np.int64)  # where each segment starts in the output
    first[order] = np.concatenate([[0], np.cumsum(count[order])[:-1]]) if len(order) else []
    total = int(count.sum())
    out = [np.empty(total, t) for t in (np.int8, np.int8, np.int64, *([np.int64] if seqs else []))]
    at = 0
    for icp_f, counts, _, columns in files:
        n = int(counts.sum())
        local = np.concatenate([[0], np.cumsum(counts)[:-1]])
        dest = np.repeat(first[at:at + len(icp_f)] - local, counts) + np.arange(n)
        for target, column in zip(out, columns):
            target[dest] = column
        at += len(icp_f)
    days = np.array([day for _, _, day, _ in files], np.int32)
    day = np.repeat(days[file[order]], count[order])
    rows_icp = np.repeat(icp[order], count[order])
    seq = out[3] if seqs else np.zeros(0, np.int64)
    return rawblocks.Rows(union, rows_icp, day, out[0], out[1], out[2], seq)


def _batch(rows: rawblocks.Rows, dictionary: bool) -> pa.RecordBatch:
    columns = rawblocks.reads_columns(rows)
    if not dictionary:
        return pa.RecordBatch.from_arrays([rawblocks.icp_ids(rows), *columns.values(), rawblocks.directions(rows)],
                                          schema=BULK_READS_SCHEMA)
    ids = pa.DictionaryArray.from_arrays(pa.array(rows.icp, pa.int32()),
                                         pa.array([i.decode() for i in rows.icp_ids], pa.string()))
    directions = pa.DictionaryArray.from_arrays(pa.array(rows.code, pa.int8()), rawblocks.DIRECTION_TEXT)
    return pa.RecordBatch.from_arrays([ids, *columns.values(), directions], schema=BULK_READS_DICTIONARY_SCHEMA)
