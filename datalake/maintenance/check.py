"""Verifying a lake: every committed file present and intact, schemas as declared, every
ingest's rows all there, run records (their stage and publish_seq too) and alias records
well formed; and finding (or removing) what killed writers left behind."""
from __future__ import annotations

import contextlib
import datetime as dt
import functools
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from datalake.storage import blocks
from datalake import schema
from datalake import sql
from datalake.raw.attributes import ATTRIBUTES_FILE_SCHEMA
from datalake.lake import COMPACTION, Lake
from datalake.maintenance.records import check_aliases, check_stage
from datalake.storage.layout import INGEST_ID_RE, RUN_ID_RE
from datalake.output.blocks import write_output_blocks
from datalake.raw.blocks import write_raw_blocks
from datalake.runs.record import STATUSES
from datalake.storage.files import (exclusive_lock, local_copy, move_into_place, read_json, read_json_lines, read_json_versioned,
                      sha256_file)


@dataclass
class CheckReport:
    problems: list[str] = field(default_factory=list)   # damage: the lake is not as recorded
    leftovers: list[str] = field(default_factory=list)  # uncommitted work of writers that died
    removed: bool = False
    commits: int = 0
    raw_files: int = 0
    runs: int = 0
    output_files: int = 0
    aliases: int = 0

    @property
    def ok(self) -> bool:
        return not self.problems

    def summary(self) -> str:
        lines = [f"checked {self.commits} commits, {self.raw_files} raw files, {self.runs} runs, "
                 f"{self.output_files} output files, {self.aliases} aliases: "
                 + ("ok" if self.ok else f"{len(self.problems)} problem(s)")]
        lines += [f"  problem: {p}" for p in self.problems]
        verb = "removed" if self.removed else "left over (remove with --repair)"
        lines += [f"  {verb}: {p}" for p in self.leftovers]
        return "\n".join(lines)

    def to_dict(self) -> dict:
        return {**asdict(self), "ok": self.ok}


def check_lake(lake: Lake, *, repair: bool = False, checksums: bool = True) -> CheckReport:
    """Check ``lake`` and report problems and leftovers; with ``repair``, remove the
    leftovers. The commit records and the file list are read under the write lock, then the
    committed files, which never change, are read and hashed without it (writers go on
    meanwhile; only a vacuum with a grace period shorter than the check could remove one of
    them). Leftovers are looked for under the lock again, so that no writer is caught between
    moving its files into place and writing its record."""
    report = CheckReport()
    with exclusive_lock(lake.layout.write_lock):
        records = _commit_records(lake, report)
        current = lake.raw_files() if records is not None else []
    if records is not None:
        _check_raw(lake, records, current, report, checksums)
        for record in records:  # the attributes file of an EIEP delivery
            if entry := record.get("attributes"):
                _check_file(lake.layout.absolute(entry["path"]), entry["path"], entry, ATTRIBUTES_FILE_SCHEMA,
                            report, checksums)
        _check_block_files(lake, current, report, repair)
    statuses = _check_runs(lake, report, checksums)
    _check_run_checkpoints(lake, report)
    check_aliases(lake, statuses, report)
    if report.ok:  # what is a leftover follows from the records: only when they are sound
        with exclusive_lock(lake.layout.write_lock):
            found = lake.remove_abandoned(dry_run=not repair)
        report.leftovers += sorted(lake.layout.relative(p) for p in found)
        report.removed = repair
    return report


def _read(lake: Lake, path: Path, read, what: str, report: CheckReport):
    """``read(path)``, or None with the problem reported when the file cannot be read."""
    try:
        return read(path)
    except (OSError, ValueError) as e:
        report.problems.append(f"{lake.layout.relative(path)}: unreadable {what} ({e})")
        return None


