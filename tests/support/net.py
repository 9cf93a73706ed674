"""Loopback networking for tests that start real servers."""

from __future__ import annotations

import http.server
import json
import socket
import threading
from typing import Any

import httpx

# The least a test's wait for something to happen allows, whatever the test asks: a wait
# ends as soon as what it waits for happens, so this costs nothing then, and on a loaded
# machine (the suite runs its files side by side; CI machines are slower) a short wait
# failed a correct run.
PATIENCE = 60.0


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class WebhookTap:
    """Between a webhook sender and its receiver: keeps, in arrival order, what each
    delivery was about (event name, item id), and passes it on unchanged (body and
    headers), answering with the receiver's status. So a test can tell which deliveries
    were made, by waiting for a later one instead of sleeping through a quiet spell."""

    def __init__(self, target: str) -> None:
        self.target = target
        self.seen: list[tuple[str, str]] = []
        tap = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                event = json.loads(body)
                tap.seen.append((str(event["event_name"]), str(event["event_data"]["id"])))
                headers = {
                    k: v
                    for k, v in self.headers.items()
                    if k.lower() not in ("host", "content-length", "connection")
                }
                try:
                    status = httpx.post(tap.target, content=body, headers=headers).status_code
                except httpx.HTTPError:
                    status = 502
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
