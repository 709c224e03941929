"""Ingest of raw deliveries: validate every row, collapse duplicates, keep only new values
and revisions, and commit them as one atomic ingest."""
from __future__ import annotations

import csv
import datetime as dt
import itertools
import os
import queue
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal, TypeVar

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from datalake.storage import commit
from datalake import schema
from datalake import sql
from datalake.errors import InvalidArgumentError, RowError, ValidationError, environment_errors
from datalake.lake import Lake
from datalake.storage.parquet import write_parquet
from datalake.raw.blocks import write_raw_blocks
from datalake.delivery.rawtypes import TypedReads, decimal_array, type_batch, type_reads
from datalake.raw.attributes import stage_attributes
from datalake.delivery.eiep import EIEP_FORMATS
from datalake.delivery.eiepfiles import read_eiep
from datalake.delivery.sources import Batch, Format, detect_format, insert_bad_rows, read_batches
from datalake.trading import EPOCH
from datalake.storage.files import move_into_place, sha256_file

OnError = Literal["fail", "quarantine"]
T = TypeVar("T")
Progress = Callable[[int, int], None]

_VALID_COLUMNS = "_row, icp_id, read_timestamp, read_date, trading_period, interval_read, energy_flow_direction"
_DELIVERY_COLUMNS = "icp_id, read_timestamp, energy_flow_direction, read_date, trading_period, interval_read"


@dataclass
class IngestResult:
    status: Literal["committed", "noop"]
    source: str
    ingest_id: str | None = None
    reason: str | None = None
    rows_read: int = 0
    duplicates_collapsed: int = 0
    rows_new: int = 0
    rows_revised: int = 0
    rows_unchanged: int = 0
    rows_rejected: int = 0
    dates: list[str] = field(default_factory=list)
    rejects_file: str | None = None
    seconds: float = 0.0

    def summary(self) -> str:
        span = f"{self.dates[0]}..{self.dates[-1]}" if self.dates else "none"
        head = (f"ingested {self.source} as {self.ingest_id}" if self.status == "committed"
                else f"no-op for {self.source}: {self.reason}")
        tail = f"; rejects in {self.rejects_file}" if self.rejects_file else ""
        return (f"{head}: {self.rows_read:,} rows read, {self.rows_new:,} new, "
                f"{self.rows_revised:,} revisions, {self.rows_unchanged:,} unchanged, "
                f"{self.duplicates_collapsed:,} duplicates collapsed, {self.rows_rejected:,} rejects, "
                f"{len(self.dates)} dates ({span}), {self.seconds:.1f} s{tail}")

    def to_dict(self) -> dict:
        return asdict(self)


@environment_errors
def ingest_file(lake: Lake, path: str | os.PathLike[str], *, on_error: OnError = "fail",
                source_name: str | None = None, fmt: Format | None = None, actor: str | None = None,
                progress: Progress | None = None, memory_limit: str = "4GB") -> IngestResult:
    """Ingest one delivery of raw reads. With ``on_error="fail"`` any bad row raises
    ``ValidationError`` and nothing is written; with ``"quarantine"`` the good rows are
    ingested and the bad ones written, with their reasons, to a rejects file. A full disk or
    a store that fails a request raises ``StorageFullError`` or ``StoreError`` (nothing
    committed)."""
    started = time.monotonic()
    path = Path(path)
    if not path.is_file():
        raise InvalidArgumentError(f"no such file: {path}", field="file", value=str(path))
    name = source_name or path.name
    fmt = fmt or detect_format(path)
    digest = sha256_file(path)
    size = path.stat().st_size
    result = IngestResult(status="noop", source=name)

    def done() -> IngestResult:
        result.seconds = time.monotonic() - started
        return result

    if (previous := ingest_with_hash(lake, digest)) is not None:
        result.reason = f"content already ingested as {previous}"
        return done()

    with lake.staging() as work:
        # An EIEP file is checked whole first (a bad record, a wrong count or a conflict
        # rejects it), then its reads take the path of every other format.
        eiep = read_eiep(path, fmt, name) if fmt in EIEP_FORMATS else None
        batches = [Batch(eiep.table, [], size)] if eiep is not None else None
        attributes = eiep.attributes if eiep is not None else None
        source = {"name": name, "format": fmt, "bytes": size, "sha256": digest}
        if eiep is not None:
            source.update(eiep.source_fields())
        delivery = _read_fast(path, name, fmt, progress, size, batches)
        if delivery is not None:
            _ingest_fast(lake, delivery, work, result, actor=actor, memory_limit=memory_limit, source=source,
                         attributes=attributes)
            return done()
        con = sql.connect(memory_limit=memory_limit, temp_directory=str(work / "spill"))
        try:
            _load(con, path, name, fmt, progress, size, batches)
            rejected, conflicting = _collapse_duplicates(con, result)
            result.rows_read = con.execute("SELECT count(*) FROM valid").fetchall()[0][0] + rejected - conflicting
            result.rows_rejected = rejected
            if rejected and on_error == "fail":
                raise _validation_error(con, name, rejected)
            if rejected:
                result.rejects_file = _write_rejects(lake, con, name, digest)
            dates = [r[0] for r in con.execute("SELECT DISTINCT read_date FROM delivery ORDER BY 1").fetchall()]
            result.dates = [d.isoformat() for d in dates]
            if not dates:
                result.reason = "no valid rows"
                return done()
            keys = con.execute("SELECT count(*) FROM delivery").fetchall()[0][0]
            _committed(result, commit.append(lake, lambda ingest, staged: _prepare_changes(
                lake, con, work, result, dates, keys, ingest, staged, actor=actor, source=source,
                attributes=attributes), retry=True))
        finally:
            con.close()
    return done()