def _commit_records(lake: Lake, report: CheckReport) -> list[dict] | None:
    records = []
    for path in sorted(lake.layout.ingests_dir.glob("ing-*.json")):
        if (record := _read(lake, path, read_json, "commit record", report)) is None:
            return None
        if record.get("ingest_id") != path.stem or not INGEST_ID_RE.match(path.stem):
            report.problems.append(f"{lake.layout.relative(path)}: names commit {record.get('ingest_id')!r}")
        if not isinstance(record.get("files"), list):
            report.problems.append(f"{lake.layout.relative(path)}: no file list")
            return None
        records.append(record)
    report.commits = len(records)
    _check_checkpoints(lake, records, report)
    return records


def _check_checkpoints(lake: Lake, records: list[dict], report: CheckReport) -> None:
    """Each checkpoint holds exactly the records up to its id, as their own files say."""
    by_id = {r["ingest_id"]: r for r in records}
    for path in sorted(lake.layout.checkpoints_dir.glob("ing-*.jsonl")):
        if (held := _read(lake, path, read_json_lines, "checkpoint", report)) is None:
            continue
        expected = [by_id.get(i) for i in sorted(i for i in by_id if i <= path.stem)]
        if json.loads(json.dumps(expected, default=str)) != held:
            report.problems.append(f"{lake.layout.relative(path)}: does not hold the commit records up to "
                                   f"{path.stem} as their files do")


def _check_raw(lake: Lake, records: list[dict], current: list, report: CheckReport, checksums: bool) -> None:
    entries = {f["path"]: f for r in records for f in r["files"]}
    expected_rows = {r["ingest_id"]: sum(f["rows"] for f in r["files"])
                     for r in records if r.get("kind", "ingest") != COMPACTION}
    report.raw_files = len(current)
    present = []
    for f in current:
        relative = lake.layout.relative(f.path)
        if _check_file(f.path, relative, entries[relative], schema.RAW_FILE_SCHEMA, report, checksums):
            present.append(str(f.path))
    if len(present) != len(current) or not present:
        return
    # Every ingest fully visible exactly once: its rows in the snapshot equal its record's.
    con = sql.connect()
    try:
        found = dict(con.execute(sql.query("raw/rows_by_ingest"), {"files": present}).fetchall())
    finally:
        con.close()
    for ingest in sorted(set(expected_rows) | set(found)):
        if found.get(ingest, 0) != expected_rows.get(ingest, 0):
            report.problems.append(f"ingest {ingest}: {found.get(ingest, 0):,} rows in the raw files, "
                                   f"its record says {expected_rows.get(ingest, 0):,}")


def _check_block_files(lake: Lake, current: list, report: CheckReport, repair: bool) -> None:
    """Each current raw file's and each published or retracted run's output file's block
    file opens and holds its rows. A block file is derived from its Parquet, so ``repair``
    writes a missing or damaged one again from it."""
    files = [(f.path, f.rows, f.read_date, write_raw_blocks) for f in current]
    for path in sorted(lake.layout.runs_dir.glob("run-*.json")):
        with contextlib.suppress(OSError, ValueError):
            record = read_json(path)
            if record.get("status") in ("published", "retracted") and RUN_ID_RE.match(str(record.get("run_id"))):
                files += [(lake.layout.absolute(e["path"]), e.get("rows"), dt.date.fromisoformat(e["read_date"]),
                           functools.partial(_write_output_blocks, run_id=record["run_id"]))
                          for e in record.get("files") or []]
    for data, rows, day, write in files:
        path = lake.layout.blocks_of(data)
        try:
            facts = blocks.BlockFile.open(path).facts
            if facts.get("rows") == rows and facts.get("read_date") == day.isoformat():
                continue
            trouble = f"holds {facts.get('rows')} rows of {facts.get('read_date')}"
        except (blocks.BlockFileError, OSError, pa.ArrowInvalid) as e:
            trouble = f"unreadable ({e})"
        if not repair:
            report.problems.append(f"{lake.layout.relative(path)}: {trouble}; `check --repair` writes it again "
                                   f"from {lake.layout.relative(data)}")
            continue
        with lake.staging() as work:
            staged = work / "file.blocks"
            write(local_copy(data, work), staged, day)
            move_into_place(staged, path)
        blocks.footers.forget(path)
        report.leftovers.append(f"{lake.layout.relative(path)}: {trouble}, written again")


