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
"""
from __future__ import annotations

import json
import logging
import os

from .lake import Lake
from .layout import ingest_seq
from .storage import PreconditionFailed, write_atomic

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
