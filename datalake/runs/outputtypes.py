"""Vectorised typing of an output batch, for the common case where every row is valid.

``type_output_batch`` accepts a batch only if every row passes checks at least as strict
as those of queries/runs/validate_batch.sql, on a trading date without a daylight-saving
change, and returns the same typed rows; otherwise it returns None and the SQL validator,
which explains each bad row and handles the daylight-saving days, takes the batch."""
from __future__ import annotations

import datetime as dt

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from datalake import schema
from datalake.schema import ROW
from datalake.trading import periods_in_day

ICP_RE = rf"^[A-Za-z0-9]{{1,{schema.ICP_ID_MAX_LEN}}}$"
DATE_RE = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"
TIME_RE = r"^([01][0-9]|2[0-3]):(00|30):00$"     # a half hour, as HH:MM:SS
PERIOD_RE = r"^([0-9]{1,3})?$"                   # empty when the upload has no trading_period
TIMESTAMP_RE = (r"^[0-9]{4}-[0-9]{2}-[0-9]{2}[ T][0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]{1,6})?)?"
                r"(Z|[+-](0[0-9]|1[0-4])(:?[0-5][0-9])?)$")


def _distinct(column: pa.ChunkedArray) -> pa.DictionaryArray:
    """Most output columns repeat a few values (dates, times, sides, one publish time):
    checking and parsing the distinct values, then taking, is much cheaper than per row."""
    return pc.dictionary_encode(column).combine_chunks()


def _all_match(values: pa.Array, pattern: str) -> bool:
    return len(values) == 0 or pc.all(pc.match_substring_regex(values, pattern)).as_py()


def type_output_batch(batch: pa.Table, start: dt.date, end: dt.date) -> pa.Table | None:
    if batch.num_rows == 0:
        return None
    icp, side = _distinct(batch["icp_id"]), _distinct(batch["buyer_seller"])
    day, time_of_day = _distinct(batch["read_date"]), _distinct(batch["read_time"])
    period, published = _distinct(batch["trading_period"]), _distinct(batch["publish_datetime"])
    if not (_all_match(icp.dictionary, ICP_RE) and _all_match(day.dictionary, DATE_RE)
            and _all_match(time_of_day.dictionary, TIME_RE) and _all_match(period.dictionary, PERIOD_RE)
            and _all_match(published.dictionary, TIMESTAMP_RE)
            and pc.all(pc.is_in(side.dictionary, pa.array(schema.BUYER_SELLER))).as_py()):
        return None
    try:
        days = pc.cast(day.dictionary, pa.date32())
        instants = pc.cast(published.dictionary, schema.TIMESTAMP)
        # The cast refuses values it would round (more than 4 decimals) or that overflow.
        amounts = pc.cast(batch["matched_amount"], schema.AMOUNT_DECIMAL)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None
    if pc.any(pc.less(amounts, pa.scalar(0, schema.AMOUNT_DECIMAL))).as_py():
        return None
    epoch = dt.date(1970, 1, 1)
    for number in days.cast(pa.int32()).to_pylist():
        when = epoch + dt.timedelta(days=number)
        if not start <= when <= end or periods_in_day(when) != 48:
            return None  # outside the window, or a daylight-saving day: the SQL path explains
    hours = pc.cast(pc.utf8_slice_codeunits(time_of_day.dictionary, 0, 2), pa.int16()).to_numpy()
    halves = pc.equal(pc.utf8_slice_codeunits(time_of_day.dictionary, 3, 5), "30").to_numpy(zero_copy_only=False)
    periods = (1 + 2 * hours + halves).astype(np.int16)[time_of_day.indices.to_numpy()]
    if period.dictionary.to_pylist() != [""]:
        given = period.dictionary.to_pylist()
        if "" in given:
            return None
        given_periods = np.array([int(g) for g in given], dtype=np.int16)[period.indices.to_numpy()]
        if not np.array_equal(given_periods, periods):
            return None
    return pa.table({
        ROW: batch[ROW],
        "icp_id": batch["icp_id"],
        "read_date": days.take(day.indices),
        "read_time": time_of_day.dictionary.take(time_of_day.indices),
        "trading_period": pa.array(periods, pa.int16()),
        "matched_amount": amounts,
        "publish_datetime": instants.take(published.indices),
        "buyer_seller": batch["buyer_seller"],
    })


