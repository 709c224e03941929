"""Algorithm runs: create, upload output parts, publish all at once, abort, retract.

A run's record (``_meta/runs/<run_id>.json``) is its single source of truth, and rewriting
it is the commit point of every transition: open -> published -> retracted, open ->
aborted. A run published as a candidate (``stage="candidate"``, no ``publish_seq``) is
readable by its id but answers no "latest" until ``promotion.promote_run``. Uploaded parts
are validated row by row on upload and kept, typed, in the run's parts folder under
``_staging`` (never read by queries). Publish checks the whole run
(duplicate keys across parts), writes the per-date Parquet files in a private staging
folder, moves the finished run folder into ``output/`` and writes the record last; readers
find published runs through the records only, so a publisher that dies at any point leaves
nothing visible, and the next writer removes what it left behind.
"""
from __future__ import annotations

import copy
import datetime as dt
import json
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import duckdb

from datalake import sql
from datalake.delivery.sources import Format, detect_format
from datalake.errors import ConflictError, InvalidArgumentError, environment_errors
from datalake.lake import Lake, check_range, parse_date
from datalake.runs.coverage import refuse_partial
from datalake.runs.parts import MEMORY_LIMIT, part_file, stage_part
from datalake.runs.publication import publish_files, run_stats
from datalake.runs.record import STAGES, get_run, load, now, records, require_status, update
from datalake.runs.totals import write_icp_index
from datalake.storage import checkpoint, commit
from datalake.storage.files import local_copy, remove_tree, sha256_file
from datalake.storage.layout import run_id as make_run_id


@environment_errors
def create_run(lake: Lake, *, start: dt.date | str, end: dt.date | str, algorithm: str, version: str,
               params: dict | None = None, raw_as_of: str | None = None, actor: str | None = None) -> dict:
    """Open a new run over trading dates ``start``..``end`` (inclusive). ``raw_as_of`` is
    the ingest the algorithm read; it defaults to the lake's latest."""
    start, end = parse_date(start, "start"), parse_date(end, "end")
    check_range(start, end)
    for name, value in (("algorithm", algorithm), ("version", version)):
        if not isinstance(value, str) or not value.strip() or len(value) > 200:
            raise InvalidArgumentError(f"{name} must be a non-empty string of at most 200 characters",
                                       field=name, value=value)
    params = {} if params is None else params
    try:
        if not isinstance(params, dict):
            raise TypeError
        json.dumps(params)
    except (TypeError, ValueError):
        raise InvalidArgumentError("params must be a JSON object", field="params", value=str(params)) from None
    if raw_as_of is not None:
        lake.ingest(raw_as_of)
    raw_as_of = raw_as_of or lake.head_ingest()

    def next_record() -> Path:
        seqs = [int(n[4:12]) for n in lake.names(lake.layout.runs_dir, "run-*.json", fresh=True)]
        return lake.layout.run_record(make_run_id(max(seqs, default=0) + 1))

    record = commit.create(lake, next_record, lambda path: {
        "run_id": path.name.removesuffix(".json"),
        "status": "open",
        "start": start.isoformat(), "end": end.isoformat(),
        "algorithm": algorithm, "version": version, "params": params, "raw_as_of": raw_as_of,
        "created_at": now(), "created_by": actor,
        "published_at": None, "published_by": None, "publish_seq": None, "stage": None,
        "promoted_at": None, "promoted_by": None,
        "retracted_at": None, "retracted_by": None, "aborted_at": None, "aborted_by": None,
        "parts": [], "rows": 0, "totals": {}, "icps": None, "missing_icps": None,
        "missing_icps_sample": [], "missing_dates": [], "dates": [], "files": [], "icp_index": None,
    })
    checkpoint.after_run_change(lake)
    return copy.deepcopy(record)


@environment_errors
def upload_part(lake: Lake, run_id: str, part: int, path: str | os.PathLike[str], *, fmt: Format | None = None,
                source_name: str | None = None, actor: str | None = None) -> dict:
    """Validate one part of a run's output (CSV in the brief's format, Parquet or Arrow
    IPC) and keep it for publish; uploading the same part number again replaces it. Any
    bad row raises ``ValidationError`` and leaves the run as it was. Returns the part's
    entry in the run record."""
    record = get_run(lake, run_id)
    target = lake.layout.run_part_file(run_id, part, commit.token())
    require_status(record, "open", "upload to")
    path = Path(path)
    if not path.is_file():
        raise InvalidArgumentError(f"no such file: {path}", field="file", value=str(path))
    fmt = fmt or detect_format(path)
    window = dt.date.fromisoformat(record["start"]), dt.date.fromisoformat(record["end"])
    with lake.staging() as work, ThreadPoolExecutor(max_workers=1) as hasher:
        digest = hasher.submit(sha256_file, path)  # hashing releases the GIL: beside the checks
        staged = work / "part.arrow"
        rows, dates = stage_part(path, part, fmt, window, work, staged)
        entry = {"part": part, "rows": rows, "dates": dates, "source_name": source_name or path.name,
                 "format": fmt, "bytes": path.stat().st_size, "sha256": digest.result(),
                 "uploaded_at": now(), "uploaded_by": actor}
        def change(current: dict, placed: commit.Staged) -> dict:
            require_status(current, "open", "upload to")
            entry["path"] = lake.layout.relative(placed.add(staged, target))
            current["parts"] = sorted([p for p in current["parts"] if p["part"] != part] + [entry],
                                      key=lambda p: p["part"])
            current["rows"] = sum(p["rows"] for p in current["parts"])
            return current

        replaced = next((p for p in record["parts"] if p["part"] == part), None)
        update(lake, run_id, change)
    # The part this one replaced: unnamed by the record now (the run's folder goes when it closes).
    if replaced is not None:
        part_file(lake, run_id, replaced).unlink(missing_ok=True)
    return {"run_id": run_id, **entry}


