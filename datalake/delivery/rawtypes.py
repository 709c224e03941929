"""Vectorised typing of a raw batch, for the common case where every row is valid.

``type_reads`` accepts a batch only if every row passes checks at least as strict as those
of queries/raw/validate_batch.sql and returns the same typed values; otherwise it returns
None and the SQL validator, which explains each bad row, handles the batch. A delivery
repeats few distinct timestamps, readings, directions and ICPs, so each column is
dictionary-encoded once and only its distinct values are checked and parsed."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from datalake import schema
from datalake.schema import ROW
from datalake.trading import trading_date_and_period

DIRECTIONS = pa.array(schema.DIRECTIONS)
ZERO = pa.scalar(0, pa.int32())
MAX_ICP = pa.scalar(schema.ICP_ID_MAX_LEN, pa.int32())
SIGNS = np.frombuffer(b"+-", dtype=np.uint8)
FAST_MAX_READ = 1e6          # beyond this, float parsing is left to the exact SQL path
FAST_TOLERANCE_MILLI = 1e-4  # stricter than the SQL rule's 1e-3 (0.000001 kWh)


@dataclass
class TypedReads:
    """One batch's rows, typed: every array has one entry per row, in the batch's order."""
    rows: pa.ChunkedArray        # source row numbers
    icp_values: pa.Array         # distinct icp_id strings
    icp_indices: np.ndarray      # int32 index into icp_values
    timestamps_us: np.ndarray    # int64 UTC microseconds (end of the half hour)
    days: np.ndarray             # int32 trading date, days since the epoch
    periods: np.ndarray          # int16 trading period
    milli: np.ndarray            # int64 interval_read * 1000
    exports: np.ndarray          # bool: energy_flow_direction == "X"

    def __len__(self) -> int:
        return len(self.days)


def _distinct(column: pa.ChunkedArray | pa.Array) -> tuple[pa.Array, np.ndarray]:
    encoded = pc.dictionary_encode(column)
    if isinstance(encoded, pa.ChunkedArray):
        encoded = encoded.combine_chunks()
    return encoded.dictionary, encoded.indices.to_numpy()


def type_reads(batch: pa.Table) -> TypedReads | None:
    if batch.num_rows == 0 or any(batch[c].null_count for c in batch.column_names):
        return None
    icps, icp_idx = _distinct(batch["icp_id"])
    directions, dir_idx = _distinct(batch["energy_flow_direction"])
    stamps, ts_idx = _distinct(batch["read_timestamp"])
    readings, read_idx = _distinct(batch["interval_read"])
    icp_length = pc.binary_length(icps)
    checks = [pc.is_in(directions, DIRECTIONS), pc.string_is_ascii(icps), pc.utf8_is_alnum(icps),
              pc.greater(icp_length, ZERO), pc.less_equal(icp_length, MAX_ICP)]
    if not (all(pc.all(c).as_py() for c in checks) and _offsets_within_14h(stamps)):
        return None
    try:  # Arrow's ISO 8601 cast requires a UTC offset and rejects impossible dates
        ts = pc.cast(stamps, schema.TIMESTAMP)
        reading = pc.cast(readings, pa.float64()).to_numpy(zero_copy_only=False)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None
    ts_us = ts.cast(pa.int64()).to_numpy(zero_copy_only=False)
    milli = reading * 1000
    scaled = np.rint(milli)
    if not (np.all(np.isfinite(reading)) and np.all(reading >= 0) and np.all(reading < FAST_MAX_READ)
            and np.all(np.abs(milli - scaled) <= FAST_TOLERANCE_MILLI)
            and np.all(ts_us % 1_800_000_000 == 0)):
        return None
    days, periods = trading_date_and_period(ts_us)
    is_export = np.asarray(pc.equal(directions, "X").to_numpy(zero_copy_only=False), dtype=bool)
    return TypedReads(
        rows=batch[ROW],
        icp_values=icps,
        icp_indices=icp_idx,
        timestamps_us=ts_us[ts_idx],
        days=days.astype(np.int32)[ts_idx],
        periods=periods.astype(np.int16)[ts_idx],
        milli=scaled.astype(np.int64)[read_idx],
        exports=is_export[dir_idx],
    )


def type_batch(batch: pa.Table) -> pa.Table | None:
    """``type_reads`` as a table of the columns of queries/raw/validate_batch.sql."""
    typed = type_reads(batch)
    return None if typed is None else typed_table(batch, typed)


def typed_table(batch: pa.Table, typed: TypedReads) -> pa.Table:
    """The rows of ``batch`` (its ROW, icp_id and energy_flow_direction) typed as ``typed``,
    in the columns of queries/raw/validate_batch.sql."""
    return pa.table({
        ROW: batch[ROW],
        "icp_id": batch["icp_id"],
        "read_timestamp": pa.array(typed.timestamps_us, schema.TIMESTAMP),
        "read_date": pa.array(typed.days, pa.date32()),
        "trading_period": pa.array(typed.periods),
        "interval_read": decimal_array(typed.milli, schema.READ_DECIMAL),
        "energy_flow_direction": batch["energy_flow_direction"],
    })


def _offsets_within_14h(text: pa.ChunkedArray | pa.Array) -> bool:
    """Every timestamp text ends in Z or an offset (+hh, +hhmm, +hh:mm) of at most 14 hours,
    checked on the string bytes (a regex per row costs more than the rest of the typing)."""
    chunk = text.combine_chunks() if isinstance(text, pa.ChunkedArray) else text
    if chunk.null_count or len(chunk) == 0:
        return len(chunk) == 0
    bounds = np.frombuffer(chunk.buffers()[1], dtype=np.int32)[chunk.offset:chunk.offset + len(chunk) + 1]
    data = np.frombuffer(chunk.buffers()[2], dtype=np.uint8)
    end = bounds[1:]
    if ((end - bounds[:-1]) < 10).any():
        return False

    def at(k: int) -> np.ndarray:
        return data[end - k].astype(np.int16)

    hh = np.isin(at(3), SIGNS)                                  # +12
    hhmm = np.isin(at(5), SIGNS) & ~hh                          # +1200
    hh_mm = np.isin(at(6), SIGNS) & (at(3) == ord(":")) & ~hh   # +12:00
    hours = np.where(hh, at(2) * 10 + at(1), np.where(hhmm, at(4) * 10 + at(3), at(5) * 10 + at(4))) - 528
    if not ((at(1) == ord("Z")) | ((hh | hhmm | hh_mm) & (hours >= 0) & (hours <= 14))).all():
        return False
    return True


def decimal_array(scaled: np.ndarray, type_: pa.Decimal128Type) -> pa.Array:
    """int64 values already multiplied by 10**scale as decimal128, without a Python loop."""
    scaled = np.asarray(scaled, dtype=np.int64)
    words = np.empty((len(scaled), 2), dtype=np.int64)
    words[:, 0] = scaled
    np.right_shift(scaled, 63, out=words[:, 1])  # the sign, extended
    return pa.Array.from_buffers(type_, len(scaled), [None, pa.py_buffer(words)])
