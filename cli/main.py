"""`meterlake`: the command line over the engine in ``datalake``."""
from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from datalake.errors import CommitConflictError, MeterlakeError, ValidationError

from . import maintenance, raw, runs, serve, sql, tokens

COMMAND_MODULES = [raw, serve, sql, runs, maintenance, tokens]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="meterlake", description=__doc__.split("\n")[0].strip("`:"))
    parser.add_argument("--lake", default=os.environ.get("METERLAKE_LAKE"),
                        help="lake folder (default: $METERLAKE_LAKE)")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in COMMAND_MODULES:
        module.register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.lake is None and getattr(args, "needs_lake", True):
        parser.error("no lake given: pass --lake PATH or set METERLAKE_LAKE")
    try:
        return args.func(args) or 0
    except ValidationError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except CommitConflictError as e:  # another writer won a race: exit 1, as for a bad delivery
        print(f"error: {e.message}", file=sys.stderr)
        return 1
    except MeterlakeError as e:
        print(f"error: {e.message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
