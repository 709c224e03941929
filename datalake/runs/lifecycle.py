"""Algorithm runs: create, upload output parts, publish all at once, abort, retract.

A run's record (``_meta/runs/<run_id>.json``) is its single source of truth, and rewriting
it is the commit point of every transition: open -> published -> retracted, open ->
aborted. Uploaded parts are validated row by row on upload and kept, typed, in the run's
parts folder under ``_staging`` (never read by queries). Publish checks the whole run
(duplicate keys across parts), writes the per-date Parquet files in a private staging
folder, moves the finished run folder into ``output/`` and writes the record last; readers
find published runs through the records only, so a publisher that dies at any point leaves
nothing visible, and the next writer removes what it left behind.
"""
from __future__ import annotations

import copy
import datetime as dt
import itertools
import json
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.ipc as ipc

from datalake.storage import checkpoint
from datalake.storage import commit
from datalake import schema
from datalake import sql
from datalake.runs.coverage import refuse_partial
from datalake.errors import (ConflictError, InvalidArgumentError, NotFoundError, RowError, ValidationError,
                     environment_errors)
from datalake.lake import STORE_POLL_S, Lake, check_range, parse_date
from datalake.storage.location import is_local
from datalake.storage.layout import check_run_id, run_id as make_run_id
from datalake.output.blocks import write_staged_blocks
from datalake.runs.outputtypes import type_output_batch, type_output_native
from datalake.runs.publication import publish_files, run_stats
from datalake.runs.totals import write_icp_index
from datalake.delivery.sources import ROW, Format, detect_format, insert_bad_rows, read_batches, source_columns, text_columns
from datalake.storage.files import fsync_file, local_copy, read_json, read_json_versioned, remove_tree, sha256_file, version

STATUSES = ("open", "published", "retracted", "aborted")
MEMORY_LIMIT = "2GB"

# A staged part: the typed rows plus where each came from, for error reports at publish.
PART_SCHEMA = pa.schema([
    pa.field("icp_id", pa.string(), nullable=False),
    pa.field("read_date", pa.date32(), nullable=False),
    pa.field("read_time", pa.string(), nullable=False),
    pa.field("trading_period", pa.int16(), nullable=False),
    pa.field("matched_amount", schema.AMOUNT_DECIMAL, nullable=False),
    pa.field("publish_datetime", schema.TIMESTAMP, nullable=False),
    pa.field("buyer_seller", pa.string(), nullable=False),
    pa.field("_part", pa.int32(), nullable=False),
    pa.field("_row", pa.int64(), nullable=False),
])

_cache: dict[Path, tuple[tuple, dict, float]] = {}  # path -> (version, record, when checked)
_cache_lock = threading.Lock()


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat()


# -- records ----------------------------------------------------------------------------

def _load(lake: Lake, run: str, *, fresh: bool = False) -> dict:
    """The run's record, re-read only when the file changed (records are replaced, never
    edited in place, so ``storage.version`` identifies one). On an object store, where
    asking is a request, a record checked less than ``STORE_POLL_S`` ago is reused unless
    ``fresh`` (writers, under the write lock)."""
    path = lake.layout.run_record(run)
    with _cache_lock:
        hit = _cache.get(path)
    if (hit is not None and not fresh and not is_local(path)
            and time.monotonic() - hit[2] < STORE_POLL_S):
        return hit[1]
    try:
        key = version(path)
    except FileNotFoundError:
        raise NotFoundError(f"no run {run}", field="run_id", value=run) from None
    hit = (key, read_json(path) if hit is None or hit[0] != key else hit[1], time.monotonic())
    with _cache_lock:
        _cache[path] = hit
    return hit[1]


