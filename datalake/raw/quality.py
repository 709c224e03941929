"""Completeness of the raw reads: for each trading date and direction, how many ICPs have
every interval of the day and how many are short, with the intervals expected, present and
missing, the reads revised after their first delivery and the latest ingest that touched
the date; and the same figures for one ICP.

The ICPs of a direction are those with at least one read in that direction on a date of the
range asked for (in the snapshot read): an ICP absent on one of its dates counts as short by
the whole day there. An interval is present when its key (icp_id, read_timestamp,
energy_flow_direction) has a read; ``expected_intervals`` is the day's trading periods, 46, 48
or 50 (``trading.periods_in_day``). A read is *revised* when its key was delivered more than
once up to the snapshot. Counts come from the block files of the raw files (``rawblocks``):
only the ICP names, row counts and directions of a block are needed when a date is one file
holding one revision of each key; other dates compare keys.
"""
from __future__ import annotations

import datetime as dt
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from datalake.storage import blocks
from datalake.raw import blocks as rawblocks
from datalake import schema
from datalake.errors import InvalidArgumentError
from datalake.lake import Lake, RawFile, check_range, parse_date
from datalake.storage.layout import ingest_id, ingest_seq
from datalake.raw.reads import check_icp_id
from datalake.trading import EPOCH, periods_in_day

MAX_DAYS = 366
WORKERS = 2  # dates read at a time
DIRECTIONS = schema.DIRECTIONS  # code 0 I, 1 X, as in the block files
REPORT_SCHEMA = pa.schema([
    pa.field("read_date", pa.date32()),
    pa.field("energy_flow_direction", pa.string()),
    pa.field("expected_intervals", pa.int64()),
    pa.field("icps", pa.int64()),
    pa.field("icps_complete", pa.int64()),
    pa.field("icps_short", pa.int64()),
    pa.field("present_intervals", pa.int64()),
    pa.field("missing_intervals", pa.int64()),
    pa.field("revised_reads", pa.int64()),
    pa.field("latest_ingest", pa.string()),
])
ICP_SCHEMA = pa.schema([
    pa.field("read_date", pa.date32()),
    pa.field("energy_flow_direction", pa.string()),
    pa.field("expected_intervals", pa.int64()),
    pa.field("present_intervals", pa.int64()),
    pa.field("missing_intervals", pa.int64()),
    pa.field("complete", pa.bool_()),
    pa.field("revised_reads", pa.int64()),
    pa.field("latest_ingest", pa.string()),
])


@dataclass
class _Day:
    """One date's figures per direction code: the ICPs present, their intervals present,
    reads revised, the highest ingest number (0: none)."""

    icps: list[list[bytes]]
    present: list[np.ndarray]
    revised: list[int]
    latest: int


def _window(start: dt.date | str, end: dt.date | str) -> tuple[dt.date, dt.date]:
    start, end = parse_date(start, "start"), parse_date(end, "end")
    check_range(start, end)
    if (days := (end - start).days + 1) > MAX_DAYS:
        raise InvalidArgumentError(f"quality covers at most {MAX_DAYS} dates a request; {start}..{end} is {days} "
                                   "dates: split the range", field="end", value=str(end))
    return start, end


def reads_quality(lake: Lake, start: dt.date | str, end: dt.date | str, *, as_of: str | None = None) -> pa.Table:
    """The completeness report of trading dates ``start``..``end`` (at most 366), per date
    and direction, of the raw snapshot as of ingest ``as_of`` (default: the newest)."""
    start, end = _window(start, end)
    files = lake.raw_files(start, end, as_of)
    by_day: dict[dt.date, list[RawFile]] = {}
    for f in files:
        by_day.setdefault(f.read_date, []).append(f)
    cutoff = ingest_seq(as_of) if as_of is not None else None
    with ThreadPoolExecutor(max_workers=WORKERS) as pool:  # block reads and numpy release the GIL
        days = dict(zip(by_day, pool.map(lambda fs: _day(fs, cutoff), by_day.values())))
    populations = []
    for code in range(len(DIRECTIONS)):
        seen: set[bytes] = set()
        last: list[bytes] | None = None
        for day in days.values():
            if day.icps[code] != last:  # most dates have the ICPs of the one before: no set work
                seen.update(day.icps[code])
                last = day.icps[code]
        populations.append(len(seen))
    rows: dict[str, list] = {f.name: [] for f in REPORT_SCHEMA}
    for i in range((end - start).days + 1):
        when = start + dt.timedelta(days=i)
        expected = periods_in_day(when)
        day = days.get(when)
        for code in (1, 0):  # X, then I
            if not populations[code]:
                continue
            present = day.present[code] if day else np.zeros(0, np.int64)
            complete = int((present >= expected).sum())
            for name, value in (("read_date", when), ("energy_flow_direction", DIRECTIONS[code]),
                                ("expected_intervals", expected), ("icps", populations[code]),
                                ("icps_complete", complete), ("icps_short", populations[code] - complete),
                                ("present_intervals", int(present.sum())),
                                ("missing_intervals", populations[code] * expected - int(present.sum())),
                                ("revised_reads", day.revised[code] if day else 0),
                                ("latest_ingest", ingest_id(day.latest) if day and day.latest else None)):
                rows[name].append(value)
    return pa.table(rows, schema=REPORT_SCHEMA)


