"""Vectorised typing of a raw batch, for the common case where every row is valid.

``type_batch`` accepts a batch only if every row passes checks at least as strict as those
of queries/raw_validate_batch.sql and returns the same typed rows; otherwise it returns
None and the SQL validator, which explains each bad row, handles the batch."""
from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from . import schema
from .sources import ROW
from .trading import trading_date_and_period

TIMESTAMP_RE = (r"^[0-9]{4}-[0-9]{2}-[0-9]{2}[ T][0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]{1,6})?)?"
                r"(Z|[+-](0[0-9]|1[0-4])(:?[0-5][0-9])?)$")
ICP_RE = rf"^[A-Za-z0-9]{{1,{schema.ICP_ID_MAX_LEN}}}$"
FAST_MAX_READ = 1e6          # beyond this, float parsing is left to the exact SQL path
FAST_TOLERANCE_MILLI = 1e-4  # stricter than the SQL rule's 1e-3 (0.000001 kWh)


def type_batch(batch: pa.Table) -> pa.Table | None:
    if batch.num_rows == 0:
        return None
    ts_text, read_text = batch["read_timestamp"], batch["interval_read"]
    direction, icp = batch["energy_flow_direction"], batch["icp_id"]
    checks = [pc.match_substring_regex(ts_text, TIMESTAMP_RE),
              pc.is_in(direction, pa.array(schema.DIRECTIONS)),
              pc.match_substring_regex(icp, ICP_RE)]
    if not all(pc.all(c).as_py() for c in checks):
        return None
    try:
        ts = pc.cast(ts_text, schema.TIMESTAMP).combine_chunks()
        reading = pc.cast(read_text, pa.float64()).to_numpy()
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None
    ts_us = ts.cast(pa.int64()).to_numpy()
    milli = reading * 1000
    scaled = np.rint(milli)
    if not (np.all(np.isfinite(reading)) and np.all(reading >= 0) and np.all(reading < FAST_MAX_READ)
            and np.all(np.abs(milli - scaled) <= FAST_TOLERANCE_MILLI)
            and np.all(ts_us % 1_800_000_000 == 0)):
        return None
    days, periods = trading_date_and_period(ts_us)
    return pa.table({
        ROW: batch[ROW],
        "icp_id": icp,
        "read_timestamp": ts,
        "read_date": pa.array(days.astype(np.int32), pa.date32()),
        "trading_period": pa.array(periods.astype(np.int16)),
        "interval_read": decimal_array(scaled.astype(np.int64), schema.READ_DECIMAL),
        "energy_flow_direction": direction,
    })


def decimal_array(scaled: np.ndarray, type_: pa.Decimal128Type) -> pa.Array:
    """int64 values already multiplied by 10**scale as decimal128, without a Python loop."""
    words = np.zeros((len(scaled), 2), dtype=np.int64)
    words[:, 0] = scaled
    words[:, 1] = np.where(scaled < 0, -1, 0)
    return pa.Array.from_buffers(type_, len(scaled), [None, pa.py_buffer(words.tobytes())])
