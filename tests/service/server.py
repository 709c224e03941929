"""The service under a real uvicorn server on a free port, in a background thread."""
from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import uvicorn

from service.app import create_app
from service.settings import Settings


@contextlib.contextmanager
def serve(lake: Path, **settings: object) -> Iterator[str]:
    """Run the app on 127.0.0.1 and an OS-chosen port; yields the base URL."""
    app = create_app(Settings(lake=str(lake), **settings))
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning",
                                           lifespan="on", access_log=False,
                                           http="service.protocol:NoDelayHttpToolsProtocol"))
    thread = threading.Thread(target=server.run, name="uvicorn", daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("server did not start")
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=20)
