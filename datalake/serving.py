"""A serving copy of the raw snapshot: one memory-mapped Arrow file sorted by ICP, for
fast one-ICP lookups and bulk streams.

The lake stays the only source of truth. An index is built from the committed files of one
snapshot (named by its head ingest) into ``_serving/raw-<head>/``, made visible by renaming
its folder into place, and read through a memory map, so that every process on the machine
shares one copy in the page cache. A reader uses it only together with the commits newer
than its head (the overlay), so every answer is exactly the lake's at the moment of asking.

Rows keep every revision, ordered by (icp_id, read_timestamp, direction, ingest): the latest
revision of a key is its last row, and ``as_of`` is a filter on the ingest."""
from __future__ import annotations

import bisect
import datetime as dt
import hashlib
import json
import logging
import mmap
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.ipc as ipc

from . import schema, sql
from .layout import ingest_id, ingest_seq
from .storage import exclusive_lock, fsync_dir, local_names, remove_tree, write_json_atomic

INDEX_SCHEMA = pa.schema([
    pa.field("read_timestamp", schema.TIMESTAMP),
    pa.field("read_date", pa.date32()),
    pa.field("trading_period", pa.int16()),
    pa.field("interval_read", schema.READ_DECIMAL),
    pa.field("energy_flow_direction", pa.dictionary(pa.int8(), pa.string())),
    pa.field("ingest_seq", pa.int32()),
])
DIRECTIONS = pa.array(["I", "X"])
X = pa.scalar("X")
SLICE_ROWS = 4_000_000
BULK_COLUMNS = ["icp_id", "read_timestamp", "read_date", "trading_period", "interval_read", "energy_flow_direction"]
EPOCH = dt.date(1970, 1, 1)
log = logging.getLogger(__name__)


def build_raw_index(lake, *, slice_rows: int = SLICE_ROWS, batch_rows: int = 1 << 20,
                    wait: bool = True) -> Path | None:
    """Build the index of the lake's current raw snapshot unless it exists. Returns its
    folder, or None for an empty lake (or, with ``wait=False``, when another process is
    building). Older indexes are removed; a process still reading one keeps its mapping."""
    layout = lake.layout
    layout.serving_dir.mkdir(parents=True, exist_ok=True)
    with exclusive_lock(layout.serving_lock, blocking=wait) as locked:
        if not locked:
            return None
        head = lake.head_ingest()
        if head is None:
            return None
        target = layout.raw_index(head)
        if not (target / "manifest.json").exists():
            _build(lake, head, target, slice_rows, batch_rows)
        for old in layout.serving_dir.glob("raw-*"):
            if old != target:
                remove_tree(old)
        return target


def _build(lake, head: str, target: Path, slice_rows: int, batch_rows: int) -> None:
    files = [str(f.path) for f in lake.raw_files(as_of=head)]
    con = sql.connect()
    try:
        ids = con.execute(sql.query("raw_index_icps"), {"files": files}).fetchall()
        with lake.staging(serving=True) as work:
            folder = work / "index"
            folder.mkdir()
            rows = 0
            with ipc.new_file(folder / "reads.arrow", INDEX_SCHEMA) as writer:
                for lo, hi, expected in _slices(ids, slice_rows):
                    reader = con.sql(sql.query("raw_index_slice"),
                                     params={"files": files, "lo": lo, "hi": hi}).to_arrow_reader(batch_rows)
                    got = 0
                    for batch in reader:
                        got += batch.num_rows
                        writer.write_batch(_to_index_batch(batch))
                    if got != expected:
                        raise RuntimeError(f"index slice {lo}..{hi}: {got} rows, expected {expected}")
                    rows += got
            _write_icps(folder, ids)
            _put_in_place(folder, target, {"head": head, "rows": rows, "icps": len(ids)})
    finally:
        con.close()


def _put_in_place(folder: Path, target: Path, manifest: dict) -> None:
    """Finish a build in ``folder``: its manifest (what marks it complete) written last,
    then the folder renamed to ``target`` in the serving folder."""
    write_json_atomic(folder / "manifest.json", {**manifest, "built_at": dt.datetime.now(dt.UTC).isoformat()})
    target.parent.mkdir(parents=True, exist_ok=True)
    os.replace(folder, target)
    fsync_dir(target.parent)


