"""``journey-sync todoist-connect`` against the sandbox's Todoist OAuth: the browser is a
fake that follows the redirects (as a person clicking "Agree" would), everything else is
real HTTP on loopback."""

from __future__ import annotations

import json
import os
import stat
import threading
import webbrowser
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

import httpx
import pytest
from todoist_api_python.authentication import get_authentication_url

from journey_sync import cli
from journey_sync.connect import SCOPES, authorize_url, connect
from journey_sync.errors import JourneySyncError
from journey_sync.settings import load_settings
from journey_sync_sandbox.server import Sandbox
from support.net import free_port

CLIENT_ID = "journey-sync-app"
SECRET = "s3cret-client-secret-0123456789"


class Browser:
    """Follows the authorisation address to the redirect, in a thread (a person's browser);
    ``tamper`` may change the redirect's address first (a forged answer)."""

    def __init__(self, tamper: Callable[[str], str] = lambda url: url) -> None:
        self.tamper = tamper
        self.pages: list[httpx.Response] = []
        self.threads: list[threading.Thread] = []

    def open(self, url: str, *args: object, **kwargs: object) -> bool:
        def visit() -> None:
            first = httpx.get(url, timeout=10)
            target = first.headers.get("Location", "")
            self.pages.append(httpx.get(self.tamper(target), timeout=10) if target else first)

        thread = threading.Thread(target=visit, daemon=True)
        thread.start()
        self.threads.append(thread)
        return True


@pytest.fixture
def app(sandbox: Sandbox) -> tuple[Sandbox, int]:
    port = free_port()
    sandbox.register_todoist_app(
        CLIENT_ID, SECRET, redirect_uri=f"http://127.0.0.1:{port}/callback"
    )
    return sandbox, port


@pytest.fixture
def env(
    app: tuple[Sandbox, int], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Path]:
    sandbox, _ = app
    for name in list(os.environ):
        if name.startswith(("JOURNEY_SYNC_", "TODOIST_", "GOOGLE_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("TODOIST_CLIENT_ID", CLIENT_ID)
    secret_file = tmp_path / "client-secret"
    secret_file.write_text(SECRET + "\n")
    monkeypatch.setenv("TODOIST_CLIENT_SECRET_FILE", str(secret_file))
    monkeypatch.setenv("JOURNEY_SYNC_TODOIST_OAUTH_URL", sandbox.url)
    monkeypatch.setenv("JOURNEY_SYNC_STATE", str(tmp_path / "journey-sync.db"))
    yield tmp_path


def test_todoist_connect_stores_a_working_token_mode_0600_and_never_prints_it(
    app: tuple[Sandbox, int],
    env: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    sandbox, port = app
    browser = Browser()
    monkeypatch.setattr(webbrowser, "open", browser.open)

    assert cli.main(["todoist-connect", "--port", str(port), "--wait", "20"]) == 0

    path = env / "journey-sync-todoist-oauth-token"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    token = path.read_text().strip()
    assert token in sandbox.todoist.oauth_tokens
    answer = httpx.get(
        sandbox.url + "/api/v1/projects", headers={"Authorization": f"Bearer {token}"}
    )
    assert answer.status_code == 200
    out = capsys.readouterr()
    assert token not in out.out + out.err and SECRET not in out.out + out.err
    assert str(path) in out.out and f"http://127.0.0.1:{port}/callback" in out.out
    assert browser.pages[0].status_code == 200  # the browser's tab says it is done
    assert sandbox.todoist_app is not None and sandbox.todoist_app.app.authorised
    # The token file is one the daemon reads like the personal token.
    monkeypatch.setenv("TODOIST_API_TOKEN_FILE", str(path))
    assert load_settings().require_todoist_token().reveal() == token


def test_a_forged_state_is_refused_and_nothing_is_stored(
    app: tuple[Sandbox, int], env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sandbox, port = app

    def forge(url: str) -> str:
        parts = urlsplit(url)
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        query["state"] = "someone-else-s-state"
        return urlunsplit((*parts[:3], urlencode(query), ""))

    monkeypatch.setattr(webbrowser, "open", Browser(forge).open)
    out = env / "token"

    with pytest.raises(JourneySyncError, match="state does not match"):
        connect(load_settings(), port=port, out=out, wait=20, say=lambda text: None)

    assert not out.exists() and sandbox.todoist_app is not None
    assert sandbox.todoist_app.tokens_issued == 0


def test_wrong_client_credentials_are_said_and_nothing_is_stored(
    app: tuple[Sandbox, int],
    env: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _, port = app
    monkeypatch.setattr(webbrowser, "open", Browser().open)
    (env / "client-secret").write_text("not-the-secret\n")

    assert cli.main(["todoist-connect", "--port", str(port), "--out", str(env / "t")]) == 1

    assert "incorrect_application_credentials" in capsys.readouterr().err
    assert not (env / "t").exists()


def test_without_the_app_s_client_id_the_set_up_is_wrong(
    env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("TODOIST_CLIENT_ID")
    assert cli.main(["todoist-connect", "--no-browser"]) == 2
    assert "TODOIST_CLIENT_ID" in capsys.readouterr().err


def test_the_address_is_the_one_todoist_api_python_builds_at_todoist_s_base() -> None:
    ours = authorize_url("https://todoist.com", CLIENT_ID, SCOPES, "st-1")
    assert ours == get_authentication_url(CLIENT_ID, list(SCOPES), "st-1")  # type: ignore[arg-type]


def test_the_sandbox_workdir_names_the_app(sandbox: Sandbox, tmp_path: Path) -> None:
    sandbox.register_todoist_app(CLIENT_ID, SECRET)
    sandbox.write_workdir(tmp_path, leads=1)
    text = (tmp_path / "env").read_text()
    assert f"TODOIST_CLIENT_ID={CLIENT_ID}" in text
    assert json.dumps(sandbox.url).strip('"') in text
