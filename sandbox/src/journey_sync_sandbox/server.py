"""The sandbox: Google's token endpoint, Sheets v4 and Todoist v1 under one base URL.

    with Sandbox().start() as sandbox:
        sandbox.write_workdir(tmp_path, leads=20)   # seeds and writes key, workflow, env
        ...                                         # run journey-sync against sandbox.url
        sandbox.traffic.counts()                    # {"sheets_reads": 1, ...}

Routes: ``POST /token`` (OAuth), ``/v4/spreadsheets/...`` (Sheets), ``/api/v1/...``
(Todoist). Standard library HTTP only (``ThreadingHTTPServer`` on 127.0.0.1, in a
background thread). Tests can count and log requests, enforce quotas like the real
services (429 + ``Retry-After``), inject failures (``fail_next``), hold requests
(``pause``/``resume``) or stop and restart on the same port.

``python -m journey_sync_sandbox.server serve --port 8765 --workdir /tmp/js`` runs it
in the foreground until SIGTERM or SIGINT (``journey-sync sandbox serve`` too).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import secrets
import signal
import socket
import sys
import threading
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import FrameType, TracebackType
from typing import Any

from .errors import google_error, google_quota_error, todoist_error
from .oauth import OAuthServer, ServiceAccount
from .quota import SHEETS_READ, SHEETS_WRITE, TODOIST, Quota, QuotaMeter
from .sheets import DEFAULT_COLUMNS, DEFAULT_ROWS, SheetsService, Spreadsheet
from .sheets_api import SheetsApi
from .todoist import TodoistService
from .todoist_api import TodoistApi
from .todoist_app import ITEM_EVENTS, RETRY_DELAYS, TodoistApp, TodoistAppServer
from .traffic import (
    OAUTH_TOKEN_REQUESTS,
    SHEETS_READS,
    SHEETS_WRITES,
    TODOIST_REQUESTS,
    LoggedRequest,
    Traffic,
)
from .web import Request, Response
from .workdir import spreadsheet_id as make_spreadsheet_id
from .workdir import write_workdir

DEFAULT_TODOIST_TOKEN = "sandbox-todoist-token"
DEFAULT_OAUTH_REDIRECT = "http://127.0.0.1:8766/callback"  # journey-sync todoist-connect's
SERVICES = ("sheets", "todoist", "oauth")


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class _Fault:
    status: int
    remaining: int
    retry_after: int | None


class _Server(ThreadingHTTPServer):
    """Tracks open connections so ``stop`` really cuts clients off (keep-alive)."""

    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], sandbox: Sandbox) -> None:
        self.sandbox = sandbox
        self.connections: set[socket.socket] = set()
        self.connections_lock = threading.Lock()
        super().__init__(address, _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self.connections_lock:
            self.connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self.connections_lock:
            self.connections.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        with self.connections_lock:
            connections = list(self.connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the real APIs and the clients use
    server: _Server

    def setup(self) -> None:
        super().setup()
        # Headers and body go out in separate writes; without this, Nagle's algorithm
        # and delayed ACKs add ~40 ms to every answer on a kept-alive connection.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        request = Request.build(self.command, self.path, dict(self.headers.items()), body)
        response = self.server.sandbox.dispatch(request)
        self.send_response(response.status)
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(response.body)))
        self.end_headers()
        if response.body and self.command != "HEAD":
            self.wfile.write(response.body)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _serve

    def log_message(self, format: str, *args: Any) -> None:
        pass  # the request log is Sandbox.traffic


class Sandbox:
    """The three emulators, their shared counters, quotas and fault injection."""

    def __init__(
        self,
        *,
        clock: Callable[[], datetime] | None = None,
        quota: Quota | None = None,
        todoist_token: str = DEFAULT_TODOIST_TOKEN,
        service_account: ServiceAccount | None = None,
        seed: int = 0,
    ) -> None:
        self.clock: Callable[[], datetime] = clock or _utc_now
        self.service_account = service_account or ServiceAccount.generate()
        self.oauth = OAuthServer()
        self.oauth.register(self.service_account)
        self.sheets = SheetsService()
        self.todoist = TodoistService(token=todoist_token, clock=self.clock, seed=seed)
        self.sheets_api = SheetsApi(self.sheets, self.oauth.authenticate)
        self.todoist_api = TodoistApi(self.todoist)
        self.traffic = Traffic()
        self.quota = quota
        self._meter = QuotaMeter(quota) if quota is not None else None
        self._faults: dict[str, deque[_Fault]] = {s: deque() for s in SERVICES}
        self._faults_lock = threading.Lock()
        self._open = threading.Event()
        self._open.set()
        self._held = 0  # requests waiting for resume() (see held_requests)
        self._before: list[tuple[Callable[[str, str], bool], Callable[[], None]]] = []
        self._held_lock = threading.Lock()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._port: int | None = None
        self.spreadsheet: Spreadsheet | None = None  # the one write_workdir seeded
        self.todoist_app: TodoistAppServer | None = None  # see register_todoist_app

    # ------------------------------------------------------------ lifecycle

    def start(self, port: int | None = None) -> Sandbox:
        """Serve on 127.0.0.1 (``port`` 0: any free port; ``None``: the previous one)."""
        if self._server is not None:
            return self
        if port is None:
            port = self._port or 0
        server = _Server(("127.0.0.1", port), self)
        self._server = server
        self._port = server.server_address[1]
        self._open.set()
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and cut open connections; ``start()`` again reuses the port."""
        server, self._server = self._server, None
        if server is None:
            return
        self._open.set()  # release paused requests so their threads can end
        server.shutdown()
        server.close_connections()
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._thread = None

    def close(self) -> None:
        """Stop serving and stop the Todoist app's webhook deliveries for good."""
        self.stop()
        if self.todoist_app is not None:
            self.todoist_app.close()

    @property
    def running(self) -> bool:
        return self._server is not None

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("the sandbox has not been started")
        return self._port

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # ------------------------------------------------------------ Todoist app

    def register_todoist_app(
        self,
        client_id: str,
        client_secret: str,
        *,
        redirect_uri: str | None = None,
        webhook_url: str | None = None,
        authorised: bool = False,
        retry_delays: tuple[float, ...] = RETRY_DELAYS,
        events: Iterable[str] = ITEM_EVENTS,
    ) -> TodoistAppServer:
        """An app in Todoist's developer console: its OAuth redirect URL and its webhook
        URL (see ``todoist_app``). Webhooks go out once the user has authorised the app
        through OAuth, or at once with ``authorised``; ``events`` are the console's
        "Watched Events"."""
        if self.todoist_app is not None:
            self.todoist_app.close()
            self.todoist.listeners.remove(self.todoist_app.item_event)
        app = TodoistApp(
            client_id, client_secret, redirect_uri, webhook_url, authorised, frozenset(events)
        )

        def issue(token: str) -> None:
            with self.todoist.lock:
                self.todoist.oauth_tokens.add(token)

        server = TodoistAppServer(
            app, user=self.todoist.user_json, issue_token=issue, retry_delays=retry_delays
        )
        self.todoist_app = server
        self.todoist.listeners.append(server.item_event)
        return server

    # ---------------------------------------------------------- test knobs

    def pause(self) -> None:
        """Hold every request until ``resume`` (a service that stopped answering)."""
        self._open.clear()

    def resume(self) -> None:
        self._open.set()

    def before_next(self, matching: Callable[[str, str], bool], person: Callable[[], None]) -> None:
        """Run ``person()`` just before the next request whose (method, path) matches is
        answered: a person editing the sheet while a cycle is between its read and its
        write. Runs once."""
        with self._faults_lock:
            self._before.append((matching, person))

    @property
    def held_requests(self) -> int:
        """How many requests ``pause`` is holding right now (tests wait on this)."""
        with self._held_lock:
            return self._held

    def fail_next(
        self, service: str, status: int, count: int = 1, retry_after: int | None = None
    ) -> None:
        """Answer the next ``count`` requests to ``service`` ("sheets", "todoist" or
        "oauth") with ``status`` in that service's error shape (and Retry-After)."""
        if service not in SERVICES:
            raise ValueError(f"service must be one of {SERVICES}, not {service!r}")
        with self._faults_lock:
            self._faults[service].append(_Fault(status, count, retry_after))

    # ---------------------------------------------------------------- seeding

    def create_spreadsheet(
        self,
        title: str,
        *,
        spreadsheet_id: str | None = None,
        first_sheet: str = "Sheet1",
        rows: int = DEFAULT_ROWS,
        columns: int = DEFAULT_COLUMNS,
        shared: bool = True,
    ) -> Spreadsheet:
        """A new spreadsheet, shared with the sandbox's service account unless ``shared``
        is False (then the API answers 403 until ``book.share(email)``)."""
        book_id = spreadsheet_id or make_spreadsheet_id(len(self.sheets.spreadsheets) + 1000)
        return self.sheets.create(
            book_id,
            title,
            shared_with=[self.service_account.client_email] if shared else [],
            first_sheet=first_sheet,
            rows=rows,
            columns=columns,
        )

    def write_workdir(
        self,
        directory: Path | str,
        *,
        leads: int = 20,
        seed: int = 0,
        workflow_yaml: Path | None = None,
    ) -> Path:
        """Seed the sheet and Todoist, and write service-account.json, workflows.yaml
        and env into ``directory`` (see ``journey_sync_sandbox.workdir``)."""
        return write_workdir(
            self, Path(directory), leads=leads, seed=seed, workflow_yaml=workflow_yaml
        )

    def access_token(self) -> str:
        """A valid bearer token for the service account, for tests that skip OAuth."""
        return self.oauth.issue(self.service_account.client_email)

    # --------------------------------------------------------------- dispatch

    def dispatch(self, request: Request) -> Response:
        service, counter = _classify(request)
        if not self._open.is_set():
            with self._held_lock:
                self._held += 1
            try:
                self._open.wait()
            finally:
                with self._held_lock:
                    self._held -= 1
        with self._faults_lock:
            due = [h for h in self._before if h[0](request.method, request.path)]
            self._before = [h for h in self._before if h not in due]
        for _, person in due:
            person()
        if counter is not None:
            self.traffic.count(counter)
        response = self._answer(request, service, counter)
        self.traffic.record(LoggedRequest(service, request.method, request.path, response.status))
        return response

    def _answer(self, request: Request, service: str, counter: str | None) -> Response:
        if service == "other":
            return google_error(404)
        fault = self._take_fault(service)
        if fault is not None:
            return _fault_response(service, fault)
        refusal = self._check_quota(request, service, counter)
        if refusal is not None:
            return refusal
        try:
            if service == "oauth" and request.path.startswith("/oauth/"):
                if self.todoist_app is None:
                    return Response.json(404, {"error": "no Todoist app is registered"})
                return self.todoist_app.handle(request)
            if service == "oauth":
                return self.oauth.handle(request)
            if service == "sheets":
                return self.sheets_api.handle(request)
            return self.todoist_api.handle(request)
        except Exception as exc:  # a sandbox bug must look like a 500, not a hang
            if service == "todoist":
                return todoist_error(500, extra={"explanation": repr(exc)})
            return google_error(500, f"Internal error encountered. ({exc!r})")

    def _take_fault(self, service: str) -> _Fault | None:
        with self._faults_lock:
            queue = self._faults[service]
            if not queue:
                return None
            fault = queue[0]
            fault.remaining -= 1
            if fault.remaining <= 0:
                queue.popleft()
            return fault

    def _check_quota(self, request: Request, service: str, counter: str | None) -> Response | None:
        if self._meter is None or service == "oauth":
            return None
        token = request.bearer() or "anonymous"
        if service == "sheets":
            bucket = SHEETS_READ if counter == SHEETS_READS else SHEETS_WRITE
            user = self.oauth.authenticate(token) or token
            wait = self._meter.admit(bucket, user)
            if wait is None:
                return None
            limit = self._meter.quota.limit(bucket)[0]
            return google_quota_error("read" if bucket == SHEETS_READ else "write", limit, wait)
        wait = self._meter.admit(TODOIST, token)
        if wait is None:
            return None
        return todoist_error(429, extra={"retry_after": wait}, headers={"Retry-After": str(wait)})


