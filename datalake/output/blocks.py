"""The block files (``blocks.py``) of published output: writing the one of each output file
in the commit that publishes it, and the reads the output queries make of them."""
from __future__ import annotations

import bisect
import datetime as dt
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from datalake.storage import blocks
from datalake import schema
from datalake.errors import LakeFormatError

EPOCH = dt.date(1970, 1, 1)
SIDES = pa.array(schema.BUYER_SELLER, pa.string())  # code 0 buyer, 1 seller
MAX_PERIOD = 50
_COLUMNS = ["icp_id", "trading_period", "buyer_seller", "matched_amount"]


class OutputBlocksError(ValueError):
    """An output file that cannot have a block file: not sorted by key, or a value that
    the block format does not hold."""


class UnsortedError(OutputBlocksError):
    """Rows not in strictly increasing (icp_id, trading_period, buyer_seller) order."""


@dataclass(frozen=True)
class Source:
    """One output file answering for one trading date: the date, its run, the file and its
    block file."""

    day: dt.date
    run_id: str
    data_file: Path
    blocks_file: Path


# -- writing ----------------------------------------------------------------------------

def write_output_blocks(parquet_path: Path, blocks_path: Path, *, read_date: dt.date | str | None = None,
                        run_id: str | None = None) -> int:
    """Write the block file of one output Parquet file (sorted by icp_id, trading_period,
    buyer_seller, as ``publication.publish_files`` writes it) to ``blocks_path``; returns
    its size. ``read_date`` and ``run_id`` default to the file's partition folders."""
    read_date = read_date or _partition(parquet_path, "read_date")
    run_id = run_id or _partition(parquet_path, "run_id")
    if read_date is None or run_id is None:
        raise OutputBlocksError(f"{parquet_path}: read_date and run_id are needed (not in the path)")
    table = pq.ParquetFile(parquet_path).read(columns=_COLUMNS, use_threads=False)  # threads: slower here
    return write_table_blocks(block_columns(table, str(parquet_path)), blocks_path, read_date=read_date, run_id=run_id)


@dataclass(frozen=True)
class Columns:
    """An output file's rows as its block file holds them: ICP ids, trading periods, side
    codes and unscaled amounts."""

    ids: pa.Array
    period: np.ndarray
    code: np.ndarray
    value: np.ndarray


def block_columns(table: pa.Table, name: str) -> Columns:
    """The block columns of one output file's rows, ``table`` (the columns of the file, in
    its order); ``name`` names the rows in errors. Rows out of key order (or a key
    repeated) raise ``UnsortedError``, values the format does not hold ``OutputBlocksError``."""
    ids = table["icp_id"].combine_chunks()
    period = table["trading_period"].to_numpy()
    if len(period) and (period.min() < 1 or period.max() > MAX_PERIOD):
        raise OutputBlocksError(f"{name}: a trading period outside 1..{MAX_PERIOD}")
    code = pc.index_in(table["buyer_seller"], value_set=SIDES).combine_chunks()
    if code.null_count:
        raise OutputBlocksError(f"{name}: buyer_seller other than buyer or seller")
    code = code.to_numpy().astype(np.int8)
    value = unscaled(table["matched_amount"])
    if value is None:
        raise OutputBlocksError(f"{name}: matched_amount not DECIMAL(18, {schema.AMOUNT_SCALE}) without nulls")
    if not _strictly_sorted(ids, period, code):
        raise UnsortedError(f"{name}: rows not in strictly increasing (icp_id, trading_period, buyer_seller) order")
    return Columns(ids, period.astype(np.int8), code, value)


def write_table_blocks(columns: Columns, blocks_path: Path, *, read_date: dt.date | str, run_id: str) -> int:
    """Write the block file of one output file's rows to ``blocks_path``; returns its size."""
    blocks_path.parent.mkdir(parents=True, exist_ok=True)
    # The file's total and row count of each side, exact (Python ints): totals by date and
    # side are then the footers alone.
    code, value = columns.code, columns.value
    exact = len(value) == 0 or max(int(value.max()), -int(value.min())) * len(value) < 1 << 63
    sides = []
    for c in range(len(SIDES)):
        mine = code == c
        total = value.sum(where=mine) if exact else value[mine].astype(object).sum()
        sides.append([int(total), int(mine.sum())])
    facts = {"kind": "output", "read_date": str(read_date), "run_id": run_id, "sides": sides}
    return blocks.write(blocks_path, columns.ids, columns.period, code, value, np.zeros(len(value), np.int64), facts)