def _prepare_changes(lake: Lake, con, work: Path, result: IngestResult, dates: list[dt.date], keys: int,
                     ingest: str, staged: commit.Staged, *, actor: str | None, source: dict,
                     attributes: pa.Table | None = None) -> dict | None:
    """Compare the ``delivery`` view's ``keys`` keys with what the lake holds on ``dates``
    now, and write the new and revised rows as commit ``ingest``; None when there is nothing
    to commit (the same content, or every row, is already stored)."""
    if (previous := ingest_with_hash(lake, source["sha256"])) is not None:
        result.reason = f"content already ingested as {previous}"
        return None
    _find_changes(con, lake, dates)
    result.rows_new, result.rows_revised, kept = con.execute(sql.query("raw/change_counts")).fetchall()[0]
    result.rows_unchanged = keys - kept
    if kept == 0:
        result.reason = "every row is already stored with the same value"
        return None
    return _prepared(lake, ingest, _write_changes(con, work, ingest), staged, result, kept,
                     actor=actor, source=source, attributes=attributes, work=work)


def _prepared(lake: Lake, ingest: str, files: list[tuple[dt.date, Path, int]], staged: commit.Staged,
              result: IngestResult, kept: int, *, actor: str | None, source: dict,
              attributes: pa.Table | None = None, work: Path | None = None) -> dict:
    record = ingest_record(lake, ingest, files, staged, actor=actor, source=source,
                           rows={"read": result.rows_read, "new": result.rows_new,
                                 "revised": result.rows_revised, "unchanged": result.rows_unchanged,
                                 "duplicates_collapsed": result.duplicates_collapsed,
                                 "rejected": result.rows_rejected, "stored": kept},
                           rejects_file=result.rejects_file)
    if attributes is not None:
        record["attributes"] = stage_attributes(lake, attributes, ingest, staged, work)
    return record


def _committed(result: IngestResult, record: dict | None) -> None:
    if record is not None:
        result.status, result.ingest_id, result.reason = "committed", record["ingest_id"], None


# -- the fast path: a delivery whose every row is valid and whose keys are distinct -----------

# The fast path holds the whole delivery in memory (about 55 bytes a row: 4.2 GB for 78M
# rows); a larger delivery goes through DuckDB, which spills to disk within its memory limit.
FAST_PATH_MAX_ROWS = 150_000_000

@dataclass
class _Delivery:
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


def _read_fast(path: Path, name: str, fmt: Format, progress: Progress | None, size: int,
               batches: list[Batch] | None = None) -> _Delivery | None:
    """The delivery typed without DuckDB, or None when any row is bad (or any key repeats):
    the general path then reads it again and explains or collapses those rows. ``batches``:
    the delivery already read (an EIEP file), instead of reading ``path``."""
    pieces: list[TypedReads] = []
    rows = 0
    try:
        for batch in batches if batches is not None else prefetched(
                read_batches(path, schema.RAW_INPUT_COLUMNS, name=name, fmt=fmt, dictionary=True)):
            typed = type_reads(batch.table) if not batch.bad_rows else None
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
    return _Delivery(icps, codes, timestamps, days, periods, milli, exports, order,
                     [(int(ordered_days[lo]), lo, hi) for lo, hi in zip(starts, ends)])


