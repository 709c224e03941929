"""`meterlake`: the command line over the engine in ``datalake``."""
from __future__ import annotations

import argparse
import importlib.metadata
import os
import sys
from collections.abc import Sequence

from datalake.errors import MeterlakeError, environment_error

from . import changes, history, maintenance, quality, raw, runs, serve, sql, tokens
from .status import INTERRUPTED, report

COMMAND_MODULES = [raw, history, changes, serve, sql, runs, quality, maintenance, tokens]

DESCRIPTION = "meterlake: half-hourly meter reads and algorithm runs in a Parquet lake, over the datalake engine."
# Keep in step with cli/status.py.
EPILOG = """\
The lake is --lake PATH (before or after the command) or $METERLAKE_LAKE.

exit status:
  0    success
  1    bad input (rows that fail validation, a run refused as partial, an SQL error),
       or a write that lost a race with another writer (conflict:)
  2    usage errors, and other engine errors: no such lake, run or ingest, an argument
       out of range, a change the current state does not allow
  3    check found problems, a check of runs checks failed, or one refused runs promote
  130  interrupted"""

LAKE_HELP = "lake folder or s3:// URL (default: $METERLAKE_LAKE)"


def _lake_option() -> argparse.ArgumentParser:
    # SUPPRESS: a subcommand's --lake sets the value only when given, so it never
    # overwrites one given before the command (or taken from the environment).
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument("--lake", default=argparse.SUPPRESS, help=LAKE_HELP)
    return parent


class _Commands(argparse._SubParsersAction):
    """Subcommands that each accept --lake too, so it can follow the command."""

    def add_parser(self, name: str, **kwargs) -> argparse.ArgumentParser:
        kwargs["parents"] = [*kwargs.get("parents", []), _lake_option()]
        return super().add_parser(name, **kwargs)


class _Parser(argparse.ArgumentParser):
    def add_subparsers(self, **kwargs) -> argparse._SubParsersAction:
        kwargs.setdefault("action", _Commands)
        return super().add_subparsers(**kwargs)


def version() -> str:
    try:
        return importlib.metadata.version("meterlake")
    except importlib.metadata.PackageNotFoundError:  # run from a source tree that is not installed
        return "unknown"


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="meterlake", description=DESCRIPTION, epilog=EPILOG,
                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lake", default=os.environ.get("METERLAKE_LAKE"), help=LAKE_HELP)
    parser.add_argument("--version", action="version", version=f"meterlake {version()}")
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
    except MeterlakeError as e:
        return report(e)
    except KeyboardInterrupt:
        return INTERRUPTED
    except Exception as e:  # a full disk, a failed store request: one line, not a traceback
        translated = environment_error(e)
        if translated is None:
            raise
        return report(translated)


if __name__ == "__main__":
    sys.exit(main())
