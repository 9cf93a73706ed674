"""A small HTTP server in a daemon thread: what the health endpoint and the intake share."""

from __future__ import annotations

import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

log = logging.getLogger(__name__)


class BackgroundServer:
    """Binds at construction (a port in use is a start-up error, not a silent thread
    death), serves from a daemon thread between ``start()`` and ``stop()``."""

    def __init__(
        self,
        host: str,
        port: int,
        handler: type[BaseHTTPRequestHandler],
        *,
        name: str,
        reuse_address: bool = False,
    ) -> None:
        server_class = _ReusingServer if reuse_address else _QuietServer
        self._server = server_class((host, port), handler)
        self._server.what = name
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.2},
            name=f"{name}-server",
            daemon=True,
        )

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        host = str(self._server.server_address[0])
        return f"http://{host}:{self.port}"

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        if self._thread.is_alive():
            self._server.shutdown()
        self._server.server_close()


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True
    what = "server"

    def handle_error(self, request: Any, client_address: Any) -> None:
        # The default prints a traceback to stderr; a client hanging up is no news.
        log.debug("%s: error answering %s", self.what, client_address, exc_info=True)


class _ReusingServer(_QuietServer):
    allow_reuse_address = True
