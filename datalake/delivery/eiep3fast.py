"""EIEP3 read with Arrow's CSV reader and checked column by column, for the common case of
a clean file: every record well formed, no repeats. Anything else returns None and the
line-by-line reader (``eiep3.read_eiep3``) reads the file again and names each problem.
Checks are at least as strict as the line-by-line reader's, and on the distinct values of a
column where a file repeats them (dates, periods, readings)."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv

from datalake import schema
from datalake.delivery.eiep import ATTRIBUTE_DECIMAL, EiepDelivery, codes, file_columns, raw_reads
from datalake.delivery.eiepfields import Problems, parse_date, parse_scaled
from datalake.delivery.eiep3 import DETAIL_FIELDS, EPOCH, _header, _periods
from datalake.delivery.rawtypes import decimal_array
from datalake.trading import HALF_HOUR_US, midnight_us

NAMES = [f"f{i}" for i in range(len(DETAIL_FIELDS))]
ICP = rf"^[A-Za-z0-9]{{1,{schema.ICP_ID_MAX_LEN}}}$"
TEXT = r"^[\x20-\x7e]{0,64}$"
DATE = r"^[0-9]{2}/[0-9]{2}/[0-9]{4}$"
PERIOD = r"^[0-9]{1,2}$"
ACTIVE = r"^[0-9]{1,12}(\.[0-9]{1,3})?$"  # below eiepfields.MAX_NUMBER
OPTIONAL_NUMBER = r"^([0-9]{1,12}(\.[0-9]{1,6})?)?$"
BLOCK = 4 << 20  # blocks parsed in parallel


def read_eiep3_fast(path: Path, name: str) -> EiepDelivery | None:
    data = path.read_bytes()
    data = data.removeprefix(b"\xef\xbb\xbf")
    end = data.find(b"\n")
    if end < 0 or b'"' in data or b"\r" in data:  # a blank line is an invalid row below
        return None
    problems = Problems(name)
    header = _header(1, [v.strip() for v in data[:end].decode("utf-8", "replace").split(",")], problems)
    body = pa.py_buffer(data).slice(end + 1)  # no copy
    if not body.size:
        return None
    bad: list[int] = []

    def invalid(row: pcsv.InvalidRow) -> str:
        bad.append(row.number)
        return "skip"

    try:
        table = pcsv.read_csv(body, read_options=pcsv.ReadOptions(column_names=NAMES, block_size=BLOCK),
                              parse_options=pcsv.ParseOptions(invalid_row_handler=invalid,
                                                              ignore_empty_lines=False),
                              convert_options=pcsv.ConvertOptions(column_types={n: pa.string() for n in NAMES},
                                                                  strings_can_be_null=False))
    except (pa.ArrowInvalid, UnicodeDecodeError):
        return None
    n = table.num_rows
    if bad or n == 0 or n != header.count:
        return None
    # Columns stay in the reader's chunks: a copy of every column into one array cost more
    # than all the checks.
    col = {field: table[f] for field, f in zip(DETAIL_FIELDS, NAMES)}
    # Every check on a column's distinct values: a file repeats its ICPs, streams and codes.
    # ICPs and streams are encoded once: their codes key the reads, their dictionaries are
    # checked. Columns are hashed two at a time (Arrow's kernels release the interpreter lock).
    with ThreadPoolExecutor(max_workers=2) as pool:
        coded = {f: pool.submit(codes, col[f]) for f in ("ICP", "stream identifier")}
        encoded = {f: pool.submit(_encoded, col[f]) for f in ("trading date", "trading period", "active energy")}
        distinct = {f: pool.submit(pc.unique, values) for f, values in col.items() if f not in coded | encoded}
    distinct = {f: found.result() for f, found in distinct.items()}
    (icp_codes, icp_values), (stream_codes, stream_values) = (found.result() for found in coded.values())
    distinct.update({"ICP": icp_values, "stream identifier": stream_values})
    if _padded(distinct) or distinct["record type"].to_pylist() != ["DET"]:
        return None
    for field, pattern in (("ICP", ICP), ("stream identifier", TEXT), ("reading type", TEXT), ("stream type", TEXT),
                           ("reactive energy", OPTIONAL_NUMBER), ("apparent energy", OPTIONAL_NUMBER)):
        if not _all(pc.match_substring_regex(distinct[field], pattern)):
            return None
    if not _all(pc.is_in(distinct["flow direction"], pa.array(["X", "I"]))):
        return None
    days = _distinct(encoded["trading date"].result(), DATE, lambda v: parse_date(v))
    periods = _distinct(encoded["trading period"].result(), PERIOD, lambda v: int(v) if int(v) >= 1 else None)
    milli = _distinct(encoded["active energy"].result(), ACTIVE, lambda v: parse_scaled(v, 3))
    if days is None or periods is None or milli is None:
        return None
    day_numbers = np.array([(d - EPOCH).days for d in days[0]], dtype=np.int64)
    most = np.array([_periods(d) for d in days[0]], dtype=np.int64)
    day_idx, period_values = days[1], np.asarray(periods[0], dtype=np.int64)[periods[1]]
    if np.any(period_values > most[day_idx]):
        return None
    midnights = np.array([midnight_us(int(d)) for d in day_numbers], dtype=np.int64)
    ends = midnights[day_idx] + period_values * HALF_HOUR_US
    values = np.asarray(milli[0], dtype=np.int64)[milli[1]]
    streams = _absent_to_null(col["stream identifier"], distinct["stream identifier"])
    exports = np.asarray(pc.equal(col["flow direction"], "X").to_numpy(zero_copy_only=False), dtype=np.int64)
    end_codes = (ends - ends.min()) // HALF_HOUR_US
    span = int(end_codes.max()) + 1
    raw_key = (icp_codes * span + end_codes) * 2 + exports
    if not _distinct_keys(raw_key * (int(stream_codes.max()) + 1) + stream_codes):
        return None  # repeats: collapsed or refused, with both lines named, by the other reader
    lines = np.arange(2, n + 2, dtype=np.int64)
    day_values = day_numbers[day_idx]
    pick, totals = _sum_streams(raw_key, values)
    icps, directions = col["ICP"], col["flow direction"]
    if pick is not None:  # streams summed: each read at its first row
        icps, directions = icps.take(pa.array(pick)), directions.take(pa.array(pick))
    at = slice(None) if pick is None else pick
    table, typed = raw_reads(lines[at], icps, directions, icp_codes[at], icp_values, ends[at], day_values[at],
                             period_values[at], exports[at], totals, problems)
    attributes = pa.table({
        "icp_id": col["ICP"],
        "read_timestamp": pa.array(ends, schema.TIMESTAMP),
        "read_date": pa.array(day_values.astype(np.int32), pa.date32()),
        "trading_period": pa.array(period_values.astype(np.int16)),
        "energy_flow_direction": col["flow direction"],
        "stream_id": streams,
        "register_content_code": pa.nulls(n, pa.string()),
        "reading_type": _absent_to_null(col["reading type"], distinct["reading type"]),
        "interval_read": decimal_array(values, schema.READ_DECIMAL),
        "reactive_read": _optional_decimal(col["reactive energy"], distinct["reactive energy"]),
        "apparent_read": _optional_decimal(col["apparent energy"], distinct["apparent energy"]),
        "offset_inferred": pa.repeat(pa.scalar(False), n),
        "line": pa.array(lines),
        **file_columns(header, n),
    })
    return EiepDelivery(header, table, typed, attributes, 0)


def _all(mask: pa.Array) -> bool:
    return mask.null_count == 0 and pc.all(mask).as_py() is not False


def _padded(col: dict[str, pa.Array]) -> bool:
    """Whether any value has spaces around it (the other reader strips them) or is the text
    null (absent, which the other reader handles)."""
    for values in col.values():
        if pc.any(pc.or_(pc.starts_with(values, " "), pc.ends_with(values, " "))).as_py():
            return True
        if pc.any(pc.equal(pc.utf8_lower(values), "null")).as_py():
            return True
    return False


def _distinct(encoded: pa.DictionaryArray, pattern: str, parse) -> tuple[list, np.ndarray] | None:
    """The distinct values of a column (``_encoded``) parsed (None if any fails ``pattern`` or
    ``parse``), and each row's index into them."""
    values = encoded.dictionary
    if not _all(pc.match_substring_regex(values, pattern)):
        return None
    parsed = [parse(v) for v in values.to_pylist()]
    if any(p is None for p in parsed):
        return None
    return parsed, encoded.indices.to_numpy(zero_copy_only=False)


