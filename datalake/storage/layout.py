"""Where everything lives in a lake. This is the only module that builds paths, and it
only builds them from validated parts (dates, ids of our own making)."""
from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path, PurePosixPath

from datalake.errors import InvalidArgumentError
from datalake.storage.location import is_local, lake_root, local_side

INGEST_ID_RE = re.compile(r"^ing-[0-9]{8}$")
TOKEN_RE = re.compile(r"^[0-9a-f]{12}$")
RUN_ID_RE = re.compile(r"^run-[0-9]{8}$")
STAGING_ID_RE = re.compile(r"^[0-9a-f]{32}$")
ALIAS_NAME_RE = re.compile(r"^[a-z][a-z0-9_-]{0,63}$")
MAX_RUN_PART = 99_999


def ingest_id(seq: int) -> str:
    return f"ing-{seq:08d}"


def ingest_seq(ingest: str) -> int:
    check_ingest_id(ingest)
    return int(ingest[4:])


def _token_suffix(token: str | None) -> str:
    if token is None:
        return ""
    if not TOKEN_RE.match(token):
        raise InvalidArgumentError(f"bad file token {token!r}")
    return f"-{token}"


def check_ingest_id(value: str, field: str = "as_of") -> str:
    if not isinstance(value, str) or not INGEST_ID_RE.match(value):
        raise InvalidArgumentError(f"{field} must be an ingest id like ing-00000001, got {value!r}",
                                   field=field, value=value)
    return value


def run_id(seq: int) -> str:
    return f"run-{seq:08d}"


def check_run_id(value: str, field: str = "run_id") -> str:
    if not isinstance(value, str) or not RUN_ID_RE.match(value):
        raise InvalidArgumentError(f"{field} must be a run id like run-00000001, got {value!r}",
                                   field=field, value=value)
    return value


def check_alias_name(value: str, field: str = "name") -> str:
    if not isinstance(value, str) or not ALIAS_NAME_RE.match(value):
        raise InvalidArgumentError(f"{field} must be an alias name: a lowercase letter, then up to 63 lowercase "
                                   f"letters, digits, '_' or '-' (like production), got {value!r}",
                                   field=field, value=value)
    return value


