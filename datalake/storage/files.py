"""Durable, atomic file operations, and the lake's write lock.

Lake paths are local ``Path``s, or ``UPath``s on an object store (see ``location``). On a store
a PUT is atomic by itself, so what a rename gives on a local disk comes free, and an exclusive
create is a conditional PUT (``If-None-Match: *``). Temporary files and locks are always local.
"""
from __future__ import annotations

import contextlib
import fcntl
import fnmatch
import hashlib
import json
import os
import shutil
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

from datalake.storage.location import is_local


SETTLED_NS = 100_000_000
_listings: dict[tuple[str, str], tuple[int, list[str]]] = {}
_listings_lock = threading.Lock()


def local_names(folder: Path, pattern: str) -> list[str]:
    """Sorted names of the entries of a local folder that match ``pattern``. A listing is
    reused while the folder's mtime is unchanged, and kept only when that mtime was already
    ``SETTLED_NS`` old: file systems stamp mtimes from a coarse clock, so two changes within
    one tick can leave the same mtime, but a change after the listing gets a later one."""
    try:
        mtime = os.stat(folder).st_mtime_ns
    except FileNotFoundError:
        return []
    key = (str(folder), pattern)
    hit = _listings.get(key)
    if hit is not None and hit[0] == mtime:
        return hit[1]
    names = sorted(p.name for p in folder.glob(pattern))
    if time.time_ns() - mtime > SETTLED_NS:
        with _listings_lock:
            _listings[key] = (mtime, names)
    return names


def fsync_dir(path: Path) -> None:
    if not is_local(path):
        return  # an object store has no directories to make durable
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_file(path: Path) -> None:
    with open(path, "rb") as f:
        os.fsync(f.fileno())


class PreconditionFailed(Exception):
    """A conditional write found the record not as the writer expected: present when it was
    to be created, or changed since the writer read its version."""


def _json_bytes(data: object) -> bytes:
    return (json.dumps(data, indent=2, sort_keys=True, default=str) + "\n").encode()


def write_json_atomic(path: Path, data: object, *, exclusive: bool = False, if_version: tuple | None = None) -> None:
    """Write ``data`` as JSON to ``path`` so that readers see the old file or the new one,
    never a part (``write_atomic``)."""
    write_atomic(path, _json_bytes(data), exclusive=exclusive, if_version=if_version)


def write_atomic(path: Path, body: bytes, *, exclusive: bool = False, if_version: tuple | None = None) -> None:
    """Write ``body`` to ``path`` so that readers see the old file or the new one, never a
    part. With ``exclusive`` the write fails (``PreconditionFailed``) if ``path`` exists;
    with ``if_version``, unless ``path`` still has that ``version``. On a store both are the
    store's conditional PUT (``If-None-Match: *``, ``If-Match``); on a local disk a create is
    a ``link`` (atomic), while a version check is only atomic for writers that hold the
    lake's write lock, as every commit does (``commit.py``)."""
    if not is_local(path):
        _put_object(path, body, exclusive=exclusive, if_version=if_version)
        return
    if if_version is not None:
        try:
            current = version(path)
        except FileNotFoundError:
            current = None
        if current != if_version:
            raise PreconditionFailed(str(path))
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        with open(tmp, "wb") as f:
            f.write(body)
            f.flush()
            os.fsync(f.fileno())
    except BaseException:  # a full disk: no partial temporary file left behind
        tmp.unlink(missing_ok=True)
        raise
    try:
        if exclusive:
            try:
                os.link(tmp, path)  # fails if path exists: an atomic create-if-absent
            except FileExistsError:
                raise PreconditionFailed(str(path)) from None
        else:
            os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    fsync_dir(path.parent)


class WriteOutcomeUnknown(OSError):
    """A conditional PUT failed and reading the object back failed too: the write may have
    landed. Its data files must stay (clean-up removes them if no record names them)."""


def _put_object(path, body: bytes, *, exclusive: bool, if_version: tuple | None) -> None:
    if not exclusive and if_version is None:
        path.fs.pipe_file(path.path, body)
        return
    bucket, _, key = path.path.partition("/")
    condition = {"IfNoneMatch": "*"} if exclusive else {"IfMatch": if_version[0]}
    try:
        path.fs.call_s3("put_object", Bucket=bucket, Key=key, Body=body, **condition)
    except Exception as e:  # also botocore's connection errors, which are not OSErrors
        # The client retries a PUT whose answer was lost (a 5xx, a dropped connection) and
        # then meets its own write: a 412, or an error. The object says who won.
        if _holds(path, body):
            return
        if "PreconditionFailed" in repr(e.__cause__) or "pre-condition" in str(e) or "412" in str(e):
            raise PreconditionFailed(str(path)) from e
        raise


def _holds(path, body: bytes) -> bool:
    """Whether the object at ``path`` is exactly ``body`` (records carry their writer's
    timestamps and fresh file names, so no other writer's record is byte-equal)."""
    try:
        return path.fs.cat_file(path.path) == body
    except FileNotFoundError:
        return False
    except Exception as e:  # noqa: BLE001 - botocore's connection errors are not OSErrors
        raise WriteOutcomeUnknown(f"{path}: the store failed the write, and reading it back failed "
                                  f"too ({e}); it may have been written") from e