def _write_icps(folder: Path, ids: list[tuple[str, int]]) -> None:
    """The ICPs of an index, in order, with the rows [start, stop) each one owns."""
    icp_ids = [i for i, _ in ids]
    counts = np.array([n for _, n in ids], dtype=np.int64)
    stops = np.cumsum(counts)
    icps = pa.table({"icp_id": pa.array(icp_ids, pa.string()),
                     "start": pa.array(stops - counts), "stop": pa.array(stops),
                     "shard_hash": pa.array([_shard_hash(i) for i in icp_ids], pa.uint32())})
    with ipc.new_file(folder / "icps.arrow", icps.schema) as writer:
        writer.write_table(icps)


def _slices(ids: list[tuple[str, int]], slice_rows: int):
    start, rows = 0, 0
    for i, (_, n) in enumerate(ids):
        rows += n
        if rows >= slice_rows or i == len(ids) - 1:
            yield ids[start][0], ids[i][0], rows
            start, rows = i + 1, 0


def _to_index_batch(batch: pa.RecordBatch) -> pa.RecordBatch:
    # One fixed dictionary for every batch, as the IPC file format requires.
    codes = pc.equal(batch.column("energy_flow_direction"), X).cast(pa.int8())
    direction = pa.DictionaryArray.from_arrays(codes, DIRECTIONS)
    return pa.RecordBatch.from_arrays([
        batch.column("read_timestamp").cast(schema.TIMESTAMP),
        batch.column("read_date"),
        batch.column("trading_period"),
        batch.column("interval_read"),
        direction,
        batch.column("ingest_seq"),
    ], schema=INDEX_SCHEMA)


def _open_mapped(folder: Path, rows_file: str) -> tuple[dict, pa.Table, pa.Table]:
    """An index folder's manifest, its rows and its ICP table, memory-mapped."""
    manifest = json.loads((folder / "manifest.json").read_text())
    rows = ipc.open_file(pa.memory_map(str(folder / rows_file))).read_all()
    icps = ipc.open_file(pa.memory_map(str(folder / "icps.arrow"))).read_all()
    return manifest, rows, icps


def _icp_rows(icp_ids: list[str], starts: np.ndarray, stops: np.ndarray, icp_id: str) -> tuple[int, int]:
    """The rows [lo, hi) of one ICP in an index (empty when it has none)."""
    i = bisect.bisect_left(icp_ids, icp_id)
    if i == len(icp_ids) or icp_ids[i] != icp_id:
        return 0, 0
    return int(starts[i]), int(stops[i])


def _shard_hash(icp_id: str) -> int:
    """The same number as ``bulk.shard_of`` before the modulo: md5's first 8 hex digits."""
    return int(hashlib.md5(icp_id.encode()).hexdigest()[:8], 16)


