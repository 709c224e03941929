"""Views for analysts: the DDL in ``queries/views/`` defined over
one snapshot of the lake.

Only committed data is visible. Every view reads an explicit list of files taken from the
commit records at the moment the views are defined, never a glob: a writer moves its files
into ``raw/`` *before* it writes the commit record, a killed writer leaves files there until
the next writer removes them, and compaction will leave old and new copies of the same rows
side by side for a while. A glob would see all of those; the record lists see none of them.
The price is that a set of views is a snapshot: it does not see commits made after it was
defined (``define_views`` again, or re-run ``meterlake catalog``, to move forward).

The DDL files name their file lists as ``getvariable('<name>')``. DuckDB cannot bind
prepared parameters in ``CREATE VIEW``, and a view stored in a ``.duckdb`` file cannot rely
on a session variable, so ``render`` replaces each with a quoted list literal (paths come
from the layout, never from a request), or, when a list is empty, the whole reader call with
a typed empty relation (DuckDB's readers refuse an empty file list).
"""
from __future__ import annotations

import datetime as dt
import os
import re
import uuid
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pyarrow as pa

from datalake.storage import checkpoint
from datalake import schema
from datalake import sql
from datalake.raw.attributes import ATTRIBUTES_FILE_SCHEMA, attribute_files
from datalake.lake import Lake, RawFile
from datalake.runs.record import is_candidate, list_runs

# In dependency order: a view may only use the ones before it.
STATEMENTS = (
    "views/ingests",
    "views/raw_files",
    "views/raw_reads_all_revisions",
    "views/raw_reads",
    "views/macro_as_of_ingest",
    "views/macro_raw_reads_as_of",
    "views/raw_read_attributes",
    "views/raw_changes",
    "views/runs",
    "views/output_all",
    "views/output_runs_by_date",
    "views/output_latest",
)

# The typed columns of each file list's reader, used to stand in for an empty list.
_PARQUET_COLUMNS: dict[str, tuple[pa.Schema, dict[str, str]]] = {
    "raw_files": (schema.RAW_FILE_SCHEMA, {"read_date": "DATE"}),
    "raw_overlay_files": (schema.RAW_FILE_SCHEMA, {"read_date": "DATE"}),
    "output_files": (schema.OUTPUT_FILE_SCHEMA, {"run_id": "VARCHAR", "read_date": "DATE"}),
    "attribute_files": (ATTRIBUTES_FILE_SCHEMA, {}),
}
# Lists used as values, not as a reader's files.
_VALUE_LISTS = {"output_runs", "raw_file_paths", "ingest_ids", "run_checkpoint_ids"}

_READER_RE = re.compile(r"\b(read_parquet|read_json)\s*\(")
_JSON_COLUMN_RE = re.compile(r"'(\w+)'\s*:\s*'([^']+)'")
_HIVE_TYPES_RE = re.compile(r"hive_types\s*=\s*\{([^}]*)\}")
_HIVE_TYPE_RE = re.compile(r"'(\w+)'\s*:\s*(\w+)")


@dataclass(frozen=True)
class Snapshot:
    """The files a set of views reads, as absolute paths."""

    head_ingest: str | None
    lists: dict[str, list[str]]
    # Of ``lists["output_runs"]``, those already retracted: their output is in ``output_all``
    # but answers for no date.
    retracted_runs: tuple[str, ...] = ()
    # Of ``lists["output_runs"]``, the published candidates: in ``output_all``, never latest.
    candidate_runs: tuple[str, ...] = ()

    def describe(self) -> str:
        n = {k: len(v) for k, v in self.lists.items()}
        published = n["output_runs"] - len(self.retracted_runs)
        retracted = f", {len(self.retracted_runs)} retracted" if self.retracted_runs else ""
        candidates = f" ({len(self.candidate_runs)} candidates)" if self.candidate_runs else ""
        return (f"snapshot at ingest {self.head_ingest or '(none)'}: {n['ingest_ids']} ingests, "
                f"{n['raw_files']} raw files, {published} published runs{candidates}{retracted} "
                f"({n['output_files']} output files)")


def snapshot(lake: Lake) -> Snapshot:
    """The committed state of ``lake`` now: its ingest records and the raw files they name."""
    runs = list_runs(lake)
    point, kept, files = checkpoint.run_sources(lake)
    readable = [r for r in runs if r["status"] in ("published", "retracted")]
    records = lake.ingests()
    head = records[-1]["ingest_id"] if records else None
    raw = lake.raw_files()
    base = _base_files(raw)
    return Snapshot(head, {
        "ingest_ids": [r["ingest_id"] for r in records],
        # The newest checkpoint and the records after it (see checkpoint.py).
        "commit_records": [str(p) for p in lake.commit_files()],
        "raw_files": [str(f.path) for f in raw],
        "raw_file_paths": [lake.layout.relative(f.path) for f in raw],
        # Every raw file but the base of its trading date: see queries/views/raw_reads.sql.
        "raw_overlay_files": [str(f.path) for f in raw if f.path not in base],
        # The newest run checkpoint for the runs unchanged since, the record files of the rest.
        "run_records": [str(p) for p in ([point] if point else []) + files],
        "run_checkpoint_ids": kept,
        # Output of the runs published (or since retracted) now; runs published later
        # stay out of every output view, even though their records will say published.
        "output_files": [str(lake.root / f["path"]) for r in readable for f in r["files"]],
        "output_runs": [r["run_id"] for r in readable],
        # The attributes of reads delivered in EIEP files, one file per such ingest.
        "attribute_files": [str(p) for p in attribute_files(lake, records)],
    }, tuple(r["run_id"] for r in readable if r["status"] == "retracted"),
        tuple(r["run_id"] for r in readable if r["status"] == "published" and is_candidate(r)))


