"""The fast path of an ingest: a delivery whose every row is valid and whose keys are distinct,
typed in Arrow and numpy without DuckDB, held in memory, and written as one sorted Parquet file
per trading date."""
from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from datalake import schema
from datalake.delivery.rawtypes import TypedReads, decimal_array, type_reads
from datalake.delivery.sources import Batch, Format, read_batches
from datalake.errors import ValidationError
from datalake.prefetch import prefetched
from datalake.raw.blocks import write_rows
from datalake.storage.layout import ingest_seq
from datalake.storage.parquet import write_parquet
from datalake.trading import EPOCH

Progress = Callable[[int, int], None]

# The fast path holds the whole delivery in memory (about 55 bytes a row: 4.2 GB for 78M
# rows); a larger delivery goes through DuckDB, which spills to disk within its memory limit.
FAST_PATH_MAX_ROWS = 150_000_000

@dataclass
class TypedDelivery:
    """A typed delivery in memory, as flat arrays, with the order that sorts it by
    (read_date, icp_id, read_timestamp, energy_flow_direction)."""
    icp_values: pa.Array      # sorted distinct icp_ids
    icp_codes: np.ndarray     # int32 index into icp_values, per row
    timestamps_us: np.ndarray
    days: np.ndarray
    periods: np.ndarray
    milli: np.ndarray
    exports: np.ndarray
    order: np.ndarray | None  # None: already in that order
    day_bounds: list[tuple[int, int, int]]  # (day, first, end) positions in sorted order

    def __len__(self) -> int:
        return len(self.days)


def read_typed(path: Path, name: str, fmt: Format, progress: Progress | None, size: int,
               batches: list[Batch] | None = None) -> TypedDelivery | None:
    """The delivery typed without DuckDB, or None when any row is bad (or any key repeats):
    the general path then reads it again and explains or collapses those rows. ``batches``:
    the delivery already read (an EIEP file), instead of reading ``path``."""
    pieces: list[TypedReads] = []
    rows = 0
    try:
        for batch in batches if batches is not None else prefetched(
                read_batches(path, schema.RAW_INPUT_COLUMNS, name=name, fmt=fmt, dictionary=True)):
            typed = batch.typed if batch.typed is not None else (
                type_reads(batch.table) if not batch.bad_rows else None)
            rows += batch.table.num_rows
            if typed is None or rows > FAST_PATH_MAX_ROWS:
                return None
            pieces.append(typed)
            if progress:
                progress(batch.bytes_done, size)
    except ValidationError as e:  # the file itself is unreadable
        raise ValidationError(f"{e.summary}; nothing ingested", e.errors, e.total) from None
    if not pieces:
        return None
    # One sorted dictionary of ICPs for the whole delivery; each batch's codes remapped to it.
    icps = pc.unique(pa.chunked_array([p.icp_values for p in pieces]))
    icps = icps.take(pc.sort_indices(icps))
    for p in pieces:
        p.icp_indices = pc.index_in(p.icp_values, value_set=icps).to_numpy()[p.icp_indices].astype(np.int32)

    def gather(attribute: str) -> np.ndarray:
        """One column of the whole delivery, releasing the batches' copies as it goes."""
        whole = np.concatenate([getattr(p, attribute) for p in pieces])
        for p in pieces:
            setattr(p, attribute, None)
        return whole

    codes, days, periods, exports = gather("icp_indices"), gather("days"), gather("periods"), gather("exports")
    timestamps, milli = gather("timestamps_us"), gather("milli")
    del pieces
    first = int(days.min())
    # Within a trading date the period orders the instants; 2 directions, at most 50 periods.
    key = (((days - first).astype(np.int64) * len(icps) + codes) * 128 + periods.astype(np.int64) * 2
           + exports)
    if len(key) < 2 or bool(np.all(key[1:] > key[:-1])):
        order, ordered_days = None, days
    else:
        order = np.argsort(key, kind="stable")
        key = key[order]
        if bool(np.any(key[1:] == key[:-1])):
            return None  # repeated keys: collapsed or rejected by the general path
        ordered_days = days[order]
    del key
    edges = np.flatnonzero(np.diff(ordered_days)) + 1
    starts = [0, *edges.tolist()]
    ends = [*edges.tolist(), len(ordered_days)]
    return TypedDelivery(icps, codes, timestamps, days, periods, milli, exports, order,
                     [(int(ordered_days[lo]), lo, hi) for lo, hi in zip(starts, ends)])


def delivery_table(delivery: TypedDelivery) -> pa.Table:
    return pa.table({
        "icp_id": delivery.icp_values.take(pa.array(delivery.icp_codes)),
        "read_timestamp": pa.array(delivery.timestamps_us, schema.TIMESTAMP),
        "energy_flow_direction": pa.array(schema.DIRECTIONS).take(pa.array(delivery.exports.astype(np.int8))),
        "read_date": pa.array(delivery.days, pa.date32()),
        "trading_period": pa.array(delivery.periods),
        "interval_read": decimal_array(delivery.milli, schema.READ_DECIMAL),
    })


def write_sorted(delivery: TypedDelivery, work: Path, ingest: str) -> list[tuple[dt.date, Path, int]]:
    """One sorted Parquet file per trading date, and its block file beside it (``.blocks``,
    from the same arrays); dates are written in parallel (the Parquet and zstd encoders
    release the GIL)."""
    directions = pa.array(schema.DIRECTIONS)
    seq = ingest_seq(ingest)

    def write(bounds: tuple[int, int, int]) -> tuple[dt.date, Path, int]:
        day, lo, hi = bounds
        pick = delivery.order[lo:hi] if delivery.order is not None else slice(lo, hi)
        n = hi - lo
        ids = delivery.icp_values.take(pa.array(delivery.icp_codes[pick]))
        periods, exports, milli = delivery.periods[pick], delivery.exports[pick].astype(np.int8), delivery.milli[pick]
        table = pa.table({
            "icp_id": ids,
            "read_timestamp": pa.array(delivery.timestamps_us[pick], schema.TIMESTAMP),
            "trading_period": pa.array(periods),
            "interval_read": decimal_array(milli, schema.READ_DECIMAL),
            "energy_flow_direction": directions.take(pa.array(exports)),
            "ingest_id": pa.repeat(pa.scalar(ingest, pa.string()), n),
        })
        date = EPOCH + dt.timedelta(days=day)
        path = work / f"{date.isoformat()}.parquet"
        rows = write_parquet(path, schema.RAW_FILE_SCHEMA, table.to_batches(schema.ROW_GROUP_ROWS),
                             options=schema.RAW_WRITE_OPTIONS)
        # Sorted by (icp, period, direction): the block order, one ingest.
        write_rows(path.with_suffix(".blocks"), ids, periods.astype(np.int8), exports, milli,
                   np.full(n, seq, np.int64), date)
        return date, path, rows

    with ThreadPoolExecutor(max_workers=max(1, min(os.cpu_count() or 1, 4))) as pool:
        return list(pool.map(write, delivery.day_bounds))
