"""Who may see the operator's pages: a signed, HttpOnly session cookie issued for a valid token,
checked by the guard of the UI's routes (the API's bearer check stays in ``service.auth``).

A session cookie is ``<payload>.<mac>``: the payload (base64url JSON) names the token and the
session's expiry, and the MAC is HMAC-SHA256 under the server's session key over the payload
and the token's stored hash. The raw token never leaves the login form; a cookie stops
working when it expires, when its token is removed from the configuration or given a new
secret (its hash changes), or when the key changes (a restart without ``METERLAKE_SESSION_KEY``).
The key is ``METERLAKE_SESSION_KEY`` (hex, at least 32 bytes), which ``meterlake serve`` sets
once for all its workers, or random per app. Without tokens the pages are open to loopback
clients only, as the API is.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
import secrets
import time
from typing import Literal

from litestar.connection import ASGIConnection
from litestar.exceptions import PermissionDeniedException
from litestar.handlers.base import BaseRouteHandler

from ..auth import Token, TokenStore, admitted_without_tokens

COOKIE = "meterlake_session"
COOKIE_PATH = "/ui"
LIFETIME_S = 8 * 3600
KEY_ENV = "METERLAKE_SESSION_KEY"
UiAccess = Literal["open", "session"]  # open: the login form and its stylesheet; session: every page
_CONTEXT = b"meterlake-ui-session-v1\x00"


def access(kind: UiAccess) -> dict:
    """Route decorator arguments of a UI route: the API's guard lets it through (``public`` to
    ``service.auth``, and left out of the OpenAPI document by the router), and the UI's guard
    (``Sessions.guard``) checks ``kind``."""
    return {"opt": {"scope": "public", "ui": kind}}


class LoginRequired(Exception):
    """A page was asked for without a valid session: the answer is the login form's address."""


def session_key(environ: dict[str, str] | os._Environ = os.environ) -> bytes:
    """The key sessions are signed with: ``METERLAKE_SESSION_KEY`` if set, else a random one."""
    text = environ.get(KEY_ENV)
    if not text:
        return secrets.token_bytes(32)
    try:
        key = bytes.fromhex(text)
    except ValueError:
        raise ValueError(f"{KEY_ENV} must be hex") from None
    if len(key) < 32:
        raise ValueError(f"{KEY_ENV} must be at least 32 bytes (64 hex digits)")
    return key


class Sessions:
    """Issues and checks session cookies under one key."""

    def __init__(self, key: bytes, lifetime_s: int = LIFETIME_S) -> None:
        self._key = key
        self.lifetime_s = lifetime_s

    def issue(self, token: Token, now: float | None = None) -> str:
        expires = int((time.time() if now is None else now) + self.lifetime_s)
        payload = _b64(json.dumps({"t": token.name, "x": expires}, separators=(",", ":")).encode())
        return f"{payload}.{_b64(self._mac(payload, token))}"

    def verify(self, value: str | None, tokens: TokenStore, now: float | None = None) -> Token | None:
        """The token a cookie was issued for, if the cookie is intact, unexpired and its token
        is still configured with the same hash and at least ``read``; else None."""
        if not value or value.count(".") != 1 or len(value) > 512:
            return None
        payload, mac = value.split(".")
        try:
            body = json.loads(_unb64(payload))
            name, expires, given = body["t"], body["x"], _unb64(mac)
        except (ValueError, KeyError, TypeError, binascii.Error):
            return None
        if not isinstance(name, str) or not isinstance(expires, int):
            return None
        if expires <= (time.time() if now is None else now):
            return None
        token = next((t for t in tokens.tokens if t.name == name), None)
        if token is None or not hmac.compare_digest(self._mac(payload, token), given):
            return None
        return token if token.allows("read") else None

    async def guard(self, connection: ASGIConnection, handler: BaseRouteHandler) -> None:
        """The guard of every UI route: each declares ``opt={"ui": "open"|"session"}`` (none is
        refused, so a page cannot be open by omission). Without tokens only loopback clients are
        served; with tokens a ``session`` page needs a valid session cookie, else the answer is
        a redirect to the login form. The caller's name becomes ``scope["user"]``."""
        needed = handler.opt.get("ui")
        if needed not in ("open", "session"):
            raise PermissionDeniedException("this page declares no access, so it is refused")
        if admitted_without_tokens(connection):
            return
        tokens: TokenStore = connection.app.state.settings.tokens
        if needed == "open":
            return
        token = self.verify(connection.cookies.get(COOKIE), tokens)
        if token is None:
            raise LoginRequired
        connection.scope["user"] = token.name

    def _mac(self, payload: str, token: Token) -> bytes:
        return hmac.new(self._key, _CONTEXT + payload.encode() + b"\x00" + token.hash.encode(),
                        hashlib.sha256).digest()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def same_origin(connection: ASGIConnection) -> bool:
    """Whether a form post comes from this server's own pages: an ``Origin`` header, where the
    browser sends one, must name the host the request was sent to (SameSite=Strict covers the
    cookie; this covers the login and logout forms themselves)."""
    origin = connection.headers.get("origin")
    if origin is None:
        return True
    host = connection.headers.get("host", "")
    return origin.split("://", 1)[-1].rstrip("/").lower() == host.lower()
