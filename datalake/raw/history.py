"""The lake's commit history as rows: what each commit was, when, from which file, and
how many rows it read, added and revised."""
from __future__ import annotations

from datalake.lake import Lake

HISTORY_COLUMNS = ("ingest_id", "kind", "committed_at", "actor", "source", "format", "rows_read", "rows_new",
                   "rows_revised", "rows_stored", "first_date", "last_date")


def history(lake: Lake) -> list[dict]:
    """One dict (``HISTORY_COLUMNS``) per commit, oldest first: ingests and compactions share
    one id sequence; a compaction has no source and changes no value (its rows are the rows
    it rewrote)."""
    rows = []
    for record in lake.commits(fresh=True):
        kind = record.get("kind", "ingest")
        source = record.get("source") or {}
        counts = record.get("rows") or {}
        stored = counts.get("stored", sum(f["rows"] for f in record["files"]))
        dates = sorted(record.get("dates", []))
        rows.append({
            "ingest_id": record["ingest_id"], "kind": kind, "committed_at": record["committed_at"],
            "actor": record.get("actor"), "source": source.get("name"), "format": source.get("format"),
            "rows_read": counts.get("read"), "rows_new": counts.get("new", 0 if kind != "ingest" else None),
            "rows_revised": counts.get("revised", 0 if kind != "ingest" else None), "rows_stored": stored,
            "first_date": dates[0] if dates else None, "last_date": dates[-1] if dates else None,
        })
    return rows