@dataclass
class RawIndex:
    """An opened index: lookups are binary searches and zero-copy slices of the mapping."""

    head: str
    folder: Path
    reads: pa.Table
    icp_ids: list[str]
    starts: np.ndarray
    stops: np.ndarray
    shard_hashes: np.ndarray
    batches: list[pa.RecordBatch]  # the reads' record batches (zero-copy)
    batch_starts: np.ndarray  # the first row of each of them, and the total
    _id_bytes: tuple[np.ndarray, np.ndarray] | None = None  # the ids as fixed-width bytes, and lengths
    _id_dictionary: pa.Array | None = None  # the ids as one string array (the dictionary of bulk streams)

    @classmethod
    def open(cls, folder: Path) -> RawIndex:
        manifest, reads, icps = _open_mapped(folder, "reads.arrow")
        batches = reads.to_batches()
        return cls(manifest["head"], folder, reads, icps["icp_id"].to_pylist(), icps["start"].to_numpy(),
                   icps["stop"].to_numpy(), icps["shard_hash"].to_numpy().astype(np.int64), batches,
                   np.cumsum([0] + [b.num_rows for b in batches]))

    def covers(self, files) -> bool:
        """Whether this index holds every row of ``files`` (no commit newer than it)."""
        return all(f.max_ingest_id <= self.head for f in files)

    def bulk(self, start: dt.date, end: dt.date, *, direction: str | None, as_of: str | None,
             shard_k: int = 0, shard_n: int = 1,
             dictionary: bool = False) -> tuple[int, int, Iterator[pa.RecordBatch]]:
        """Every ICP of one shard (by ``shard_hash % shard_n``), latest revision of each key
        as of ``as_of``, in icp_id then time order: (ICPs, rows before filtering, batches).
        With ``dictionary``, icp_id and energy_flow_direction are dictionary arrays whose
        dictionaries are the same in every batch: all the index's ICP ids, and ``DIRECTIONS``.

        The stream reads the index file record batch by record batch, not through the
        memory map, so the process holds only the batch in hand."""
        in_shard = self.shard_hashes % shard_n == shard_k
        counts = self.stops - self.starts
        make = self._dictionary_batch if dictionary else self._bulk_batch
        batches = (make(*rows) for rows in self._bulk_rows(in_shard, start, end, direction, as_of))
        return int(in_shard.sum()), int(counts[in_shard].sum()), batches

    def _bulk_rows(self, in_shard: np.ndarray, start: dt.date, end: dt.date, direction: str | None,
                   as_of: str | None) -> Iterator[tuple]:
        """The kept rows, a piece at a time, as ``_filter`` gives them."""
        with open(self.folder / "reads.arrow", "rb") as f:
            mapped = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
        base = pa.py_buffer(mapped)
        reader = ipc.open_file(pa.BufferReader(base))
        final = reader.num_record_batches - 1
        carry: pa.RecordBatch | None = None  # rows [pos, first): an ICP cut off by the last batch's end
        pos = 0
        for i in range(reader.num_record_batches):
            batch = reader.get_batch(i)  # zero-copy: its buffers are pages of the mapping
            # Rows before this batch are done with: drop their pages from this process's
            # memory (they stay in the page cache, and would fault back in if read again).
            done = (batch.column(0).buffers()[1].address - base.address) // mmap.PAGESIZE * mmap.PAGESIZE
            if done > 0:
                mapped.madvise(mmap.MADV_DONTNEED, 0, done)
            first = pos + (carry.num_rows if carry is not None else 0)
            end_row = first + batch.num_rows
            # Cut at ICP starts, so that a key's revisions stay in one piece.
            cut = end_row if i == final else int(self.starts[np.searchsorted(self.starts, end_row, "right") - 1])
            if cut <= pos:  # one ICP spans the carry and the whole batch
                carry = batch if carry is None else pa.Table.from_batches([carry, batch]).combine_chunks().to_batches()[0]
                continue
            head = first
            if pos < first:  # the carried ICP and the rest of it at the head of this batch (a small copy)
                at = int(np.searchsorted(self.starts, first, "left"))
                head = min(int(self.starts[at]) if at < len(self.starts) else end_row, cut)
                joined = pa.Table.from_batches([carry, batch.slice(0, head - first)]).combine_chunks()
                out = self._filter(joined.to_batches()[0], pos, head, in_shard, start, end, direction, as_of)
                if out is not None:
                    yield out
            if cut > head:  # whole ICPs: a slice of the mapping, no copy
                out = self._filter(batch.slice(head - first, cut - head), head, cut, in_shard, start, end,
                                   direction, as_of)
                if out is not None:
                    yield out
            carry, pos = batch.slice(cut - first), cut

    def _filter(self, rows: pa.RecordBatch, pos: int, stop: int, in_shard: np.ndarray, start: dt.date,
                end: dt.date, direction: str | None, as_of: str | None) -> tuple | None:
        """The kept rows of index rows [pos, stop), whole ICPs: (rows, first, last, counts,
        codes), the rows owned in order by ICPs first..last-1, ``counts`` rows each, with
        their direction codes; None when no row is kept."""
        first = int(np.searchsorted(self.starts, pos, "left"))
        last = int(np.searchsorted(self.starts, stop, "left"))
        counts = self.stops[first:last] - self.starts[first:last]
        days = rows.column("read_date").cast(pa.int32()).to_numpy()
        codes = direction_codes(rows.column("energy_flow_direction"))
        ts = rows.column("read_timestamp").cast(pa.int64()).to_numpy()
        lo_day, hi_day = (start - EPOCH).days, (end - EPOCH).days
        seqs = rows.column("ingest_seq").to_numpy() if as_of is not None else None
        if (direction is None and in_shard[first:last].all() and days.min() >= lo_day and days.max() <= hi_day
                and (seqs is None or seqs.max() <= ingest_seq(as_of))
                and not _repeated_keys(ts, codes, self.starts[first + 1:last] - pos)):
            # Every row is kept: the batch goes out as it is, with the ids and directions as text.
            return rows, first, last, counts, codes
        owner = np.repeat(np.arange(first, last), counts)
        keep = in_shard[owner] & (days >= lo_day) & (days <= hi_day)
        if direction is not None:
            keep &= codes == schema.DIRECTIONS.index(direction)
        if seqs is not None:
            keep &= seqs <= ingest_seq(as_of)
        # The latest revision of a key is its last kept row (rows are in key, ingest order).
        idx = np.flatnonzero(keep)
        if len(idx) == 0:
            return None
        kept_ts = ts[idx]
        own, dirs = owner[idx], codes[idx]
        latest = np.ones(len(idx), dtype=bool)
        latest[:-1] = (own[1:] != own[:-1]) | (kept_ts[1:] != kept_ts[:-1]) | (dirs[1:] != dirs[:-1])
        idx, own = idx[latest], own[latest]
        if len(idx) < rows.num_rows:
            mask = np.zeros(rows.num_rows, dtype=bool)
            mask[idx] = True
            rows = rows.filter(pa.array(mask))
            codes = codes[idx]
        return rows, first, last, np.bincount(own - first, minlength=last - first), codes

    def _bulk_batch(self, rows: pa.RecordBatch, first: int, last: int, counts: np.ndarray,
                    codes: np.ndarray) -> pa.RecordBatch:
        """A bulk batch from index rows owned, in order, by ICPs first..last-1 (``counts``
        rows each), the ids and directions written out as strings (no dictionary casts)."""
        if self._id_bytes is None:
            ids = np.array(self.icp_ids, dtype=bytes)
            self._id_bytes = (ids.view(np.uint8).reshape(len(ids), ids.itemsize),
                              np.char.str_len(ids).astype(np.int32))
        id_bytes, id_lens = self._id_bytes
        return pa.RecordBatch.from_arrays([
            _repeated_strings(id_bytes[first:last], id_lens[first:last], counts),
            rows.column("read_timestamp"),
            rows.column("read_date"),
            rows.column("trading_period"),
            rows.column("interval_read"),
            _direction_strings(codes),
        ], names=BULK_COLUMNS)

    def _dictionary_batch(self, rows: pa.RecordBatch, first: int, last: int, counts: np.ndarray,
                          codes: np.ndarray) -> pa.RecordBatch:
        """``_bulk_batch`` with icp_id as indices into all the index's ids, and the direction
        codes into ``DIRECTIONS``: no strings are built, and a row is 35 bytes, not 54."""
        if self._id_dictionary is None:
            self._id_dictionary = pa.array(self.icp_ids, pa.string())
        ids = np.repeat(np.arange(first, last, dtype=np.int32), counts)
        return pa.RecordBatch.from_arrays([
            pa.DictionaryArray.from_arrays(pa.array(ids), self._id_dictionary),
            rows.column("read_timestamp"),
            rows.column("read_date"),
            rows.column("trading_period"),
            rows.column("interval_read"),
            pa.DictionaryArray.from_arrays(pa.array(codes.astype(np.int8, copy=False)), DIRECTIONS),
        ], names=BULK_COLUMNS)

    def _slice(self, lo: int, hi: int) -> pa.RecordBatch | pa.Table:
        """Index rows [lo, hi): a slice of the one record batch that holds them (finding it
        is a binary search; ``Table.slice`` walks the chunks), or of the table."""
        b = int(np.searchsorted(self.batch_starts, lo, "right")) - 1
        if 0 <= b < len(self.batches) and hi <= self.batch_starts[b + 1]:
            return self.batches[b].slice(lo - int(self.batch_starts[b]), hi - lo)
        return self.reads.slice(lo, hi - lo)

    def rows_of(self, icp_id: str, start: dt.date, end: dt.date) -> pa.RecordBatch | pa.Table:
        """Every stored row (all revisions) of one ICP with read_date in [start, end]."""
        lo, hi = _icp_rows(self.icp_ids, self.starts, self.stops, icp_id)
        rows = self._slice(lo, hi)
        days = numbers(rows.column("read_date"), np.int32)
        a = int(np.searchsorted(days, (start - EPOCH).days, "left"))
        b = int(np.searchsorted(days, (end - EPOCH).days, "right"))
        return rows.slice(a, b - a)


def _repeated_keys(ts: np.ndarray, codes: np.ndarray, icp_starts: np.ndarray) -> bool:
    """Whether two adjacent rows share a key (ICP, instant, direction), i.e. a key has more
    than one revision; ``icp_starts`` are the row numbers where a new ICP begins."""
    same = (ts[1:] == ts[:-1]) & (codes[1:] == codes[:-1])
    if not same.any():
        return False
    same[icp_starts[(icp_starts > 0) & (icp_starts < len(ts))] - 1] = False
    return bool(same.any())


def _repeated_strings(id_bytes: np.ndarray, id_lens: np.ndarray, counts: np.ndarray) -> pa.Array:
    """A string array holding value i ``counts[i]`` times, the values given as null-padded
    fixed-width bytes (one row of ``id_bytes`` each) with their lengths."""
    width = id_bytes.shape[1]
    n = int(counts.sum())
    repeated = np.repeat(id_bytes, counts, axis=0)
    if len(id_lens) and (id_lens == width).all():
        data = repeated.reshape(-1)
        offsets = np.arange(0, (n + 1) * width, width, dtype=np.int32)
    else:
        lens = np.repeat(id_lens, counts)
        data = repeated[np.arange(width)[None, :] < lens[:, None]]
        offsets = np.zeros(n + 1, dtype=np.int32)
        np.cumsum(lens, out=offsets[1:])
    return pa.StringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(data))


