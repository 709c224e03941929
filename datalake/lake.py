"""A lake on a local folder or an object store (see ``location``): its format record, the committed ingests (the raw snapshot),
and the write transaction every change goes through."""
from __future__ import annotations

import contextlib
import datetime as dt
import errno
import fcntl
import os
import threading
import time
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from . import schema
from .errors import InvalidArgumentError, LakeFormatError, LakeNotFoundError, NotFoundError
from .location import is_local
from .layout import STAGING_ID_RE, Layout, check_ingest_id, ingest_id, ingest_seq
from .storage import (exclusive_lock, local_names, local_versions, modified_within, read_json, read_json_lines,
                      remove_tree, store_versions, write_json_atomic)

STAGING_LOCK = ".owner.lock"
UNLOCKED_STAGING_GRACE_S = 60.0


COMPACTION = "compaction"
# How old an uncommitted file on a store must be before clean-up removes it (a writer on
# another host may be about to commit it); METERLAKE_LEFTOVER_GRACE_S for test rigs.
REMOTE_LEFTOVER_GRACE_S = float(os.environ.get("METERLAKE_LEFTOVER_GRACE_S", 6 * 3600))
STORE_POLL_S = float(os.environ.get("METERLAKE_STORE_POLL_S", "1"))


# Paths of the commits this process has under way (their files may be placed already).
_uploading: set[str] = set()
_uploading_lock = threading.Lock()


@contextlib.contextmanager
def uploading(paths: Iterable[Path]) -> Iterator[None]:
    """Mark the files of a commit under way, which ``Lake.remove_abandoned`` leaves alone."""
    names = {str(p) for p in paths}
    with _uploading_lock:
        _uploading.update(names)
    try:
        yield
    finally:
        with _uploading_lock:
            _uploading.difference_update(names)


@dataclass(frozen=True)
class RawFile:
    """A committed raw file. ``ingest_id`` is the commit that added it (an ingest, or a
    compaction); its rows carry the ids of the ingests that delivered them, from
    ``min_ingest_id`` to ``max_ingest_id``. ``unique_keys`` is false when the file holds more
    than one revision of a key (a compacted file keeps every revision)."""

    read_date: dt.date
    ingest_id: str
    path: Path
    rows: int
    min_ingest_id: str = ""
    max_ingest_id: str = ""
    unique_keys: bool = True
    blocks: Path | None = None  # its block file (``blocks.py``)

    def __post_init__(self) -> None:
        for name in ("min_ingest_id", "max_ingest_id"):
            if not getattr(self, name):
                object.__setattr__(self, name, self.ingest_id)