def _partition(path: Path, name: str) -> str | None:
    for part in reversed(Path(str(path)).parts):
        if m := re.fullmatch(f"{name}=(.+)", part):
            return m.group(1)
    return None


def unscaled(column: pa.ChunkedArray | pa.Array) -> np.ndarray | None:
    """A decimal128 column's unscaled values as int64 (None if one does not fit, or one is
    null). A precision up to 18 always fits (10^18 < 2^63), and then nothing is checked."""
    array = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    if array.null_count or not pa.types.is_decimal128(array.type) or array.type.scale != schema.AMOUNT_SCALE:
        return None
    words = np.frombuffer(array.buffers()[1], dtype="<i8", count=2 * (array.offset + len(array))
                          ).reshape(-1, 2)[array.offset:]
    low = words[:, 0]
    if array.type.precision > 18 and not bool((words[:, 1] == (low >> 63)).all()):
        return None
    return low  # a strided view of the array's buffer: no copy


def _strictly_sorted(ids: pa.Array, period: np.ndarray, code: np.ndarray) -> bool:
    n = len(ids)
    if n < 2:
        return True
    icp_lt = pc.less(ids.slice(0, n - 1), ids.slice(1)).to_numpy(zero_copy_only=False)
    icp_eq = pc.equal(ids.slice(0, n - 1), ids.slice(1)).to_numpy(zero_copy_only=False)
    key = period.astype(np.int64) * 2 + code
    return bool(np.all(icp_lt | (icp_eq & (key[:-1] < key[1:]))))


# -- reading ----------------------------------------------------------------------------

_by_record: dict[tuple[str, str], tuple[dict, dict[str, list[Source]]]] = {}


def run_sources(lake, record: dict) -> dict[str, list[Source]]:
    """The sources of a published (or retracted) run by trading date (ISO text), from its
    record; kept while ``runs`` hands out the same record object (paths are built once)."""
    key = (str(lake.root), record["run_id"])
    hit = _by_record.get(key)
    if hit is not None and hit[0] is record:
        return hit[1]
    by_day: dict[str, list[Source]] = {}
    for f in record["files"]:
        data = lake.root / f["path"]
        by_day.setdefault(f["read_date"], []).append(
            Source(dt.date.fromisoformat(f["read_date"]), record["run_id"], data, lake.layout.blocks_of(data)))
    _by_record[key] = (record, by_day)
    return by_day


def block_file(lake, source: Source) -> blocks.BlockFile:
    """The opened block file of a source (cached). A run published without block files
    (before they existed) is reported as a lake that needs migrating."""
    try:
        return blocks.footers.get(source.blocks_file)
    except blocks.BlockFileError as e:
        raise LakeFormatError(f"{source.run_id} {source.day}: no readable block file ({e}); "
                              "the lake needs `meterlake migrate`") from None


@dataclass
class Rows:
    """Output rows (or per-date totals) of several sources, column by column: the date (days
    since 1970-01-01), trading period (0 for totals), side code, unscaled amount, row count
    (1 for a row), run (an index into ``runs``) and, for totals, the ICP."""

    day: np.ndarray
    period: np.ndarray
    side: np.ndarray
    value: np.ndarray
    count: np.ndarray | None
    run: np.ndarray
    runs: list[str]
    icp: pa.Array | None = None

    def __len__(self) -> int:
        return len(self.value)


def _concat(parts: list[tuple], runs: list[str], *, counted: bool, with_icp: bool) -> Rows:
    """Rows from parts (day, period, side, value, count, run, icp), one part a source."""
    def cat(i: int, dtype) -> np.ndarray:
        return np.concatenate([p[i] for p in parts]).astype(dtype, copy=False) if parts else np.zeros(0, dtype)

    icp = None
    if with_icp:
        icp = pa.concat_arrays([p[6] for p in parts]).cast(pa.string()) if parts else pa.array([], pa.string())
    wide = any(p[3].dtype == object for p in parts)  # a total beyond int64, as exact Python ints
    return Rows(cat(0, np.int64), cat(1, np.int64), cat(2, np.int8), cat(3, object if wide else np.int64),
                cat(4, np.int64) if counted else None, cat(5, np.int64), runs, icp)