def _listed(lake: Lake, run_id: str, listed_version: tuple, saved: dict[str, tuple[tuple, dict]]) -> dict | None:
    """The record of a run listed at ``listed_version``: from the cache or the newest run
    checkpoint if either holds that version, else read (None if removed since)."""
    path = lake.layout.run_record(run_id)
    with _cache_lock:
        hit = _cache.get(path)
    if hit is None or hit[0] != listed_version:
        held = saved.get(run_id)
        if held is not None and held[0] == listed_version:
            hit = (listed_version, held[1], time.monotonic())
        else:
            try:
                record, read_version = read_json_versioned(path)
            except FileNotFoundError:
                return None
            hit = (read_version, record, time.monotonic())
        with _cache_lock:
            _cache[path] = hit
    return hit[1]


def _update(lake: Lake, run_id: str, change, based_on: dict | None = None) -> dict:
    """Change a run's record through ``commit.update``: only if no other writer changed it
    meanwhile (since ``based_on``, the record the caller started from), else ``change`` runs
    again on the new record."""
    path = lake.layout.run_record(run_id)
    try:
        record = commit.update(lake, path, change, describe=_describe, based_on=based_on)
    except FileNotFoundError:
        raise NotFoundError(f"no run {run_id}", field="run_id", value=run_id) from None
    finally:
        with _cache_lock:
            _cache.pop(path, None)
    checkpoint.after_run_change(lake)
    return record


def _describe(record: dict) -> str:
    status = record["status"]
    by = record.get(f"{status}_by")
    return f"{record['run_id']} {status}" + (f" by {by}" if by else "") + (
        f" at {record[f'{status}_at']}" if record.get(f"{status}_at") else "")


def _require(record: dict, status: str, action: str) -> None:
    if record["status"] != status:
        raise ConflictError(f"cannot {action} run {record['run_id']}: it is {record['status']}, not {status}",
                            field="status", value=record["status"])


def get_run(lake: Lake, run_id: str) -> dict:
    """The record of one run."""
    check_run_id(run_id)
    return copy.deepcopy(_load(lake, run_id))


def run_record(lake: Lake, run_id: str) -> dict:
    """``get_run`` without the copy, for readers in the engine that do not modify it."""
    check_run_id(run_id)
    return _load(lake, run_id)


def list_runs(lake: Lake, *, status: str | None = None, start: dt.date | str | None = None,
              end: dt.date | str | None = None) -> list[dict]:
    """Run records, oldest first, optionally only those in ``status`` or whose window
    overlaps ``start``..``end``."""
    return copy.deepcopy(records(lake, status=status, start=start, end=end))


def records(lake: Lake, *, status: str | None = None, start: dt.date | str | None = None,
            end: dt.date | str | None = None, fresh: bool = False) -> list[dict]:
    """``list_runs`` without the copies, for readers in the engine that do not modify them."""
    if status is not None and status not in STATUSES:
        raise InvalidArgumentError(f"status must be one of {', '.join(STATUSES)}, got {status!r}",
                                   field="status", value=status)
    start = parse_date(start, "start") if start is not None else None
    end = parse_date(end, "end") if end is not None else None
    found = []
    listed = lake.versions(lake.layout.runs_dir, checkpoint.RUN_RECORDS, fresh=fresh)
    saved = checkpoint.saved_runs(lake, fresh=fresh)[1] if listed else {}
    for name, listed_version in listed.items():
        record = _listed(lake, name.removesuffix(".json"), listed_version, saved)
        if record is None:
            continue
        if status is not None and record["status"] != status:
            continue
        if start is not None and record["end"] < start.isoformat():
            continue
        if end is not None and record["start"] > end.isoformat():
            continue
        found.append(record)
    return found


def output_files(lake: Lake, run_id: str) -> dict[dt.date, list[str]]:
    """The Parquet files of a published (or retracted) run by trading date, from its
    record: readers never list folders, so they see only committed files."""
    record = _load(lake, run_id)
    if record["status"] not in ("published", "retracted"):
        raise ConflictError(f"run {run_id} is {record['status']}: only published runs can be read",
                            field="run", value=run_id)
    files: dict[dt.date, list[str]] = {}
    for f in record["files"]:
        files.setdefault(dt.date.fromisoformat(f["read_date"]), []).append(str(lake.root / f["path"]))
    return files