def _absent_to_null(column: pa.ChunkedArray, distinct: pa.Array) -> pa.ChunkedArray:
    """Empty values as null; ``distinct``: the column's distinct values (none empty: no copy)."""
    if not pc.any(pc.equal(distinct, "")).as_py():
        return column
    return pc.if_else(pc.equal(column, ""), pa.scalar(None, pa.string()), column)


def _encoded(column: pa.ChunkedArray) -> pa.DictionaryArray:
    """``column`` dictionary-encoded as one array (the indices copied, not the strings)."""
    return pc.dictionary_encode(column).combine_chunks()


def _optional_decimal(column: pa.ChunkedArray, distinct: pa.Array) -> pa.Array:
    """``column`` as the attributes' DECIMAL(18, 6), empty as null (``distinct``: its values)."""
    if distinct.to_pylist() == [""]:  # the field left empty throughout, as it mostly is
        return pa.nulls(len(column), ATTRIBUTE_DECIMAL)
    encoded = _encoded(column)
    distinct = encoded.dictionary.to_pylist()
    scaled = np.array([parse_scaled(v, 6) or 0 for v in distinct], dtype=np.int64)
    present = np.array([v != "" for v in distinct])
    indices = encoded.indices.to_numpy(zero_copy_only=False)
    values = decimal_array(scaled[indices], ATTRIBUTE_DECIMAL)
    return pc.if_else(pa.array(present[indices]), values, pa.scalar(None, ATTRIBUTE_DECIMAL))


def _distinct_keys(key: np.ndarray) -> bool:
    if len(key) < 2 or bool(np.all(key[1:] > key[:-1])):  # a file in key order: no sort
        return True
    ordered = np.sort(key)
    return not bool(np.any(ordered[1:] == ordered[:-1]))


def _sum_streams(raw_key: np.ndarray, values: np.ndarray) -> tuple[np.ndarray | None, np.ndarray]:
    """One read per (ICP, end, direction): the first row of each (None: every row is its own
    read) in line order, and its sum over the streams."""
    if _distinct_keys(raw_key):
        return None, values
    keys, first, inverse = np.unique(raw_key, return_index=True, return_inverse=True)
    totals = np.zeros(len(keys), dtype=np.int64)
    np.add.at(totals, inverse, values)
    order = np.argsort(first, kind="stable")  # in the order of each key's first line
    return first[order], totals[order]
