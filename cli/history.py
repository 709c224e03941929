"""`meterlake history`: the lake's commits, each with its time, source file, rows and revisions."""
from __future__ import annotations

import argparse
import json

from datalake.raw.history import HISTORY_COLUMNS, history
from datalake.lake import Lake

HEADINGS = ("commit", "kind", "committed at (UTC)", "source", "read", "new", "revised", "stored", "dates")


def register(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser("history", help="list the lake's commits (ingests and compactions), oldest first, "
                                            "with their time, source file, rows and revisions")
    p.add_argument("--json", action="store_true", help="one JSON object a line, with every column")
    p.add_argument("--last", type=int, metavar="N", help="only the newest N commits")
    p.set_defaults(func=cmd_history)


def cmd_history(args: argparse.Namespace) -> int:
    rows = history(Lake(args.lake))
    if args.last is not None:
        rows = rows[-args.last:] if args.last > 0 else []
    if args.json:
        for row in rows:
            print(json.dumps({c: row[c] for c in HISTORY_COLUMNS}))
        return 0
    table = [HEADINGS] + [_cells(r) for r in rows]
    widths = [max(len(line[i]) for line in table) for i in range(len(HEADINGS))]
    numeric = {4, 5, 6, 7}
    for line in table:
        print("  ".join(c.rjust(w) if i in numeric else c.ljust(w)
                        for i, (c, w) in enumerate(zip(line, widths))).rstrip())
    return 0


def _cells(row: dict) -> tuple[str, ...]:
    def count(n: int | None) -> str:
        return "-" if n is None else f"{n:,}"

    span = "" if row["first_date"] is None else (
        row["first_date"] if row["first_date"] == row["last_date"] else f"{row['first_date']}..{row['last_date']}")
    when = row["committed_at"].replace("+00:00", "Z")
    return (row["ingest_id"], row["kind"], when, row["source"] or "-", count(row["rows_read"]),
            count(row["rows_new"]), count(row["rows_revised"]), count(row["rows_stored"]), span)
