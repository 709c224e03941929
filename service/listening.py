"""One listening socket per HTTP worker, all on one port (SO_REUSEPORT), so that the kernel
spreads new connections over the workers.

With one socket shared by every worker, the worker that wakes first accepts every waiting
connection (asyncio accepts up to its backlog each time the socket is readable): a burst of
keep-alive clients lands on one worker and the others idle. ``serve`` binds a
``WorkerSocket`` in the supervisor, which only reserves the port (it never listens); each
worker that receives it by pickling gets a socket of its own, bound to the same address
with SO_REUSEPORT, which its server listens on."""
from __future__ import annotations

import socket


class WorkerSocket(socket.socket):
    """A TCP socket bound with SO_REUSEADDR and SO_REUSEPORT; unpickled, a new one bound to
    the same address (each worker's own)."""

    @classmethod
    def claim(cls, host: str, port: int) -> WorkerSocket:
        """The supervisor's socket, or OSError if anything holds the port already (another
        server's group of SO_REUSEPORT sockets would otherwise take this one in)."""
        with socket.socket(_family(host), socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind((host, port))
            port = probe.getsockname()[1]
        return cls.reserve(host, port)

    @classmethod
    def reserve(cls, host: str, port: int) -> WorkerSocket:
        sock = cls(_family(host), socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        try:
            sock.bind((host, port))
        except OSError:
            sock.close()
            raise
        return sock

    def __reduce__(self):
        host, port = self.getsockname()[:2]
        return WorkerSocket.reserve, (host, port)


def _family(host: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in host else socket.AF_INET
