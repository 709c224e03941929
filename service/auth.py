"""Who may do what: bearer tokens with scopes, enforced by one guard for every route.

Scopes are ordered, each implying the ones before it: ``read`` (queries), ``write``
(ingest, runs: create, upload, publish, a candidate included, abort), ``admin`` (retract,
promote, aliases). Every route declares
what it needs next to its decorator with ``**requires(scope)``, which sets
``opt={"scope": ...}`` (read by ``check_scope``) and the OpenAPI security requirement; a
route that declares nothing is refused, so a new route cannot be open by omission.
``public`` routes (health, readiness, the OpenAPI document) need no token.

Tokens are random (``secrets.token_urlsafe(32)``, 256 bits) and stored as hashes only:
``sha256:<hex>`` (enough for a random secret, and cheap per request) or
``scrypt:<n>:<r>:<p>:<salt hex>:<hex>`` (for files that must resist offline guessing; a
verified token is remembered by its sha256 so scrypt runs once per token, not per request).
Hashes are compared with ``hmac.compare_digest`` against every configured token.

Sources, combined: ``METERLAKE_TOKENS`` (``name:scope:hash,...``) and
``METERLAKE_TOKENS_FILE`` (JSON ``{"tokens": [{"name", "scope", "hash"}]}``, written by
``meterlake token create``). With no token configured every request is allowed, but only
from a loopback client, and ``meterlake serve`` refuses a non-loopback address."""
from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import logging
import os
import re
import secrets
import tempfile
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from litestar.concurrency import sync_to_thread
from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException
from litestar.handlers.base import BaseRouteHandler
from litestar.openapi.spec import SecurityScheme
from litestar.types import Message, Scope

Access = Literal["public", "read", "write", "admin"]
SCOPES: tuple[str, ...] = ("read", "write", "admin")  # each implies the ones before it
ANONYMOUS = "anonymous@loopback"
SCHEME = "bearer"
SECURITY_SCHEMES = {SCHEME: SecurityScheme(
    type="http", scheme="bearer", bearer_format="opaque",
    description="A token from `meterlake token create`. Scopes: read (queries), write (ingest, runs), "
                "admin (retract, promote, aliases); admin implies write implies read.")}
NAME_RE = re.compile(r"^[A-Za-z0-9._@-]{1,64}$")
SCRYPT = {"n": 2**14, "r": 8, "p": 1}
audit_log = logging.getLogger("meterlake.audit")


def requires(access: Access) -> dict[str, Any]:
    """Route decorator arguments declaring the scope a route needs (``@get(..., **requires("read"))``)."""
    if access == "public":
        return {"opt": {"scope": "public"}}
    return {"opt": {"scope": access}, "security": [{SCHEME: [access]}]}


class TokenConfigError(ValueError):
    """A token source is malformed."""


@dataclass(frozen=True)
class Token:
    name: str
    scope: str
    hash: str

    def __post_init__(self) -> None:
        if not NAME_RE.match(self.name):
            raise TokenConfigError(f"token name must be 1-64 of A-Z a-z 0-9 . _ @ -, got {self.name!r}")
        if self.scope not in SCOPES:
            raise TokenConfigError(f"token {self.name}: scope must be one of {', '.join(SCOPES)}, got {self.scope!r}")
        if not (_SHA256_RE.match(self.hash) or _SCRYPT_RE.match(self.hash)):
            raise TokenConfigError(f"token {self.name}: hash must be sha256:<64 hex> or "
                                   "scrypt:<n>:<r>:<p>:<salt hex>:<hex>")

    def allows(self, access: str) -> bool:
        return access == "public" or SCOPES.index(self.scope) >= SCOPES.index(access)


_SHA256_RE = re.compile(r"^sha256:[0-9a-f]{64}$")
_SCRYPT_RE = re.compile(r"^scrypt:[0-9]{1,8}:[0-9]{1,3}:[0-9]{1,3}:[0-9a-f]{16,128}:[0-9a-f]{32,128}$")


def hash_token(secret: str, method: Literal["sha256", "scrypt"] = "sha256") -> str:
    if method == "sha256":
        return "sha256:" + hashlib.sha256(secret.encode()).hexdigest()
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(secret.encode(), salt=salt, **SCRYPT, dklen=32)
    return f"scrypt:{SCRYPT['n']}:{SCRYPT['r']}:{SCRYPT['p']}:{salt.hex()}:{digest.hex()}"


class TokenStore:
    """The configured tokens; empty means "no authentication, loopback only"."""

    def __init__(self, tokens: Iterable[Token] = ()) -> None:
        self.tokens = tuple(tokens)
        names = [t.name for t in self.tokens]
        if len(set(names)) != len(names):
            raise TokenConfigError(f"token names must be unique: {sorted(n for n in names if names.count(n) > 1)}")
        self._verified: dict[bytes, Token] = {}  # sha256 of a presented token -> its scrypt entry
        self._lock = threading.Lock()

    def __bool__(self) -> bool:
        return bool(self.tokens)

    def __repr__(self) -> str:
        return f"TokenStore({[t.name for t in self.tokens]})"

    def authenticate(self, secret: str) -> Token | None:
        """The token whose hash matches ``secret``, compared in constant time with every
        configured sha256 hash (no early exit), or None."""
        digest = hashlib.sha256(secret.encode(errors="surrogateescape")).digest()
        found = None
        for token in self.tokens:
            if token.hash.startswith("sha256:") and hmac.compare_digest(bytes.fromhex(token.hash[7:]), digest):
                found = token
        if found is not None:
            return found
        with self._lock:
            if (known := self._verified.get(digest)) is not None:
                return known
        if not self.slow:
            return None
        for token in self.tokens:
            if token.hash.startswith("scrypt:") and _scrypt_matches(token.hash, secret):
                with self._lock:
                    if len(self._verified) < 4096:
                        self._verified[digest] = token
                return token
        return None

    def known(self, secret: str) -> Token | None:
        """``authenticate`` without running scrypt: the token if ``secret`` matches a sha256
        hash or an scrypt hash already verified, else None (see ``slow``)."""
        if not self.slow:
            return self.authenticate(secret)
        digest = hashlib.sha256(secret.encode(errors="surrogateescape")).digest()
        found = None
        for token in self.tokens:
            if token.hash.startswith("sha256:") and hmac.compare_digest(bytes.fromhex(token.hash[7:]), digest):
                found = token
        if found is None:
            with self._lock:
                found = self._verified.get(digest)
        return found

    @property
    def slow(self) -> bool:
        """Whether some token is stored as scrypt (checking a new secret then takes ~50 ms)."""
        return any(token.hash.startswith("scrypt:") for token in self.tokens)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> TokenStore:
        tokens = parse_token_list(environ.get("METERLAKE_TOKENS", ""))
        if path := environ.get("METERLAKE_TOKENS_FILE"):
            tokens += read_token_file(Path(path))
        return cls(tokens)


