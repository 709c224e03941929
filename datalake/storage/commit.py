"""The one commit step every write of the lake goes through: data files first, under names
no record holds, then one conditional record write that makes them visible.

A writer stages its data files in a private folder without holding any lock. The commit
then makes them visible in one conditional step:

- a new record in the commit log (``_meta/ingests``: ingests and compactions) is created
  only if absent (``If-None-Match: *`` on a store, ``link`` on a disk), so two writers
  never commit the same id;
- a changed record (a run, ``lake.json``) is written only if it is still the version the
  writer read (``If-Match`` on its ETag on a store; (inode, mtime) under the write lock on a
  disk), so two transitions of one run never both win.

A writer that loses gets ``CommitConflictError``; ``append`` and ``update`` retry where
that is safe (the writer's ``prepare`` or ``change`` runs again against the new state and
raises if its change no longer fits). Data files go to the store before the lake's write
lock is taken (an upload is the slow part; clean-up leaves young files alone, see
``leftovers.remove_abandoned``) and, on a local disk, are renamed into place under it. The lock
is held only for the renames and the record write, and only serialises one host; across
hosts the conditional write is what decides. The data files of a lost attempt are removed.
"""
from __future__ import annotations

import copy
import uuid
from collections.abc import Callable
from pathlib import Path

from datalake.storage import checkpoint
from datalake.errors import CommitConflictError, ConflictError
from datalake.lake import Lake
from datalake.storage.leftovers import uploading
from datalake.storage.location import is_local
from datalake.storage.files import (PreconditionFailed, WriteOutcomeUnknown, fsync_dir, move_into_place, read_json_versioned,
                      remove_tree, upload, write_json_atomic)
from datalake.storage.files import version as storage_version

MAX_ATTEMPTS = 8


def token() -> str:
    """A fresh part of a data file's name: files staged by racing writers never collide."""
    return uuid.uuid4().hex[:12]


class Staged:
    """The data files of one commit attempt: local files and where they go in the lake."""

    def __init__(self) -> None:
        self.files: list[tuple[Path, Path]] = []
        self.placed: list[Path] = []

    def add(self, source: Path, target: Path) -> Path:
        self.files.append((source, target))
        return target

    def upload(self) -> None:
        """On a store, copy every file to its place now, before the lock (the local file
        stays for another attempt)."""
        for source, target in self.files:
            if not is_local(target):
                upload(source, target)
                self.placed.append(target)

    def move(self) -> None:
        """On a local disk, rename every file into place (under the lock)."""
        folders = set()
        for source, target in self.files:
            if is_local(target):
                move_into_place(source, target)
                self.placed.append(target)
                folders.add(target.parent)
        for folder in folders:
            fsync_dir(folder)

    def discard(self) -> None:
        """Remove what this attempt put in the lake (it lost, or failed)."""
        for target in self.placed:
            remove_tree(target) if target.is_dir() else target.unlink(missing_ok=True)
        self.placed.clear()


def _commit(lake: Lake, record_path: Path, record: dict, staged: Staged, *,
            version: tuple | None) -> None:
    """Place ``staged`` and write ``record``: created if ``version`` is None, else replacing
    that version. ``PreconditionFailed`` if another writer got there first."""
    try:
        with uploading(target for _, target in staged.files):  # not leftovers to this host's clean-up
            staged.upload()
            with lake.write_lock():
                if is_local(record_path) and _version_or_none(record_path) != version:
                    raise PreconditionFailed(str(record_path))  # on a disk: before any rename
                staged.move()
                write_json_atomic(record_path, record, exclusive=version is None, if_version=version)
    except WriteOutcomeUnknown:
        raise  # the record may name the files: they stay (clean-up removes them if it does not)
    except BaseException as e:
        try:
            staged.discard()
        except Exception as failed:  # the write's own error is the one to report
            e.add_note(f"its files could not be removed ({failed}); `meterlake check --repair` removes them")
        raise
    finally:
        lake.forget_listings()


def _version_or_none(path: Path) -> tuple | None:
    try:
        return storage_version(path)
    except FileNotFoundError:
        return None


def append(lake: Lake, prepare: Callable[[str, Staged], dict | None], *, retry: bool) -> dict | None:
    """Add the next record to the commit log. ``prepare(commit_id, staged)`` writes the
    commit's data files for that id, adds them to ``staged`` and returns the record, or
    None when there is nothing to commit. If another writer takes the id first, this
    attempt's files are removed and, with ``retry``, ``prepare`` runs again for the next id
    (it must then look at the lake afresh); without it, ``CommitConflictError``."""
    for attempt in range(1, MAX_ATTEMPTS + 1):
        commit_id = lake.next_ingest_id()
        staged = Staged()
        record = prepare(commit_id, staged)
        if record is None:
            return None
        try:
            _commit(lake, lake.layout.ingest_record(commit_id), record, staged, version=None)
            checkpoint.after_commit(lake, commit_id)
            return record
        except PreconditionFailed:
            if not retry or attempt == MAX_ATTEMPTS:
                raise CommitConflictError(
                    f"conflict: another writer committed {commit_id} first; nothing of this write was "
                    f"committed", winner=commit_id, field="ingest_id", value=commit_id) from None
    raise AssertionError("unreachable")


def update(lake: Lake, path: Path, change: Callable[[dict, Staged], dict], *,
           describe: Callable[[dict], str] = lambda r: "it", based_on: dict | None = None,
           create: bool = False) -> dict:
    """Replace the record at ``path`` with ``change(copy_of_record, staged)``, only if no
    other writer changed it meanwhile; if one did, ``change`` runs again on the new record.
    ``change`` raises ``ConflictError`` when its change does not fit the record; after a
    lost race (the record is no longer the one read first, or ``based_on``, the one the
    writer started from) that becomes a ``CommitConflictError`` naming the winner by
    ``describe``. With ``create``, a record that does not exist is ``change(None, staged)``,
    created only if still absent (else ``FileNotFoundError``)."""
    for attempt in range(1, MAX_ATTEMPTS + 1):
        try:
            current, version = read_json_versioned(path)
        except FileNotFoundError:
            if not create:
                raise
            current, version = None, None
        staged = Staged()
        try:
            record = change(copy.deepcopy(current), staged)
        except ConflictError as e:
            raced = attempt > 1 or (based_on is not None and current != based_on)
            if not raced or isinstance(e, CommitConflictError):
                raise
            raise CommitConflictError(f"conflict: another writer changed it first ({describe(current)}): "
                                      f"{e.message}", winner=describe(current),
                                      field=e.field, value=e.value) from None
        try:
            _commit(lake, path, record, staged, version=version)
            return record
        except PreconditionFailed:
            continue
    raise CommitConflictError(f"conflict: {path.name} kept changing under {MAX_ATTEMPTS} attempts",
                              field="record", value=path.name)


def create(lake: Lake, path_for: Callable[[], Path], build: Callable[[Path], dict]) -> dict:
    """Create a new record at ``path_for()`` (a fresh name, such as the next run id),
    trying the next name if another writer created that one first."""
    for _ in range(MAX_ATTEMPTS):
        path = path_for()
        record = build(path)
        try:
            _commit(lake, path, record, Staged(), version=None)
            return record
        except PreconditionFailed:
            continue
    raise CommitConflictError(f"conflict: {MAX_ATTEMPTS} attempts to create a record lost to other writers",
                              field="record")


def update_locked(path: Path, change: Callable[[dict], dict | None]) -> dict | None:
    """``update`` for a writer that already holds the lake's write lock for a longer
    operation (a migration): one attempt, and ``CommitConflictError`` if the record changed
    meanwhile (only a writer on another host can do that). ``change`` returns None to leave
    the record as it is."""
    current, version = read_json_versioned(path)
    record = change(copy.deepcopy(current))
    if record is None:
        return None
    try:
        write_json_atomic(path, record, if_version=version)
    except PreconditionFailed:
        raise CommitConflictError(f"conflict: {path.name} was changed by another writer meanwhile",
                                  winner=path.name, field="record", value=path.name) from None
    return record
