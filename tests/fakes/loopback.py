"""What the fakes of listening services share: a threaded HTTP server on 127.0.0.1."""

from __future__ import annotations

import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Self


class QuietServer(ThreadingHTTPServer):
    """Threaded server whose client hang-ups are not errors."""

    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        """Clients that hang up (timeouts, kill -9) are expected; anything else is loud."""
        if not isinstance(sys.exc_info()[1], OSError):
            super().handle_error(request, client_address)


class LoopbackFake:
    """Serves `handler` from a thread on an ephemeral 127.0.0.1 port; a context manager.

    `_closed` is set once the fake closes; `_release` lets held requests go.
    """

    def __init__(self, handler: type[BaseHTTPRequestHandler]) -> None:
        self._handler = handler
        self._closed = threading.Event()
        self._release = threading.Event()
        self._server: QuietServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> Self:
        """Start serving on 127.0.0.1 with an ephemeral port."""
        server = QuietServer(("127.0.0.1", 0), self._handler)
        server.fake = self  # type: ignore[attr-defined]
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()
        return self

    def close(self) -> None:
        """Stop serving; held and slow requests are let go."""
        self._closed.set()
        self._release.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(5)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @property
    def root(self) -> str:
        """http://127.0.0.1:PORT of the running fake."""
        assert self._server is not None, "start() the fake first"
        return f"http://127.0.0.1:{self._server.server_address[1]}"
