"""`meterlake quality`: the completeness of the raw reads, over ``datalake.raw.quality``."""
from __future__ import annotations

import argparse
import json
import sys

import pyarrow.csv as pcsv

from datalake.lake import Lake
from datalake.raw.quality import icp_quality, reads_quality

from .review import print_table, rows_json


def register(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser("quality", help="completeness of the raw reads per trading date and direction")
    p.add_argument("--start", required=True, help="first trading date")
    p.add_argument("--end", required=True, help="last trading date (inclusive; at most 366 dates)")
    p.add_argument("--icp", help="one ICP's figures instead of the whole report")
    p.add_argument("--as-of", help="ingest id: the raw data as it was after that ingest")
    p.add_argument("--format", choices=("text", "json", "csv"), default="text")
    p.set_defaults(func=cmd_quality)


def cmd_quality(args: argparse.Namespace) -> int:
    lake = Lake(args.lake)
    table = (icp_quality(lake, args.icp, args.start, args.end, as_of=args.as_of) if args.icp
             else reads_quality(lake, args.start, args.end, as_of=args.as_of))
    if args.format == "csv":
        pcsv.write_csv(table, sys.stdout.buffer)
    elif args.format == "json":
        print(json.dumps(rows_json(table), indent=2))
    elif table.num_rows:
        print_table(table)
    else:
        print(f"no reads of {args.icp} in {args.start}..{args.end}" if args.icp
              else f"no reads in {args.start}..{args.end}")
    return 0
