"""Commands for the lake itself and its raw reads: init, ingest, generate, reads."""
from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from pathlib import Path

from datalake.raw.attributes import with_attributes
from datalake.errors import MeterlakeError
from datalake.demo.generate import generate
from datalake.raw.ingest import ingest_file
from datalake.lake import Lake, parse_date
from datalake.raw.reads import read_icp

from .progress import ProgressBar
from .status import INTERRUPTED, report


def register(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser("init", help="create an empty lake")
    p.set_defaults(func=cmd_init)

    p = commands.add_parser("ingest", help="ingest raw read files (CSV, Parquet, Arrow IPC, EIEP3 or EIEP13A) "
                                           "in order, one commit each; stops at the first that fails")
    p.add_argument("files", nargs="+", type=Path, metavar="FILE")
    p.add_argument("--format", choices=["csv", "parquet", "arrow", "eiep3", "eiep13a"], dest="fmt",
                   help="the files' format (default: detected from each file: Parquet and Arrow by their magic "
                        "bytes, EIEP3 by HDR,ICPHH, EIEP13A by HDR,ICPCONS, else CSV); see docs/eiep.md")
    p.add_argument("--on-error", choices=["fail", "quarantine"], default="fail",
                   help="fail: any bad row and nothing is written (default); "
                        "quarantine: ingest the good rows, write the bad ones to a rejects file")
    p.add_argument("--json", action="store_true", help="print each result as JSON")
    p.set_defaults(func=cmd_ingest)

    p = commands.add_parser("generate", help="write synthetic raw reads into the lake")
    p.add_argument("--icps", type=int, required=True)
    p.add_argument("--days", type=int, required=True)
    p.add_argument("--start", type=dt.date.fromisoformat, required=True, help="first trading date")
    p.add_argument("--seed", type=int, default=42)
    p.set_defaults(func=cmd_generate)

    p = commands.add_parser("reads", help="print the raw reads of one ICP as CSV, as the HTTP API's CSV "
                                          "(times in New Zealand time with their offset)")
    p.add_argument("icp_id")
    p.add_argument("--start", required=True, help="first trading date")
    p.add_argument("--end", required=True, help="last trading date (inclusive)")
    p.add_argument("--direction", choices=["I", "X"])
    p.add_argument("--as-of", help="read the lake as it was after an ingest: its id, or an RFC 3339 time "
                                   "(e.g. 2018-06-20T09:00:00+12:00: the last ingest committed at or before it)")
    p.add_argument("--ingest-id", action="store_true",
                   help="add a last column: the ingest that delivered each read's value")
    p.add_argument("--fields", choices=["default", "all"], default="default",
                   help="all: also the ingest id and the attributes of each read's delivery (as fields=all "
                        "over HTTP; docs/eiep.md)")
    p.set_defaults(func=cmd_reads)


def cmd_init(args: argparse.Namespace) -> int:
    lake = Lake.create(args.lake)
    print(f"lake ready at {lake.root}")
    return 0


def cmd_ingest(args: argparse.Namespace) -> int:
    """Ingest the files in the order given, each in its own all-or-nothing commit, and stop
    at the first that fails: a later delivery supersedes an earlier one, so ingesting the
    rest without it would let the failed file, delivered again once fixed, overwrite their
    newer values. Like ``git am``, it names what was not done."""
    lake = Lake(args.lake)
    for n, path in enumerate(args.files):
        bar = ProgressBar(f"ingest {path.name}")
        try:
            result = ingest_file(lake, path, on_error=args.on_error, progress=bar, actor="cli", fmt=args.fmt)
        except (MeterlakeError, KeyboardInterrupt) as e:
            bar.close()
            status = INTERRUPTED if isinstance(e, KeyboardInterrupt) else report(e)
            print(f"{path}: not ingested, nothing of it written", file=sys.stderr)
            for later in args.files[n + 1:]:
                print(f"{later}: not ingested, an earlier file failed", file=sys.stderr)
            return status
        bar.close()
        print(json.dumps(result.to_dict()) if args.json else result.summary(), flush=True)
    return 0


def cmd_generate(args: argparse.Namespace) -> int:
    lake = Lake.create(args.lake)
    result = generate(lake, icps=args.icps, days=args.days, start=args.start, seed=args.seed, actor="cli")
    print(result.summary())
    return 0


def cmd_reads(args: argparse.Namespace) -> int:
    # The service's CSV rendering, so that both say the same thing in the same way: the
    # brief's deliveries and the analysts' views speak New Zealand time, with the offset.
    from service.encoding import csv_bytes

    lake = Lake(args.lake)
    table = read_icp(lake, args.icp_id, parse_date(args.start, "start"), parse_date(args.end, "end"),
                     direction=args.direction, as_of=args.as_of, ingest_id=args.ingest_id or args.fields == "all")
    if args.fields == "all":
        table = with_attributes(lake, table, args.icp_id)
    sys.stdout.buffer.write(csv_bytes(table))
    return 0
