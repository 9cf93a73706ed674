"""The sandbox's Todoist app: OAuth as Todoist documents it, and webhooks delivered the way
Todoist delivers them (payload, headers, HMAC, retries), from a thread of their own."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from journey_sync_sandbox.server import Sandbox
from journey_sync_sandbox.workdir import read_env_file
from support.net import free_port

CLIENT_ID = "app-client-id"
SECRET = "app-client-secret"
REDIRECT = "http://127.0.0.1:9/callback"


class Receiver:
    """A webhook endpoint: records each request; answers the queued statuses, then 200;
    ``hold`` keeps every answer until released."""

    def __init__(self) -> None:
        self.requests: list[tuple[dict[str, str], bytes]] = []
        self.statuses: list[int] = []
        self.hold = threading.Event()
        self.hold.set()
        self.got = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with receiver.got:
                    receiver.requests.append((dict(self.headers.items()), body))
                    status = receiver.statuses.pop(0) if receiver.statuses else 200
                    receiver.got.notify_all()
                receiver.hold.wait(10)
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/todoist/webhook"

    def wait(self, count: int, timeout: float = 10) -> list[tuple[dict[str, str], bytes]]:
        deadline = time.monotonic() + timeout
        with self.got:
            while len(self.requests) < count:
                left = deadline - time.monotonic()
                assert left > 0, f"{len(self.requests)} of {count} deliveries arrived"
                self.got.wait(left)
            return list(self.requests)

    def close(self) -> None:
        self.hold.set()
        self.server.shutdown()
        self.server.server_close()


def _wait_until(condition: Callable[[], bool], timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    made = Receiver()
    yield made
    made.close()


def _signature(body: bytes, secret: str = SECRET) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def test_a_completed_task_is_delivered_as_todoist_documents_it(
    sandbox: Sandbox, todoist: httpx.Client, receiver: Receiver
) -> None:
    sandbox.register_todoist_app(CLIENT_ID, SECRET, webhook_url=receiver.url, authorised=True)
    task_id = sandbox.todoist.add_task("Call Ada")
    receiver.wait(1)  # item:added

    assert todoist.post(f"/tasks/{task_id}/close").status_code == 204

    headers, body = receiver.wait(2)[1]
    payload = json.loads(body)
    assert payload["event_name"] == "item:completed"
    assert payload["user_id"] == sandbox.todoist.user_id
    assert payload["event_data"]["id"] == task_id and payload["event_data"]["checked"] is True
    assert payload["event_data"]["project_id"] == sandbox.todoist.inbox_project_id
    assert payload["initiator"]["id"] == sandbox.todoist.user_id
    assert {"email", "full_name", "image_id", "is_premium"} <= set(payload["initiator"])
    assert payload["version"] == "10" and payload["triggered_at"].endswith("Z")
    assert headers["X-Todoist-Hmac-SHA256"] == _signature(body)
    assert headers["User-Agent"] == "Todoist-Webhooks"
    assert headers["Content-Type"] == "application/json"
    assert len(headers["X-Todoist-Delivery-ID"]) >= 32


def test_every_item_event_is_delivered_and_an_update_carries_the_item_before(
    sandbox: Sandbox, todoist: httpx.Client, receiver: Receiver
) -> None:
    sandbox.register_todoist_app(CLIENT_ID, SECRET, webhook_url=receiver.url, authorised=True)
    task = todoist.post("/tasks", json={"content": "Book a session"}).json()
    todoist.post(f"/tasks/{task['id']}", json={"content": "Book a first session"})
    todoist.post(f"/tasks/{task['id']}/close")
    todoist.post(f"/tasks/{task['id']}/reopen")
    todoist.delete(f"/tasks/{task['id']}")

    payloads = [json.loads(body) for _, body in receiver.wait(5)]

    assert [p["event_name"] for p in payloads] == [
        "item:added",
        "item:updated",
        "item:completed",
        "item:uncompleted",
        "item:deleted",
    ]
    update = payloads[1]
    assert update["event_data"]["content"] == "Book a first session"
    assert update["event_data_extra"]["old_item"]["content"] == "Book a session"
    assert len({h["X-Todoist-Delivery-ID"] for h, _ in receiver.requests}) == 5


def test_only_the_watched_events_are_delivered(
    sandbox: Sandbox, todoist: httpx.Client, receiver: Receiver
) -> None:
    """The console's "Watched Events": an app that watches completions hears nothing of
    tasks added or renamed."""
    sandbox.register_todoist_app(
        CLIENT_ID,
        SECRET,
        webhook_url=receiver.url,
        authorised=True,
        events=("item:completed", "item:deleted"),
    )
    task = todoist.post("/tasks", json={"content": "Book a session"}).json()
    todoist.post(f"/tasks/{task['id']}", json={"content": "Book a first session"})
    todoist.post(f"/tasks/{task['id']}/close")
    todoist.delete(f"/tasks/{task['id']}")

    payloads = [json.loads(body) for _, body in receiver.wait(2)]
    assert sandbox.todoist_app is not None and sandbox.todoist_app.webhooks is not None
    assert sandbox.todoist_app.webhooks.wait_idle()
    assert [p["event_name"] for p in payloads] == ["item:completed", "item:deleted"]
    assert len(receiver.requests) == 2


def test_a_failed_delivery_is_retried_with_the_same_delivery_id(
    sandbox: Sandbox, receiver: Receiver
) -> None:
    app = sandbox.register_todoist_app(
        CLIENT_ID, SECRET, webhook_url=receiver.url, authorised=True, retry_delays=(0.05, 0.1)
    )
    receiver.statuses = [500, 401]

    sandbox.todoist.add_task("Call Ben")

    attempts = receiver.wait(3)
    assert len({h["X-Todoist-Delivery-ID"] for h, _ in attempts}) == 1
    assert len({body for _, body in attempts}) == 1
    assert app.webhooks is not None and app.webhooks.wait_idle()
    (delivery,) = app.webhooks.deliveries
    assert delivery.statuses == [500, 401, 200] and delivery.delivered


def test_a_delivery_failing_every_attempt_gives_up_after_three(
    sandbox: Sandbox, receiver: Receiver
) -> None:
    app = sandbox.register_todoist_app(
        CLIENT_ID, SECRET, webhook_url=receiver.url, authorised=True, retry_delays=(0.05, 0.05)
    )
    receiver.statuses = [503, 503, 503, 503]

    sandbox.todoist.add_task("Call Cy")

    receiver.wait(3)
    assert app.webhooks is not None and app.webhooks.wait_idle()
    # Given up: no attempt will follow (a fourth would come within the 0.05 s delay).
    _wait_until(lambda: app.webhooks is not None and app.webhooks.deliveries[0].done)
    assert len(receiver.requests) == 3
    assert app.webhooks.deliveries[0].done and not app.webhooks.deliveries[0].delivered


def test_an_unreachable_url_is_retried_too(sandbox: Sandbox) -> None:
    url = f"http://127.0.0.1:{free_port()}/todoist/webhook"
    app = sandbox.register_todoist_app(
        CLIENT_ID, SECRET, webhook_url=url, authorised=True, retry_delays=(0.01, 0.01)
    )
    sandbox.todoist.add_task("Call Di")
    assert app.webhooks is not None
    deadline = time.monotonic() + 5
    while not app.webhooks.deliveries[0].done and time.monotonic() < deadline:
        time.sleep(0.02)
    assert app.webhooks.deliveries[0].statuses == [None, None, None]


def test_the_api_answers_without_waiting_for_the_delivery(
    sandbox: Sandbox, todoist: httpx.Client, receiver: Receiver
) -> None:
    sandbox.register_todoist_app(CLIENT_ID, SECRET, webhook_url=receiver.url, authorised=True)
    receiver.hold.clear()  # the receiver takes its time answering
    started = time.monotonic()

    answer = todoist.post("/tasks", json={"content": "Slow receiver"})
    receiver.wait(1)
    took = time.monotonic() - started

    assert answer.status_code == 200 and took < 2
    receiver.hold.set()


def test_no_webhook_before_the_user_authorised_the_app(
    sandbox: Sandbox, todoist: httpx.Client, receiver: Receiver
) -> None:
    app = sandbox.register_todoist_app(
        CLIENT_ID, SECRET, redirect_uri=REDIRECT, webhook_url=receiver.url
    )
    sandbox.todoist.add_task("Before")
    # Nothing queued and nothing in flight: a delivery, had one been queued, would be over.
    assert app.webhooks is not None and app.webhooks.wait_idle()
    assert receiver.requests == []

    code = _authorise(sandbox)["code"]
    httpx.post(
        sandbox.url + "/oauth/access_token",
        data={"client_id": CLIENT_ID, "client_secret": SECRET, "code": code},
    )
    sandbox.todoist.add_task("After")

    (_, body), *_ = receiver.wait(1)
    assert json.loads(body)["event_data"]["content"] == "After"


# ----------------------------------------------------------------------- OAuth


def _authorise(sandbox: Sandbox, **params: str) -> dict[str, str]:
    query = {"client_id": CLIENT_ID, "scope": "data:read_write", "state": "s-123", **params}
    answer = httpx.get(sandbox.url + "/oauth/authorize", params=query)
    assert answer.status_code == 302, answer.text
    location = answer.headers["Location"]
    assert location.startswith(REDIRECT + "?")
    return {k: v[-1] for k, v in parse_qs(urlsplit(location).query).items()}


def test_oauth_gives_a_code_for_the_state_then_a_token_that_works_on_the_api(
    sandbox: Sandbox,
) -> None:
    sandbox.register_todoist_app(CLIENT_ID, SECRET, redirect_uri=REDIRECT)
    redirect = _authorise(sandbox)
    assert redirect["state"] == "s-123"

    answer = httpx.post(
        sandbox.url + "/oauth/access_token",
        data={"client_id": CLIENT_ID, "client_secret": SECRET, "code": redirect["code"]},
    )

    assert answer.status_code == 200
    assert set(answer.json()) == {"access_token", "token_type"}
    assert answer.json()["token_type"] == "Bearer"
    token = answer.json()["access_token"]
    projects = httpx.get(
        sandbox.url + "/api/v1/projects", headers={"Authorization": f"Bearer {token}"}
    )
    assert projects.status_code == 200
    # A code works once.
    again = httpx.post(
        sandbox.url + "/oauth/access_token",
        data={"client_id": CLIENT_ID, "client_secret": SECRET, "code": redirect["code"]},
    )
    assert again.status_code == 400 and again.json() == {"error": "bad_authorization_code"}


def test_oauth_refusals(sandbox: Sandbox) -> None:
    sandbox.register_todoist_app(CLIENT_ID, SECRET, redirect_uri=REDIRECT)
    assert (
        httpx.get(
            sandbox.url + "/oauth/authorize", params={"client_id": "other", "scope": "data:read"}
        ).status_code
        == 400
    )
    assert _authorise(sandbox, scope="")["error"] == "invalid_scope"
    code = _authorise(sandbox)["code"]
    wrong = httpx.post(
        sandbox.url + "/oauth/access_token",
        data={"client_id": CLIENT_ID, "client_secret": "nope", "code": code},
    )
    assert wrong.status_code == 400
    assert wrong.json() == {"error": "incorrect_application_credentials"}


# ----------------------------------------------------------------------- serve


def test_sandbox_serve_delivers_webhooks_to_the_url_it_is_given(
    tmp_path: Path, receiver: Receiver
) -> None:
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "journey_sync_sandbox.server",
            "serve",
            "--port",
            str(port),
            "--workdir",
            str(tmp_path),
            "--leads",
            "2",
            "--webhook-url",
            receiver.url,
            "--webhook-secret",
            SECRET,
            "--webhooks-authorised",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        while "ready" not in process.stdout.readline():
            assert process.poll() is None
        env = read_env_file(tmp_path / "env")
        assert env["TODOIST_CLIENT_SECRET"] == SECRET
        assert env["JOURNEY_SYNC_TODOIST_OAUTH_URL"] == f"http://127.0.0.1:{port}"
        answer = httpx.post(
            f"http://127.0.0.1:{port}/api/v1/tasks",
            json={"content": "From serve"},
            headers={"Authorization": f"Bearer {env['TODOIST_API_TOKEN']}"},
        )
        assert answer.status_code == 200

        headers, body = receiver.wait(1)[0]
        assert json.loads(body)["event_name"] == "item:added"
        assert headers["X-Todoist-Hmac-SHA256"] == _signature(body)
    finally:
        process.terminate()
        process.wait(timeout=10)