_DIRECTION_BYTES = np.frombuffer("".join(schema.DIRECTIONS).encode(), np.uint8)


def direction_strings(column: pa.ChunkedArray | pa.Array) -> pa.ChunkedArray | pa.Array:
    """A direction column as plain strings: an index's dictionary column is written out
    from its codes (a cast costs several times more), a string column stays as it is."""
    if not pa.types.is_dictionary(column.type):
        return column
    return _direction_strings(direction_codes(column))


def _direction_strings(codes: np.ndarray) -> pa.Array:
    """Direction codes (index into ``schema.DIRECTIONS``, one letter each) as strings."""
    n = len(codes)
    return pa.StringArray.from_buffers(n, pa.py_buffer(np.arange(n + 1, dtype=np.int32)),
                                       pa.py_buffer(_DIRECTION_BYTES[codes]))


_caches: dict[Path, RawIndexCache] = {}
_caches_lock = threading.Lock()


def index_for(lake) -> RawIndex | None:
    """The newest built raw index of ``lake`` in this process, if any."""
    with _caches_lock:
        cache = _caches.get(lake.root)
        if cache is None:
            cache = _caches[lake.root] = RawIndexCache(lake.layout)
    return cache.current()


class RawIndexCache:
    """The newest built index of a lake, opened once per process and reopened when a newer
    one appears. Thread-safe."""

    def __init__(self, layout) -> None:
        self.layout = layout
        self._lock = threading.Lock()
        self._index: RawIndex | None = None

    def current(self) -> RawIndex | None:
        folder = self.layout.serving_dir
        names = local_names(folder, "raw-ing-*")
        index = self._index
        if index is not None and names and names[-1] == index.folder.name:
            return index  # still the newest: its manifest was there when it was opened
        built = next((folder / n for n in reversed(names) if (folder / n / "manifest.json").exists()), None)
        if built is None:
            return None
        newest = built.name.removeprefix("raw-")
        with self._lock:
            if self._index is None or self._index.head != newest:
                try:
                    self._index = RawIndex.open(built)
                except (FileNotFoundError, pa.ArrowInvalid):  # replaced while opening
                    return self._index
            return self._index


