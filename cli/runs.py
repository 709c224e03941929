"""`meterlake runs ...`: the lifecycle of algorithm runs, over ``datalake.runs.lifecycle``."""
from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from pathlib import Path

from datalake import runs
from datalake.raw.compaction import parse_duration
from datalake.demo.runs import demo_runs
from datalake.lake import Lake

from . import aliases, review

ACTOR = "cli"


def register(commands: argparse._SubParsersAction) -> None:
    top = commands.add_parser("runs", help="algorithm runs: create, upload, publish, promote, abort, retract, list, "
                                           "show, checks, diff, alias")
    sub = top.add_subparsers(dest="runs_command", required=True, metavar="ACTION")

    p = sub.add_parser("create", help="open a new run over a window of trading dates")
    _run_fields(p)
    _json_option(p)
    p.set_defaults(func=cmd_create)

    p = sub.add_parser("upload", help="upload one part of a run's output (CSV, Parquet or Arrow IPC)")
    p.add_argument("run_id")
    p.add_argument("file", type=Path, metavar="FILE")
    p.add_argument("--part", type=int, default=1, help="part number (default 1); re-uploading replaces it")
    p.add_argument("--json", action="store_true", help="print the part's entry as JSON")
    p.set_defaults(func=cmd_upload)

    for name, helptext in (("publish", "validate the whole run and make it visible at once"),
                           ("abort", "give up an open run"),
                           ("retract", "withdraw a published run from 'latest'"),
                           ("show", "print a run's record (RUN_ID or alias:NAME)")):
        p = sub.add_parser(name, help=helptext)
        p.add_argument("run_id")
        p.set_defaults(func=cmd_transition, action=name)
    _partial_option(sub.choices["publish"])
    _stage_option(sub.choices["publish"])
    sub.choices["publish"].add_argument("--json", action="store_true", help="print the whole run record as JSON")
    for name in ("abort", "retract", "show"):
        _json_option(sub.choices[name])

    p = sub.add_parser("promote", help="make a published candidate answer 'latest' for its window (its checks "
                                       "must pass: exit status 3 if one fails)")
    p.add_argument("run_id")
    p.add_argument("--force", action="store_true", help="promote even if checks of the run fail")
    p.add_argument("--alias", metavar="NAME", help="also point this alias at the run")
    _json_option(p)
    p.set_defaults(func=cmd_promote)

    p = sub.add_parser("abort-stale", help="abort open runs with no upload for longer than DURATION "
                                           "(a publisher that died leaves its run open)")
    p.add_argument("--older-than", required=True, metavar="DURATION", help="e.g. 12h, 7d")
    p.add_argument("--dry-run", action="store_true", help="only list the runs that would be aborted")
    p.set_defaults(func=cmd_abort_stale)

    p = sub.add_parser("list", help="list runs, oldest first")
    p.add_argument("--status", choices=runs.STATUSES)
    p.add_argument("--start", help="only runs whose window ends on or after this date")
    p.add_argument("--end", help="only runs whose window starts on or before this date")
    p.add_argument("--json", action="store_true", help="print the records as JSON lines")
    p.set_defaults(func=cmd_list)

    p = sub.add_parser("import", help="create a run, upload FILEs as parts 1..n and publish, in one step")
    p.add_argument("files", nargs="+", type=Path, metavar="FILE")
    _run_fields(p)
    _partial_option(p)
    _stage_option(p)
    p.set_defaults(func=cmd_import)

    p = sub.add_parser("demo", help="publish synthetic runs over the lake's raw reads")
    p.add_argument("--count", type=int, default=2, help="how many runs (default 2)")
    p.add_argument("--parts", type=int, default=1, help="parts per run (default 1)")
    p.add_argument("--seed", type=int, default=42)
    p.set_defaults(func=cmd_demo)

    review.register(sub)
    aliases.register(sub)


def _partial_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--allow-partial", action="store_true",
                   help="publish even if dates of the window have no rows, or ICPs with raw reads in the window "
                        "have no output (refused otherwise, exit status 1)")


def _stage_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--stage", choices=runs.STAGES, default="latest",
                   help="latest (default): the run answers 'latest' for its window at once; candidate: readable "
                        "by its run id only, until `runs promote`")


def _json_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="print the whole run record as JSON")


def _run_fields(p: argparse.ArgumentParser) -> None:
    p.add_argument("--start", required=True, help="first trading date of the window")
    p.add_argument("--end", required=True, help="last trading date of the window (inclusive)")
    p.add_argument("--algorithm", default="matcher", help="algorithm name (default matcher)")
    p.add_argument("--version", dest="algorithm_version", default="unknown", help="algorithm version")
    p.add_argument("--params", type=json.loads, default=None, help="algorithm parameters as a JSON object")
    p.add_argument("--raw-as-of", help="ingest id of the raw snapshot read (default: the latest)")


def _create(lake: Lake, args: argparse.Namespace) -> dict:
    return runs.create_run(lake, start=args.start, end=args.end, algorithm=args.algorithm,
                           version=args.algorithm_version, params=args.params, raw_as_of=args.raw_as_of,
                           actor=ACTOR)


def last_activity(record: dict) -> dt.datetime:
    """When an open run was last touched: its creation or its latest part upload."""
    stamps = [record["created_at"]] + [p["uploaded_at"] for p in record["parts"]]
    return max(dt.datetime.fromisoformat(s) for s in stamps)


