"""A lake on a local folder or an object store (see ``location``): its format record, the committed ingests (the raw snapshot),
and the write transaction every change goes through."""
from __future__ import annotations

import contextlib
import datetime as dt
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from datalake.storage import leftovers
from datalake import schema
from datalake.errors import InvalidArgumentError, LakeFormatError, LakeNotFoundError, NotFoundError
from datalake.storage.location import is_local
from datalake.storage.layout import Layout, check_ingest_id, ingest_id, ingest_seq
from datalake.storage.files import (exclusive_lock, local_names, local_versions, read_json, read_json_lines, store_versions,
                      write_json_atomic)

COMPACTION = "compaction"
STORE_POLL_S = float(os.environ.get("METERLAKE_STORE_POLL_S", "1"))


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
        """A private work folder, removed afterwards (see ``leftovers.staging_folder``)."""
        return leftovers.staging_folder(self.layout)

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
        """What killed writers left behind (``leftovers.remove_abandoned``); call only under
        the write lock."""
        return leftovers.remove_abandoned(self, dry_run=dry_run)

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
