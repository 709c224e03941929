"""Who may call the Flight service: the HTTP service's bearer tokens and scopes, read by one
server middleware from the ``authorization`` header of every call.

The middleware authenticates (a missing or unknown token is UNAUTHENTICATED before the
method runs); each method then names the scope its operation needs over HTTP with
``require(context, scope)``, which is PERMISSION_DENIED for a token without it. With no
tokens configured only loopback peers are served, as over HTTP."""
from __future__ import annotations

import time
from urllib.parse import unquote

import pyarrow.flight as flight

from ..auth import ANONYMOUS, TokenStore, is_loopback
from .observe import Observer

MIDDLEWARE = "auth"


class Caller(flight.ServerMiddleware):
    """One call's caller: the token's name and scope (None without tokens), and its outcome
    for the audit log and the metrics."""

    def __init__(self, factory: AuthFactory, method: str, token) -> None:
        self.factory = factory
        self.method = method
        self.token = token
        self.name = token.name if token is not None else ANONYMOUS
        self.started = time.perf_counter()
        self.what = ""
        self.rows = 0

    def call_completed(self, exception: BaseException | None) -> None:
        self.factory.observer.completed(self.method, self.what, self.name, exception,
                                        time.perf_counter() - self.started, self.rows)


class AuthFactory(flight.ServerMiddlewareFactory):
    def __init__(self, tokens: TokenStore, observer: Observer) -> None:
        super().__init__()
        self.tokens = tokens
        self.observer = observer

    def start_call(self, info: flight.CallInfo, headers: dict[str, list[str]]) -> Caller:
        method = str(info.method).rsplit(".", 1)[-1].lower()
        if not self.tokens:
            return Caller(self, method, None)
        values = headers.get("authorization") or headers.get("Authorization") or [""]
        scheme, _, secret = values[0].partition(" ")
        if scheme.lower() != "bearer" or not secret.strip():
            self.observer.completed(method, "", "(unauthenticated)", "unauthenticated", 0.0, 0)
            raise flight.FlightUnauthenticatedError(
                "unauthorized: a bearer token is required (authorization: Bearer <token>)")
        token = self.tokens.authenticate(secret.strip())
        if token is None:
            self.observer.completed(method, "", "(unauthenticated)", "unauthenticated", 0.0, 0)
            raise flight.FlightUnauthenticatedError("unauthorized: the bearer token is not valid")
        return Caller(self, method, token)


def require(context: flight.ServerCallContext, scope: str, what: str) -> Caller:
    """The call's caller, who must hold ``scope`` for ``what`` (named in the audit log)."""
    caller: Caller = context.get_middleware(MIDDLEWARE)
    caller.what = what
    if caller.token is None:
        peer = unquote(context.peer())  # "ipv4:127.0.0.1:50000", "ipv6:%5B::1%5D:50000"
        host = peer.split(":", 1)[1].rsplit(":", 1)[0] if ":" in peer else peer
        if not is_loopback(host):
            raise flight.FlightUnauthorizedError("forbidden: no tokens are configured, so only loopback clients "
                                                 "are served")
        return caller
    if not caller.token.allows(scope):
        raise flight.FlightUnauthorizedError(f"forbidden: token {caller.token.name} has scope {caller.token.scope}; "
                                             f"{what} needs {scope}")
    return caller
