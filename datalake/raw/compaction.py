"""Compaction of the raw files (vacuum, which deletes what it replaced, is in ``maintenance.vacuum``).

``compact`` merges the raw files of a trading date, one per ingest that touched it, into
one file sorted by (icp_id, read_timestamp, energy_flow_direction). Every row keeps its
``ingest_id``, so the file holds every revision ever delivered: reads ``as_of`` any ingest
give the same answer before and after, and there is no horizon to record. The merge is a
commit in the same id sequence as the ingests (``_meta/ingests/ing-N.json`` with
``"kind": "compaction"``, the files it ``replaces`` and the one it adds), written last, so a
reader sees either the old files or the new one, never both and never a part.
"""
from __future__ import annotations

import datetime as dt
import re
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from datalake.storage import commit
from datalake import schema
from datalake import sql
from datalake.errors import ConflictError, InvalidArgumentError, environment_errors
from datalake.lake import COMPACTION, Lake
from datalake.storage.parquet import write_parquet
from datalake.raw.blocks import write_raw_blocks
from datalake.storage.files import sha256_file

MIN_FILES = 2
MEMORY_LIMIT = "2GB"
_DURATION_RE = re.compile(r"^([0-9]{1,9})([smhd])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


@dataclass
class CompactionResult:
    read_date: str
    status: str  # "committed" or "skipped"
    commit_id: str | None = None
    replaced: list[str] = field(default_factory=list)
    path: str | None = None
    rows: int = 0
    seconds: float = 0.0

    def summary(self) -> str:
        if self.status != "committed":
            return f"{self.read_date}: nothing to compact ({len(self.replaced)} file)"
        return (f"{self.read_date}: {len(self.replaced)} files -> {self.path} ({self.rows:,} rows) "
                f"as {self.commit_id}, {self.seconds:.1f} s")

    def to_dict(self) -> dict:
        return asdict(self)


def parse_duration(value: str) -> dt.timedelta:
    """``"90s"``, ``"30m"``, ``"12h"``, ``"7d"`` -> a timedelta."""
    m = _DURATION_RE.match(value) if isinstance(value, str) else None
    if not m:
        raise InvalidArgumentError(f"duration must be a number and a unit s, m, h or d (e.g. 1h), got {value!r}",
                                   field="older_than", value=value)
    return dt.timedelta(**{_UNITS[m[2]]: int(m[1])})


def compaction_candidates(lake: Lake, *, min_files: int = MIN_FILES) -> list[dt.date]:
    """Trading dates with at least ``min_files`` current raw files."""
    count: dict[dt.date, int] = {}
    for f in lake.raw_files():
        count[f.read_date] = count.get(f.read_date, 0) + 1
    return sorted(d for d, n in count.items() if n >= min_files)


@environment_errors
def compact(lake: Lake, dates: list[dt.date] | None = None, *, min_files: int = MIN_FILES,
            actor: str | None = None) -> list[CompactionResult]:
    """Compact each of ``dates`` (default: every date with at least ``min_files`` files),
    one commit per date."""
    todo = sorted(set(dates)) if dates is not None else compaction_candidates(lake, min_files=min_files)
    return [compact_date(lake, day, min_files=min_files, actor=actor) for day in todo]


def compact_date(lake: Lake, day: dt.date, *, min_files: int = MIN_FILES,
                 actor: str | None = None) -> CompactionResult:
    """Merge the current raw files of trading date ``day`` into one. The merge runs outside
    the write lock; the commit checks under it that no other compaction replaced the same
    files meanwhile (ingests only add files, which stay as they are)."""
    started = time.monotonic()
    files = lake.raw_files(day, day)
    result = CompactionResult(day.isoformat(), "skipped", replaced=[lake.layout.relative(f.path) for f in files])
    if len(files) < max(min_files, 2):
        return result
    paths = [str(f.path) for f in files]
    with lake.staging() as work:
        staged = work / f"{day.isoformat()}.parquet"
        con = sql.connect(memory_limit=MEMORY_LIMIT, temp_directory=str(work / "spill"))
        try:
            rows, low, high, keys, by_ingest = con.execute(sql.query("raw/compaction_stats"),
                                                           {"files": paths}).fetchall()[0]
            reader = con.sql(sql.query("raw/compact_date"), params={"files": paths}
                             ).to_arrow_reader(schema.ROW_GROUP_ROWS)
            written = write_parquet(staged, schema.RAW_FILE_SCHEMA, reader,
                                    options=schema.RAW_WRITE_OPTIONS)
        finally:
            con.close()
        write_raw_blocks(staged, staged.with_suffix(".blocks"), day)
        if written != rows or rows != sum(f.rows for f in files):
            raise ConflictError(f"compaction of {day} wrote {written:,} rows, expected {rows:,} "
                                f"(records say {sum(f.rows for f in files):,}); nothing committed",
                                field="read_date", value=day.isoformat())
        record = commit.append(lake, lambda commit_id, placed: _compaction_record(
            lake, day, files, staged, written, low, high, keys == rows, dict(by_ingest), commit_id, placed,
            actor=actor, replaced=result.replaced), retry=True)
    commit_id, entry = record["ingest_id"], record["files"][0]
    result.status, result.commit_id, result.path, result.rows = "committed", commit_id, entry["path"], written
    result.seconds = time.monotonic() - started
    return result


def _compaction_record(lake: Lake, day: dt.date, files: list, staged: Path, written: int, low: str, high: str,
                       unique_keys: bool, by_ingest: dict, commit_id: str, placed: commit.Staged, *,
                       actor: str | None, replaced: list[str]) -> dict:
    """The commit of a compaction, if the files it merged are still current: an ingest
    meanwhile only added files, so the merge still holds; another compaction of the same
    files is a conflict."""
    current = {f.path for f in lake.raw_files(day, day)}
    if not all(f.path in current for f in files):
        winner = next(r["ingest_id"] for r in reversed(lake.commits())
                      if r.get("kind") == COMPACTION and day.isoformat() in r["dates"])
        raise commit.CommitConflictError(
            f"conflict: the raw files of {day} were compacted by another writer meanwhile, as {winner}",
            winner=winner, field="read_date", value=day.isoformat())
    target = placed.add(staged, lake.layout.raw_file(day, commit_id, commit.token()))
    placed.add(staged.with_suffix(".blocks"), lake.layout.blocks_of(target))
    entry = {"read_date": day.isoformat(), "path": lake.layout.relative(target), "rows": written,
             "bytes": staged.stat().st_size, "sha256": sha256_file(staged),
             "min_ingest_id": low, "max_ingest_id": high, "unique_keys": unique_keys,
             "rows_by_ingest": by_ingest}
    return {"ingest_id": commit_id, "kind": COMPACTION, "committed_at": dt.datetime.now(dt.UTC).isoformat(),
            "actor": actor, "dates": [day.isoformat()], "replaces": replaced, "files": [entry]}
