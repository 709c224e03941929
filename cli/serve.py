"""`meterlake serve`: run the HTTP service on a lake."""
from __future__ import annotations

import argparse
import os


def register(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser("serve", help="serve the HTTP API")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--workers", type=int, default=1)
    p.set_defaults(func=cmd_serve)


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from datalake.lake import Lake
    from service.settings import MAX_REQUEST_HEAD_BYTES

    Lake(args.lake)  # fail fast, before forking workers, if there is no lake
    os.environ["METERLAKE_LAKE"] = str(args.lake)
    uvicorn.run("service.app:create_app", factory=True, host=args.host, port=args.port,
                workers=args.workers, log_level="info", http="service.protocol:NoDelayH11Protocol",
                h11_max_incomplete_event_size=MAX_REQUEST_HEAD_BYTES)
    return 0