def _write_output_blocks(parquet: Path, target: Path, day: dt.date, *, run_id: str) -> int:
    return write_output_blocks(parquet, target, read_date=day, run_id=run_id)


def _check_runs(lake: Lake, report: CheckReport, checksums: bool) -> dict[str, str]:
    """Each run record; returns the status of each run, by id."""
    statuses: dict[str, str] = {}
    for path in sorted(lake.layout.runs_dir.glob("run-*.json")):
        where = lake.layout.relative(path)
        if (record := _read(lake, path, read_json, "run record", report)) is None:
            continue
        report.runs += 1
        if record.get("run_id") != path.stem or not RUN_ID_RE.match(path.stem):
            report.problems.append(f"{where}: names run {record.get('run_id')!r}")
        if record.get("status") not in STATUSES:
            report.problems.append(f"{where}: status {record.get('status')!r} is not one of {', '.join(STATUSES)}")
            continue
        statuses[path.stem] = record["status"]
        check_stage(record, where, report)
        try:
            window = dt.date.fromisoformat(record["start"]), dt.date.fromisoformat(record["end"])
        except (KeyError, TypeError, ValueError):
            report.problems.append(f"{where}: no valid window start..end")
            continue
        if window[1] < window[0]:
            report.problems.append(f"{where}: window ends before it starts")
        if record["status"] not in ("published", "retracted"):
            continue
        files = record.get("files") or []
        if sum(f.get("rows", 0) for f in files) != record.get("rows"):
            report.problems.append(f"{where}: files hold {sum(f.get('rows', 0) for f in files):,} rows, "
                                   f"the record says {record.get('rows')!r}")
        for f in files:
            report.output_files += 1
            _check_file(lake.root / f["path"], f["path"], f, schema.OUTPUT_FILE_SCHEMA, report, checksums)
    return statuses


def _check_file(path: Path, relative: str, entry: dict, expected: pa.Schema, report: CheckReport,
                checksums: bool) -> bool:
    """Size, checksum (when recorded), schema and row count of one committed file."""
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        report.problems.append(f"{relative}: committed file is missing")
        return False
    if "bytes" in entry and size != entry["bytes"]:
        report.problems.append(f"{relative}: {size:,} bytes, recorded {entry['bytes']:,}")
        return False
    if checksums and entry.get("sha256") and sha256_file(path) != entry["sha256"]:
        report.problems.append(f"{relative}: sha256 differs from the record")
        return False
    try:
        with path.open("rb") as f:
            meta = pq.read_metadata(f)
        found = meta.schema.to_arrow_schema()
    except (OSError, pa.ArrowException) as e:
        report.problems.append(f"{relative}: unreadable Parquet ({e})")
        return False
    if not found.remove_metadata().equals(expected.remove_metadata()):
        report.problems.append(f"{relative}: schema {_describe(found)} is not {_describe(expected)}")
        return False
    if meta.num_rows != entry.get("rows"):
        report.problems.append(f"{relative}: {meta.num_rows:,} rows, recorded {entry.get('rows')!r}")
        return False
    return True


def _describe(s: pa.Schema) -> str:
    return json.dumps({f.name: str(f.type) for f in s})


def _check_run_checkpoints(lake: Lake, report: CheckReport) -> None:
    """Each run checkpoint's entry that has the version its record has now holds what the
    record holds (an entry of an older version says nothing any more)."""
    current = {}
    for path in lake.layout.runs_dir.glob("run-*.json"):
        with contextlib.suppress(OSError, ValueError):
            record, version = read_json_versioned(path)
            current[path.stem] = (list(version), json.loads(json.dumps(record)))
    for path in sorted(lake.layout.checkpoints_dir.glob("runs-*.jsonl")):
        where = lake.layout.relative(path)
        if (entries := _read(lake, path, read_json_lines, "run checkpoint", report)) is None:
            continue
        for entry in entries:
            version = entry.pop("_version", None)
            now = current.get(entry.get("run_id"))
            if now is not None and now[0] == version and now[1] != entry:
                report.problems.append(f"{where}: {entry['run_id']} differs from its record of the same version")