def read_json(path: Path) -> dict:
    return json.loads(path.read_text())


def read_json_lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line]


def store_names(folder: Path, pattern: str, *, after: str | None = None) -> list[str]:
    """Sorted names in a store folder matching ``pattern``, only those after ``after`` if
    given: one LIST request per 1,000 names (``StartAfter`` skips the rest server-side)."""
    return list(store_versions(folder, pattern, after=after))


def store_versions(folder: Path, pattern: str, *, after: str | None = None) -> dict[str, tuple]:
    """``store_names`` with the ``version`` (ETag) of each, which the same LIST gives."""
    bucket, _, key = folder.path.partition("/")
    prefix = key.rstrip("/") + "/"
    request = {"Bucket": bucket, "Prefix": prefix, "Delimiter": "/"}
    if after is not None:
        request["StartAfter"] = prefix + after
    found = {}
    while True:
        page = folder.fs.call_s3("list_objects_v2", **request)
        found.update((o["Key"][len(prefix):], (o["ETag"],)) for o in page.get("Contents", []))
        if not page.get("IsTruncated"):
            return {n: found[n] for n in sorted(found) if fnmatch.fnmatchcase(n, pattern)}
        request["ContinuationToken"] = page["NextContinuationToken"]


def local_versions(folder: Path, names: list[str]) -> dict[str, tuple]:
    """The ``version`` of each of ``names`` in a local folder that still exists."""
    found = {}
    for name in names:
        try:
            st = os.stat(folder / name)
        except FileNotFoundError:
            continue
        found[name] = (st.st_ino, st.st_mtime_ns)
    return found


def read_json_versioned(path: Path) -> tuple[dict, tuple]:
    """A record and the ``version`` of exactly the content read (one open, or one GET), for
    a conditional write of its successor. FileNotFoundError if absent."""
    if is_local(path):
        with open(path, "rb") as f:
            st = os.fstat(f.fileno())
            return json.loads(f.read()), (st.st_ino, st.st_mtime_ns)
    from fsspec.asyn import sync

    bucket, _, key = path.path.partition("/")

    async def get() -> tuple[bytes, str]:
        answer = await path.fs._call_s3("get_object", Bucket=bucket, Key=key)
        async with answer["Body"] as body:
            return await body.read(), answer["ETag"]

    body, etag = sync(path.fs.loop, get)
    return json.loads(body), (etag,)


def sha256_file(path: Path) -> str:
    with path.open("rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def version(path: Path) -> tuple:
    """What identifies the current content of a record that is replaced, never edited in
    place: (inode, mtime) on a local disk, the ETag on a store. FileNotFoundError if absent."""
    if is_local(path):
        st = os.stat(path)
        return (st.st_ino, st.st_mtime_ns)
    return (path.fs.info(path.path)["ETag"],)


def move_into_place(src: Path, dst: Path) -> None:
    """Move the local file or folder ``src`` to ``dst`` (a rename on a local lake; an upload
    of every file, then removal of ``src``, on a store)."""
    if is_local(dst):
        dst.parent.mkdir(parents=True, exist_ok=True)
        os.replace(src, dst)
        return
    upload(src, dst)
    if src.is_file():
        src.unlink()
    else:
        remove_tree(src)


def upload(src: Path, dst: Path) -> None:
    """Copy the local file or folder ``src`` to ``dst`` on a store, keeping ``src``."""
    files = [src] if src.is_file() else sorted(p for p in src.rglob("*") if p.is_file())
    for f in files:
        target = dst if f == src else dst.joinpath(*f.relative_to(src).parts)
        dst.fs.put_file(str(f), target.path)


def local_copy(path: Path, folder: Path) -> Path:
    """``path`` itself on a local lake; on a store, a download of it into ``folder`` (for
    readers that need a local file, such as a memory map)."""
    if is_local(path):
        return path
    target = folder / path.name
    path.fs.get_file(path.path, str(target))
    return target


def remove_tree(path: Path) -> None:
    if is_local(path):
        shutil.rmtree(path, ignore_errors=True)
        return
    with contextlib.suppress(FileNotFoundError):
        path.fs.rm(path.path, recursive=True)


def modified_within(path: Path, seconds: float) -> bool:
    """Whether an object-store file, or any file under an object-store folder, was written
    in the last ``seconds`` (a writer on another host may still be about to commit it)."""
    if is_local(path):
        return False
    import datetime as dt

    limit = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=seconds)
    found = path.fs.find(path.path, detail=True, withdirs=False)
    return any(info.get("LastModified") and info["LastModified"] > limit for info in found.values())


@contextlib.contextmanager
def exclusive_lock(path: Path, *, blocking: bool = True) -> Iterator[bool]:
    """Hold an exclusive advisory lock on ``path``; yields whether it is held (always True
    when ``blocking``). The kernel releases it if the process dies, so a killed writer never
    leaves the lake locked."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX if blocking else fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        yield True
    finally:
        os.close(fd)  # closing the descriptor releases the lock
