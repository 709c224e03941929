"""`meterlake serve`: run the HTTP service on a lake."""
from __future__ import annotations

import argparse
import contextlib
import copy
import os
import secrets
import sys
import tempfile
from collections.abc import Iterator


def register(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser("serve", help="serve the HTTP API")
    p.add_argument("--host", default="127.0.0.1",
                   help="address to bind (default 127.0.0.1); any non-loopback address needs tokens")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--tokens-file", help="file of hashed tokens (default: $METERLAKE_TOKENS_FILE)")
    p.add_argument("--flight-port", type=int, default=8815,
                   help="Arrow Flight and Flight SQL port (default 8815; 0 turns Flight off); one Flight "
                        "server whatever --workers says")
    p.add_argument("--tls-cert", help="PEM certificate: serve HTTPS and Flight over TLS (with --tls-key)")
    p.add_argument("--tls-key", help="PEM private key of --tls-cert")
    p.set_defaults(func=cmd_serve)


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from datalake.lake import Lake
    from service.auth import TokenConfigError, TokenStore, is_loopback
    from service.ui.session import KEY_ENV, session_key
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
    if bool(args.tls_cert) != bool(args.tls_key):
        print("error: --tls-cert and --tls-key go together", file=sys.stderr)
        return 2
    os.environ["METERLAKE_LAKE"] = str(args.lake)
    # Every worker signs the /ui session cookies with one key, so a session works on each of them.
    os.environ.setdefault(KEY_ENV, secrets.token_hex(32))
    try:
        session_key(os.environ)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    with flight_server(args) as started:
        if isinstance(started, str):
            print(f"error: {started}", file=sys.stderr)
            return 2
        config = uvicorn.Config("service.app:create_app", factory=True, host=args.host, port=args.port,
                                workers=args.workers, log_level="info",
                                http="service.protocol:NoDelayHttpToolsProtocol", log_config=log_config(),
                                ssl_certfile=args.tls_cert, ssl_keyfile=args.tls_key)
        if args.workers <= 1:
            uvicorn.Server(config).run()
            return 0
        from uvicorn.supervisors import Multiprocess

        from service.listening import WorkerSocket
        try:
            reserved = WorkerSocket.claim(args.host, args.port)
        except OSError as e:
            print(f"error: cannot serve HTTP on {args.host}:{args.port}: {e.strerror}", file=sys.stderr)
            return 2
        scheme = "https" if args.tls_cert else "http"
        print(f"HTTP on {scheme}://{args.host}:{reserved.getsockname()[1]} ({args.workers} workers, one "
              "listening socket each)", file=sys.stderr)
        with contextlib.suppress(KeyboardInterrupt):
            Multiprocess(config, sockets=[reserved]).run()
    return 0


@contextlib.contextmanager
def flight_server(args: argparse.Namespace) -> Iterator[object]:
    """The Flight server's process while HTTP serves (None with --flight-port 0), or the
    reason it could not start; its figures go to a file that every HTTP worker's /metrics adds."""
    if not args.flight_port:
        yield None
        return
    from service.flight.process import FlightOptions, FlightProcess, FlightStartError
    with tempfile.TemporaryDirectory(prefix="meterlake-flight-") as folder:
        metrics = os.environ["METERLAKE_FLIGHT_METRICS_FILE"] = os.path.join(folder, "metrics.prom")
        try:
            process = FlightProcess(FlightOptions(args.host, args.flight_port, metrics, args.tls_cert, args.tls_key))
        except FlightStartError as e:
            yield str(e)
            return
        os.environ["METERLAKE_FLIGHT_PORT"] = str(process.port)
        os.environ["METERLAKE_FLIGHT_TLS"] = "1" if args.tls_cert else "0"
        try:
            yield process
        finally:
            process.stop()


def log_config() -> dict:
    """uvicorn's logging, plus the service's loggers (the audit log of writes) on its handler."""
    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    config["loggers"]["meterlake"] = {"handlers": ["default"], "level": "INFO", "propagate": False}
    return config