# -- transitions --------------------------------------------------------------------------

@environment_errors
def create_run(lake: Lake, *, start: dt.date | str, end: dt.date | str, algorithm: str, version: str,
               params: dict | None = None, raw_as_of: str | None = None, actor: str | None = None) -> dict:
    """Open a new run over trading dates ``start``..``end`` (inclusive). ``raw_as_of`` is
    the ingest the algorithm read; it defaults to the lake's latest."""
    start, end = parse_date(start, "start"), parse_date(end, "end")
    check_range(start, end)
    for name, value in (("algorithm", algorithm), ("version", version)):
        if not isinstance(value, str) or not value.strip() or len(value) > 200:
            raise InvalidArgumentError(f"{name} must be a non-empty string of at most 200 characters",
                                       field=name, value=value)
    params = {} if params is None else params
    try:
        if not isinstance(params, dict):
            raise TypeError
        json.dumps(params)
    except (TypeError, ValueError):
        raise InvalidArgumentError("params must be a JSON object", field="params", value=str(params)) from None
    if raw_as_of is not None:
        lake.ingest(raw_as_of)
    raw_as_of = raw_as_of or lake.head_ingest()

    def next_record() -> Path:
        seqs = [int(n[4:12]) for n in lake.names(lake.layout.runs_dir, "run-*.json", fresh=True)]
        return lake.layout.run_record(make_run_id(max(seqs, default=0) + 1))

    record = commit.create(lake, next_record, lambda path: {
        "run_id": path.name.removesuffix(".json"),
        "status": "open",
        "start": start.isoformat(), "end": end.isoformat(),
        "algorithm": algorithm, "version": version, "params": params, "raw_as_of": raw_as_of,
        "created_at": _now(), "created_by": actor,
        "published_at": None, "published_by": None, "publish_seq": None,
        "retracted_at": None, "retracted_by": None, "aborted_at": None, "aborted_by": None,
        "parts": [], "rows": 0, "totals": {}, "icps": None, "missing_icps": None,
        "missing_icps_sample": [], "missing_dates": [], "dates": [], "files": [], "icp_index": None,
    })
    checkpoint.after_run_change(lake)
    return copy.deepcopy(record)


@environment_errors
def upload_part(lake: Lake, run_id: str, part: int, path: str | os.PathLike[str], *, fmt: Format | None = None,
                source_name: str | None = None, actor: str | None = None) -> dict:
    """Validate one part of a run's output (CSV in the brief's format, Parquet or Arrow
    IPC) and keep it for publish; uploading the same part number again replaces it. Any
    bad row raises ``ValidationError`` and leaves the run as it was. Returns the part's
    entry in the run record."""
    record = get_run(lake, run_id)
    target = lake.layout.run_part_file(run_id, part, commit.token())
    _require(record, "open", "upload to")
    path = Path(path)
    if not path.is_file():
        raise InvalidArgumentError(f"no such file: {path}", field="file", value=str(path))
    fmt = fmt or detect_format(path)
    window = dt.date.fromisoformat(record["start"]), dt.date.fromisoformat(record["end"])
    with lake.staging() as work:
        staged = work / "part.arrow"
        con = _LazyConnection(work)
        try:
            rows, dates, typed = _validate_part(con, path, part, fmt, window)
            if typed is not None:
                _write_part(staged, _by_date(typed, part))
            else:
                # By date only: publish reads one date at a time and sorts it by icp_id itself.
                reader = con.sql("SELECT * FROM valid ORDER BY read_date"
                                 ).to_arrow_reader(schema.ROW_GROUP_ROWS)
                _write_part(staged, (pa.Table.from_batches([b]) for b in reader))
        finally:
            con.close()
        entry = {"part": part, "rows": rows, "dates": dates, "source_name": source_name or path.name,
                 "format": fmt, "bytes": path.stat().st_size, "sha256": sha256_file(path),
                 "uploaded_at": _now(), "uploaded_by": actor}
        def change(current: dict, placed: commit.Staged) -> dict:
            _require(current, "open", "upload to")
            entry["path"] = lake.layout.relative(placed.add(staged, target))
            current["parts"] = sorted([p for p in current["parts"] if p["part"] != part] + [entry],
                                      key=lambda p: p["part"])
            current["rows"] = sum(p["rows"] for p in current["parts"])
            return current

        replaced = next((p for p in record["parts"] if p["part"] == part), None)
        _update(lake, run_id, change)
    # The part this one replaced: unnamed by the record now (the run's folder goes when it closes).
    if replaced is not None:
        _part_file(lake, run_id, replaced).unlink(missing_ok=True)
    return {"run_id": run_id, **entry}