_YEAR_1000_US = -30610224000 * 10**6   # 1000-01-01: earlier instants have no 4-digit year
_YEAR_10000_US = 253402300800 * 10**6  # 10000-01-01


def type_output_native(batch: pa.Table, start: dt.date, end: dt.date) -> pa.Table | None:
    """``type_output_batch`` for a Parquet or Arrow batch whose columns already have their
    natural types (strings, date32, a decimal amount, a zoned timestamp, an integer
    period): the values are checked as they are instead of being rendered as text and
    parsed again. Returns None, and the caller takes the text path, for any other type,
    any null, or any value the text path might judge differently."""
    if batch.num_rows == 0 or any(batch[c].null_count for c in batch.column_names):
        return None
    types = {c: batch.schema.field(c).type for c in batch.column_names}
    if not (all(types[c] == pa.string() for c in ("icp_id", "read_time", "buyer_seller"))
            and types["read_date"] == pa.date32() and pa.types.is_decimal128(types["matched_amount"])
            and pa.types.is_timestamp(types["publish_datetime"]) and types["publish_datetime"].tz is not None
            and (types.get("trading_period") is None or pa.types.is_integer(types["trading_period"]))):
        return None
    side, time_of_day, day = _distinct(batch["buyer_seller"]), _distinct(batch["read_time"]), _distinct(batch["read_date"])
    if not (_icps_valid(batch["icp_id"]) and _all_match(time_of_day.dictionary, TIME_RE)
            and pc.all(pc.is_in(side.dictionary, pa.array(schema.BUYER_SELLER))).as_py()):
        return None
    try:  # safe casts: refuse amounts that would round or overflow, instants finer than 1 µs
        amounts = pc.cast(batch["matched_amount"], schema.AMOUNT_DECIMAL)
        instants = pc.cast(batch["publish_datetime"], schema.TIMESTAMP)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None
    if pc.any(pc.less(amounts, pa.scalar(0, schema.AMOUNT_DECIMAL))).as_py():
        return None
    bounds = pc.min_max(pc.cast(instants, pa.int64()))
    if not _YEAR_1000_US <= bounds["min"].as_py() <= bounds["max"].as_py() < _YEAR_10000_US:
        return None
    epoch = dt.date(1970, 1, 1)
    for number in day.dictionary.cast(pa.int32()).to_pylist():
        when = epoch + dt.timedelta(days=number)
        if not start <= when <= end or periods_in_day(when) != 48:
            return None  # outside the window, or a daylight-saving day: the SQL path explains
    periods = _periods(time_of_day)
    if "trading_period" in types:
        given = pc.cast(batch["trading_period"], pa.int64()).to_numpy()
        if not np.array_equal(given, periods):
            return None
    return pa.table({
        ROW: batch[ROW],
        "icp_id": batch["icp_id"],
        "read_date": batch["read_date"],
        "read_time": batch["read_time"],
        "trading_period": pa.array(periods, pa.int16()),
        "matched_amount": amounts,
        "publish_datetime": instants,
        "buyer_seller": batch["buyer_seller"],
    })


def _icps_valid(icp: pa.ChunkedArray) -> bool:
    """ICP_RE per row without a regex or a hash: ASCII letters and digits, 1 to 32 bytes
    (ICPs are too many distinct values for checking only the distinct ones to pay)."""
    length = pc.binary_length(icp)
    return all(pc.all(c).as_py() for c in (pc.string_is_ascii(icp), pc.utf8_is_alnum(icp),
                                           pc.greater(length, 0), pc.less_equal(length, schema.ICP_ID_MAX_LEN)))


def _periods(time_of_day: pa.DictionaryArray) -> np.ndarray:
    """Trading period of each "HH:MM:00" on a 48-period day."""
    hours = pc.cast(pc.utf8_slice_codeunits(time_of_day.dictionary, 0, 2), pa.int16()).to_numpy()
    halves = pc.equal(pc.utf8_slice_codeunits(time_of_day.dictionary, 3, 5), "30").to_numpy(zero_copy_only=False)
    return (1 + 2 * hours + halves).astype(np.int16)[time_of_day.indices.to_numpy()]
