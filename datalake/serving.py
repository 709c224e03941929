"""Serving copies of published runs' output (being replaced by block files written with
each publish): an Arrow file of each run's rows by ICP, and its daily totals."""
from __future__ import annotations

import bisect
import datetime as dt
import json
import os
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.ipc as ipc

from . import schema, sql
from .storage import fsync_dir, write_json_atomic

SLICE_ROWS = 4_000_000
EPOCH = dt.date(1970, 1, 1)
_caches_lock = threading.Lock()


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
                     "start": pa.array(stops - counts), "stop": pa.array(stops)})
    with ipc.new_file(folder / "icps.arrow", icps.schema) as writer:
        writer.write_table(icps)


def _slices(ids: list[tuple[str, int]], slice_rows: int):
    start, rows = 0, 0
    for i, (_, n) in enumerate(ids):
        rows += n
        if rows >= slice_rows or i == len(ids) - 1:
            yield ids[start][0], ids[i][0], rows
            start, rows = i + 1, 0


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
