"""`meterlake sql` and `meterlake catalog`: the analyst views in a DuckDB session or file."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TextIO

import duckdb

from datalake import sql
from datalake import views
from datalake.lake import Lake

PROMPT, MORE = "meterlake> ", "      ...> "
HELP = """Statements end with ';'. Views: raw_reads, raw_reads_all_revisions, raw_changes, raw_read_attributes,
raw_files, ingests, runs, output_all, output_latest, output_runs_by_date, and the table macro
raw_reads_as_of('ing-...' or an RFC 3339 time). See docs/analysts.md. Commands:
  .tables    list the views
  .refresh   redefine the views at the lake's latest commit (they are a snapshot)
  .help      this text
  .quit      leave (or Ctrl-D)"""


def register(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser("sql", help="run SQL over the lake's analyst views (no QUERY: interactive)")
    p.add_argument("query", nargs="?", metavar="QUERY", help="SQL to run; read from stdin if '-'")
    out = p.add_mutually_exclusive_group()
    out.add_argument("--csv", type=Path, metavar="FILE", help="write the result to FILE as CSV")
    out.add_argument("--parquet", type=Path, metavar="FILE", help="write the result to FILE as Parquet")
    p.add_argument("--max-rows", type=int, default=40, help="rows to print in a table (default 40)")
    p.set_defaults(func=cmd_sql)

    p = commands.add_parser("catalog", help="write a DuckDB database file holding the analyst views")
    p.add_argument("output", type=Path, metavar="OUT.duckdb")
    p.set_defaults(func=cmd_catalog)


def cmd_sql(args: argparse.Namespace) -> int:
    lake = Lake(args.lake)
    con = sql.connect()
    # Table names in the analyst's SQL must mean the views, never variables of this program.
    con.execute(sql.query("session/no_replacements"))
    views.define_views(con, lake)
    if args.query is None:
        if args.csv or args.parquet:
            print("error: --csv/--parquet need a QUERY", file=sys.stderr)
            return 2
        return repl(con, lake, sys.stdin, sys.stdout, sys.stderr)
    query = sys.stdin.read() if args.query == "-" else args.query
    try:
        rel = con.sql(query)
        if rel is not None:
            _output(rel, args)
    except duckdb.Error as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


def _output(rel: duckdb.DuckDBPyRelation, args: argparse.Namespace) -> None:
    if args.csv:
        rel.to_csv(str(args.csv), header=True)
    elif args.parquet:
        rel.to_parquet(str(args.parquet), compression="zstd")
    else:
        rel.show(max_rows=args.max_rows, max_width=_width())


def cmd_catalog(args: argparse.Namespace) -> int:
    lake = Lake(args.lake)
    snap = views.write_catalog(lake, args.output)
    print(f"wrote {args.output} ({snap.describe()}); re-run after new commits to see them")
    return 0


def repl(con: duckdb.DuckDBPyConnection, lake: Lake, stdin: TextIO, stdout: TextIO, stderr: TextIO) -> int:
    """A small read-eval-print loop: statements end with ';', dot-commands are one line.

    On a terminal an error is printed and the session goes on. From a script (stdin not a
    terminal) the first error stops it, as ``psql -v ON_ERROR_STOP=1`` and ``duckdb -bail``
    do: later statements may depend on the failed one. Returns 1 after an error, else 0."""
    interactive = stdin.isatty()
    if interactive:
        _enable_history()
        print(f"meterlake sql on {lake.root} ({views.snapshot(lake).describe()}); .help for help",
              file=stdout)
    buffer: list[str] = []
    while True:
        line = _read(stdin, MORE if buffer else PROMPT, interactive)
        if line is None:
            break
        if not buffer and line.strip().startswith("."):
            outcome = _dot_command(line.strip(), con, lake, stdout, stderr)
            if outcome == "quit" or (outcome == "error" and not interactive):
                return 0 if outcome == "quit" else 1
            continue
        buffer.append(line)
        if line.rstrip().endswith(";"):
            ok = _run(con, "\n".join(buffer), stdout, stderr)
            buffer = []
            if not ok and not interactive:
                return 1
    if any(b.strip() for b in buffer) and not _run(con, "\n".join(buffer), stdout, stderr) and not interactive:
        return 1
    return 0


def _read(stdin: TextIO, prompt: str, interactive: bool) -> str | None:
    if interactive:
        try:
            return input(prompt)
        except EOFError:
            return None
    line = stdin.readline()
    return line.rstrip("\n") if line else None


def _run(con: duckdb.DuckDBPyConnection, statement: str, stdout: TextIO, stderr: TextIO) -> bool:
    """Run one statement and print its result; False after an error."""
    try:
        rel = con.sql(statement)
        if rel is not None:
            print(rel, file=stdout)
    except duckdb.Error as e:
        stdout.flush()  # the error follows the results before it, also when both go to one terminal
        print(f"error: {e}", file=stderr)
        return False
    return True


def _dot_command(command: str, con: duckdb.DuckDBPyConnection, lake: Lake, stdout: TextIO,
                 stderr: TextIO) -> str | None:
    name = command.split()[0]
    if name in (".quit", ".exit"):
        return "quit"
    if name == ".tables":
        print(con.sql(sql.query("session/tables")), file=stdout)
    elif name == ".refresh":
        print(views.define_views(con, lake).describe(), file=stdout)
    elif name == ".help":
        print(HELP, file=stdout)
    else:
        print(f"error: unknown command {name}; .help lists them", file=stderr)
        return "error"
    return None


def _width() -> int:
    import shutil

    return shutil.get_terminal_size((160, 40)).columns


def _enable_history() -> None:
    try:
        import readline  # noqa: F401  (line editing for input())
    except ImportError:
        pass
