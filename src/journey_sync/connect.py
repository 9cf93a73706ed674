"""``journey-sync todoist-connect``: authorise journey-sync's Todoist app once, from a shell.

Todoist delivers an app's webhooks for a user only once that user has authorised the app
through OAuth; a personal token does not turn them on. This runs Todoist's documented
authorisation code flow once:

1. a random ``state``; a small HTTP server on ``127.0.0.1:<port>`` for the redirect;
2. the authorisation address ``<JOURNEY_SYNC_TODOIST_OAUTH_URL>/oauth/authorize?client_id=
   ...&scope=...&state=...`` opened in a browser (and printed);
3. Todoist sends the browser to the app's *OAuth redirect URL*, which must be
   ``http://127.0.0.1:<port>/callback`` in the app's console, with ``code`` and ``state``;
   the state is checked (constant time) before anything else;
4. the code is exchanged (``POST <base>/oauth/access_token`` with ``client_id``,
   ``client_secret`` and ``code``) for an access token, written to a file of mode 0600
   (atomically; never printed), like the personal token of ``TODOIST_API_TOKEN_FILE``.

todoist-api-python has helpers for steps 2 and 4 (``get_authentication_url``,
``get_auth_token``), but both hard-code ``https://todoist.com/oauth``
(``todoist_api_python._core.endpoints.OAUTH_URL``) with no parameter for the base, so they
cannot be pointed at ``JOURNEY_SYNC_TODOIST_OAUTH_URL`` (the sandbox, a proxy). The same
documented requests are made here with httpx; a test checks that, at Todoist's base, the
address is exactly the one ``get_authentication_url`` builds.
"""

from __future__ import annotations

import contextlib
import hmac
import os
import queue
import secrets
import tempfile
import threading
import webbrowser
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx

from .errors import JourneySyncError, SettingsError
from .settings import Settings

DEFAULT_PORT = 8766  # not 8765, the port the README runs the sandbox on
SCOPES = ("data:read_write", "data:delete")  # tasks are added, changed and deleted
WAIT = 300.0  # seconds to wait for the browser to come back


def token_path(settings: Settings) -> Path:
    """Where the token goes by default: beside the state database (``x.db`` ->
    ``x-todoist-oauth-token``)."""
    return settings.state.with_name(f"{settings.state.stem}-todoist-oauth-token")


def authorize_url(base: str, client_id: str, scopes: Sequence[str], state: str) -> str:
    query = {"client_id": client_id, "scope": ",".join(scopes), "state": state}
    return f"{base.rstrip('/')}/oauth/authorize?{urlencode(query)}"


@dataclass(frozen=True)
class Connected:
    path: Path
    redirect_uri: str


class _Callback(HTTPServer):
    allow_reuse_address = True

    def __init__(self, port: int) -> None:
        self.results: queue.Queue[dict[str, str]] = queue.Queue()
        super().__init__(("127.0.0.1", port), _CallbackHandler)


class _CallbackHandler(BaseHTTPRequestHandler):
    server: _Callback

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        if url.path != "/callback":
            self._page(404, "Not here: journey-sync waits on /callback.")
            return
        params = {k: v[-1] for k, v in parse_qs(url.query).items()}
        self.server.results.put(params)
        if "code" in params and "error" not in params:
            self._page(200, "journey-sync: Todoist answered. You may close this tab.")
        else:
            self._page(400, "journey-sync: Todoist did not authorise the app. See the shell.")

    def _page(self, status: int, text: str) -> None:
        body = f"<!doctype html><title>journey-sync</title><p>{text}</p>\n".encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


def connect(
    settings: Settings,
    *,
    port: int = DEFAULT_PORT,
    out: Path | None = None,
    open_browser: bool = True,
    wait: float = WAIT,
    say: Callable[[str], None] = print,
) -> Connected:
    client_id = settings.todoist_client_id
    secret = settings.todoist_client_secret
    if not client_id or secret is None:
        raise SettingsError(
            "todoist-connect needs the Todoist app's TODOIST_CLIENT_ID and "
            "TODOIST_CLIENT_SECRET (or TODOIST_CLIENT_SECRET_FILE): create the app in "
            "Todoist's developer console (see the README's intake section)."
        )
    path = (out or token_path(settings)).resolve()
    if not path.parent.is_dir():
        raise SettingsError(f"cannot store the token in {path}: {path.parent} is not a folder")
    try:
        server = _Callback(port)
    except OSError as exc:
        raise SettingsError(
            f"todoist-connect cannot listen on 127.0.0.1:{port} ({exc.strerror}): free the "
            "port or choose another with --port (and set the app's OAuth redirect URL to it)"
        ) from None
    redirect = f"http://127.0.0.1:{server.server_address[1]}/callback"
    state = secrets.token_urlsafe(32)
    base = settings.todoist_oauth_url
    address = authorize_url(base, client_id, SCOPES, state)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1})
    thread.daemon = True
    thread.start()
    try:
        say(f"The app's OAuth redirect URL in Todoist's developer console must be: {redirect}")
        say(f"Open this address in a browser, sign in to Todoist and allow the app:\n{address}")
        if open_browser:
            with contextlib.suppress(Exception):
                webbrowser.open(address)
        code = _wait_for_code(server, state, wait)
    finally:
        server.shutdown()
        server.server_close()
    token = _exchange(base, client_id, secret.reveal(), code)
    _write_secret(path, token)
    say(
        f"Todoist authorised the app: its webhooks are on for this account. The access token "
        f"is in {path} (mode 0600). To use it for the API as well, set "
        f"TODOIST_API_TOKEN_FILE={path}."
    )
    return Connected(path, redirect)


def _wait_for_code(server: _Callback, state: str, wait: float) -> str:
    try:
        params = server.results.get(timeout=wait)
    except queue.Empty:
        raise JourneySyncError(
            f"no answer from Todoist within {wait:g} s: run todoist-connect again and open "
            "the address it prints"
        ) from None
    given = params.get("state", "")
    if not hmac.compare_digest(given.encode(), state.encode()):
        raise JourneySyncError(
            "the answer's state does not match this run's: it was not Todoist answering "
            "this request (nothing was stored); run todoist-connect again"
        )
    if "error" in params:
        raise JourneySyncError(f"Todoist did not authorise the app: {params['error']}")
    code = params.get("code")
    if not code:
        raise JourneySyncError("Todoist's answer holds no code: run todoist-connect again")
    return code


def _exchange(base: str, client_id: str, secret: str, code: str) -> str:
    url = f"{base.rstrip('/')}/oauth/access_token"
    try:
        answer = httpx.post(
            url,
            data={"client_id": client_id, "client_secret": secret, "code": code},
            timeout=30,
        )
    except httpx.HTTPError as exc:
        raise JourneySyncError(f"could not reach {url}: {exc}") from None
    try:
        data = answer.json()
    except ValueError:
        data = {}
    if not isinstance(data, dict):
        data = {}
    token = data.get("access_token")
    if answer.status_code != 200 or not isinstance(token, str) or not token:
        problem = data.get("error") or f"HTTP {answer.status_code}"
        hint = (
            ": check TODOIST_CLIENT_ID and TODOIST_CLIENT_SECRET"
            if problem == "incorrect_application_credentials"
            else ""
        )
        raise JourneySyncError(f"Todoist refused to exchange the code ({problem}){hint}")
    return token


def _write_secret(path: Path, text: str) -> None:
    """Write ``text`` to ``path``, mode 0600 from the start, replacing it atomically."""
    fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise
