"""What killed writers leave behind, and how a live writer's work is told from it: private
staging folders held by a lock, the files of commits under way in this process, and the
clean-up that removes the rest (raw and output files no record names, temporary records,
staging folders whose owner is gone)."""
from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import threading
import time
import uuid
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from datalake.storage.layout import STAGING_ID_RE, Layout
from datalake.storage.files import modified_within, read_json, remove_tree

if TYPE_CHECKING:
    from datalake.lake import Lake

STAGING_LOCK = ".owner.lock"
UNLOCKED_STAGING_GRACE_S = 60.0
# How old an uncommitted file on a store must be before clean-up removes it (a writer on
# another host may be about to commit it); METERLAKE_LEFTOVER_GRACE_S for test rigs.
REMOTE_LEFTOVER_GRACE_S = float(os.environ.get("METERLAKE_LEFTOVER_GRACE_S", 6 * 3600))

# Paths of the commits this process has under way (their files may be placed already).
_uploading: set[str] = set()
_uploading_lock = threading.Lock()


@contextlib.contextmanager
def uploading(paths: Iterable[Path]) -> Iterator[None]:
    """Mark the files of a commit under way, which ``remove_abandoned`` leaves alone."""
    names = {str(p) for p in paths}
    with _uploading_lock:
        _uploading.update(names)
    try:
        yield
    finally:
        with _uploading_lock:
            _uploading.difference_update(names)


def remove_abandoned(lake: Lake, *, dry_run: bool = False) -> list[Path]:
    """Files a killed writer left behind: raw (and EIEP attributes) files no commit record names, and staging
    folders whose owner is gone; and the ``_serving/`` folder of lake format 1. Call only
    under the write lock."""
    # Files a compaction replaced stay until vacuum removes them: readers may hold them.
    records = lake.commits(fresh=True)
    committed = {lake.layout.root / f["path"] for r in records for f in r["files"]}
    found = [p for p in lake.layout.raw_dir.glob("read_date=*/*") if p not in committed]
    attributes = {lake.layout.root / r["attributes"]["path"] for r in records if r.get("attributes")}
    found += [p for p in lake.layout.attributes_dir.glob("*") if p not in attributes]  # EIEP attributes
    committed_blocks = {lake.layout.blocks_of(p) for p in committed}
    found += [p for p in lake.layout.blocks_dir.glob("raw/read_date=*/*") if p not in committed_blocks]
    found += [p for d in (lake.layout.ingests_dir, lake.layout.checkpoints_dir, lake.layout.aliases_dir)
              for p in d.glob(".*.tmp")]
    for folder in lake.layout.staging_dir.glob("*"):
        if STAGING_ID_RE.match(folder.name) and _abandoned(folder):
            found.append(folder)
    found += _abandoned_run_files(lake.layout)
    if lake.layout.serving_dir.exists():  # the serving indexes of lake format 1, now unused
        found.append(lake.layout.serving_dir)
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


def _abandoned_run_files(layout: Layout) -> list[Path]:
    """Files of runs that no run record names: output files and ICP indexes of publishes
    that never committed (a publisher died, or lost a race), and uploaded parts of runs
    that are no longer open."""
    found_records = {p.stem: read_json(p) for p in layout.runs_dir.glob("run-*.json")}
    named = {layout.root / f["path"] for r in found_records.values() for f in r.get("files") or []}
    named |= {layout.root / r["icp_index"] for r in found_records.values() if r.get("icp_index")}
    found = [f for f in layout.output_dir.glob("run_id=*/read_date=*/*") if f not in named]
    named_blocks = {layout.blocks_of(f) for r in found_records.values() for f in
                    (layout.root / e["path"] for e in r.get("files") or [])}
    found += [f for f in layout.blocks_dir.glob("output/run_id=*/read_date=*/*") if f not in named_blocks]
    found += [f for f in layout.runs_dir.glob("run-*.icps.parquet") if f not in named]
    found += [d for d in layout.run_parts_root.glob("*")
              if found_records.get(d.name, {}).get("status") != "open"]
    found += list(layout.runs_dir.glob(".*.tmp"))
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
