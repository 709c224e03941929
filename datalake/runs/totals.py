"""A run's ICP index with its totals: the sorted distinct icp_ids of a published run, and for
each date and side the ICP's total of that day (a column ``<read_date>/<side>``, decimal(18,4),
null where the ICP has no row), written at publish from the run's block files and read by the
diff of two runs. Readers of the ICP list read the ``icp_id`` column only."""
from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from datalake.storage import blocks
from datalake.output import blocks as outputblocks
from datalake import schema
from datalake.delivery.rawtypes import decimal_array
from datalake.storage.files import fsync_file

AMOUNT = schema.AMOUNT_DECIMAL
LIMIT = 10 ** 18  # unscaled DECIMAL(18, 4) values are below this


def column(day: str, side: str) -> str:
    return f"{day}/{side}"


def write_icp_index(files: list[dict], block_files: list[Path], path: Path) -> None:
    """Write the index of a run about to publish: ``files`` as ``publication.publish_files``
    returns them, ``block_files`` their staged block files, in the same order."""
    days, fits = [], True
    for f, staged in zip(files, block_files):
        found = outputblocks.file_totals(blocks.BlockFile.open(staged))
        if found is not None:
            icp, sides, sums, _ = found
            fits = fits and sums.dtype != object and (not len(sums) or int(np.abs(sums).max()) < LIMIT)
            days.append((f["read_date"], icp.cast(pa.string()), sides, sums))
    icps = _sorted_unique([d[1] for d in days])
    if not fits:  # a day's total beyond decimal(18,4): the list of ICPs only (the diff then refuses)
        days = []
    columns: dict[str, pa.Array] = {"icp_id": icps}
    for day, icp, sides, sums in days:
        codes = codes_in(icp, icps)
        for code, side in enumerate(schema.BUYER_SELLER):
            mine = sides == code
            if not mine.any():
                continue
            values, valid = np.zeros(len(icps), np.int64), np.zeros(len(icps), bool)
            values[codes[mine]], valid[codes[mine]] = sums[mine].astype(np.int64), True
            columns[column(day, side)] = pc.if_else(pa.array(valid), decimal_array(values, AMOUNT),
                                                    pa.nulls(len(icps), AMOUNT))
    fields = [pa.field("icp_id", pa.string(), nullable=False)] + [pa.field(n, AMOUNT) for n in list(columns)[1:]]
    pq.write_table(pa.table(columns, schema=pa.schema(fields)), path, compression="zstd")
    fsync_file(path)


def _sorted_unique(arrays: list[pa.Array]) -> pa.Array:
    if not arrays:
        return pa.array([], pa.string())
    icps = pc.unique(pa.chunked_array(arrays, pa.string()))
    return icps.take(pc.sort_indices(icps))


def codes_in(icp: pa.Array, icps: pa.Array) -> np.ndarray:
    """The position of each of ``icp`` in ``icps`` (which holds them all)."""
    if len(icp) == len(icps) and icp.equals(icps):
        return np.arange(len(icps), dtype=np.int64)
    return pc.index_in(icp, value_set=icps).to_numpy().astype(np.int64)


def read_totals(lake, record: dict, days: list[str]) -> tuple[pa.Array, dict[tuple[str, int], pa.Array]] | None:
    """The ICPs of a published run and their totals of ``days`` by (date, side code), from its
    index; None when the run has no index with totals (published before they were written)."""
    index = record.get("icp_index")
    if not index:
        return None
    with (lake.root / index).open("rb") as f:
        pf = pq.ParquetFile(f)
        names = pf.schema_arrow.names
        if record.get("dates") and not any("/" in n for n in names):
            return None
        wanted = {column(d, s): (d, c) for d in days for c, s in enumerate(schema.BUYER_SELLER)}
        table = pf.read(columns=["icp_id", *(n for n in names if n in wanted)])
    icps = table["icp_id"].combine_chunks()
    return icps, {wanted[n]: table[n].combine_chunks() for n in table.column_names[1:]}


def cells(mine: tuple, theirs: tuple, days: list[str]) -> tuple[pa.Array, list[np.ndarray]]:
    """The cells of two runs' totals (each as ``read_totals`` returns them) over ``days``, in
    (date, ICP, side) order: the ICPs (sorted), and the ICP index, date (days since
    1970-01-01), side code, unscaled totals of each run (0 where absent) and which has it."""
    icps = _sorted_unique([mine[0], theirs[0]])
    codes = [codes_in(mine[0], icps), codes_in(theirs[0], icps)]
    n = len(icps)
    pieces = []
    for day in days:
        values = [np.zeros(2 * n, np.int64), np.zeros(2 * n, np.int64)]
        present = [np.zeros(2 * n, bool), np.zeros(2 * n, bool)]
        for k, (_, totals) in enumerate((mine, theirs)):
            for side in range(len(schema.BUYER_SELLER)):
                found = totals.get((day, side))
                if found is None:
                    continue
                at = codes[k] * 2 + side
                values[k][at] = outputblocks.unscaled(pc.fill_null(found, pa.scalar(0, AMOUNT)))
                present[k][at] = found.is_valid().to_numpy(zero_copy_only=False)
        kept = np.flatnonzero(present[0] | present[1])
        number = (dt.date.fromisoformat(day) - outputblocks.EPOCH).days
        pieces.append((kept // 2, np.full(len(kept), number, np.int64), (kept % 2).astype(np.int8),
                       values[0][kept], values[1][kept], present[0][kept], present[1][kept]))
    return icps, [np.concatenate([p[k] for p in pieces]) for k in range(7)]