def icp_rows(lake, icp_id: str, sources: list[Source]) -> Rows:
    """One ICP's output rows in ``sources``: one block read of each."""
    runs = sorted({s.run_id for s in sources})
    parts = []
    for s in sources:
        found = block_file(lake, s).rows_of(icp_id)
        if found is None:
            continue
        block, lo, hi = found
        n = hi - lo
        parts.append((np.full(n, (s.day - EPOCH).days), block.period[lo:hi], block.code[lo:hi], block.value(lo, hi),
                      None, np.full(n, runs.index(s.run_id))))
    return _concat(parts, runs, counted=False, with_icp=False)


def day_totals(lake, sources: list[Source], first: str | None = None, last: str | None = None,
               side: int | None = None) -> Rows:
    """The totals (sum, row count) by ICP and side of each source, of the ICPs from
    ``first`` to ``last`` (either None: no limit), only of side code ``side`` if given. Rows
    of a source are in (icp, side) order."""
    runs = sorted({s.run_id for s in sources})
    parts = []
    for s in sources:
        totals = _totals(block_file(lake, s), first, last, side)
        if totals is not None:
            icp, sides, sums, counts = totals
            n = len(sums)
            parts.append((np.full(n, (s.day - EPOCH).days), np.zeros(n, np.int8), sides, sums, counts,
                          np.full(n, runs.index(s.run_id)), icp))
    return _concat(parts, runs, counted=True, with_icp=True)


def side_totals(lake, sources: list[Source], side: int | None = None) -> Rows:
    """The total (sum, row count) of each side of each source (only of side code ``side``
    if given), from the block files' footers."""
    runs = sorted({s.run_id for s in sources})
    parts = []
    for s in sources:
        found = [(c, total, rows) for c, (total, rows) in enumerate(block_file(lake, s).facts["sides"])
                 if rows and (side is None or c == side)]
        n = len(found)
        parts.append((np.full(n, (s.day - EPOCH).days), np.zeros(n, np.int8), np.array([f[0] for f in found], np.int8),
                      np.array([f[1] for f in found], object), np.array([f[2] for f in found], np.int64),
                      np.full(n, runs.index(s.run_id)), None))
    return _concat(parts, runs, counted=True, with_icp=False)


def file_totals(bf: blocks.BlockFile):
    """(ICP ids, side codes, sums, counts) by ICP and side of every ICP of one block file, or
    None if it has none."""
    return _totals(bf, None, None, None)


def _totals(bf: blocks.BlockFile, first: str | None, last: str | None, side: int | None):
    """(ICP ids, side codes, sums, counts) by ICP and side of one block file's ICPs in
    first..last, in that order."""
    lo_block = (bf.block_for(first) or 0) if first is not None else 0
    hi_block = bf.block_for(last) if last is not None else len(bf.firsts) - 1
    ids: list[bytes] = []
    parts = []
    for i in range(lo_block, (hi_block if hi_block is not None else -1) + 1):
        block = bf.read_block(i)
        a = bisect.bisect_left(block.ids, first.encode()) if first is not None else 0
        b = bisect.bisect_right(block.ids, last.encode()) if last is not None else len(block.ids)
        if a < b:
            ids += block.ids[a:b]
            parts.append(_icp_totals(block, a, b))
    if not ids:
        return None
    total, seller, rows, sellers = (np.concatenate([p[k] for p in parts]) for k in range(4))
    sums = np.stack([total - seller, seller], axis=1).ravel()
    rows = np.stack([rows - sellers, sellers], axis=1).ravel()
    if side is not None:
        rows[1 - side::2] = 0
    kept = np.flatnonzero(rows)
    icp = pa.array(ids, pa.binary()).take(pa.array(kept // 2))
    return icp, (kept % 2).astype(np.int8), sums[kept], rows[kept]


def _icp_totals(block: blocks.Block, a: int, b: int) -> tuple[np.ndarray, ...]:
    """For ICPs a..b-1 of a block: the sum of all their amounts, of their sellers' amounts
    (code 1), their rows and their sellers' rows. An ICP's rows are contiguous, so these
    are sums over runs of rows, and the buyers' part is a difference."""
    lo, hi = int(block.row_offsets[a]), int(block.row_offsets[b])
    starts = block.row_offsets[a:b] - lo
    code = block.code[lo:hi].astype(np.int64)
    value = block.value(lo, hi)
    if max(int(value.max()), -int(value.min())) * len(value) >= 1 << 63:
        value = value.astype(object)  # an int64 sum could overflow: exact Python ints
    return (np.add.reduceat(value, starts), np.add.reduceat(value * code, starts),
            np.diff(block.row_offsets[a:b + 1]), np.add.reduceat(code, starts))
