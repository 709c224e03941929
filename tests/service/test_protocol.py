"""The served protocol turns Nagle's algorithm off on connections from a socket bound the
way uvicorn's multi-worker supervisor binds it (proto 0), where asyncio leaves it on."""
from __future__ import annotations

import asyncio
import socket

import uvicorn
from uvicorn.server import ServerState

from service.protocol import NoDelayH11Protocol


async def _app(scope, receive, send) -> None:  # never called: no request is sent
    raise AssertionError


def test_accepted_connections_get_tcp_nodelay() -> None:
    async def check() -> tuple[int, int]:
        config = uvicorn.Config(_app, http=NoDelayH11Protocol, lifespan="off", log_level="warning")
        config.load()
        with socket.socket(socket.AF_INET) as listener:  # proto 0, as uvicorn binds for workers
            listener.bind(("127.0.0.1", 0))
            listener.listen()
            with socket.create_connection(listener.getsockname()):
                conn, _ = listener.accept()
                before = conn.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
                loop = asyncio.get_running_loop()
                transport, _ = await loop.connect_accepted_socket(
                    lambda: NoDelayH11Protocol(config=config, server_state=ServerState(), app_state={}), conn)
                after = conn.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
                transport.close()
                return before, after

    before, after = asyncio.run(check())
    assert before == 0  # what asyncio leaves on a proto-0 socket
    assert after != 0