def cmd_abort_stale(args: argparse.Namespace) -> int:
    lake = Lake(args.lake)
    cutoff = dt.datetime.now(dt.UTC) - parse_duration(args.older_than)
    open_runs = runs.list_runs(lake, status="open")
    stale = [r for r in open_runs if last_activity(r) < cutoff]
    for record in stale:
        if not args.dry_run:
            runs.abort_run(lake, record["run_id"], actor=f"{ACTOR}:abort-stale")
        print(f"{record['run_id']}  last activity {last_activity(record).isoformat()}  "
              f"{'would abort' if args.dry_run else 'aborted'}")
    if not stale:
        print(f"nothing to abort: no open run idle for longer than {args.older_than} "
              f"({len(open_runs)} open run(s) in all)")
    return 0


def summary(record: dict) -> str:
    """One line: id, status, window, algorithm, rows and totals (as ``runs list`` prints)."""
    totals = " ".join(f"{k}={v}" for k, v in sorted(record["totals"].items()))
    status = "candidate" if record["status"] == "published" and record.get("stage") == "candidate" else record["status"]
    return (f"{record['run_id']}  {status:<9}  {record['start']}..{record['end']}  "
            f"{record['algorithm']} {record['version']}  rows={record['rows']:,}  {totals}").rstrip()


def details(record: dict) -> list[str]:
    """The rest of a record worth reading at a terminal; ``--json`` has all of it."""
    lines = []
    for event in ("created", "published", "promoted", "retracted", "aborted"):
        if record.get(f"{event}_at"):
            lines.append(f"  {event + ':':<13}{record[f'{event}_at']} by {record[f'{event}_by']}")
    if record.get("stage"):
        lines.append(f"  {'stage:':<13}{record['stage']}" + (" (promoted with --force)"
                                                              if record.get("promoted_forced") else ""))
    if record.get("publish_seq") is not None:
        lines.append(f"  {'publish_seq:':<13}{record['publish_seq']}")
    lines.append(f"  {'raw as of:':<13}{record['raw_as_of'] or '(empty lake)'}")
    lines.append(f"  {'params:':<13}{json.dumps(record['params'], sort_keys=True)}")
    lines.append(f"  {'parts:':<13}" + (", ".join(f"{p['part']} ({p['rows']:,} rows, {p['source_name']})"
                                                   for p in record["parts"]) or "none"))
    if record["files"]:
        icps = (f", {record['icps']:,} ICPs ({record['missing_icps']:,} of {record['raw_icps']:,} raw ICPs missing)"
                if record.get("icps") and "raw_icps" in record else "")
        lines.append(f"  {'output:':<13}{len(record['files'])} files, {len(record['dates'])} dates{icps}")
    return lines


def _print(record: dict, args: argparse.Namespace, *, detailed: bool = False) -> None:
    if getattr(args, "json", False):
        print(json.dumps(record, indent=2, sort_keys=True))
        return
    print(summary(record))
    if detailed:
        print("\n".join(details(record)))


def cmd_create(args: argparse.Namespace) -> int:
    _print(_create(Lake(args.lake), args), args)
    return 0


def cmd_upload(args: argparse.Namespace) -> int:
    part = runs.upload_part(Lake(args.lake), args.run_id, args.part, args.file, actor=ACTOR)
    if args.json:
        print(json.dumps(part, indent=2, sort_keys=True))
    else:
        dates = sorted(part["dates"])
        span = f"  {dates[0]}..{dates[-1]}" if dates else ""
        print(f"{part['run_id']}  part {part['part']}  {part['rows']:,} rows from {part['source_name']}{span}")
    return 0


def cmd_transition(args: argparse.Namespace) -> int:
    lake = Lake(args.lake)
    if args.action == "show":  # `runs show alias:NAME` shows the run the alias points at
        _print(runs.get_run(lake, runs.resolve_run(lake, args.run_id, "run_id")), args, detailed=True)
        return 0
    if args.action == "publish":
        _print(runs.publish_run(lake, args.run_id, actor=ACTOR, allow_partial=args.allow_partial, stage=args.stage),
               args)
        return 0
    action = {"abort": runs.abort_run, "retract": runs.retract_run}[args.action]
    _print(action(lake, args.run_id, actor=ACTOR), args)
    return 0


def cmd_promote(args: argparse.Namespace) -> int:
    record = runs.promote_run(Lake(args.lake), args.run_id, actor=ACTOR, force=args.force, alias=args.alias)
    _print(record, args)
    if not args.json:
        print(f"  promoted at {record['promoted_at']}, publish_seq {record['publish_seq']}"
              + (" (forced)" if args.force else "") + (f"; alias {args.alias} -> {record['run_id']}" if args.alias
                                                     else ""))
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    records = runs.list_runs(Lake(args.lake), status=args.status, start=args.start, end=args.end)
    for r in records:
        print(json.dumps(r, sort_keys=True) if args.json else summary(r))
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    lake = Lake(args.lake)
    record = _create(lake, args)
    try:
        for n, path in enumerate(args.files, start=1):
            runs.upload_part(lake, record["run_id"], n, path, actor=ACTOR)
        _print(runs.publish_run(lake, record["run_id"], actor=ACTOR, allow_partial=args.allow_partial,
                                stage=args.stage), args)
    except BaseException as e:
        try:
            runs.abort_run(lake, record["run_id"], actor=ACTOR)
        except Exception as failed:  # the disk or the store that failed the import fails the abort too
            print(f"run {record['run_id']} not aborted ({getattr(failed, 'message', failed)}): see "
                  f"`meterlake runs show {record['run_id']}`", file=sys.stderr)
            raise e from None
        print(f"run {record['run_id']} aborted", file=sys.stderr)
        raise
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    lake = Lake(args.lake)
    for r in demo_runs(lake, count=args.count, parts=args.parts, seed=args.seed, actor=ACTOR):
        totals = " ".join(f"{k}={v}" for k, v in sorted(r["totals"].items()))
        print(f"published {r['run_id']}: {r['rows']:,} rows, {r['start']}..{r['end']}, totals {totals}")
    return 0
