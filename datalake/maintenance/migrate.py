"""Moving a lake's format forward, one version at a time.

``lake.json`` declares the format version; ``Lake`` opens only lakes of
``schema.FORMAT_VERSION``. ``STEPS`` maps a version N to the step that turns a lake of
version N into one of version N+1. Every step is

- atomic: it stages its new records under ``_staging/``, moves each into place with a
  rename, and the driver commits the step by rewriting ``lake.json`` last. A step killed
  part-way leaves a lake still declaring version N, with some records already in their
  N+1 shape, which readers of version N must accept (a step only adds what N+1 requires);
- idempotent: it fills only what is missing and verifies what is there, so running it
  again, or finishing a killed run, changes nothing already done.

The driver holds the lake's write lock throughout, so no ingest, publish or compaction
commits meanwhile. A lake newer than the code is refused, never touched.

Version 0 is defined after the fact. Version 1 is the first number this project ever
wrote, but the earliest lakes (before compaction and ``meterlake check`` existed) kept less
in their records than version 1 readers verify: run records listed output files without a
sha256, so a check could not tell a damaged output file from a sound one. Version 0 is that
shape: same layout and Parquet schemas, records that may lack a file's ``sha256``,
``bytes`` or ``rows``. A ``lake.json`` with ``"version": 0``, or none, is version 0. Such
early lakes say ``"version": 1``; ``migrate(..., start=0)`` re-runs the 0 -> 1 step on them.
"""
from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from datalake.storage import commit
from datalake import schema
from datalake.errors import InvalidArgumentError, LakeFormatError, LakeNotFoundError
from datalake.storage.leftovers import staging_folder
from datalake.storage.layout import INGEST_ID_RE, RUN_ID_RE, Layout
from datalake.storage.location import is_local
from datalake.output.blocks import write_output_blocks
from datalake.raw.blocks import write_raw_blocks
from datalake.storage.files import exclusive_lock, fsync_dir, local_copy, move_into_place, read_json, sha256_file



@dataclass(frozen=True)
class Step:
    source: int
    summary: str
    apply: Callable[[Layout, Path], int]  # (layout, private staging folder) -> records rewritten


@dataclass
class MigrationResult:
    lake: str
    found_version: int
    version: int
    steps: list[str] = field(default_factory=list)
    records_rewritten: int = 0
    dry_run: bool = False

    def summary(self) -> str:
        if not self.steps:
            return f"{self.lake}: at version {self.version}, nothing to do"
        verb = "would apply" if self.dry_run else "applied"
        lines = [f"{self.lake}: version {self.found_version} -> {self.version}"]
        lines += [f"  {verb}: {s}" for s in self.steps]
        if not self.dry_run:
            lines.append(f"  records rewritten: {self.records_rewritten}")
        return "\n".join(lines)

    def to_dict(self) -> dict:
        return asdict(self)


def lake_version(layout: Layout) -> int:
    """The format version ``lake.json`` declares (0 when it declares none)."""
    if not layout.lake_record.exists():
        raise LakeNotFoundError(f"no lake at {layout.root} (missing lake.json)")
    info = read_json(layout.lake_record)
    if info.get("format") != schema.FORMAT_NAME:
        raise LakeFormatError(f"{layout.lake_record} is not a meterlake lake record")
    version = info.get("version", 0)
    if not isinstance(version, int) or isinstance(version, bool) or version < 0:
        raise LakeFormatError(f"{layout.lake_record}: version {version!r} is not a format version")
    return version


def check_supported(version: int) -> None:
    if version > schema.FORMAT_VERSION:
        raise LakeFormatError(f"lake format version {version} is newer than this meterlake understands "
                              f"(up to {schema.FORMAT_VERSION}); upgrade meterlake, a migration never "
                              "moves a lake backwards")


def migrate(root: str | os.PathLike[str], *, start: int | None = None, dry_run: bool = False) -> MigrationResult:
    """Move the lake at ``root`` forward to ``schema.FORMAT_VERSION``. ``start`` treats the
    lake as that (earlier or equal) version and re-runs the steps from there: safe, since
    steps are idempotent, and the way to complete records of lakes that declare a version
    their records do not fully have."""
    layout = Layout.at(root)
    with exclusive_lock(layout.write_lock):
        found = lake_version(layout)
        check_supported(found)
        if start is not None and not 0 <= start <= found:
            raise InvalidArgumentError(f"--from must be between 0 and the lake's version {found}, got {start}",
                                       field="from", value=start)
        version = found if start is None else start
        result = MigrationResult(str(layout.root), found, found, dry_run=dry_run)
        while version < schema.FORMAT_VERSION:
            step = STEPS[version]
            result.steps.append(f"{version} -> {version + 1}: {step.summary}")
            if not dry_run:
                with staging_folder(layout) as work:
                    result.records_rewritten += step.apply(layout, work)
                _commit_version(layout, version + 1)
            version += 1
        result.version = version if not dry_run else found
    return result


def _commit_version(layout: Layout, version: int) -> None:
    """The commit of a step: ``lake.json`` rewritten (atomically) with the new version and a
    line of history, after every record the step changed is in place."""
    def change(info: dict) -> dict | None:
        if info.get("version", 0) >= version:
            return None  # a re-run with ``start``: the declared version stands
        history = info.get("migrations", [])
        history.append({"from": info.get("version", 0), "to": version, "at": dt.datetime.now(dt.UTC).isoformat()})
        info.update(version=version, migrations=history)
        return info

    commit.update_locked(layout.lake_record, change)


