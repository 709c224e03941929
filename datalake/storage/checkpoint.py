"""Checkpoints of the commit log: every ``INTERVAL`` commits, one file that holds every
commit record up to that commit, so that a cold reader makes a bounded number of requests
whatever the history.

``_meta/checkpoints/ing-NNNNNNNN.jsonl`` holds the records ``ing-00000001`` to
``ing-NNNNNNNN`` in order, one JSON object a line, each exactly as in its own file under
``_meta/ingests/``. A reader lists the checkpoints, reads the newest, and lists and reads
only the records after it (``Lake.commits``; on a store one LIST with ``StartAfter``), so a
cold start costs at most ``INTERVAL + 3`` requests. The records stay where they are: a
checkpoint is derived from them, never their only copy, and a lake without checkpoints
reads as before.

The writer of commit N writes the checkpoint after its commit, once N is ``INTERVAL`` or
more past the newest checkpoint. It is created only if absent (two writers build the same
bytes), and a failure to write one leaves the commit standing: the next commit tries again.

Run records are replaced on each transition, so their checkpoint works by version instead:
``_meta/checkpoints/runs-NNNNNNNN.jsonl`` holds every run record, one a line, each with the
``storage.version`` of the file it was read from under ``"_version"`` (the ETag on a store,
(inode, mtime) on a disk). A reader lists ``_meta/runs/`` (one LIST, which carries the ETags)
and reads only the records whose version differs from the newest checkpoint's: a record
that still has the version a checkpoint saw still has that content. A run transition writes
a new one once ``INTERVAL`` or more records differ from the newest, and removes all but the
two newest (a reader that lost the race for an old one reads the records instead).
"""
from __future__ import annotations

import json
import logging
import os
from pathlib import Path

from datalake.lake import Lake
from datalake.storage.layout import ingest_seq
from datalake.storage.files import PreconditionFailed, read_json_lines, read_json_versioned, write_atomic

RUNS = "runs-*.jsonl"
RUN_RECORDS = "run-*.json"
INTERVAL = int(os.environ.get("METERLAKE_CHECKPOINT_INTERVAL", "50"))  # smaller only for test rigs
log = logging.getLogger(__name__)


def due(lake: Lake, commit_id: str) -> bool:
    points = lake.names(lake.layout.checkpoints_dir, "ing-*.jsonl", fresh=True)
    newest = ingest_seq(points[-1].removesuffix(".jsonl")) if points else 0
    return ingest_seq(commit_id) - newest >= INTERVAL


def write(lake: Lake, upto: str) -> None:
    """The checkpoint of every commit up to and including ``upto``."""
    records = [r for r in lake.commits(fresh=True) if r["ingest_id"] <= upto]
    if [ingest_seq(r["ingest_id"]) for r in records] != list(range(1, ingest_seq(upto) + 1)):
        raise AssertionError(f"the commit log up to {upto} has gaps")  # ids are taken in sequence
    body = "".join(json.dumps(r, sort_keys=True, separators=(",", ":"), default=str) + "\n" for r in records)
    try:
        write_atomic(lake.layout.checkpoint(upto), body.encode(), exclusive=True)
    except PreconditionFailed:
        pass  # another writer wrote it: the same records
    lake.forget_listings()


def after_commit(lake: Lake, commit_id: str) -> None:
    """Write a checkpoint at ``commit_id`` if one is due; never fails the commit."""
    try:
        if due(lake, commit_id):
            write(lake, commit_id)
    except Exception as e:  # a full disk, a failed request (botocore's are not all OSErrors)
        log.warning("checkpoint at %s not written (the next commit tries again): %s", commit_id, e)


_saved: dict[str, dict[str, tuple[tuple, dict]]] = {}  # the newest run checkpoint read, by path


def saved_runs(lake: Lake, *, fresh: bool = False) -> tuple[Path | None, dict[str, tuple[tuple, dict]]]:
    """The newest run checkpoint, and its run_id -> (version, record); (None, {}) if none."""
    points = lake.names(lake.layout.checkpoints_dir, RUNS, fresh=fresh)
    if not points:
        return None, {}
    path = lake.layout.checkpoints_dir / points[-1]
    hit = _saved.get(str(path))
    if hit is None:
        try:
            lines = read_json_lines(path)
        except FileNotFoundError:
            return None, {}  # removed by a newer checkpoint's writer since the listing
        hit = {r["run_id"]: (tuple(r.pop("_version")), r) for r in lines}
        _saved.clear()
        _saved[str(path)] = hit
    return path, hit


def _unchanged(listed: dict[str, tuple], saved: dict[str, tuple[tuple, dict]]) -> list[str]:
    """The runs whose record still has the version the checkpoint ``saved`` read."""
    return [run_id for run_id, held in saved.items() if listed.get(f"{run_id}.json") == held[0]]


def run_sources(lake: Lake) -> tuple[Path | None, list[str], list[Path]]:
    """Where a reader of every run record finds them: the newest run checkpoint (or None)
    and the runs to take from it, and the record files of the other runs."""
    listed = lake.versions(lake.layout.runs_dir, RUN_RECORDS)
    path, saved = saved_runs(lake)
    kept = _unchanged(listed, saved)
    rest = sorted(set(listed) - {f"{run_id}.json" for run_id in kept})
    return (path if kept else None), kept, [lake.layout.runs_dir / n for n in rest]


def after_run_change(lake: Lake) -> None:
    """Write a run checkpoint if ``INTERVAL`` or more run records changed since the newest;
    never fails the transition that called it."""
    try:
        listed = lake.versions(lake.layout.runs_dir, RUN_RECORDS, fresh=True)
        _, saved = saved_runs(lake, fresh=True)
        if len(listed) - len(_unchanged(listed, saved)) >= INTERVAL:
            write_runs(lake, listed, saved)
    except Exception as e:  # as in after_commit
        log.warning("run checkpoint not written (the next run change tries again): %s", e)


def write_runs(lake: Lake, listed: dict[str, tuple], saved: dict[str, tuple[tuple, dict]]) -> None:
    lines = []
    for name, version in listed.items():
        run_id = name.removesuffix(".json")
        if saved.get(run_id, ((),))[0] == version:
            record = saved[run_id][1]
        else:
            try:
                record, version = read_json_versioned(lake.layout.runs_dir / name)
            except FileNotFoundError:
                continue
        lines.append(json.dumps({**record, "_version": list(version)}, sort_keys=True, default=str) + "\n")
    points = lake.names(lake.layout.checkpoints_dir, RUNS, fresh=True)
    seq = int(points[-1][5:13]) + 1 if points else 1
    try:
        write_atomic(lake.layout.runs_checkpoint(seq), "".join(lines).encode(), exclusive=True)
    except PreconditionFailed:
        return  # another writer wrote this one: records with their versions, as good as ours
    for old in points[:-1]:
        (lake.layout.checkpoints_dir / old).unlink(missing_ok=True)
    lake.forget_listings()