@dataclass(frozen=True)
class Layout:
    """``root`` holds the lake (a local folder or an object-store prefix); ``local`` holds
    this host's part: private staging and the write lock. For a local
    lake they are the same folder."""

    root: Path
    local: Path = field(default=None, compare=False)  # type: ignore[assignment]

    def __post_init__(self) -> None:
        if self.local is None:
            object.__setattr__(self, "local", local_side(self.root))

    @classmethod
    def at(cls, location) -> Layout:
        return cls(lake_root(location))

    @cached_property
    def lake_record(self) -> Path:
        return self.root / "lake.json"

    @cached_property
    def raw_dir(self) -> Path:
        return self.root / "raw"

    @cached_property
    def output_dir(self) -> Path:
        return self.root / "output"

    @cached_property
    def meta_dir(self) -> Path:
        return self.root / "_meta"

    @cached_property
    def ingests_dir(self) -> Path:
        return self.meta_dir / "ingests"

    @cached_property
    def checkpoints_dir(self) -> Path:
        return self.meta_dir / "checkpoints"

    def checkpoint(self, ingest: str) -> Path:
        """Every commit record up to and including ``ingest``, one JSON object a line."""
        check_ingest_id(ingest, "ingest_id")
        return self.checkpoints_dir / f"{ingest}.jsonl"

    def runs_checkpoint(self, seq: int) -> Path:
        """The ``seq``-th checkpoint of the run records: each record with its version."""
        return self.checkpoints_dir / f"runs-{seq:08d}.jsonl"

    @cached_property
    def blocks_dir(self) -> Path:
        """The block files (``blocks.py``) of the data files, in a tree that mirrors theirs:
        apart from ``raw/`` and ``output/``, so that no engine reading those as Parquet
        meets them."""
        return self.root / "_blocks"

    def blocks_of(self, data_file: Path) -> Path:
        """The block file of a raw or output Parquet file of this lake."""
        relative = PurePosixPath(self.relative(data_file))
        if relative.parts[0] not in ("raw", "output") or relative.suffix != ".parquet":
            raise InvalidArgumentError(f"{relative} is not a data file of the lake")
        return self.blocks_dir.joinpath(*relative.with_suffix(".blocks").parts)

    @cached_property
    def runs_dir(self) -> Path:
        return self.meta_dir / "runs"

    @cached_property
    def aliases_dir(self) -> Path:
        """The alias records: one a name, each naming the run it points at."""
        return self.meta_dir / "aliases"

    def alias_record(self, name: str) -> Path:
        check_alias_name(name)
        return self.aliases_dir / f"{name}.json"

    @cached_property
    def staging_dir(self) -> Path:
        """Private work folders (see ``leftovers.staging_folder``); always local."""
        return self.local / "_staging"

    @cached_property
    def rejects_dir(self) -> Path:
        return self.root / "_rejects"

    @cached_property
    def write_lock(self) -> Path:
        return self.local / "_meta" / "write.lock"

    @cached_property
    def serving_dir(self) -> Path:
        """Where lake format 1 kept serving copies of the lake (now a leftover)."""
        return self.local / "_serving"

    def raw_partition(self, date: dt.date) -> Path:
        return self.raw_dir / f"read_date={date.isoformat()}"

    def raw_file(self, date: dt.date, ingest: str, token: str | None = None) -> Path:
        """A raw file of commit ``ingest``; ``token`` (``commit.token``) keeps the files of
        two writers racing for one commit id apart (files of older lakes have none)."""
        check_ingest_id(ingest, "ingest_id")
        return self.raw_partition(date) / f"{ingest}{_token_suffix(token)}.parquet"

    @cached_property
    def attributes_dir(self) -> Path:
        """The attributes of raw reads delivered in EIEP files (``attributes.py``)."""
        return self.root / "attributes"

    def attributes_file(self, ingest: str, token: str | None = None) -> Path:
        """The attributes file of commit ``ingest``."""
        check_ingest_id(ingest, "ingest_id")
        return self.attributes_dir / f"{ingest}{_token_suffix(token)}.parquet"

    def ingest_record(self, ingest: str) -> Path:
        check_ingest_id(ingest, "ingest_id")
        return self.ingests_dir / f"{ingest}.json"

    def run_record(self, run: str) -> Path:
        check_run_id(run)
        return self.runs_dir / f"{run}.json"

    def run_icp_index(self, run: str, token: str | None = None) -> Path:
        """The sorted distinct icp_ids of a published run, for paging by icp_id."""
        check_run_id(run)
        return self.runs_dir / f"{run}{_token_suffix(token)}.icps.parquet"

    def run_dir(self, run: str) -> Path:
        check_run_id(run)
        return self.output_dir / f"run_id={run}"

    def output_partition(self, run: str, date: dt.date) -> Path:
        return self.run_dir(run) / f"read_date={date.isoformat()}"

    def output_file(self, run: str, date: dt.date, index: int = 0, *, token: str | None = None) -> Path:
        return self.output_partition(run, date) / f"part-{int(index):05d}{_token_suffix(token)}.parquet"

    @cached_property
    def run_parts_root(self) -> Path:
        """Uploaded parts of open runs. Not a private staging folder: it outlives the
        process that uploaded, and the lake removes it once the run leaves ``open``. In the
        lake itself, so that any host can publish the run."""
        return self.root / "_staging" / "runs"

    def run_parts_dir(self, run: str) -> Path:
        check_run_id(run)
        return self.run_parts_root / run

    def run_part_file(self, run: str, part: int, token: str | None = None) -> Path:
        if not isinstance(part, int) or isinstance(part, bool) or not 1 <= part <= MAX_RUN_PART:
            raise InvalidArgumentError(f"part must be an integer 1..{MAX_RUN_PART}, got {part!r}",
                                       field="part", value=part)
        return self.run_parts_dir(run) / f"part-{part:05d}{_token_suffix(token)}.arrow"

    def legacy_run_part_file(self, run: str, part: int) -> Path:
        """Where versions before Arrow IPC staging kept an uploaded part (Parquet)."""
        return self.run_part_file(run, part).with_suffix(".parquet")

    def staging(self, staging_id: str) -> Path:
        if not STAGING_ID_RE.match(staging_id):
            raise InvalidArgumentError(f"bad staging id {staging_id!r}")
        return self.staging_dir / staging_id

    def rejects_file(self, key: str) -> Path:
        if not re.fullmatch(r"[0-9a-f]{16}", key):
            raise InvalidArgumentError(f"bad rejects key {key!r}")
        return self.rejects_dir / f"{key}.csv"

    def relative(self, path: Path) -> str:
        """``path`` relative to the lake root, or, for this host's part of a lake on a store
        (staging), to ``local``."""
        if is_local(path):
            return path.relative_to(self.root if is_local(self.root) else self.local).as_posix()
        root = str(self.root).rstrip("/") + "/"
        if not str(path).startswith(root):
            raise ValueError(f"{path} is not in the lake {self.root}")
        return str(path)[len(root):]

    def absolute(self, relative: str) -> Path:
        parts = PurePosixPath(relative).parts
        if not parts or PurePosixPath(relative).is_absolute() or ".." in parts:
            raise InvalidArgumentError(f"path {relative!r} escapes the lake")
        path = self.root.joinpath(*parts)
        if is_local(path) and self.root.resolve() not in path.resolve().parents:
            raise InvalidArgumentError(f"path {relative!r} escapes the lake")
        return path