def _classify(request: Request) -> tuple[str, str | None]:
    path = request.path
    if path == "/token":
        return "oauth", OAUTH_TOKEN_REQUESTS
    if path.startswith("/oauth/"):
        return "oauth", None  # Todoist's OAuth (todoist_app)
    if path.startswith("/v4/spreadsheets"):
        return "sheets", SHEETS_READS if SheetsApi.is_read(request) else SHEETS_WRITES
    if path.startswith("/api/v1/"):
        return "todoist", TODOIST_REQUESTS
    return "other", None


def _fault_response(service: str, fault: _Fault) -> Response:
    headers = {"Retry-After": str(fault.retry_after)} if fault.retry_after is not None else {}
    if service == "sheets":
        return google_error(fault.status, headers=headers)
    if service == "todoist":
        extra = {"retry_after": fault.retry_after} if fault.retry_after is not None else {}
        return todoist_error(fault.status, extra=extra, headers=headers)
    return Response.json(
        fault.status,
        {"error": "internal_failure", "error_description": "Backend Error"},
        headers,
    )


# ------------------------------------------------------------------- serve


def serve_main(argv: Sequence[str]) -> int:
    """``journey-sync sandbox serve --port PORT --workdir DIR [--leads N] [--seed S]``."""
    args = list(argv)
    if args[:1] == ["sandbox"]:
        args = args[1:]
    if args[:1] == ["serve"]:
        args = args[1:]
    parser = argparse.ArgumentParser(
        prog="journey-sync sandbox serve",
        description="Run the Google Sheets, Google OAuth and Todoist emulators on one port.",
    )
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (0: any free)")
    parser.add_argument("--workdir", type=Path, required=True, help="where to write the env")
    parser.add_argument("--leads", type=int, default=20, help="leads to seed (default 20)")
    parser.add_argument("--seed", type=int, default=0, help="random seed for the leads")
    app = parser.add_argument_group(
        "a Todoist app (OAuth and webhooks)",
        "Each also read from the environment variable named in brackets, so that "
        "`journey-sync sandbox serve` passes them too.",
    )
    app.add_argument(
        "--webhook-url",
        default=os.environ.get("SANDBOX_WEBHOOK_URL"),
        help="POST Todoist's item events here, signed, like Todoist's webhooks "
        "(e.g. http://127.0.0.1:8081/todoist/webhook) [SANDBOX_WEBHOOK_URL]",
    )
    app.add_argument(
        "--webhook-secret",
        default=os.environ.get("SANDBOX_WEBHOOK_SECRET"),
        help="the app's client secret, which signs the deliveries (default: a random one, "
        "written to the env file as TODOIST_CLIENT_SECRET) [SANDBOX_WEBHOOK_SECRET]",
    )
    app.add_argument(
        "--client-id",
        default=os.environ.get("SANDBOX_CLIENT_ID", "sandbox-client-id"),
        help="the app's client id [SANDBOX_CLIENT_ID]",
    )
    app.add_argument(
        "--oauth-redirect",
        default=os.environ.get("SANDBOX_OAUTH_REDIRECT", DEFAULT_OAUTH_REDIRECT),
        help="the app's OAuth redirect URL, where /oauth/authorize sends the code "
        f"(default {DEFAULT_OAUTH_REDIRECT}, journey-sync todoist-connect's) "
        "[SANDBOX_OAUTH_REDIRECT]",
    )
    app.add_argument(
        "--webhooks-authorised",
        action="store_true",
        default=os.environ.get("SANDBOX_WEBHOOKS_AUTHORISED", "") not in ("", "0"),
        help="deliver webhooks at once; by default, as in Todoist, only once the app was "
        "authorised through OAuth (journey-sync todoist-connect) "
        "[SANDBOX_WEBHOOKS_AUTHORISED=1]",
    )
    options = parser.parse_args(args)
    sandbox = Sandbox(seed=options.seed)
    try:
        sandbox.start(options.port)
    except OSError as exc:
        print(f"journey-sync sandbox: cannot listen on port {options.port}: {exc}", file=sys.stderr)
        return 1
    secret = options.webhook_secret or secrets.token_hex(16)
    sandbox.register_todoist_app(
        options.client_id,
        secret,
        redirect_uri=options.oauth_redirect,
        webhook_url=options.webhook_url,
        authorised=options.webhooks_authorised,
    )
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {}
    if threading.current_thread() is threading.main_thread():
        for signum in (signal.SIGTERM, signal.SIGINT):
            previous[signum] = signal.signal(signum, on_signal)
    try:
        sandbox.write_workdir(options.workdir, leads=options.leads, seed=options.seed)
        print(sandbox.url, flush=True)
        print(f"workdir: {options.workdir} (source {options.workdir / 'env'})", flush=True)
        print("ready", flush=True)
        while not stop.wait(0.2):
            pass
    finally:
        sandbox.close()
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    return 0


def main() -> None:
    raise SystemExit(serve_main(sys.argv[1:]))


if __name__ == "__main__":
    main()
