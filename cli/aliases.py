"""`meterlake runs alias set|list|delete`: named aliases of runs, over ``datalake.runs.aliases``."""
from __future__ import annotations

import argparse
import json

from datalake import runs
from datalake.lake import Lake

ACTOR = "cli"


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``alias`` and its actions to the ``runs`` subcommands ``sub``."""
    top = sub.add_parser("alias", help="named aliases of runs (alias:NAME in output queries): set, list, delete")
    actions = top.add_subparsers(dest="alias_command", required=True, metavar="ACTION")

    p = actions.add_parser("set", help="point an alias at a published run (a candidate too), creating it if new")
    p.add_argument("name")
    p.add_argument("run_id")
    p.add_argument("--json", action="store_true", help="print the alias record as JSON")
    p.set_defaults(func=cmd_set)

    p = actions.add_parser("list", help="list the aliases that point at a run")
    p.add_argument("--history", action="store_true", help="also print each alias's earlier states")
    p.add_argument("--json", action="store_true", help="print the records as JSON lines")
    p.set_defaults(func=cmd_list)

    p = actions.add_parser("delete", help="delete an alias (its record keeps its history)")
    p.add_argument("name")
    p.add_argument("--json", action="store_true", help="print the alias record as JSON")
    p.set_defaults(func=cmd_delete)


def line(record: dict) -> str:
    """One line: name, target, who set it and when."""
    target = record["run_id"] or "(deleted)"
    return f"{record['name']}  {target}  set at {record['set_at']} by {record['set_by']}"


def _print(record: dict, args: argparse.Namespace) -> None:
    print(json.dumps(record, indent=2, sort_keys=True) if args.json else line(record))


def cmd_set(args: argparse.Namespace) -> int:
    _print(runs.set_alias(Lake(args.lake), args.name, args.run_id, actor=ACTOR), args)
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    for record in runs.list_aliases(Lake(args.lake)):
        if args.json:
            print(json.dumps(record, sort_keys=True))
            continue
        print(line(record))
        if args.history:
            for old in reversed(record["history"]):
                print(f"  was {old['run_id'] or '(deleted)'}  set at {old['set_at']} by {old['set_by']}")
    return 0


def cmd_delete(args: argparse.Namespace) -> int:
    _print(runs.delete_alias(Lake(args.lake), args.name, actor=ACTOR), args)
    return 0