class _LazyConnection:
    """The DuckDB connection of an upload, opened (with its ``valid`` and ``rejects``
    tables) only when a batch needs SQL: a part that types in Arrow never opens one."""

    def __init__(self, work: Path) -> None:
        self.work = work
        self.con: duckdb.DuckDBPyConnection | None = None

    @property
    def opened(self) -> bool:
        return self.con is not None

    def __getattr__(self, name: str):
        if self.con is None:
            con = sql.connect(memory_limit=MEMORY_LIMIT, temp_directory=str(self.work / "spill"))
            con.execute("""CREATE TABLE valid (icp_id VARCHAR, read_date DATE, read_time VARCHAR,
                           trading_period SMALLINT, matched_amount DECIMAL(18, 4),
                           publish_datetime TIMESTAMPTZ, buyer_seller VARCHAR, _part INTEGER, _row BIGINT)""")
            con.execute("CREATE TABLE rejects (row BIGINT, field VARCHAR, value VARCHAR, reason VARCHAR)")
            self.con = con
        return getattr(self.con, name)

    def close(self) -> None:
        if self.con is not None:
            self.con.close()


def _validate_part(con: _LazyConnection, path: Path, part: int, fmt: Format, window: tuple[dt.date, dt.date]
                   ) -> tuple[int, list[str], pa.Table | None]:
    """Check every row of a part. Returns its row count, first and last date, and, when
    every batch typed in Arrow, the typed rows (else they are in table ``valid`` of ``con``)."""
    source = f"part {part}"
    optional = [c for c in schema.OUTPUT_OPTIONAL_COLUMNS if c in source_columns(path, fmt)]
    columns = [*schema.OUTPUT_INPUT_COLUMNS, *optional]
    validate = sql.query("output_validate_batch")
    params = {"start": window[0], "end": window[1]}
    typed_batches: list[pa.Table] = []
    in_duckdb = False
    for batch in read_batches(path, columns, name=source, fmt=fmt, native=True):
        if batch.bad_rows:
            insert_bad_rows(con, batch)
        typed = type_output_native(batch.table, *window) if fmt != "csv" else None
        if typed is None:
            # Strip padding and quotes (`101, "0.0000"`) here: Arrow does it 20x faster than SQL
            # trim (CSV fields come stripped already).
            text = ({c: batch.table[c] for c in columns} if fmt == "csv"
                    else {c: pc.utf8_trim(v, ' "') for c, v in text_columns(batch.table, columns, source, fmt).items()})
            table = pa.table({ROW: batch.table[ROW], **text})
            if "trading_period" not in optional:
                table = table.append_column("trading_period", pa.repeat("", table.num_rows).cast(pa.string()))
            typed = type_output_batch(table, *window)
        if typed is not None:
            if in_duckdb:
                _insert_typed(con, typed, part)
            else:
                typed_batches.append(typed)
            continue
        if not in_duckdb:  # from here on the rows gather in DuckDB
            for earlier in typed_batches:
                _insert_typed(con, earlier, part)
            typed_batches, in_duckdb = [], True
        con.register("batch", table)
        con.execute(f"CREATE OR REPLACE TEMP TABLE checked AS {validate}", params)
        con.unregister("batch")
        con.execute("INSERT INTO rejects SELECT _row, error_field, error_value, error_reason "
                    "FROM checked WHERE error_field IS NOT NULL")
        con.execute("INSERT INTO valid SELECT icp_id, read_date, read_time, trading_period, matched_amount, "
                    "publish_datetime, buyer_seller, $part, _row FROM checked WHERE error_field IS NULL",
                    {"part": part})
    total = con.execute("SELECT count(*) FROM rejects").fetchall()[0][0] if con.opened else 0
    if total:
        rows = con.execute("SELECT row, field, value, reason FROM rejects ORDER BY row NULLS FIRST LIMIT $n",
                           {"n": ValidationError.MAX_REPORTED}).fetchall()
        raise ValidationError(f"{source}: nothing uploaded", [RowError(source, *r) for r in rows], total)
    if not in_duckdb:
        typed = pa.concat_tables(typed_batches) if typed_batches else None
        if typed is None or typed.num_rows == 0:
            raise ValidationError(f"{source}: nothing uploaded", [RowError(source, None, None, None, "no rows")], 1)
        bounds = pc.min_max(typed["read_date"])
        return typed.num_rows, [bounds["min"].as_py().isoformat(), bounds["max"].as_py().isoformat()], typed
    rows, first, last = con.execute("SELECT count(*), min(read_date), max(read_date) FROM valid").fetchall()[0]
    if rows == 0:
        raise ValidationError(f"{source}: nothing uploaded", [RowError(source, None, None, None, "no rows")], 1)
    return rows, [first.isoformat(), last.isoformat()], None