# -- 0 -> 1 -------------------------------------------------------------------------------

def _fill_file_entries(layout: Layout, work: Path) -> int:
    """Every committed file entry (raw files in commit records, output files in the records
    of published and retracted runs) gets ``rows``, ``bytes`` and ``sha256``, computed from
    the file; entries that have them are verified against the file's size and Parquet
    footer. A missing or mismatching file stops the migration before anything is changed:
    that is damage for ``meterlake check``, not something to paper over."""
    for d in (layout.raw_dir, layout.output_dir, layout.ingests_dir, layout.runs_dir, layout.staging_dir):
        d.mkdir(parents=True, exist_ok=True)
    staged: list[tuple[Path, Path]] = []
    records = [(p, schema.RAW_FILE_SCHEMA) for p in sorted(layout.ingests_dir.glob("ing-*.json"))
               if INGEST_ID_RE.match(p.stem)]
    records += [(p, schema.OUTPUT_FILE_SCHEMA) for p in sorted(layout.runs_dir.glob("run-*.json"))
                if RUN_ID_RE.match(p.stem)]
    for path, expected in records:
        record = read_json(path)
        if path.parent == layout.runs_dir and record.get("status") not in ("published", "retracted"):
            continue
        changed = False
        for entry in record.get("files") or []:
            changed |= _fill_entry(layout, entry, expected, where=path.name)
        if changed:
            target = work / path.parent.name / path.name
            target.parent.mkdir(exist_ok=True)
            target.write_text(json.dumps(record, indent=2, sort_keys=True, default=str) + "\n")
            with open(target, "rb") as f:
                os.fsync(f.fileno())
            staged.append((target, path))
    # Everything verified and staged: now each record is replaced by a rename.
    for source, target in staged:
        os.replace(source, target)
    for folder in {t.parent for _, t in staged}:
        fsync_dir(folder)
    return len(staged)


def _fill_entry(layout: Layout, entry: dict, expected: pa.Schema, *, where: str) -> bool:
    path = layout.absolute(entry["path"])
    try:
        size = path.stat().st_size
        meta = pq.read_metadata(path)
    except FileNotFoundError:
        raise LakeFormatError(f"{where}: committed file {entry['path']} is missing; "
                              "run `meterlake check` before migrating") from None
    found = meta.schema.to_arrow_schema().remove_metadata()
    if not found.equals(expected.remove_metadata()):
        raise LakeFormatError(f"{where}: {entry['path']} does not have the lake's schema")
    actual = {"rows": meta.num_rows, "bytes": size}
    for key, value in actual.items():
        if key in entry and entry[key] != value:
            raise LakeFormatError(f"{where}: {entry['path']} has {value} {key}, its record says {entry[key]}")
    missing = {k: v for k, v in actual.items() if k not in entry}
    if not entry.get("sha256"):
        missing["sha256"] = sha256_file(path)
    entry.update(missing)
    return bool(missing)


# -- 1 -> 2 -------------------------------------------------------------------------------

def _write_block_files(layout: Layout, work: Path) -> int:
    """The block file (``blocks.py``) of every data file that a record names and that is
    still there: raw files of commit records, output files of published and retracted runs,
    written where ``layout.blocks_of`` puts it. Files that have one keep it; no record
    changes (a block file is found by its data file's path)."""
    for path in sorted(layout.ingests_dir.glob("ing-*.json")):
        if INGEST_ID_RE.match(path.stem):
            for entry in read_json(path).get("files") or []:
                _write_block_file(layout, work, entry, lambda local, staged, day: write_raw_blocks(local, staged, day))
    for path in sorted(layout.runs_dir.glob("run-*.json")):
        record = read_json(path) if RUN_ID_RE.match(path.stem) else {}
        if record.get("status") in ("published", "retracted"):
            for entry in record.get("files") or []:
                _write_block_file(layout, work, entry, lambda local, staged, day: write_output_blocks(
                    local, staged, read_date=day, run_id=record["run_id"]))
    return 0


def _write_block_file(layout: Layout, work: Path, entry: dict, write: Callable[[Path, Path, dt.date], int]) -> None:
    data = layout.absolute(entry["path"])
    target = layout.blocks_of(data)
    if target.exists() or not data.exists():
        return
    local = local_copy(data, work)
    staged = work / f"{data.stem}.blocks"
    write(local, staged, dt.date.fromisoformat(entry["read_date"]))
    move_into_place(staged, target)
    if local != data:
        local.unlink()


# -- 2 -> 3 -------------------------------------------------------------------------------

def _add_attributes_folder(layout: Layout, work: Path) -> int:
    """The folder of the attributes files of EIEP deliveries (``attributes.py``). Nothing
    already in the lake changes: a commit record without ``attributes`` has none, as every
    ingest of a CSV, Parquet or Arrow delivery."""
    if is_local(layout.attributes_dir):
        layout.attributes_dir.mkdir(parents=True, exist_ok=True)
    return 0


STEPS: dict[int, Step] = {
    0: Step(0, "record rows, bytes and sha256 of every committed raw and output file", _fill_file_entries),
    1: Step(1, "write the block file of every committed raw and output file", _write_block_files),
    2: Step(2, "add attributes/ for the stream, register and status of reads from EIEP files",
            _add_attributes_folder),
}
