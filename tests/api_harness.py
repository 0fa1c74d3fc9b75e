"""A real uvicorn serving the API on 127.0.0.1 from a thread, for tests and benchmarks."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn

from bot.api.app import create_app
from bot.config import Settings


@contextmanager
def serving(settings: Settings) -> Iterator[str]:
    """Serve the API for `settings` on an ephemeral loopback port; yield its base URL."""
    sock = socket.create_server(("127.0.0.1", 0))
    config = uvicorn.Config(create_app(settings), log_config=None, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(20)
        sock.close()
