"""`meterlake runs checks` and `runs diff`: reviewing published runs, over ``datalake.runs.checks``
and ``datalake.runs.diff``."""
from __future__ import annotations

import argparse
import json
import sys

import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.ipc as ipc

from datalake.lake import Lake
from datalake.runs.checks import run_checks
from datalake.runs.diff import run_diff

from .status import CHECK_FAILED, OK


def register(sub: argparse._SubParsersAction) -> None:
    """Add the review actions to the ``runs`` subcommands ``sub``."""
    p = sub.add_parser("checks", help="run every check on a published run (exit status 3 if one fails)")
    p.add_argument("run_id")
    p.add_argument("--json", action="store_true", help="print the checks as JSON")
    p.set_defaults(func=cmd_checks)

    p = sub.add_parser("diff", help="compare run A against run B over the dates both windows cover")
    p.add_argument("run_id", metavar="A")
    p.add_argument("against", metavar="B")
    p.add_argument("--limit", type=int, default=20, help="largest changes to list (default 20)")
    p.add_argument("--cursor", help="the next page: the cursor the previous page printed")
    p.add_argument("--format", choices=("text", "json", "csv", "arrow"), default="text",
                   help="text (default); json as the HTTP API answers; csv or arrow (IPC stream) of one table")
    p.add_argument("--table", choices=("changes", "sides"), default="changes",
                   help="csv and arrow: the page of changes (default) or the totals by side")
    p.set_defaults(func=cmd_diff)


def cmd_checks(args: argparse.Namespace) -> int:
    found = run_checks(Lake(args.lake), args.run_id)
    passed = all(c.passed for c in found)
    if args.json:
        print(json.dumps({"run_id": args.run_id, "passed": passed, "checks": [c.to_dict() for c in found]},
                         indent=2))
    else:
        print(f"{args.run_id}  {'passed' if passed else 'FAILED'}  "
              f"({sum(c.passed for c in found)} of {len(found)} checks pass)")
        for c in found:
            print(f"  {'pass' if c.passed else 'FAIL'}  {c.name:<21} {c.kind:<10}  {c.detail}")
    return OK if passed else CHECK_FAILED


def cmd_diff(args: argparse.Namespace) -> int:
    found = run_diff(Lake(args.lake), args.run_id, args.against, limit=args.limit, cursor=args.cursor)
    table = found.sides if args.table == "sides" else found.changes
    if args.format == "csv":
        pcsv.write_csv(table, sys.stdout.buffer)
    elif args.format == "arrow":
        with ipc.new_stream(sys.stdout.buffer, table.schema) as writer:
            writer.write_table(table)
    elif args.format == "json":
        print(json.dumps({"run_id": found.run_id, "against": found.against, "start": found.start.isoformat(),
                          "end": found.end.isoformat(), "sides": rows_json(found.sides), "changes": rows_json(found.changes),
                          "next_cursor": found.next_cursor}, indent=2))
    else:
        days = (found.end - found.start).days + 1
        print(f"{found.run_id} against {found.against}: {found.start}..{found.end} ({days} dates)")
        print_table(found.sides)
        if found.changes.num_rows:
            print("largest changes:")
            print_table(found.changes)
        else:
            print("no changes")
        if found.next_cursor:
            print(f"more: --cursor {found.next_cursor}")
    return OK


def rows_json(table: pa.Table) -> list[dict]:
    """Rows as JSON values: decimals as strings with their scale, dates as YYYY-MM-DD."""
    return [{k: v if v is None or isinstance(v, int | str) else str(v) for k, v in row.items()}
            for row in table.to_pylist()]


def print_table(table: pa.Table) -> None:
    """Aligned columns, numbers to the right."""
    rows = [[str(v) if v is not None else "-" for v in row.values()] for row in table.to_pylist()]
    widths = [max(len(c), *(len(r[i]) for r in rows)) for i, c in enumerate(table.column_names)]
    numeric = [pa.types.is_integer(f.type) or pa.types.is_decimal(f.type) for f in table.schema]
    print("  " + "  ".join(c.rjust(w) if n else c.ljust(w) for c, w, n in zip(table.column_names, widths, numeric)))
    for row in rows:
        print("  " + "  ".join(v.rjust(w) if n else v.ljust(w) for v, w, n in zip(row, widths, numeric)).rstrip())
