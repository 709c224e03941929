"""Where a lake lives: a local folder, or ``s3://bucket/prefix`` on an S3-compatible object
store.

On an object store the committed lake (data files, commit and run records, uploaded run
parts) is in the bucket, and what belongs to one host stays on local disk: private staging
folders and the write lock. The
endpoint and credentials come from the environment: ``AWS_ENDPOINT_URL`` (omit for AWS),
``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY`` and ``AWS_REGION``; the local side is under
``METERLAKE_CACHE_DIR`` (default ``~/.cache/meterlake``).
"""
from __future__ import annotations

import hashlib
import os
import re
import threading
from pathlib import Path
from typing import Any

from datalake.errors import InvalidArgumentError

REMOTE_SCHEMES = ("s3://",)
_BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9]$")

_filesystems: dict[str, Any] = {}
_lock = threading.Lock()


def is_remote_location(location: str | os.PathLike[str]) -> bool:
    return isinstance(location, str) and location.startswith(REMOTE_SCHEMES)


def is_local(path: object) -> bool:
    """True for a path on the local file system, False for an object-store path."""
    return isinstance(path, Path)


def lake_root(location: str | os.PathLike[str]):
    """The root of the lake at ``location``: a resolved local ``Path``, or a ``UPath`` on the
    object store (its file system shared by every lake opened on the same endpoint)."""
    if not is_remote_location(location):
        return Path(location).resolve()
    from upath import UPath

    url = str(location).rstrip("/")
    bucket = url.removeprefix("s3://").split("/", 1)[0]
    if not _BUCKET_RE.match(bucket):
        raise InvalidArgumentError(f"lake location {location!r}: {bucket!r} is not a bucket name",
                                   field="lake", value=str(location))
    options = _s3_options()
    root = UPath(url, **options)
    with _lock:
        key = repr(sorted(options.items()))
        if key not in _filesystems:
            _filesystems[key] = _duckdb_filesystem(options)
    return root


def _s3_options() -> dict:
    options: dict = {"use_listings_cache": False}  # commit records must show as soon as written
    if os.environ.get("AWS_ENDPOINT_URL"):
        options["endpoint_url"] = os.environ["AWS_ENDPOINT_URL"]
    if os.environ.get("AWS_REGION"):
        options["client_kwargs"] = {"region_name": os.environ["AWS_REGION"]}
    return options


def _duckdb_filesystem(options: dict):
    """The file system DuckDB reads ``s3://`` paths through: Arrow's C++ S3 client behind
    fsspec's interface (2.4x faster than s3fs for a one-ICP read of 7 day files, measured
    with SeaweedFS on loopback), since DuckDB's own httpfs cannot be installed here."""
    from urllib.parse import urlsplit

    import pyarrow.fs as pafs
    from fsspec.implementations.arrow import ArrowFSWrapper

    class S3ArrowFileSystem(ArrowFSWrapper):
        protocol = ("s3", "s3a")

    kwargs: dict = {"region": os.environ.get("AWS_REGION") or "us-east-1"}
    if "endpoint_url" in options:
        endpoint = urlsplit(options["endpoint_url"])
        kwargs.update(endpoint_override=endpoint.netloc, scheme=endpoint.scheme or "https")
    return S3ArrowFileSystem(pafs.S3FileSystem(**kwargs))


def local_side(root) -> Path:
    """The local folder that holds this host's part of a lake: the lake folder itself for a
    local lake; a cache folder named after the store location for a remote one."""
    if is_local(root):
        return root
    base = Path(os.environ.get("METERLAKE_CACHE_DIR") or Path.home() / ".cache" / "meterlake")
    endpoint = root.storage_options.get("endpoint_url", "aws")
    tag = hashlib.sha256(f"{endpoint} {root}".encode()).hexdigest()[:12]
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", str(root).removeprefix("s3://"))
    return (base / f"{name}-{tag}").resolve()


def filesystems() -> list:
    """The fsspec file systems of the object-store lakes opened in this process, for DuckDB
    connections to read ``s3://`` paths through."""
    with _lock:
        return list(_filesystems.values())