class Lake:
    """Handle on one lake. Cheap to create; safe to share between threads (records are
    immutable once committed and the cache only grows)."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.layout = Layout.at(root)
        record = self.layout.lake_record
        if not record.exists():
            raise LakeNotFoundError(f"no lake at {self.layout.root} (missing lake.json); "
                                    f"create one with `meterlake --lake {root} init`")
        info = read_json(record)
        if info.get("format") != schema.FORMAT_NAME:
            raise LakeFormatError(f"{record} is not a meterlake lake record")
        version = info.get("version", 0)
        if isinstance(version, int) and version > schema.FORMAT_VERSION:
            raise LakeFormatError(
                f"lake format version {version} is newer than this meterlake understands "
                f"(up to {schema.FORMAT_VERSION}): upgrade meterlake")
        if version != schema.FORMAT_VERSION:
            raise LakeFormatError(
                f"lake format version {version} is older than {schema.FORMAT_VERSION}; "
                f"run `meterlake --lake {root} migrate`")
        self.info = info
        self._ingests: dict[str, dict] = {}
        self._checkpoint: tuple[str | None, list[str]] = (None, [])
        self._replayed: tuple[int, list[RawFile]] = (0, [])
        self._listings: dict[tuple, tuple[float, dict[str, tuple]]] = {}
        self._lock = threading.Lock()

    @classmethod
    def create(cls, root: str | os.PathLike[str]) -> Lake:
        """Create an empty lake at ``root`` (or open it if it already is one)."""
        layout = Layout.at(root)
        if not layout.lake_record.exists():
            for d in (layout.raw_dir, layout.output_dir, layout.ingests_dir, layout.runs_dir,
                      layout.staging_dir):
                d.mkdir(parents=True, exist_ok=True)
            created = dt.datetime.now(dt.UTC).isoformat()
            write_json_atomic(layout.lake_record, {"format": schema.FORMAT_NAME,
                                                   "version": schema.FORMAT_VERSION,
                                                   "created_at": created,
                                                   "time_zone": schema.MARKET_TZ})
        return cls(root)

    @property
    def root(self) -> Path:
        return self.layout.root

    # -- the raw snapshot -------------------------------------------------------------

    def names(self, folder: Path, pattern: str, *, fresh: bool = False, after: str | None = None) -> list[str]:
        """Sorted names of the files in ``folder`` matching ``pattern`` (only those after
        ``after``, if given). A local listing is reused while the folder is unchanged
        (``storage.local_names``). On an object store a listing is a request, so one is
        reused for up to ``STORE_POLL_S`` seconds unless ``fresh`` (writers, under the write
        lock); commits made through this handle show at once."""
        if is_local(folder):
            return [n for n in local_names(folder, pattern) if after is None or n > after]
        return list(self._store_listing(folder, pattern, fresh, after))

    def versions(self, folder: Path, pattern: str, *, fresh: bool = False) -> dict[str, tuple]:
        """The files ``names`` lists, each with its ``storage.version``: from the same LIST on
        a store, a stat each on a local disk."""
        if is_local(folder):
            return local_versions(folder, local_names(folder, pattern))
        return self._store_listing(folder, pattern, fresh, None)

    def _store_listing(self, folder: Path, pattern: str, fresh: bool, after: str | None) -> dict[str, tuple]:
        key = (str(folder), pattern, after)
        with self._lock:
            hit = None if fresh else self._listings.get(key)
        if hit is not None and time.monotonic() - hit[0] < STORE_POLL_S:
            return hit[1]
        listed = store_versions(folder, pattern, after=after)
        with self._lock:
            self._listings[key] = (time.monotonic(), listed)
        return listed

    def forget_listings(self) -> None:
        """Drop reused store listings (after this handle commits)."""
        with self._lock:
            self._listings.clear()

    def commits(self, *, fresh: bool = False) -> list[dict]:
        """Every commit record, oldest first: ingests, and compactions (``"kind":
        "compaction"``), which share one id sequence so that commits are totally ordered.
        Read from the newest checkpoint and the records after it (``checkpoint.py``)."""
        point, names = self._commit_log(fresh)
        with self._lock:
            if point is not None and self._checkpoint[0] != point.name:
                ids = []
                for record in read_json_lines(point):
                    self._ingests.setdefault(record["ingest_id"], record)
                    ids.append(record["ingest_id"])
                self._checkpoint = (point.name, ids)
            ids = list(self._checkpoint[1]) if point is not None else []
            for name in names:
                key = name.removesuffix(".json")
                if key not in self._ingests:
                    self._ingests[key] = read_json(self.layout.ingests_dir / name)
                ids.append(key)
            return [self._ingests[i] for i in ids]

    def commit_files(self) -> list[Path]:
        """The files ``commits`` reads: the newest checkpoint, then each record after it."""
        point, names = self._commit_log(False)
        return [*([point] if point is not None else []), *(self.layout.ingests_dir / n for n in names)]

    def _commit_log(self, fresh: bool) -> tuple[Path | None, list[str]]:
        points = self.names(self.layout.checkpoints_dir, "ing-*.jsonl", fresh=fresh)
        if not points:
            return None, self.names(self.layout.ingests_dir, "ing-*.json", fresh=fresh)
        point = points[-1].removesuffix(".jsonl")
        return (self.layout.checkpoint(point),
                self.names(self.layout.ingests_dir, "ing-*.json", fresh=fresh, after=f"{point}.json"))

    def ingests(self) -> list[dict]:
        """Every committed ingest record (not compactions), oldest first."""
        return [r for r in self.commits() if r.get("kind", "ingest") != COMPACTION]

    def ingest(self, ingest: str) -> dict:
        check_ingest_id(ingest, "ingest_id")
        for record in self.ingests():
            if record["ingest_id"] == ingest:
                return record
        raise NotFoundError(f"no ingest {ingest}", field="ingest_id", value=ingest)

    def head_ingest(self) -> str | None:
        records = self.ingests()
        return records[-1]["ingest_id"] if records else None

    def raw_files(self, start: dt.date | None = None, end: dt.date | None = None,
                  as_of: str | None = None) -> list[RawFile]:
        """The committed raw files for trading dates in [start, end], as of an ingest."""
        if as_of is not None:
            check_ingest_id(as_of, "as_of")
            self.ingest(as_of)  # unknown ingest ids are an error, not an empty snapshot
        # The current files only, also for an older as_of: a compacted file keeps every
        # revision with its ingest_id, and every query filters rows by ingest_id <= as_of.
        return [f for f in self._current_files()
                if (start is None or f.read_date >= start) and (end is None or f.read_date <= end)
                and (as_of is None or f.min_ingest_id <= as_of)]

    def _current_files(self) -> list[RawFile]:
        """Replay the commits in order: each adds its files, a compaction also removes the
        files it replaces."""
        records = self.commits()
        with self._lock:
            if self._replayed[0] == len(records):
                return self._replayed[1]
        current: dict[str, RawFile] = {}
        for record in records:
            for path in record.get("replaces", []):
                current.pop(path, None)
            for f in record["files"]:
                path = self.layout.root / f["path"]
                current[f["path"]] = RawFile(
                    dt.date.fromisoformat(f["read_date"]), record["ingest_id"], path, f["rows"],
                    f.get("min_ingest_id", record["ingest_id"]), f.get("max_ingest_id", record["ingest_id"]),
                    f.get("unique_keys", True), self.layout.blocks_of(path))
        files = list(current.values())
        with self._lock:
            self._replayed = (len(records), files)
        return files

    # -- writing ----------------------------------------------------------------------

    def staging(self) -> contextlib.AbstractContextManager[Path]:
        """A private work folder, removed afterwards (see ``staging_folder``)."""
        return staging_folder(self.layout)

    @contextlib.contextmanager
    def write_lock(self) -> Iterator[None]:
        """Serialise commits. On entry, leftovers of writers that died are removed."""
        with exclusive_lock(self.layout.write_lock):
            self.remove_abandoned()
            yield

    def next_ingest_id(self) -> str:
        """The id of the next commit (ingest or compaction)."""
        records = self.commits(fresh=True)
        return ingest_id(ingest_seq(records[-1]["ingest_id"]) + 1 if records else 1)

    def remove_abandoned(self, dry_run: bool = False) -> list[Path]:
        """Files a killed writer left behind: raw files no commit record names, and staging
        folders whose owner is gone; and the ``_serving/`` folder of lake format 1. Call only
        under the write lock."""
        # Files a compaction replaced stay until vacuum removes them: readers may hold them.
        committed = {self.layout.root / f["path"] for r in self.commits(fresh=True) for f in r["files"]}
        found = [p for p in self.layout.raw_dir.glob("read_date=*/*") if p not in committed]
        committed_blocks = {self.layout.blocks_of(p) for p in committed}
        found += [p for p in self.layout.blocks_dir.glob("raw/read_date=*/*") if p not in committed_blocks]
        found += [p for d in (self.layout.ingests_dir, self.layout.checkpoints_dir) for p in d.glob(".*.tmp")]
        for folder in self.layout.staging_dir.glob("*"):
            if STAGING_ID_RE.match(folder.name) and _abandoned(folder):
                found.append(folder)
        found += self._abandoned_run_files()
        if self.layout.serving_dir.exists():  # the serving indexes of lake format 1, now unused
            found.append(self.layout.serving_dir)
        # On an object store the write lock is only this host's: a writer on another host may
        # have uploaded files it has not committed yet, so only old leftovers are removed there.
        # Uploads of this process's own commit in progress are not leftovers either.
        with _uploading_lock:
            found = [p for p in found if str(p) not in _uploading]
        found = [p for p in found if not modified_within(p, REMOTE_LEFTOVER_GRACE_S)]
        if not dry_run:
            for p in found:
                if p.is_dir():
                    remove_tree(p)
                else:
                    with contextlib.suppress(FileNotFoundError):
                        p.unlink()
        return found

    def _abandoned_run_files(self) -> list[Path]:
        """Files of runs that no run record names: output files and ICP indexes of publishes
        that never committed (a publisher died, or lost a race), and uploaded parts of runs
        that are no longer open."""
        found_records = {p.stem: read_json(p) for p in self.layout.runs_dir.glob("run-*.json")}
        named = {self.layout.root / f["path"] for r in found_records.values() for f in r.get("files") or []}
        named |= {self.layout.root / r["icp_index"] for r in found_records.values() if r.get("icp_index")}
        found = [f for f in self.layout.output_dir.glob("run_id=*/read_date=*/*") if f not in named]
        named_blocks = {self.layout.blocks_of(f) for r in found_records.values() for f in
                        (self.layout.root / e["path"] for e in r.get("files") or [])}
        found += [f for f in self.layout.blocks_dir.glob("output/run_id=*/read_date=*/*") if f not in named_blocks]
        found += [f for f in self.layout.runs_dir.glob("run-*.icps.parquet") if f not in named]
        found += [d for d in self.layout.run_parts_root.glob("*")
                  if found_records.get(d.name, {}).get("status") != "open"]
        found += list(self.layout.runs_dir.glob(".*.tmp"))
        return found


@contextlib.contextmanager
def staging_folder(layout: Layout) -> Iterator[Path]:
    """A private work folder under ``_staging``, removed
    afterwards. A lock held inside it marks it as in use, so clean-up after a crash never
    removes another live writer's work."""
    path = layout.staging(uuid.uuid4().hex)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.mkdir()
    # Locked under another name, then renamed: whoever finds the lock file finds it held.
    fd = os.open(path / f"{STAGING_LOCK}.new", os.O_RDWR | os.O_CREAT, 0o644)
    fcntl.flock(fd, fcntl.LOCK_EX)
    os.rename(path / f"{STAGING_LOCK}.new", path / STAGING_LOCK)
    try:
        yield path
    finally:
        remove_tree(path)
        os.close(fd)