@environment_errors
def publish_run(lake: Lake, run_id: str, *, actor: str | None = None, allow_partial: bool = False,
                stage: str = "latest") -> dict:
    """Check the whole run and make it visible at once: with ``stage="latest"`` it takes the
    next ``publish_seq`` and answers "latest" for its window; with ``stage="candidate"`` it
    is readable by its id only (no ``publish_seq`` until promoted). Fails (nothing
    published) with ``ValidationError`` on duplicate keys; with ``coverage.PartialRunError``
    if a date of the window has no rows or an ICP with raw reads in the window has no
    output, unless ``allow_partial``; with ``ConflictError`` if the run is not open or
    another writer changed it meanwhile (e.g. a racing publish that won)."""
    if stage not in STAGES:
        raise InvalidArgumentError(f"stage must be one of {', '.join(STAGES)}, got {stage!r}",
                                   field="stage", value=stage)
    record = get_run(lake, run_id)
    require_status(record, "open", "publish")
    if not record["parts"]:
        raise ConflictError(f"cannot publish run {run_id}: no parts uploaded", field="parts", value=0)
    with lake.staging() as work:
        con = sql.connect(memory_limit=MEMORY_LIMIT, temp_directory=str(work / "spill"))
        try:
            parts = [str(local_copy(part_file(lake, run_id, p), work)) for p in record["parts"]]
            folder = work / "run"
            files, block_files = publish_files(con, parts, folder, run_id, work / "blocks")
            index = work / "icps.parquet"
            write_icp_index(files, block_files, index)
            start, end = dt.date.fromisoformat(record["start"]), dt.date.fromisoformat(record["end"])
            stats, cov = run_stats(con, files, block_files, index, lake.raw_files(start, end, record["raw_as_of"])
                                   if record["raw_as_of"] else [], record["raw_as_of"], start, end)
            refuse_partial(run_id, cov, allow_partial=allow_partial)
        except (duckdb.Error, OSError):
            # Parts vanish when a racing publish wins or the run is aborted: report that.
            current = load(lake, run_id, fresh=True)
            require_status(current, "open", "publish")
            if current["parts"] != record["parts"]:
                raise ConflictError(f"run {run_id} changed while it was being published; publish it again",
                                    field="parts") from None
            raise
        finally:
            con.close()
        def change(current: dict, placed: commit.Staged) -> dict:
            require_status(current, "open", "publish")
            if current["parts"] != record["parts"]:
                raise ConflictError(f"run {run_id} changed while it was being published; publish it again",
                                    field="parts")
            name = commit.token()
            published = []
            for f, local_blocks in zip(files, block_files):
                target = placed.add(folder / f["path"],
                                    lake.layout.output_file(run_id, dt.date.fromisoformat(f["read_date"]), token=name))
                placed.add(local_blocks, lake.layout.blocks_of(target))  # one commit with the data file
                published.append({**f, "path": lake.layout.relative(target)})
            icps = placed.add(index, lake.layout.run_icp_index(run_id, name))
            seq = None if stage == "candidate" else next_publish_seq(lake)
            current.update(status="published", published_at=now(), published_by=actor, publish_seq=seq, stage=stage,
                           files=published, dates=[f["read_date"] for f in files],
                           icp_index=lake.layout.relative(icps), partial=allow_partial and cov.partial, **stats)
            return current

        current = update(lake, run_id, change, based_on=record)
    remove_tree(lake.layout.run_parts_dir(run_id))
    return copy.deepcopy(current)


def next_publish_seq(lake: Lake) -> int:
    """1 + the highest ``publish_seq`` of any run now: what a publish or a promotion takes."""
    return max((r["publish_seq"] or 0 for r in records(lake, fresh=True)), default=0) + 1


@environment_errors
def abort_run(lake: Lake, run_id: str, *, actor: str | None = None) -> dict:
    """Give up an open run: it will never publish, and its uploaded parts are removed."""
    record = _transition(lake, run_id, "open", "aborted", "abort", actor)
    remove_tree(lake.layout.run_parts_dir(run_id))
    return record


@environment_errors
def retract_run(lake: Lake, run_id: str, *, actor: str | None = None) -> dict:
    """Withdraw a published run (a candidate too) from "latest"; its files stay readable by
    run id."""
    return _transition(lake, run_id, "published", "retracted", "retract", actor)


def _transition(lake: Lake, run_id: str, before: str, after: str, action: str, actor: str | None) -> dict:
    based_on = load(lake, run_id, fresh=True)

    def change(record: dict, placed: commit.Staged) -> dict:
        require_status(record, before, action)
        record.update({"status": after, f"{after}_at": now(), f"{after}_by": actor})
        return record

    return update(lake, run_id, change, based_on=based_on)