def _insert_typed(con, typed: pa.Table, part: int) -> None:
    con.register("typed", typed)
    con.execute("INSERT INTO valid SELECT * EXCLUDE (_row), $part, _row FROM typed", {"part": part})
    con.unregister("typed")


def _write_part(path: Path, tables: Iterator[pa.Table]) -> None:
    """A staged part as an Arrow IPC file, each date in record batches of its own: written
    and read back (memory-mapped, by publish) for little more than a copy."""
    with pa.OSFile(str(path), "wb") as sink, ipc.new_file(sink, PART_SCHEMA) as writer:
        for table in tables:
            if table.num_rows:
                writer.write_table(table.cast(PART_SCHEMA), max_chunksize=schema.ROW_GROUP_ROWS)
    fsync_file(path)


def _part_file(lake: Lake, run_id: str, entry: dict) -> Path:
    """Where an uploaded part is: its entry names it; older lakes kept it under a fixed name."""
    if entry.get("path"):
        return lake.layout.absolute(entry["path"])
    path = lake.layout.run_part_file(run_id, entry["part"])
    legacy = lake.layout.legacy_run_part_file(run_id, entry["part"])
    return legacy if not path.exists() and legacy.exists() else path


def _by_date(typed: pa.Table, part: int) -> Iterator[pa.Table]:
    """A part's typed rows in the staged layout, one table per date in date order, rows in
    their upload order within a date: publish reads one date at a time (one date per row
    group lets it pick that date's rows by the group statistics)."""
    days = typed["read_date"].cast(pa.int32()).to_numpy()
    if len(days) > 1 and not bool(np.all(days[1:] >= days[:-1])):
        order = np.argsort(days, kind="stable")
        typed, days = typed.take(pa.array(order)), days[order]
    staged = pa.table({
        **{f.name: typed[f.name] for f in PART_SCHEMA if f.name not in ("_part", "_row")},
        "_part": pa.repeat(pa.scalar(part, pa.int32()), typed.num_rows),
        "_row": typed[ROW],
    })
    edges = [0, *(np.flatnonzero(np.diff(days)) + 1).tolist(), len(days)]
    for lo, hi in itertools.pairwise(edges):
        yield staged.slice(lo, hi - lo)