def _abandoned(folder: Path) -> bool:
    """Whether no live writer owns a staging folder. A folder without its lock file is
    abandoned only once it is older than ``UNLOCKED_STAGING_GRACE_S``: its owner creates the
    lock just after the folder, and another writer may look in between."""
    lock = folder / STAGING_LOCK
    try:
        fd = os.open(lock, os.O_RDWR)
    except FileNotFoundError:
        try:
            return time.time() - folder.stat().st_mtime > UNLOCKED_STAGING_GRACE_S
        except FileNotFoundError:
            return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as e:
        if e.errno in (errno.EAGAIN, errno.EACCES):
            return False
        raise
    finally:
        os.close(fd)
    return True


def parse_date(value: str | dt.date, field: str) -> dt.date:
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(value)
    except (TypeError, ValueError):
        raise InvalidArgumentError(f"{field} must be a date YYYY-MM-DD, got {value!r}",
                                   field=field, value=value) from None


def check_range(start: dt.date, end: dt.date, max_days: int | None = None) -> None:
    if end < start:
        raise InvalidArgumentError(f"end {end} is before start {start}", field="end", value=str(end))
    if max_days is not None and (end - start).days + 1 > max_days:
        raise InvalidArgumentError(f"date range of {(end - start).days + 1} days exceeds {max_days}",
                                   field="end", value=str(end))
