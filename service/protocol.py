"""uvicorn's HTTP/1.1 protocol (h11) with TCP_NODELAY set on every accepted connection.

A listening socket made as ``socket.socket(family)`` has ``proto`` 0, and asyncio sets
TCP_NODELAY only on sockets whose ``proto`` is IPPROTO_TCP, so such a socket's connections
keep Nagle's algorithm on (``service/listening.py`` makes its sockets with IPPROTO_TCP; this
protocol does not depend on how a socket was made). A
response goes out as two writes (head, then body), and the body waits for the client's
delayed ACK: about 40 ms added to every request on a kept-alive connection after its
first. One worker (asyncio binds the socket) and fresh connections do not show it."""
from __future__ import annotations

import asyncio
import contextlib
import socket

from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol


def set_nodelay(transport: asyncio.BaseTransport) -> None:
    sock = transport.get_extra_info("socket")
    if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class NoDelayH11Protocol(H11Protocol):
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        set_nodelay(transport)
        super().connection_made(transport)


class NoDelayHttpToolsProtocol(HttpToolsProtocol):
    """The same with uvicorn's httptools (C) parser, which the service uses: it parses
    requests in a fraction of h11's time."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        set_nodelay(transport)
        super().connection_made(transport)