def _base_files(raw: list[RawFile]) -> set[Path]:
    """Per trading date, the file whose rows every other file of the date can only
    supersede: the oldest, if it holds each key once and all its rows are older than the
    other files' (always so for plain ingest files; a compacted file qualifies only if no key
    in it was revised). A date without one has all its files grouped."""
    by_date: dict[dt.date, list[RawFile]] = {}
    for f in raw:
        by_date.setdefault(f.read_date, []).append(f)
    base = set()
    for files in by_date.values():
        first = min(files, key=lambda f: f.min_ingest_id)
        if first.unique_keys and all(first.max_ingest_id < f.min_ingest_id for f in files if f is not first):
            base.add(first.path)
    return base


def statements(snap: Snapshot) -> list[str]:
    """The rendered DDL, ready to execute, in dependency order."""
    return [render(sql.query(name), snap.lists) for name in STATEMENTS]


def define_views(con: duckdb.DuckDBPyConnection, lake: Lake) -> Snapshot:
    """Create (or replace) the analyst views on ``con`` over the lake's committed state."""
    snap = snapshot(lake)
    for statement in statements(snap):
        con.execute(statement)
    return snap


def write_catalog(lake: Lake, path: str | os.PathLike[str]) -> Snapshot:
    """Write a DuckDB database file holding the views (over absolute file paths) and a
    ``meterlake_catalog`` table that says which snapshot they show. The file is built next
    to ``path`` and renamed over it, so a reader never opens a half-written catalog."""
    target = Path(path).resolve()
    tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex}.tmp")
    con = duckdb.connect(str(tmp))
    try:
        snap = define_views(con, lake)
        con.execute(sql.query("catalog/table"))
        con.execute(sql.query("catalog/row"),
                    {"lake": str(lake.root), "head": snap.head_ingest, "files": len(snap.lists["raw_files"]),
                     "runs": snap.lists["output_runs"], "at": dt.datetime.now(dt.UTC)})
        con.execute(sql.query("session/checkpoint"))
    except BaseException:
        con.close()
        for leftover in (tmp, tmp.with_name(tmp.name + ".wal")):
            leftover.unlink(missing_ok=True)
        raise
    con.close()
    os.replace(tmp, target)
    return snap


def render(ddl: str, lists: dict[str, list[str]]) -> str:
    """Replace each ``getvariable('<name>')`` in ``ddl`` with the list ``lists[name]``."""
    for name, files in lists.items():
        token = f"getvariable('{name}')"
        while token in ddl:
            if files or name in _VALUE_LISTS:
                ddl = ddl.replace(token, _string_list(files) if files else "CAST([] AS VARCHAR[])")
            else:
                start, end = _reader_call(ddl, ddl.index(token))
                ddl = ddl[:start] + _empty_relation(name, ddl[start:end]) + ddl[end:]
    return ddl


def _string_list(values: list[str]) -> str:
    return "[" + ", ".join("'" + v.replace("'", "''") + "'" for v in values) + "]"


def _reader_call(ddl: str, inside: int) -> tuple[int, int]:
    """The span of the ``read_parquet(...)``/``read_json(...)`` call around offset ``inside``."""
    start = max((m for m in _READER_RE.finditer(ddl, 0, inside)), key=lambda m: m.start()).start()
    depth, quoted = 0, False
    for i in range(ddl.index("(", start), len(ddl)):
        c = ddl[i]
        if c == "'":
            quoted = not quoted
        elif not quoted and c == "(":
            depth += 1
        elif not quoted and c == ")":
            depth -= 1
            if depth == 0:
                return start, i + 1
    raise ValueError(f"unbalanced reader call in view DDL: {ddl[start:start + 60]!r}")


def _empty_relation(name: str, call: str) -> str:
    if call.startswith("read_json"):
        columns = dict(_JSON_COLUMN_RE.findall(call))
    else:
        file_schema, hive = _PARQUET_COLUMNS[name]
        types = duckdb.connect().from_arrow(file_schema.empty_table()).types
        columns = {f.name: str(t) for f, t in zip(file_schema, types)}
        if match := _HIVE_TYPES_RE.search(call):
            hive = dict(_HIVE_TYPE_RE.findall(match.group(1)))
        columns.update(hive)
    select = ", ".join(f"CAST(NULL AS {t}) AS {c}" for c, t in columns.items())
    return f"(SELECT {select} WHERE false)"