def prefetched(items: Iterator[T], depth: int = 1) -> Iterator[T]:
    """``items``, produced in a background thread up to ``depth`` ahead, so that reading and
    parsing the next batch overlaps with the work on this one (both release the GIL)."""
    ready: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()
    end = object()

    def produce() -> None:
        try:
            for item in items:
                while not stop.is_set():
                    try:
                        ready.put((item, None), timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            ready.put((end, None))
        except BaseException as e:  # handed to the consumer
            ready.put((end, e))

    worker = threading.Thread(target=produce, name="prefetch", daemon=True)
    worker.start()
    try:
        while True:
            item, error = ready.get()
            if item is end:
                if error is not None:
                    raise error
                return
            yield item
    finally:
        stop.set()
        while worker.is_alive():
            try:
                ready.get(timeout=0.1)
            except queue.Empty:
                pass
        worker.join()


def _ingest_fast(lake: Lake, delivery: _Delivery, work: Path, result: IngestResult, *, actor: str | None,
                 memory_limit: str, source: dict, attributes: pa.Table | None = None) -> None:
    result.rows_read = len(delivery)
    dates = [EPOCH + dt.timedelta(days=day) for day, _, _ in delivery.day_bounds]
    result.dates = [d.isoformat() for d in dates]
    _committed(result, commit.append(lake, lambda ingest, staged: _prepare_fast(
        lake, delivery, work, result, dates, ingest, staged, actor=actor, memory_limit=memory_limit,
        source=source, attributes=attributes), retry=True))


def _prepare_fast(lake: Lake, delivery: _Delivery, work: Path, result: IngestResult, dates: list[dt.date],
                  ingest: str, staged: commit.Staged, *, actor: str | None, memory_limit: str,
                  source: dict, attributes: pa.Table | None = None) -> dict | None:
    wanted = set(dates)
    if any(f.read_date in wanted for f in lake.raw_files(min(dates), max(dates))):
        # Some dates already hold reads: compare with them in DuckDB.
        con = sql.connect(memory_limit=memory_limit, temp_directory=str(work / "spill"))
        try:
            con.register("delivery_rows", _delivery_table(delivery))
            con.execute(f"CREATE VIEW delivery AS SELECT {_DELIVERY_COLUMNS} FROM delivery_rows")
            return _prepare_changes(lake, con, work, result, dates, len(delivery), ingest, staged,
                                    actor=actor, source=source, attributes=attributes)
        finally:
            con.close()
    if (previous := ingest_with_hash(lake, source["sha256"])) is not None:
        result.reason = f"content already ingested as {previous}"
        return None
    result.rows_new, result.rows_revised, result.rows_unchanged = len(delivery), 0, 0
    return _prepared(lake, ingest, _write_sorted(delivery, work, ingest), staged, result, len(delivery),
                     actor=actor, source=source, attributes=attributes, work=work)


def _delivery_table(delivery: _Delivery) -> pa.Table:
    return pa.table({
        "icp_id": delivery.icp_values.take(pa.array(delivery.icp_codes)),
        "read_timestamp": pa.array(delivery.timestamps_us, schema.TIMESTAMP),
        "energy_flow_direction": pa.array(schema.DIRECTIONS).take(pa.array(delivery.exports.astype(np.int8))),
        "read_date": pa.array(delivery.days, pa.date32()),
        "trading_period": pa.array(delivery.periods),
        "interval_read": decimal_array(delivery.milli, schema.READ_DECIMAL),
    })


def _write_sorted(delivery: _Delivery, work: Path, ingest: str) -> list[tuple[dt.date, Path, int]]:
    """One sorted Parquet file per trading date; dates are written in parallel (the Parquet
    encoder releases the GIL)."""
    directions = pa.array(schema.DIRECTIONS)

    def write(bounds: tuple[int, int, int]) -> tuple[dt.date, Path, int]:
        day, lo, hi = bounds
        pick = delivery.order[lo:hi] if delivery.order is not None else slice(lo, hi)
        n = hi - lo
        table = pa.table({
            "icp_id": delivery.icp_values.take(pa.array(delivery.icp_codes[pick])),
            "read_timestamp": pa.array(delivery.timestamps_us[pick], schema.TIMESTAMP),
            "trading_period": pa.array(delivery.periods[pick]),
            "interval_read": decimal_array(delivery.milli[pick], schema.READ_DECIMAL),
            "energy_flow_direction": directions.take(pa.array(delivery.exports[pick].astype(np.int8))),
            "ingest_id": pa.repeat(pa.scalar(ingest, pa.string()), n),
        })
        date = EPOCH + dt.timedelta(days=day)
        path = work / f"{date.isoformat()}.parquet"
        rows = write_parquet(path, schema.RAW_FILE_SCHEMA, table.to_batches(schema.ROW_GROUP_ROWS),
                             options=schema.RAW_WRITE_OPTIONS)
        return date, path, rows

    with ThreadPoolExecutor(max_workers=max(1, min(os.cpu_count() or 1, 4))) as pool:
        return list(pool.map(write, delivery.day_bounds))


def ingest_with_hash(lake: Lake, digest: str) -> str | None:
    for record in lake.ingests():
        if record["source"].get("sha256") == digest:
            return record["ingest_id"]
    return None


def _load(con, path: Path, name: str, fmt: Format, progress: Progress | None, size: int,
          batches: list[Batch] | None = None) -> None:
    con.execute("""CREATE TABLE valid (_row BIGINT, icp_id VARCHAR, read_timestamp TIMESTAMPTZ,
                   read_date DATE, trading_period SMALLINT, interval_read DECIMAL(18, 3),
                   energy_flow_direction VARCHAR)""")
    con.execute("CREATE TABLE rejects (row BIGINT, field VARCHAR, value VARCHAR, reason VARCHAR)")
    validate = sql.query("raw/validate_batch")
    try:
        for batch in batches if batches is not None else read_batches(path, schema.RAW_INPUT_COLUMNS, name=name,
                                                                       fmt=fmt):
            _load_batch(con, batch, validate)
            if progress:
                progress(batch.bytes_done, size)
    except ValidationError as e:  # the file itself is unreadable
        raise ValidationError(f"{e.summary}; nothing ingested", e.errors, e.total) from None


def _load_batch(con, batch: Batch, validate: str) -> None:
    insert_bad_rows(con, batch)
    typed = type_batch(batch.table)
    if typed is not None:
        con.register("typed", typed)
        con.execute("INSERT INTO valid SELECT * FROM typed")
        con.unregister("typed")
        return
    con.register("batch", batch.table)
    con.execute(f"CREATE OR REPLACE TEMP TABLE checked AS {validate}")
    con.unregister("batch")
    con.execute("INSERT INTO rejects SELECT _row, error_field, error_value, error_reason "
                "FROM checked WHERE error_field IS NOT NULL")
    con.execute(f"INSERT INTO valid SELECT {_VALID_COLUMNS} FROM checked WHERE error_field IS NULL")


def _collapse_duplicates(con, result: IngestResult) -> tuple[int, int]:
    """Build ``delivery``: one row per key, conflicting keys left out and their rows added
    to the rejects. Returns (rejected rows, of which conflicting)."""
    con.execute(sql.query("raw/delivery_duplicates"))
    if con.execute("SELECT count(*) FROM dup_keys").fetchall()[0][0] == 0:
        con.execute(f"CREATE VIEW delivery AS SELECT {_DELIVERY_COLUMNS} FROM valid")
        conflicting = 0
    else:
        con.execute(f"INSERT INTO rejects {sql.query('raw/delivery_conflicts')}")
        con.execute(sql.query("raw/delivery_collapsed"))
        conflicting, result.duplicates_collapsed = con.execute(
            "SELECT coalesce(sum(copies) FILTER (n_values > 1), 0), "
            "coalesce(sum(copies - 1) FILTER (n_values = 1), 0) FROM dup_keys").fetchall()[0]
    return con.execute("SELECT count(*) FROM rejects").fetchall()[0][0], conflicting


def _validation_error(con, name: str, total: int) -> ValidationError:
    rows = con.execute("SELECT row, field, value, reason FROM rejects ORDER BY row NULLS FIRST LIMIT $n",
                       {"n": ValidationError.MAX_REPORTED}).fetchall()
    errors = [RowError(name, r, f, v, why) for r, f, v, why in rows]
    return ValidationError(f"{name}: nothing ingested", errors, total)


def _write_rejects(lake: Lake, con, name: str, digest: str) -> str:
    target = lake.layout.rejects_file(digest[:16])
    lake.layout.staging_dir.mkdir(parents=True, exist_ok=True)
    tmp = lake.layout.staging_dir / f".{target.name}.{os.getpid()}.tmp"
    with open(tmp, "w", newline="") as f:
        out = csv.writer(f)
        out.writerow(["source", "row", "field", "value", "reason"])
        for row in con.execute("SELECT row, field, value, reason FROM rejects ORDER BY row").fetchall():
            out.writerow([name, *row])
    move_into_place(tmp, target)
    return lake.layout.relative(target)


def _find_changes(con, lake: Lake, dates: list[dt.date]) -> None:
    con.execute("DROP TABLE IF EXISTS changes")  # from an attempt that lost a race
    con.execute("DROP VIEW IF EXISTS changes")
    wanted = set(dates)
    stored = [str(f.path) for f in lake.raw_files(min(dates), max(dates)) if f.read_date in wanted]
    if stored:
        con.execute(sql.query("raw/delivery_changes"), {"files": stored})
    else:
        con.execute("CREATE VIEW changes AS SELECT *, false AS is_revision FROM delivery")


def _write_changes(con, work: Path, ingest: str) -> list[tuple[dt.date, Path, int]]:
    """Write the ``changes`` table as one sorted Parquet file per trading date, from a single
    sorted scan."""
    reader = con.sql(sql.query("raw/changes_sorted"), params={"ingest_id": ingest}
                     ).to_arrow_reader(schema.ROW_GROUP_ROWS)
    staged = []
    for day, batches in itertools.groupby(_split_by_date(reader), key=lambda piece: piece[0]):
        path = work / f"{day.isoformat()}.parquet"
        rows = write_parquet(path, schema.RAW_FILE_SCHEMA, (batch for _, batch in batches),
                             options=schema.RAW_WRITE_OPTIONS)
        staged.append((day, path, rows))
    return staged


def _split_by_date(reader: pa.RecordBatchReader) -> Iterator[tuple[dt.date, pa.RecordBatch]]:
    """Pieces of date-sorted batches, each of one read_date, without that column."""
    for batch in reader:
        days = batch.column("read_date").cast(pa.int32()).to_numpy()
        data = batch.drop_columns(["read_date"])
        edges = [0, *(np.flatnonzero(np.diff(days)) + 1), len(days)]
        for lo, hi in itertools.pairwise(edges):
            if hi > lo:
                yield EPOCH + dt.timedelta(days=int(days[lo])), data.slice(lo, hi - lo)


def write_block_files(files: list[tuple[dt.date, Path, int]]) -> None:
    """Write the block file of each staged raw file beside it (``.blocks``), two at a time."""
    with ThreadPoolExecutor(max_workers=2) as pool:
        list(pool.map(lambda f: write_raw_blocks(f[1], f[1].with_suffix(".blocks"), f[0]), files))


def ingest_record(lake: Lake, ingest: str, files: list[tuple[dt.date, Path, int]], staged: commit.Staged, *,
                  source: dict, rows: dict, actor: str | None, rejects_file: str | None = None) -> dict:
    """Stage the per-date files of commit ``ingest`` and return its record, for
    ``commit.append`` to make visible."""
    entries = []
    write_block_files(files)
    for day, path, count in files:
        target = staged.add(path, lake.layout.raw_file(day, ingest, commit.token()))
        staged.add(path.with_suffix(".blocks"), lake.layout.blocks_of(target))
        entries.append({"read_date": day.isoformat(), "path": lake.layout.relative(target), "rows": count,
                        "bytes": path.stat().st_size, "sha256": sha256_file(path)})
    return {
        "ingest_id": ingest,
        "committed_at": dt.datetime.now(dt.UTC).isoformat(),
        "actor": actor,
        "source": source,
        "rows": rows,
        "dates": sorted(f["read_date"] for f in entries),
        "files": entries,
        "rejects_file": rejects_file,
    }