@environment_errors
def publish_run(lake: Lake, run_id: str, *, actor: str | None = None, allow_partial: bool = False) -> dict:
    """Check the whole run and make it visible at once. Fails (nothing published) with
    ``ValidationError`` on duplicate keys; with ``coverage.PartialRunError`` if a date of the
    window has no rows or an ICP with raw reads in the window has no output, unless
    ``allow_partial``; with ``ConflictError`` if the run is not open or another writer
    changed it meanwhile (e.g. a racing publish that won)."""
    record = get_run(lake, run_id)
    _require(record, "open", "publish")
    if not record["parts"]:
        raise ConflictError(f"cannot publish run {run_id}: no parts uploaded", field="parts", value=0)
    with lake.staging() as work:
        con = sql.connect(memory_limit=MEMORY_LIMIT, temp_directory=str(work / "spill"))
        try:
            parts = [str(local_copy(_part_file(lake, run_id, p), work)) for p in record["parts"]]
            folder = work / "run"
            files = publish_files(con, parts, folder, run_id)
            block_files = write_staged_blocks(folder, files, run_id, work / "blocks")
            index = work / "icps.parquet"
            write_icp_index(files, block_files, index)
            start, end = dt.date.fromisoformat(record["start"]), dt.date.fromisoformat(record["end"])
            stats, cov = run_stats(con, files, folder, index, lake.raw_files(start, end, record["raw_as_of"])
                                   if record["raw_as_of"] else [], record["raw_as_of"], start, end)
            refuse_partial(run_id, cov, allow_partial=allow_partial)
        except (duckdb.Error, OSError):
            # Parts vanish when a racing publish wins or the run is aborted: report that.
            current = _load(lake, run_id, fresh=True)
            _require(current, "open", "publish")
            if current["parts"] != record["parts"]:
                raise ConflictError(f"run {run_id} changed while it was being published; publish it again",
                                    field="parts") from None
            raise
        finally:
            con.close()
        def change(current: dict, placed: commit.Staged) -> dict:
            _require(current, "open", "publish")
            if current["parts"] != record["parts"]:
                raise ConflictError(f"run {run_id} changed while it was being published; publish it again",
                                    field="parts")
            name = commit.token()
            published = []
            for f, local_blocks in zip(files, block_files):
                target = placed.add(folder / f["path"],
                                    lake.layout.output_file(run_id, dt.date.fromisoformat(f["read_date"]), token=name))
                placed.add(local_blocks, lake.layout.blocks_of(target))  # one commit with the data file
                published.append({**f, "path": lake.layout.relative(target)})
            icps = placed.add(index, lake.layout.run_icp_index(run_id, name))
            seq = max((r["publish_seq"] or 0 for r in records(lake, fresh=True)), default=0) + 1
            current.update(status="published", published_at=_now(), published_by=actor, publish_seq=seq,
                           files=published, dates=[f["read_date"] for f in files],
                           icp_index=lake.layout.relative(icps), partial=allow_partial and cov.partial, **stats)
            return current

        current = _update(lake, run_id, change, based_on=record)
    remove_tree(lake.layout.run_parts_dir(run_id))
    return copy.deepcopy(current)


@environment_errors
def abort_run(lake: Lake, run_id: str, *, actor: str | None = None) -> dict:
    """Give up an open run: it will never publish, and its uploaded parts are removed."""
    record = _transition(lake, run_id, "open", "aborted", "abort", actor)
    remove_tree(lake.layout.run_parts_dir(run_id))
    return record


@environment_errors
def retract_run(lake: Lake, run_id: str, *, actor: str | None = None) -> dict:
    """Withdraw a published run from "latest"; its files stay readable by run id."""
    return _transition(lake, run_id, "published", "retracted", "retract", actor)


def _transition(lake: Lake, run_id: str, before: str, after: str, action: str, actor: str | None) -> dict:
    based_on = _load(lake, run_id, fresh=True)

    def change(record: dict, placed: commit.Staged) -> dict:
        _require(record, before, action)
        record.update({"status": after, f"{after}_at": _now(), f"{after}_by": actor})
        return record

    return _update(lake, run_id, change, based_on=based_on)
