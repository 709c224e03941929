"""Commands that look after the lake: compact, vacuum, check, migrate."""
from __future__ import annotations

import argparse
import json

from datalake.maintenance.check import check_lake
from datalake.maintenance.vacuum import vacuum
from datalake.raw.compaction import MIN_FILES, compact, parse_duration
from datalake.lake import Lake, parse_date
from datalake.maintenance.migrate import migrate

ACTOR = "cli"


def register(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser("compact", help="merge each trading date's raw files into one (keeps every revision)")
    p.add_argument("--date", action="append", dest="dates", metavar="D",
                   help="trading date to compact (repeatable; default: every date with several files)")
    p.add_argument("--min-files", type=int, default=MIN_FILES,
                   help=f"compact only dates with at least this many files (default {MIN_FILES})")
    p.add_argument("--json", action="store_true", help="print each result as JSON")
    p.set_defaults(func=cmd_compact)

    p = commands.add_parser("vacuum", help="delete raw files that compactions older than DURATION replaced")
    p.add_argument("--older-than", required=True, metavar="DURATION",
                   help="grace period for readers holding an older file list, e.g. 1h, 30m, 7d")
    p.add_argument("--dry-run", action="store_true", help="only list what would be deleted")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_vacuum)

    p = commands.add_parser("check", help="verify committed files, schemas and records; find leftovers")
    p.add_argument("--repair", action="store_true", help="remove abandoned staging data and uncommitted files")
    p.add_argument("--no-checksums", action="store_true", help="skip the sha256 of every file (faster)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_check)

    p = commands.add_parser("migrate", help="move the lake's format forward to this meterlake's version")
    p.add_argument("--from", dest="start", type=int, metavar="N",
                   help="re-run the steps from version N (at most the lake's own; steps are idempotent)")
    p.add_argument("--dry-run", action="store_true", help="only list the steps")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_migrate)


def cmd_compact(args: argparse.Namespace) -> int:
    lake = Lake(args.lake)
    dates = [parse_date(d, "date") for d in args.dates] if args.dates else None
    results = compact(lake, dates, min_files=args.min_files, actor=ACTOR)
    for result in results:
        print(json.dumps(result.to_dict()) if args.json else result.summary(), flush=True)
    if not results and not args.json:  # --json: no results, no lines
        print(f"nothing to compact: no trading date has {args.min_files} or more raw files")
    return 0


def cmd_vacuum(args: argparse.Namespace) -> int:
    lake = Lake(args.lake)
    result = vacuum(lake, older_than=parse_duration(args.older_than), dry_run=args.dry_run)
    print(json.dumps(result.to_dict()) if args.json else result.summary())
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    lake = Lake(args.lake)
    report = check_lake(lake, repair=args.repair, checksums=not args.no_checksums)
    print(json.dumps(report.to_dict()) if args.json else report.summary())
    return 0 if report.ok else 3


def cmd_migrate(args: argparse.Namespace) -> int:
    result = migrate(args.lake, start=args.start, dry_run=args.dry_run)
    print(json.dumps(result.to_dict()) if args.json else result.summary())
    return 0