def _scrypt_matches(stored: str, secret: str) -> bool:
    _, n, r, p, salt, expected = stored.split(":")
    digest = hashlib.scrypt(secret.encode(errors="surrogateescape"), salt=bytes.fromhex(salt), n=int(n), r=int(r),
                            p=int(p), dklen=len(expected) // 2, maxmem=256 << 20)
    return hmac.compare_digest(digest, bytes.fromhex(expected))


def parse_token_list(text: str) -> list[Token]:
    """``name:scope:hash`` entries separated by commas (the form of ``METERLAKE_TOKENS``)."""
    tokens = []
    for entry in filter(None, (e.strip() for e in text.split(","))):
        name, _, rest = entry.partition(":")
        scope, _, hashed = rest.partition(":")
        tokens.append(Token(name, scope, hashed))
    return tokens


def read_token_file(path: Path) -> list[Token]:
    try:
        body = json.loads(path.read_text())
        return [Token(str(t["name"]), str(t["scope"]), str(t["hash"])) for t in body["tokens"]]
    except FileNotFoundError:
        raise TokenConfigError(f"token file {path} does not exist") from None
    except (ValueError, KeyError, TypeError) as e:
        raise TokenConfigError(f"token file {path} is malformed: {e}") from None


def add_to_token_file(path: Path, token: Token) -> None:
    """Append ``token`` to the file (created if absent, mode 0600), replacing it atomically."""
    tokens = read_token_file(path) if path.exists() else []
    if any(t.name == token.name for t in tokens):
        raise TokenConfigError(f"token file {path} already has a token named {token.name}")
    body = {"tokens": [{"name": t.name, "scope": t.scope, "hash": t.hash} for t in [*tokens, token]]}
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(body, f, indent=1)
            f.write("\n")
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def is_loopback(host: str | None) -> bool:
    if host is None:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


# -- enforcement -----------------------------------------------------------------------

CHALLENGE = 'Bearer realm="meterlake"'


async def check_scope(connection: ASGIConnection, handler: BaseRouteHandler) -> None:
    """The guard of every route: the caller must hold the scope the route declares. On
    success the caller's name (the token's, or ``anonymous@loopback``) is ``scope["user"]``.

    Runs on the event loop (a sync guard would cost a thread hand-off on every request);
    only a secret that needs scrypt is checked in a worker thread."""
    needed = handler.opt.get("scope")
    if needed is None and is_automatic_options(handler):
        return  # Litestar's own OPTIONS answer: the allowed methods, nothing else
    if needed != "public" and needed not in SCOPES:
        raise PermissionDeniedException("this route declares no access scope, so it is refused")
    if needed == "public":
        return
    if admitted_without_tokens(connection):
        return
    tokens: TokenStore = connection.app.state.settings.tokens
    scheme, _, secret = connection.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not secret.strip():
        raise NotAuthorizedException("a bearer token is required (Authorization: Bearer <token>)",
                                     headers={"WWW-Authenticate": CHALLENGE})
    token = tokens.known(secret.strip())
    if token is None and tokens.slow:
        token = await sync_to_thread(tokens.authenticate, secret.strip())
    if token is None:
        raise NotAuthorizedException("the bearer token is not valid",
                                     headers={"WWW-Authenticate": CHALLENGE + ', error="invalid_token"'})
    connection.scope["user"] = token.name
    if not token.allows(needed):
        raise PermissionDeniedException(f"token {token.name} has scope {token.scope}; "
                                        f"{connection.scope['method']} {connection.url.path} needs {needed}")



def admitted_without_tokens(connection: ASGIConnection) -> bool:
    """With no tokens configured, a loopback client is served as anonymous (True) and any
    other is refused; with tokens, False (the caller checks the credentials)."""
    if connection.app.state.settings.tokens:
        return False
    client = connection.scope.get("client")
    if not is_loopback(client[0] if client else None):
        raise PermissionDeniedException("no tokens are configured, so only loopback clients are served")
    connection.scope["user"] = ANONYMOUS
    return True

def is_automatic_options(handler: BaseRouteHandler) -> bool:
    return getattr(handler, "handler_name", None) == "options_handler" and handler.http_methods == {"OPTIONS"}


def actor_of(scope: Scope) -> str:
    """Who is making this request, as recorded on ingest and run records."""
    return scope.get("user") or ANONYMOUS  # type: ignore[return-value]


AUDIT_NOTE = "meterlake.audit"


def audit_note(scope: Scope, text: str) -> None:
    """What a write changed, in words, for its line in the audit log (``audit``)."""
    scope.setdefault("state", {})[AUDIT_NOTE] = text  # type: ignore[typeddict-item]


async def audit(message: Message, scope: Scope) -> None:
    """Log every answer of a write or admin route with who asked, and what it changed when
    the handler said (``audit_note``) (a ``before_send`` hook)."""
    if message["type"] != "http.response.start":
        return
    handler = scope.get("route_handler")
    needed = handler.opt.get("scope") if handler is not None else None
    if needed in ("write", "admin"):
        note = (scope.get("state") or {}).get(AUDIT_NOTE)
        audit_log.info("%s %s -> %s by %s%s", scope["method"], scope["path"], message["status"],
                       scope.get("user") or "(unauthenticated)", f": {note}" if note else "")
