"""`meterlake runs checks` and `runs diff`: reviewing published runs, over ``datalake.runchecks``
and ``datalake.rundiff``."""
from __future__ import annotations

import argparse
import json

from datalake.lake import Lake
from datalake.runchecks import run_checks

from .status import CHECK_FAILED, OK


def register(sub: argparse._SubParsersAction) -> None:
    """Add the review actions to the ``runs`` subcommands ``sub``."""
    p = sub.add_parser("checks", help="run every check on a published run (exit status 3 if one fails)")
    p.add_argument("run_id")
    p.add_argument("--json", action="store_true", help="print the checks as JSON")
    p.set_defaults(func=cmd_checks)


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
