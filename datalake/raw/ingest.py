"""Ingest of raw deliveries: validate every row, collapse duplicates, keep only new values
and revisions, and commit them as one atomic ingest."""
from __future__ import annotations

import datetime as dt
import os
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal

import pyarrow as pa

from datalake import sql
from datalake.delivery import checked
from datalake.delivery.eiep import EIEP_FORMATS
from datalake.delivery.eiepfiles import read_eiep
from datalake.delivery.sources import Batch, Format, detect_format
from datalake.errors import InvalidArgumentError, environment_errors
from datalake.lake import Lake
from datalake.raw.attributes import stage_attributes, write_attributes
from datalake.raw.blocks import write_raw_blocks
from datalake.raw.general import collapse_duplicates, find_changes, load, write_changes, write_rejects
from datalake.raw.typed import TypedDelivery, delivery_table, read_typed, write_sorted
from datalake.storage import commit
from datalake.storage.files import sha256_file
from datalake.trading import EPOCH

OnError = Literal["fail", "quarantine"]
Progress = Callable[[int, int], None]



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
        batches = [Batch(eiep.table, [], size, eiep.typed)] if eiep is not None else None
        attributes = eiep.attributes if eiep is not None else None
        source = {"name": name, "format": fmt, "bytes": size, "sha256": digest}
        if eiep is not None:
            source.update(eiep.source_fields())
        delivery = read_typed(path, name, fmt, progress, size, batches)
        if delivery is not None:
            _ingest_fast(lake, delivery, work, result, actor=actor, memory_limit=memory_limit, source=source,
                         attributes=attributes)
            return done()
        con = sql.connect(memory_limit=memory_limit, temp_directory=str(work / "spill"))
        try:
            load(con, path, name, fmt, progress, size, batches)
            rejected, conflicting, result.duplicates_collapsed = collapse_duplicates(con)
            result.rows_read = con.execute(sql.query("raw/valid_count")).fetchall()[0][0] + rejected - conflicting
            result.rows_rejected = rejected
            if rejected and on_error == "fail":
                raise checked.validation_error(con, name, f"{name}: nothing ingested", rejected)
            if rejected:
                result.rejects_file = write_rejects(lake, con, name, digest)
            dates = [r[0] for r in con.execute(sql.query("raw/delivery_dates")).fetchall()]
            result.dates = [d.isoformat() for d in dates]
            if not dates:
                result.reason = "no valid rows"
                return done()
            keys = con.execute(sql.query("raw/delivery_key_count")).fetchall()[0][0]
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
    find_changes(con, lake, dates)
    result.rows_new, result.rows_revised, kept = con.execute(sql.query("raw/change_counts")).fetchall()[0]
    result.rows_unchanged = keys - kept
    if kept == 0:
        result.reason = "every row is already stored with the same value"
        return None
    return _prepared(lake, ingest, lambda: write_block_files(write_changes(con, work, ingest)), staged, result, kept,
                     actor=actor, source=source, attributes=attributes, work=work)


def _prepared(lake: Lake, ingest: str, write_files: Callable[[], list[tuple[dt.date, Path, int]]],
              staged: commit.Staged, result: IngestResult, kept: int, *, actor: str | None, source: dict,
              attributes: pa.Table | None = None, work: Path | None = None) -> dict:
    """The record of commit ``ingest``, its files staged: ``write_files`` writes the raw
    files and their block files; the attributes file, if any, is written at the same time in
    a second thread (the Parquet and zstd encoders release the interpreter lock)."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        pending = pool.submit(write_attributes, attributes, ingest, work) if attributes is not None else None
        record = ingest_record(lake, ingest, write_files(), staged, actor=actor, source=source,
                               rows={"read": result.rows_read, "new": result.rows_new,
                                     "revised": result.rows_revised, "unchanged": result.rows_unchanged,
                                     "duplicates_collapsed": result.duplicates_collapsed,
                                     "rejected": result.rows_rejected, "stored": kept},
                               rejects_file=result.rejects_file)
        if pending is not None:
            record["attributes"] = stage_attributes(lake, pending.result(), ingest, staged)
    return record


def _committed(result: IngestResult, record: dict | None) -> None:
    if record is not None:
        result.status, result.ingest_id, result.reason = "committed", record["ingest_id"], None


def _ingest_fast(lake: Lake, delivery: TypedDelivery, work: Path, result: IngestResult, *, actor: str | None,
                 memory_limit: str, source: dict, attributes: pa.Table | None = None) -> None:
    result.rows_read = len(delivery)
    dates = [EPOCH + dt.timedelta(days=day) for day, _, _ in delivery.day_bounds]
    result.dates = [d.isoformat() for d in dates]
    _committed(result, commit.append(lake, lambda ingest, staged: _prepare_fast(
        lake, delivery, work, result, dates, ingest, staged, actor=actor, memory_limit=memory_limit,
        source=source, attributes=attributes), retry=True))


def _prepare_fast(lake: Lake, delivery: TypedDelivery, work: Path, result: IngestResult, dates: list[dt.date],
                  ingest: str, staged: commit.Staged, *, actor: str | None, memory_limit: str,
                  source: dict, attributes: pa.Table | None = None) -> dict | None:
    wanted = set(dates)
    if any(f.read_date in wanted for f in lake.raw_files(min(dates), max(dates))):
        # Some dates already hold reads: compare with them in DuckDB.
        con = sql.connect(memory_limit=memory_limit, temp_directory=str(work / "spill"))
        try:
            con.register("delivery_rows", delivery_table(delivery))
            con.execute(sql.query("raw/delivery_from_rows"))
            return _prepare_changes(lake, con, work, result, dates, len(delivery), ingest, staged,
                                    actor=actor, source=source, attributes=attributes)
        finally:
            con.close()
    if (previous := ingest_with_hash(lake, source["sha256"])) is not None:
        result.reason = f"content already ingested as {previous}"
        return None
    result.rows_new, result.rows_revised, result.rows_unchanged = len(delivery), 0, 0
    return _prepared(lake, ingest, lambda: write_sorted(delivery, work, ingest), staged, result, len(delivery),
                     actor=actor, source=source, attributes=attributes, work=work)


def ingest_with_hash(lake: Lake, digest: str) -> str | None:
    for record in lake.ingests():
        if record["source"].get("sha256") == digest:
            return record["ingest_id"]
    return None


def write_block_files(files: list[tuple[dt.date, Path, int]]) -> list[tuple[dt.date, Path, int]]:
    """Write the block file of each staged raw file beside it (``.blocks``), two at a time;
    returns ``files``."""
    with ThreadPoolExecutor(max_workers=2) as pool:
        list(pool.map(lambda f: write_raw_blocks(f[1], f[1].with_suffix(".blocks"), f[0]), files))
    return files


def ingest_record(lake: Lake, ingest: str, files: list[tuple[dt.date, Path, int]], staged: commit.Staged, *,
                  source: dict, rows: dict, actor: str | None, rejects_file: str | None = None) -> dict:
    """Stage the per-date files of commit ``ingest``, each with its block file beside it,
    and return its record, for ``commit.append`` to make visible."""
    entries = []
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
