"""`meterlake changes`: the change feed of raw reads, as the HTTP API's CSV or Arrow."""
from __future__ import annotations

import argparse
import sys

import pyarrow as pa
import pyarrow.ipc as ipc

from datalake.raw.changes import CHANGES_SCHEMA, stream_changes
from datalake.lake import Lake


def register(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser("changes", help="reads that the ingests after --since (up to --until) delivered new "
                                            "or revised, with their previous value, as CSV (as GET /v1/reads/changes)")
    p.add_argument("--since", required=True, help="exclusive: an ingest id (ing-00000000 for all) or an RFC 3339 time")
    p.add_argument("--until", help="inclusive: an ingest id or an RFC 3339 time (default: the newest)")
    p.add_argument("--arrow", action="store_true", help="write an Arrow IPC stream instead of CSV")
    p.set_defaults(func=cmd_changes)


def cmd_changes(args: argparse.Namespace) -> int:
    from service.encoding import csv_bytes  # the service's rendering: NZ time with its offset

    span, batches = stream_changes(Lake(args.lake), args.since, args.until)
    out = sys.stdout.buffer
    if args.arrow:
        with ipc.new_stream(out, CHANGES_SCHEMA) as writer:
            for batch in batches:
                writer.write_batch(batch)
        return 0
    first = True
    for batch in batches:
        text = csv_bytes(pa.Table.from_batches([batch], CHANGES_SCHEMA))
        out.write(text if first else text.split(b"\n", 1)[1])
        first = False
    if first:
        out.write(csv_bytes(CHANGES_SCHEMA.empty_table()))
    print(f"changes after {span.since} up to {span.until or '(none)'}", file=sys.stderr)
    return 0
