"""Run records (``_meta/runs/<run_id>.json``), each run's single source of truth: reading them
(cached by file version, listed from the newest run checkpoint), the conditional change
through the commit that every run transition makes, and the one rule of which runs answer
"latest" (``answers_latest``, ``latest_runs``)."""
from __future__ import annotations

import copy
import datetime as dt
import threading
import time
from pathlib import Path

from datalake.errors import ConflictError, InvalidArgumentError, NotFoundError
from datalake.lake import STORE_POLL_S, Lake, parse_date
from datalake.storage import checkpoint, commit
from datalake.storage.files import read_json, read_json_versioned, version
from datalake.storage.layout import check_run_id
from datalake.storage.location import is_local

STATUSES = ("open", "published", "retracted", "aborted")
# A published run's stage: a candidate is readable by its id only; "latest" (and a record
# without a stage, published before stages existed) competes for "latest" by publish_seq.
STAGES = ("candidate", "latest")

_cache: dict[Path, tuple[tuple, dict, float]] = {}  # path -> (version, record, when checked)
_cache_lock = threading.Lock()


def now() -> str:
    return dt.datetime.now(dt.UTC).isoformat()


def load(lake: Lake, run: str, *, fresh: bool = False) -> dict:
    """The run's record, re-read only when the file changed (records are replaced, never
    edited in place, so ``storage.version`` identifies one). On an object store, where
    asking is a request, a record checked less than ``STORE_POLL_S`` ago is reused unless
    ``fresh`` (writers, under the write lock)."""
    path = lake.layout.run_record(run)
    with _cache_lock:
        hit = _cache.get(path)
    if (hit is not None and not fresh and not is_local(path)
            and time.monotonic() - hit[2] < STORE_POLL_S):
        return hit[1]
    try:
        key = version(path)
    except FileNotFoundError:
        raise NotFoundError(f"no run {run}", field="run_id", value=run) from None
    hit = (key, read_json(path) if hit is None or hit[0] != key else hit[1], time.monotonic())
    with _cache_lock:
        _cache[path] = hit
    return hit[1]


def _listed(lake: Lake, run_id: str, listed_version: tuple, saved: dict[str, tuple[tuple, dict]]) -> dict | None:
    """The record of a run listed at ``listed_version``: from the cache or the newest run
    checkpoint if either holds that version, else read (None if removed since)."""
    path = lake.layout.run_record(run_id)
    with _cache_lock:
        hit = _cache.get(path)
    if hit is None or hit[0] != listed_version:
        held = saved.get(run_id)
        if held is not None and held[0] == listed_version:
            hit = (listed_version, held[1], time.monotonic())
        else:
            try:
                record, read_version = read_json_versioned(path)
            except FileNotFoundError:
                return None
            hit = (read_version, record, time.monotonic())
        with _cache_lock:
            _cache[path] = hit
    return hit[1]


def update(lake: Lake, run_id: str, change, based_on: dict | None = None) -> dict:
    """Change a run's record through ``commit.update``: only if no other writer changed it
    meanwhile (since ``based_on``, the record the caller started from), else ``change`` runs
    again on the new record."""
    path = lake.layout.run_record(run_id)
    try:
        record = commit.update(lake, path, change, describe=_describe, based_on=based_on)
    except FileNotFoundError:
        raise NotFoundError(f"no run {run_id}", field="run_id", value=run_id) from None
    finally:
        with _cache_lock:
            _cache.pop(path, None)
    checkpoint.after_run_change(lake)
    return record


def _describe(record: dict) -> str:
    status = record["status"]
    event = "promoted" if status == "published" and record.get("promoted_at") else status
    by = record.get(f"{event}_by")
    stage = " (candidate)" if is_candidate(record) else ""
    return f"{record['run_id']} {event}{stage}" + (f" by {by}" if by else "") + (
        f" at {record[f'{event}_at']}" if record.get(f"{event}_at") else "")


def is_candidate(record: dict) -> bool:
    """Whether a published (or retracted) run was published as a candidate and not promoted."""
    return record.get("stage") == "candidate"


def answers_latest(record: dict) -> bool:
    """Whether a run competes for "latest" on the dates of its window: published, not
    retracted, and not a candidate. Every "latest" answer of the engine asks this."""
    return record["status"] == "published" and not is_candidate(record)


def latest_runs(lake: Lake, *, start: dt.date | str | None = None, end: dt.date | str | None = None,
                fresh: bool = False) -> list[dict]:
    """The runs that answer "latest" (``answers_latest``) whose window overlaps
    ``start``..``end``, in the order "latest" applies them: by (publish_seq, run_id), a
    later one answering for the dates it shares with an earlier one (two hosts may publish
    with one publish_seq; the run id breaks the tie). Not copies."""
    return sorted((r for r in records(lake, status="published", start=start, end=end, fresh=fresh)
                   if answers_latest(r)), key=lambda r: (r["publish_seq"] or 0, r["run_id"]))


def require_status(record: dict, status: str, action: str) -> None:
    if record["status"] != status:
        raise ConflictError(f"cannot {action} run {record['run_id']}: it is {record['status']}, not {status}",
                            field="status", value=record["status"])


def get_run(lake: Lake, run_id: str) -> dict:
    """The record of one run."""
    check_run_id(run_id)
    return copy.deepcopy(load(lake, run_id))


def run_record(lake: Lake, run_id: str) -> dict:
    """``get_run`` without the copy, for readers in the engine that do not modify it."""
    check_run_id(run_id)
    return load(lake, run_id)


def list_runs(lake: Lake, *, status: str | None = None, start: dt.date | str | None = None,
              end: dt.date | str | None = None) -> list[dict]:
    """Run records, oldest first, optionally only those in ``status`` or whose window
    overlaps ``start``..``end``."""
    return copy.deepcopy(records(lake, status=status, start=start, end=end))


def records(lake: Lake, *, status: str | None = None, start: dt.date | str | None = None,
            end: dt.date | str | None = None, fresh: bool = False) -> list[dict]:
    """``list_runs`` without the copies, for readers in the engine that do not modify them."""
    if status is not None and status not in STATUSES:
        raise InvalidArgumentError(f"status must be one of {', '.join(STATUSES)}, got {status!r}",
                                   field="status", value=status)
    start = parse_date(start, "start") if start is not None else None
    end = parse_date(end, "end") if end is not None else None
    found = []
    listed = lake.versions(lake.layout.runs_dir, checkpoint.RUN_RECORDS, fresh=fresh)
    saved = checkpoint.saved_runs(lake, fresh=fresh)[1] if listed else {}
    for name, listed_version in listed.items():
        record = _listed(lake, name.removesuffix(".json"), listed_version, saved)
        if record is None:
            continue
        if status is not None and record["status"] != status:
            continue
        if start is not None and record["end"] < start.isoformat():
            continue
        if end is not None and record["start"] > end.isoformat():
            continue
        found.append(record)
    return found


def output_files(lake: Lake, run_id: str) -> dict[dt.date, list[str]]:
    """The Parquet files of a published (or retracted) run by trading date, from its
    record: readers never list folders, so they see only committed files."""
    record = load(lake, run_id)
    if record["status"] not in ("published", "retracted"):
        raise ConflictError(f"run {run_id} is {record['status']}: only published runs can be read",
                            field="run", value=run_id)
    files: dict[dt.date, list[str]] = {}
    for f in record["files"]:
        files.setdefault(dt.date.fromisoformat(f["read_date"]), []).append(str(lake.root / f["path"]))
    return files