def _day(files: list[RawFile], cutoff: int | None) -> _Day:
    """The figures of one date's raw files, rows of ingests after ``cutoff`` left out."""
    only = files[0]
    if len(files) == 1 and only.unique_keys and (cutoff is None or ingest_seq(only.max_ingest_id) <= cutoff):
        return _one_revision(only)
    return _compared(files, cutoff)


def _one_revision(f: RawFile) -> _Day:
    """A file holding each key once: an ICP's intervals of a direction are its rows. The
    blocks' ICP names, row counts and directions are gathered, then counted once."""
    bf = blocks.footers.get(f.blocks)
    ids: list[bytes] = []
    counts, codes = [], []
    for i in range(len(bf.firsts)):
        block = bf.read_block(i)
        ids += block.ids
        counts.append(block.counts)
        codes.append(block.code)
    if not ids:
        return _Day([[], []], [np.zeros(0, np.int64)] * 2, [0, 0], ingest_seq(f.max_ingest_id))
    rows = np.concatenate(counts).astype(np.int64)
    starts = np.concatenate([[0], np.cumsum(rows[:-1])])
    code = np.concatenate(codes)
    if int(starts[-1] + rows[-1]) != len(code):
        raise blocks.BlockFileError(f"{f.blocks}: row counts do not match the rows")
    # code is 0 or 1 and an ICP has at most 65,535 rows in a block: u16 sums are exact.
    extracted = np.add.reduceat(code.view(np.uint8), starts, dtype=np.uint16).astype(np.int64)
    out_ids: list[list[bytes]] = []
    present = []
    for counts_of in (rows - extracted, extracted):  # code 0 I, 1 X
        has = np.flatnonzero(counts_of)
        present.append(counts_of[has])
        out_ids.append(ids if len(has) == len(ids) else [ids[j] for j in has.tolist()])
    return _Day(out_ids, present, [0, 0], ingest_seq(f.max_ingest_id))


def _compared(files: list[RawFile], cutoff: int | None) -> _Day:
    """Files of one date that may hold a key more than once: keys are compared."""
    names: dict[bytes, int] = {}
    pieces = []
    for f in files:
        bf = blocks.footers.get(f.blocks)
        for i in range(len(bf.firsts)):
            block = bf.read_block(i)
            if not block.rows:
                continue
            codes = np.array([names.setdefault(n, len(names)) for n in block.ids], np.int64)
            icp = np.repeat(codes, np.diff(block.row_offsets))
            seq = block.seq()
            keep = slice(None) if cutoff is None else seq <= cutoff
            pieces.append((icp[keep], block.period[keep].astype(np.int64), block.code[keep].astype(np.int64),
                           seq[keep]))
    if not pieces:
        return _Day([[], []], [np.zeros(0, np.int64)] * 2, [0, 0], 0)
    icp, period, code, seq = (np.concatenate([p[k] for p in pieces]) for k in range(4))
    keys, deliveries = np.unique((icp * 64 + period) * 2 + code, return_counts=True)
    stream = keys // 128 * 2 + keys % 2  # (icp, direction) of each key
    streams, present = np.unique(stream, return_counts=True)
    ids = list(names)
    out_ids: list[list[bytes]] = [[], []]
    out_present = []
    for c in (0, 1):
        mine = streams % 2 == c
        out_ids[c] = [ids[j] for j in (streams[mine] // 2).tolist()]
        out_present.append(present[mine])
    revised = [int(((deliveries > 1) & (keys % 2 == c)).sum()) for c in (0, 1)]
    return _Day(out_ids, out_present, revised, int(seq.max()) if len(seq) else 0)


def icp_quality(lake: Lake, icp_id: str, start: dt.date | str, end: dt.date | str, *,
                as_of: str | None = None) -> pa.Table:
    """The completeness of one ICP's reads per date and direction (the directions it has
    in the range), as in ``reads_quality``."""
    check_icp_id(icp_id)
    start, end = _window(start, end)
    files = lake.raw_files(start, end, as_of)
    rows = rawblocks.icp_rows([(f.read_date, f.blocks) for f in files], icp_id)
    if as_of is not None:
        rows = rows.take(np.flatnonzero(rows.seq <= ingest_seq(as_of)))
    key = (rows.day.astype(np.int64) * 64 + rows.period) * 2 + rows.code
    keys, deliveries = np.unique(key, return_counts=True)
    latest: dict[int, int] = {}
    for k, s in zip(key.tolist(), rows.seq.tolist()):
        stream = (k // 128) * 2 + k % 2
        latest[stream] = max(latest.get(stream, 0), s)
    out: dict[str, list] = {f.name: [] for f in ICP_SCHEMA}
    codes = sorted({int(c) for c in rows.code.tolist()}, reverse=True)  # X, then I
    for i in range((end - start).days + 1):
        when = start + dt.timedelta(days=i)
        day = (when - EPOCH).days
        expected = periods_in_day(when)
        for code in codes:
            mine = (keys // 128 == day) & (keys % 2 == code)
            present = int(mine.sum())
            for name, value in (("read_date", when), ("energy_flow_direction", DIRECTIONS[code]),
                                ("expected_intervals", expected), ("present_intervals", present),
                                ("missing_intervals", expected - present), ("complete", present >= expected),
                                ("revised_reads", int((mine & (deliveries > 1)).sum())),
                                ("latest_ingest", ingest_id(latest[day * 2 + code])
                                 if latest.get(day * 2 + code) else None)):
                out[name].append(value)
    return pa.table(out, schema=ICP_SCHEMA)
