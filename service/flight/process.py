"""The Flight server of ``meterlake serve``: one process of its own next to the HTTP workers,
started and bound before HTTP starts, so a port that is taken stops ``serve`` at once."""
from __future__ import annotations

import logging
import multiprocessing
import sys
import threading
from dataclasses import dataclass

from service.settings import Settings

from .observe import Observer
from .server import FlightService

START_TIMEOUT_S = 60


class FlightStartError(RuntimeError):
    """The Flight server could not start (its port taken, a bad certificate)."""


@dataclass(frozen=True)
class FlightOptions:
    host: str
    port: int
    metrics_file: str | None = None
    tls_cert: str | None = None
    tls_key: str | None = None

    @property
    def location(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{'grpc+tls' if self.tls_cert else 'grpc'}://{host}:{self.port}"


class FlightProcess:
    """A running Flight server process; ``stop`` ends it (it also ends when ``serve`` dies)."""

    def __init__(self, options: FlightOptions) -> None:
        context = multiprocessing.get_context("spawn")  # no state of this process leaks into it
        self._conn, child = context.Pipe()
        self.options = options
        self.process = context.Process(target=_run, args=(options, child), name="meterlake-flight", daemon=True)
        self.process.start()
        child.close()
        if not self._conn.poll(START_TIMEOUT_S):
            self.stop()
            raise FlightStartError(f"the Flight server on port {options.port} did not start in "
                                   f"{START_TIMEOUT_S} s")
        try:
            status, value = self._conn.recv()
        except EOFError:
            status, value = "error", "the Flight server process exited while starting"
        if status != "ok":
            self.stop()
            raise FlightStartError(value)
        self.port: int = value

    def stop(self) -> None:
        self._conn.close()  # the child's watcher sees the pipe close and shuts the server down
        self.process.join(10)
        if self.process.is_alive():
            self.process.terminate()
            self.process.join(5)


def _run(options: FlightOptions, conn) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s:     %(message)s"))
    logger = logging.getLogger("meterlake")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        tls = []
        if options.tls_cert:
            with open(options.tls_cert, "rb") as cert, open(options.tls_key or "", "rb") as key:
                tls = [(cert.read(), key.read())]
        server = FlightService(Settings.from_env(), options.location, observer=Observer(options.metrics_file),
                               tls_certificates=tls)
    except Exception as e:  # noqa: BLE001 - every reason not to start goes back to serve
        detail = str(e).split("\n", 1)[0]
        if "did not start" in detail or "address" in detail.lower():
            detail = (f"the Flight port {options.port} on {options.host} cannot be bound (is it taken? "
                      "choose another with --flight-port, or 0 to turn Flight off)")
        conn.send(("error", detail))
        return
    conn.send(("ok", server.port))
    logger.info("Flight on %s (pid %d)", options.location.replace(f":{options.port}", f":{server.port}"),
                multiprocessing.current_process().pid)

    def watch() -> None:
        try:
            conn.recv()
        except (EOFError, OSError):
            pass
        server.shutdown()

    threading.Thread(target=watch, name="flight-parent", daemon=True).start()
    try:
        server.serve()
    except KeyboardInterrupt:
        server.shutdown()
