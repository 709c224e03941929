"""`meterlake token`: mint bearer tokens for the HTTP service (``service/auth.py``)."""
from __future__ import annotations

import argparse
import os
import secrets
import sys
from pathlib import Path


def register(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser("token", help="bearer tokens for the HTTP service")
    sub = p.add_subparsers(dest="token_command", required=True, metavar="ACTION")
    c = sub.add_parser("create", help="mint a token, store only its hash, print the token once")
    c.add_argument("name", help="who holds it; recorded on every ingest and run change it makes")
    c.add_argument("--scope", required=True, choices=["read", "write", "admin"],
                   help="read: queries; write: also ingest and runs; admin: also retract")
    c.add_argument("--file", type=Path, default=os.environ.get("METERLAKE_TOKENS_FILE"),
                   help="token file to add the hash to (default: $METERLAKE_TOKENS_FILE); without one, "
                        "the METERLAKE_TOKENS entry is printed to stderr instead")
    c.add_argument("--hash", choices=["sha256", "scrypt"], default="sha256",
                   help="sha256 (default; the token is 256 random bits) or scrypt")
    c.set_defaults(func=cmd_create, needs_lake=False)


def cmd_create(args: argparse.Namespace) -> int:
    from service.auth import Token, TokenConfigError, add_to_token_file, hash_token

    secret = secrets.token_urlsafe(32)
    try:
        token = Token(args.name, args.scope, hash_token(secret, args.hash))
        if args.file:
            add_to_token_file(Path(args.file), token)
    except TokenConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if args.file:
        print(f"added {token.name} ({token.scope}) to {args.file}; the token is shown only now:", file=sys.stderr)
    else:
        print(f"add to METERLAKE_TOKENS: {token.name}:{token.scope}:{token.hash}", file=sys.stderr)
        print("the token is shown only now:", file=sys.stderr)
    print(secret)
    return 0
