"""A fault-injecting HTTP proxy for an S3 endpoint: forwards every request to the real
server and fails the ones chosen, with a 500, a 503 or a dropped connection, either before
the request reaches the server (nothing happened) or after it (it happened, but the client
never hears so).

    with FaultProxy(seaweed.endpoint) as proxy:
        proxy.fail(fraction=0.1, seed=3)          # or nth={5, 9}, kinds=("drop",), when=("after",)
        env = {**seaweed.environment(), "AWS_ENDPOINT_URL": proxy.endpoint}
        ...                                       # a child process talks to the store through it
        proxy.faults                              # what was failed: (n, method, path, kind, when)

Requests and their bodies are relayed byte for byte (chunked bodies too, and the Host header
the client signed), so SigV4 signatures stay valid. Threads: one per client connection, each
with its own connection to the server.
"""
from __future__ import annotations

import http.client
import random
import socket
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

KINDS = ("500", "503", "drop")
WHEN = ("before", "after")
_ERRORS = {"500": ("InternalError", "Internal Server Error"), "503": ("SlowDown", "Service Unavailable")}


@dataclass(frozen=True)
class Fault:
    n: int
    method: str
    path: str
    kind: str
    when: str


class FaultProxy:
    def __init__(self, upstream: str) -> None:
        target = urlsplit(upstream)
        self.upstream = (target.hostname, target.port or 80)
        self._lock = threading.Lock()
        self.fail()  # none yet
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.server.daemon_threads = True
        self.server.proxy = self  # type: ignore[attr-defined]
        self.endpoint = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread: threading.Thread | None = None

    def fail(self, *, fraction: float = 0.0, nth: set[int] | frozenset[int] = frozenset(),
             kinds: tuple[str, ...] = KINDS, when: tuple[str, ...] = WHEN, match: str | None = None,
             seed: int = 0) -> None:
        """From now on, fail each request with probability ``fraction``, and the ``nth``
        requests (counted from 1, from this call; only those whose "METHOD /path" contains
        ``match``, if given), each with a kind from ``kinds`` at a moment from ``when``. No
        arguments: fail nothing."""
        assert all(k in KINDS for k in kinds) and all(w in WHEN for w in when)
        with self._lock:
            self.fraction, self.nth, self.kinds, self.when, self.match = fraction, set(nth), kinds, when, match
            self.rng = random.Random(seed)
            self.requests = 0
            self.faults: list[Fault] = []
            self.log: list[tuple[int, str, str, int | str]] = []

    def _decide(self, method: str, path: str) -> Fault | None:
        with self._lock:
            if self.match is not None and self.match not in f"{method} {path}":
                return None
            self.requests += 1
            n = self.requests
            chosen = n in self.nth or (self.fraction > 0 and self.rng.random() < self.fraction)
            if not chosen:
                return None
            fault = Fault(n, method, path, self.rng.choice(self.kinds), self.rng.choice(self.when))
            self.faults.append(fault)
            return fault

    def _note(self, n: int, method: str, path: str, outcome: int | str) -> None:
        with self._lock:
            self.log.append((n, method, path, outcome))

    def start(self) -> FaultProxy:
        self._thread = threading.Thread(target=self.server.serve_forever, name="faultproxy", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, and 100-continue answered for us
    timeout = 60
    disable_nagle_algorithm = True  # headers and body go in separate writes
    upstream: http.client.HTTPConnection | None = None

    def log_message(self, *args: object) -> None:
        pass

    def _body(self) -> bytes:
        """The request body exactly as sent (chunked framing kept: it is relayed as is)."""
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            raw = bytearray()
            while True:
                line = self.rfile.readline()
                raw += line
                size = int(line.split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while True:  # trailers, then the blank line
                        line = self.rfile.readline()
                        raw += line
                        if line in (b"\r\n", b"\n", b""):
                            return bytes(raw)
                raw += self.rfile.read(size + 2)
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _forward(self, body: bytes) -> tuple[int, str, list[tuple[str, str]], bytes]:
        proxy: FaultProxy = self.server.proxy  # type: ignore[attr-defined]
        for attempt in (1, 2):  # a kept-alive connection the server closed meanwhile: once more
            if self.upstream is None:
                self.upstream = http.client.HTTPConnection(*proxy.upstream, timeout=120)
                self.upstream.connect()
                self.upstream.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            try:
                self.upstream.putrequest(self.command, self.path, skip_host=True, skip_accept_encoding=True)
                for name, value in self.headers.items():
                    self.upstream.putheader(name, value)
                self.upstream.endheaders(body if body else None)
                answer = self.upstream.getresponse()
                data = answer.read()
                return answer.status, answer.reason, answer.getheaders(), data
            except (http.client.RemoteDisconnected, ConnectionError, BrokenPipeError):
                self.upstream.close()
                self.upstream = None
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def _fail(self, fault: Fault) -> None:
        if fault.kind == "drop":
            self.close_connection = True
            try:  # a reset, not a polite close: the client sees the connection die
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
            except OSError:
                pass
            return
        code, reason = _ERRORS[fault.kind]
        body = (f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code>'
                f"<Message>injected fault {fault.n}</Message></Error>").encode()
        self.send_response(int(fault.kind), reason)
        self.send_header("Content-Type", "application/xml")
        self.send_header("Content-Length", "0" if self.command == "HEAD" else str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _relay(self) -> None:
        proxy: FaultProxy = self.server.proxy  # type: ignore[attr-defined]
        body = self._body()
        fault = proxy._decide(self.command, self.path)
        n = fault.n if fault else 0
        if fault is not None and fault.when == "before":
            proxy._note(n, self.command, self.path, f"{fault.kind} before")
            self._fail(fault)
            return
        status, reason, headers, data = self._forward(body)
        if fault is not None:
            proxy._note(n, self.command, self.path, f"{fault.kind} after {status}")
            self._fail(fault)
            return
        proxy._note(n, self.command, self.path, status)
        self.send_response(status, reason)
        for name, value in headers:
            if name.lower() in ("transfer-encoding", "connection", "keep-alive"):
                continue
            if name.lower() == "content-length" and self.command != "HEAD":
                continue
            self.send_header(name, value)
        if self.command != "HEAD" and status not in (204, 304):
            self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD" and status not in (204, 304):
            self.wfile.write(data)

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _relay
