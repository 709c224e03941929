"""`meterlake serve`: run the HTTP service on a lake."""
from __future__ import annotations

import argparse
import copy
import os
import sys


def register(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser("serve", help="serve the HTTP API")
    p.add_argument("--host", default="127.0.0.1",
                   help="address to bind (default 127.0.0.1); any non-loopback address needs tokens")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--tokens-file", help="file of hashed tokens (default: $METERLAKE_TOKENS_FILE)")
    p.set_defaults(func=cmd_serve)


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from datalake.lake import Lake
    from service.auth import TokenConfigError, TokenStore, is_loopback
    Lake(args.lake)  # fail fast, before forking workers, if there is no lake
    if args.tokens_file:
        os.environ["METERLAKE_TOKENS_FILE"] = args.tokens_file
    try:
        tokens = TokenStore.from_env(os.environ)
    except TokenConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if not tokens and not is_loopback(args.host):
        print(f"error: refusing to serve on {args.host} without tokens: anyone who can reach it could write to "
              "the lake. Create one with `meterlake token create NAME --scope read|write|admin --file FILE` "
              "and pass --tokens-file FILE (or set METERLAKE_TOKENS), or bind to 127.0.0.1.", file=sys.stderr)
        return 2
    os.environ["METERLAKE_LAKE"] = str(args.lake)
    uvicorn.run("service.app:create_app", factory=True, host=args.host, port=args.port,
                workers=args.workers, log_level="info", http="service.protocol:NoDelayHttpToolsProtocol",
                log_config=log_config())
    return 0


def log_config() -> dict:
    """uvicorn's logging, plus the service's loggers (the audit log of writes) on its handler."""
    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    config["loggers"]["meterlake"] = {"handlers": ["default"], "level": "INFO", "propagate": False}
    return config