def latest_revisions(rows: pa.Table, as_of: str | None) -> pa.Table:
    """Rows in (time, direction, ingest) order -> the latest revision of each key as of an
    ingest (None: every ingest)."""
    if as_of is not None and rows.num_rows:
        kept = numbers(rows.column("ingest_seq"), np.int32) <= ingest_seq(as_of)
        if not kept.all():
            rows = rows.filter(pa.array(kept))
    n = rows.num_rows
    if n > 1:
        ts = numbers(rows.column("read_timestamp"), np.int64)
        direction = direction_codes(rows.column("energy_flow_direction"))
        last = np.ones(n, dtype=bool)
        last[:-1] = (ts[1:] != ts[:-1]) | (direction[1:] != direction[:-1])
        if not last.all():
            rows = rows.filter(pa.array(last))
    return rows


def direction_codes(column: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """0 for I, 1 for X, from a plain or an index (dictionary ``DIRECTIONS``) column."""
    if pa.types.is_dictionary(column.type):
        chunks = column.chunks if isinstance(column, pa.ChunkedArray) else [column]
        return np.concatenate([numbers(c.indices, np.int8) for c in chunks] or [np.zeros(0, np.int8)])
    return pc.equal(column, X).to_numpy(zero_copy_only=False).astype(np.int8)


def numbers(column: pa.ChunkedArray | pa.Array, dtype: type) -> np.ndarray:
    """A fixed-width column (ints, dates, timestamps of ``dtype``'s width) as numpy: a view
    of the data buffer of each chunk, without the casts' overhead (several per lookup)."""
    chunks = column.chunks if isinstance(column, pa.ChunkedArray) else [column]
    size = np.dtype(dtype).itemsize
    views = []
    for c in chunks:
        if c.null_count or c.type.bit_width != 8 * size:
            raise TypeError(f"{c.type} with {c.null_count} nulls is not a column of {np.dtype(dtype)}")
        views.append(np.frombuffer(c.buffers()[1], dtype, len(c), c.offset * size))
    return views[0] if len(views) == 1 else np.concatenate(views or [np.zeros(0, dtype)])


def ingest_ids(seqs: pa.ChunkedArray) -> pa.Array:
    """Ingest sequence numbers -> ingest ids, formatting each distinct id once."""
    values = seqs.to_numpy()
    distinct, codes = np.unique(values, return_inverse=True)
    return pa.DictionaryArray.from_arrays(pa.array(codes.astype(np.int32)),
                                          pa.array([ingest_id(int(s)) for s in distinct])).cast(pa.string())


# -- output of published runs ------------------------------------------------------------

OUTPUT_INDEX_SCHEMA = pa.schema([
    pa.field("read_date", pa.date32()),
    pa.field("trading_period", pa.int16()),
    pa.field("buyer_seller", pa.string()),
    pa.field("matched_amount", schema.AMOUNT_DECIMAL),
])


def build_output_index(lake, run_id: str, *, slice_rows: int = SLICE_ROWS) -> Path:
    """Index one published run's output by ICP (a run never changes once published, so its
    index never goes stale). Returns its folder."""
    from .runs import output_files  # runs -> lake; serving is imported by readers of both

    target = lake.layout.output_index(run_id)
    if (target / "manifest.json").exists():
        return target
    files = [f for day_files in output_files(lake, run_id).values() for f in day_files]
    con = sql.connect()
    try:
        ids = con.execute(sql.query("raw_index_icps"), {"files": files}).fetchall()
        with lake.staging(serving=True) as work:
            folder = work / "index"
            folder.mkdir()
            with ipc.new_file(folder / "rows.arrow", OUTPUT_INDEX_SCHEMA) as writer:
                for lo, hi, expected in _slices(ids, slice_rows):
                    table = con.sql(sql.query("output_index_slice"),
                                    params={"files": files, "lo": lo, "hi": hi}).to_arrow_table()
                    if table.num_rows != expected:
                        raise RuntimeError(f"output index slice {lo}..{hi}: {table.num_rows} rows, expected {expected}")
                    writer.write_table(table.drop_columns(["icp_id"]).cast(OUTPUT_INDEX_SCHEMA))
            _write_icps(folder, ids)
            _put_in_place(folder, target, {"run_id": run_id, "icps": len(ids)})
    finally:
        con.close()
    return target


@dataclass
class OutputIndex:
    run_id: str
    rows: pa.Table
    icp_ids: list[str]
    starts: np.ndarray
    stops: np.ndarray

    @classmethod
    def open(cls, folder: Path) -> OutputIndex:
        manifest, rows, icps = _open_mapped(folder, "rows.arrow")
        return cls(manifest["run_id"], rows, icps["icp_id"].to_pylist(), icps["start"].to_numpy(),
                   icps["stop"].to_numpy())

    def rows_of(self, icp_id: str) -> pa.Table:
        lo, hi = _icp_rows(self.icp_ids, self.starts, self.stops, icp_id)
        return self.rows.slice(lo, hi - lo)


_output_indexes: dict[Path, OutputIndex] = {}


def _opened(cache: dict, folder: Path, open_folder):
    """The built serving folder ``folder``, opened once per process (folders of published
    runs never change); None when it is not built (yet)."""
    with _caches_lock:
        found = cache.get(folder)
    if found is None:
        if not (folder / "manifest.json").exists():
            return None
        found = open_folder(folder)
        with _caches_lock:
            cache[folder] = found
    return found


def output_rows(lake, icp_id: str, pinned: dict[dt.date, str]) -> pa.Table | None:
    """One ICP's output rows for each date from the run pinned to it (read_date,
    trading_period, buyer_seller, matched_amount, run_id), from the run indexes; None when
    a pinned run has no index yet."""
    tables = []
    for run_id in sorted(set(pinned.values())):
        index = _opened(_output_indexes, lake.layout.output_index(run_id), OutputIndex.open)
        if index is None:
            return None
        rows = index.rows_of(icp_id)
        days = rows.column("read_date").cast(pa.int32()).to_numpy()
        wanted = np.array(sorted((d - EPOCH).days for d, r in pinned.items() if r == run_id), dtype=np.int32)
        keep = np.isin(days, wanted)
        if not keep.all():
            rows = rows.filter(pa.array(keep))
        tables.append(rows.append_column("run_id", pa.repeat(pa.scalar(run_id, pa.string()), rows.num_rows)))
    if not tables:
        return None
    return pa.concat_tables(tables)


# -- daily totals of published runs -------------------------------------------------------

DAILY_SCHEMA = pa.schema([
    pa.field("read_date", pa.date32()),
    pa.field("icp_id", pa.string()),
    pa.field("buyer_seller", pa.string()),
    pa.field("matched_amount", pa.decimal128(38, schema.AMOUNT_SCALE)),
    pa.field("intervals", pa.int64()),
])


def build_daily_output(lake, run_id: str) -> Path:
    """One published run's output totalled by trading date, ICP and side (a run never
    changes once published, so neither do its totals): the rows of each date are
    contiguous and sorted by (icp_id, buyer_seller). Returns its folder."""
    from .runs import get_run, output_files

    target = lake.layout.daily_output(run_id)
    if (target / "manifest.json").exists():
        return target
    expected = get_run(lake, run_id).get("rows")
    con = sql.connect()
    try:
        with lake.staging(serving=True) as work:
            folder = work / "daily"
            folder.mkdir()
            dates: dict[str, list[int]] = {}
            rows = intervals = 0
            with ipc.new_file(folder / "days.arrow", DAILY_SCHEMA) as writer:
                for day, files in sorted(output_files(lake, run_id).items()):
                    table = con.sql(sql.query("output_daily_totals"), params={"files": files}).to_arrow_table()
                    writer.write_table(table.cast(DAILY_SCHEMA))
                    dates[day.isoformat()] = [rows, rows + table.num_rows]
                    rows += table.num_rows
                    intervals += pc.sum(table["intervals"]).as_py() or 0
            if expected is not None and intervals != expected:
                raise RuntimeError(f"daily totals of {run_id}: {intervals} rows, expected {expected}")
            _put_in_place(folder, target, {"run_id": run_id, "rows": rows, "dates": dates})
    finally:
        con.close()
    return target


@dataclass
class DailyOutput:
    run_id: str
    rows: pa.Table
    dates: dict[dt.date, tuple[int, int]]

    @classmethod
    def open(cls, folder: Path) -> DailyOutput:
        manifest = json.loads((folder / "manifest.json").read_text())
        rows = ipc.open_file(pa.memory_map(str(folder / "days.arrow"))).read_all()
        return cls(manifest["run_id"], rows,
                   {dt.date.fromisoformat(d): (a, b) for d, (a, b) in manifest["dates"].items()})

    def of(self, day: dt.date) -> pa.Table | None:
        """The totals of one date (None when the run has no output that date)."""
        bounds = self.dates.get(day)
        return None if bounds is None else self.rows.slice(bounds[0], bounds[1] - bounds[0])


_daily: dict[Path, DailyOutput] = {}


def daily_output(lake, pinned: dict[dt.date, str]) -> list[tuple[str, list[pa.Table]]] | None:
    """For each run pinned to some date, in run id order, its daily totals of those dates
    (one table a date that has output); None when a pinned run has no daily totals yet."""
    out = []
    for run_id in sorted(set(pinned.values())):
        summary = _opened(_daily, lake.layout.daily_output(run_id), DailyOutput.open)
        if summary is None:
            return None
        tables = [summary.of(day) for day in sorted(d for d, r in pinned.items() if r == run_id)]
        out.append((run_id, [t for t in tables if t is not None]))
    return out


class IndexKeeper:
    """Keeps a lake's serving indexes current from a background thread: every ``interval``
    seconds, if the lake's head has moved past the newest raw index, or a published run has
    no output index or daily totals yet, it builds them. Only one process builds at a time;
    the others pick the result up. Each build runs in a child process, so that its memory
    (several GB for a large run) goes back to the system instead of staying with the worker."""

    def __init__(self, lake, *, interval: float = 2.0) -> None:
        self.lake = lake
        self.interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="raw-index", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                head = self.lake.head_ingest()
                index = index_for(self.lake)
                if head is not None and (index is None or index.head != head):
                    self._build_apart("raw")
                self._index_published_runs()
            except Exception:  # keep serving from the lake's files; try again later
                log.exception("building a serving index failed")
            self._stop.wait(self.interval)

    def _index_published_runs(self) -> None:
        from .runs import list_runs

        for record in list_runs(self.lake, status="published"):
            if self._stop.is_set():
                return
            # The daily totals first: a few seconds, where the output index takes a minute.
            for folder, what in ((self.lake.layout.daily_output(record["run_id"]), "daily"),
                                 (self.lake.layout.output_index(record["run_id"]), "output")):
                if not (folder / "manifest.json").exists():
                    with exclusive_lock(self.lake.layout.serving_lock, blocking=False) as locked:
                        if locked:
                            self._build_apart(what, record["run_id"])

    def _build_apart(self, what: str, run_id: str = "") -> None:
        """``build_in_child`` in a child process; stopped if the keeper is."""
        child = subprocess.Popen([sys.executable, "-c", "import sys; from datalake.serving import build_in_child; "
                                  "build_in_child(*sys.argv[1:])", str(self.lake.root), what, run_id],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        while child.poll() is None:
            if self._stop.wait(0.2):
                child.terminate()
                child.wait()
                return
        if child.returncode:
            error = child.stderr.read().decode(errors="replace").strip().splitlines()
            raise RuntimeError(f"building the {what} index in a child process failed: "
                               f"{error[-1] if error else f'exit status {child.returncode}'}")


def build_in_child(root: str, what: str, run_id: str = "") -> None:
    """One of ``IndexKeeper``'s builds; the parent holds the serving lock for run builds, and
    ``build_raw_index`` takes it itself (and skips if another process holds it)."""
    from .lake import Lake

    lake = Lake(root)
    if what == "raw":
        build_raw_index(lake, wait=False)
    elif what == "output":
        build_output_index(lake, run_id)
    else:
        build_daily_output(lake, run_id)
