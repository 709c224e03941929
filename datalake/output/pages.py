"""Which runs and files answer an output query, its arguments, and its cursors: the
pinning of dates to runs on a first page, the page state a cursor carries, and the ICP
lists that bound a page by icp_id."""
from __future__ import annotations

import datetime as dt
import functools
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from datalake import cursor as cursors
from datalake.output import blocks as outputblocks
from datalake import schema
from datalake.errors import InvalidArgumentError, MeterlakeError
from datalake.lake import Lake, check_range, parse_date
from datalake.storage.layout import check_run_id
from datalake.output.blocks import Source
from datalake.runs.aliases import resolve_run
from datalake.runs.record import get_run, latest_runs, output_files, run_record
from datalake.storage.files import version

MAX_LIMIT = 100_000


def resolve_runs(lake: Lake, start: dt.date | str, end: dt.date | str, run: str = "latest") -> dict[dt.date, str]:
    """The run that answers for each trading date in ``start``..``end``. "latest" is the
    most recently published, not retracted run whose window covers the date, candidates
    left out (``record.latest_runs``; dates no such run covers are absent); a run id pins
    that run (published, a candidate, or retracted) for the dates of its window, and
    ``alias:NAME`` the run the alias points at now (``aliases.resolve_run``)."""
    start, end = parse_date(start, "start"), parse_date(end, "end")
    check_range(start, end)
    run = resolve_run(lake, run)
    if run != "latest":
        record = get_run(lake, check_run_id(run, "run"))
        output_files(lake, run)  # open and aborted runs have no output to read
        answering = [record]
    else:
        answering = latest_runs(lake, start=start, end=end)
    resolved: dict[dt.date, str] = {}
    for record in answering:  # later publishes overwrite earlier ones
        first = max(start, dt.date.fromisoformat(record["start"]))
        last = min(end, dt.date.fromisoformat(record["end"]))
        for i in range((last - first).days + 1):
            resolved[first + dt.timedelta(days=i)] = record["run_id"]
    return dict(sorted(resolved.items()))


def lead_keys(lake: Lake, lead: str, sources: list[Source]) -> list | None:
    """The distinct values of the leading key, in order, that bound a page: ICPs from the
    runs' ICP indexes, the dates that have output; None when there is no such list (by
    buyer_seller first, or a run without an ICP index): then a page reads every key."""
    if lead == "icp_id":
        return icp_keys(lake, tuple(sorted({s.run_id for s in sources})))
    if lead == "read_date":
        return sorted({s.day for s in sources})
    return None


@functools.lru_cache(maxsize=16)
def _icp_keys_cached(paths: tuple[tuple[Path, tuple], ...]) -> list[str]:
    tables = []
    for path, _ in paths:
        with path.open("rb") as f:
            tables.append(pq.read_table(f, columns=["icp_id"]))
    keys = pc.unique(pa.chunked_array([t["icp_id"].combine_chunks() for t in tables]))
    return sorted(keys.to_pylist())


def icp_keys(lake: Lake, run_ids: tuple[str, ...]) -> list[str] | None:
    """The sorted union of the runs' ICP indexes (immutable once published), or None if a
    run has none (published before publish wrote them)."""
    paths = []
    for run in run_ids:
        index = run_record(lake, run).get("icp_index")
        if not index:
            return None
        path = lake.root / index
        paths.append((path, version(path)))
    return _icp_keys_cached(tuple(paths))


def sources(lake: Lake, pinned: dict[dt.date, str]) -> list[Source]:
    """The output files answering for the pinned dates, from the runs' records."""
    by_run: dict[str, dict[str, list[Source]]] = {}
    found = []
    for day, run in pinned.items():
        if run not in by_run:
            try:
                record = run_record(lake, run)
                if record["status"] not in ("published", "retracted"):
                    output_files(lake, run)  # raises: only published and retracted runs can be read
            except MeterlakeError as e:  # a cursor naming a run that cannot be read
                raise InvalidArgumentError(f"invalid cursor: {e}", field="cursor", value=run) from None
            by_run[run] = outputblocks.run_sources(lake, record)
        found += by_run[run].get(day.isoformat(), [])
    return found


def check_side(value: str | None) -> None:
    if value is not None and value not in schema.BUYER_SELLER:
        raise InvalidArgumentError(f"buyer_seller must be buyer or seller, got {value!r}",
                                   field="buyer_seller", value=value)


def check_limit(limit: int | None) -> None:
    if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool)
                              or not 1 <= limit <= MAX_LIMIT):
        raise InvalidArgumentError(f"limit must be an integer 1..{MAX_LIMIT}, got {limit!r}",
                                   field="limit", value=limit)


def iso(day: dt.date | None) -> str | None:
    return day.isoformat() if day else None


def window(start: dt.date | str | None, end: dt.date | str | None) -> tuple[dt.date | None, dt.date | None]:
    start = parse_date(start, "start") if start is not None else None
    end = parse_date(end, "end") if end is not None else None
    if start is not None and end is not None:
        check_range(start, end)
    return start, end


def page_state(lake: Lake, text: str | None, query: dict, key_length: int, start: dt.date | None,
                end: dt.date | None, run: str) -> tuple[dict[dt.date, str], list | None]:
    """The pinned runs and last key: from the cursor, or resolved now for a first page."""
    if text is not None:
        state = cursors.decode(text, query, key_length)
        return state.runs, state.after
    run = resolve_run(lake, run)  # an alias is read once, here: the cursor pins what it named
    if run != "latest":
        check_run_id(run, "run")
        record = get_run(lake, run)
        start = start or dt.date.fromisoformat(record["start"])
        end = end or dt.date.fromisoformat(record["end"])
    elif start is None or end is None:
        published = latest_runs(lake)
        if not published:
            return {}, None
        start = start or min(dt.date.fromisoformat(r["start"]) for r in published)
        end = end or max(dt.date.fromisoformat(r["end"]) for r in published)
    if end < start:
        return {}, None
    return resolve_runs(lake, start, end, run), None


def key_value(key: str, value: object) -> object:
    try:
        if key == "read_date":
            return dt.date.fromisoformat(value)  # type: ignore[arg-type]
        if not isinstance(value, str):
            raise TypeError
        return value
    except (TypeError, ValueError):
        raise InvalidArgumentError("invalid cursor: bad key value", field="cursor", value=str(value)) from None


def with_cursor(table: pa.Table, limit: int | None, query: dict, pinned: dict[dt.date, str],
                 key: list[str]) -> tuple[pa.Table, str | None]:
    if limit is None or table.num_rows <= limit:
        return table, None
    table = table.slice(0, limit)
    last = table.slice(limit - 1, 1).to_pylist()[0]
    after = [last[k].isoformat() if isinstance(last[k], dt.date) else last[k] for k in key]
    return table, cursors.encode(cursors.Cursor(query, pinned, after))
