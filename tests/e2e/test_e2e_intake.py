"""The intake end to end: ``journey-sync run`` as its own process with its intake port on
and a cycle interval of an hour, the sandbox in this test's process delivering Todoist's
webhooks to it over HTTP. Only the trigger can explain a cycle here: a form post becomes a
row and its tasks in one cycle, a task ticked in Todoist becomes a mark without waiting for
the interval, and a delivery with a bad signature is refused and changes nothing.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from journey_sync_sandbox.server import Sandbox
from support.e2e import (
    EXE,
    Api,
    Process,
    Procs,
    base_env,
    cycles_done,
    daemon_env,
    read_env,
    start_daemon,
    wait_for,
)
from support.net import WebhookTap, free_port

pytestmark = pytest.mark.e2e

TOKEN = "e2e-intake-token-0123456789"
CLIENT_ID = "e2e-app"
SECRET = "e2e-client-secret-0123456789"
HOUR = "3600"


@dataclass
class Rig:
    sandbox: Sandbox
    api: Api
    daemon: Process
    intake: httpx.Client

    def tasks_of(self, lead_id: str) -> dict[str, dict[str, Any]]:
        return self.api.tasks_of(lead_id)

    def cell(self, name: str, header: str) -> Any:
        return self.api.lead(name).cells.get(header)


@pytest.fixture
def rig(procs: Procs, tmp_path: Path) -> Iterator[Rig]:
    port = free_port()
    sandbox = Sandbox().start(0)
    try:
        sandbox.register_todoist_app(
            CLIENT_ID,
            SECRET,
            webhook_url=f"http://127.0.0.1:{port}/todoist/webhook",
            authorised=True,
            retry_delays=(0.2, 0.5),
        )
        sandbox.write_workdir(tmp_path, leads=4, seed=5)
        env = read_env(tmp_path / "env")
        assert env["TODOIST_CLIENT_SECRET"] == SECRET
        api = Api(env)
        daemon = start_daemon(
            procs,
            tmp_path,
            env,
            JOURNEY_SYNC_INTERVAL=HOUR,
            JOURNEY_SYNC_INTAKE_PORT=str(port),
            JOURNEY_SYNC_INTAKE_TOKEN=TOKEN,
        )
        wait_for(
            "onboarding (the first cycle, at start)",
            lambda: (
                cycles_done(daemon) >= 1
                and (leads := api.leads())
                and all(x.lead_id for x in leads)
                and set(api.tasks_by_key()) == api.expected_pairs(leads)
            ),
            timeout=40,
        )
        # Onboarding's own deliveries out, and any cycle they asked for done: from here
        # on, only what a test does can start a cycle.
        app = sandbox.todoist_app
        assert app is not None and app.webhooks is not None and app.webhooks.wait_idle()
        _quiet(daemon, seconds=1.2)
        intake = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=20)
        yield Rig(sandbox, api, daemon, intake)
        intake.close()
        assert daemon.alive, daemon.output()[-3000:]
        assert "Traceback" not in daemon.output()
        api.close()
    finally:
        sandbox.close()


def _quiet(daemon: Process, *, seconds: float, timeout: float = 15) -> None:
    """Wait until no cycle has ended for ``seconds``."""
    deadline = time.monotonic() + timeout
    count, since = cycles_done(daemon), time.monotonic()
    while time.monotonic() - since < seconds:
        assert time.monotonic() < deadline, "the daemon kept cycling"
        time.sleep(0.1)
        if cycles_done(daemon) != count:
            count, since = cycles_done(daemon), time.monotonic()


def test_a_form_post_becomes_a_row_and_its_tasks_in_one_cycle(rig: Rig) -> None:
    before = cycles_done(rig.daemon)
    last_before = max(lead.row for lead in rig.api.leads())

    answer = rig.intake.post(
        "/leads",
        json={"name": "Nell Form", "source": "Website", "heard_about": "Searched online"},
        headers={"Authorization": f"Bearer {TOKEN}"},
    )

    assert answer.status_code == 201, answer.text
    lead_id = answer.json()["lead_id"]
    assert answer.json()["written"] is True  # the 201 waited for the row
    row = answer.json()["row"]
    lead = rig.api.lead("Nell Form")
    assert (lead.row, lead.lead_id) == (row, lead_id)
    assert lead.cells["Source of lead"] == "Website"
    tasks = wait_for("the lead's tasks", lambda: rig.tasks_of(lead_id), timeout=15)
    assert set(tasks) == rig.api.expected_steps(rig.api.today())
    # One cycle, asked for by the post (the interval is an hour), made them all: the first
    # cycle after the post says it created every one of them.
    wait_for("the cycle's log line", lambda: cycles_done(rig.daemon) > before, timeout=10)
    first_after = re.findall(r"cycle done in .*", rig.daemon.output())[before]
    assert f"{len(tasks)} tasks created" in first_after, first_after
    assert row == last_before + 1  # under the last lead...
    assert min(rig.api.footer_rows()) > row  # ...and above the footer


def test_a_completion_delivered_by_webhook_becomes_a_mark_without_the_interval(
    rig: Rig,
) -> None:
    lead = rig.api.leads()[0]
    assert lead.lead_id is not None
    contact = rig.tasks_of(lead.lead_id)["contact"]
    assert rig.cell(lead.name, "Client contacted") in ("", None)
    before = cycles_done(rig.daemon)

    rig.api.close_task(contact["id"])  # a person ticks it in Todoist

    wait_for(
        "1 in 'Client contacted'",
        lambda: rig.cell(lead.name, "Client contacted") == 1,
        timeout=10,
    )
    assert cycles_done(rig.daemon) > before
    app = rig.sandbox.todoist_app
    assert app is not None and app.webhooks is not None
    completed = [d for d in app.webhooks.deliveries if d.event_name == "item:completed"]
    assert completed and completed[-1].delivered


def test_a_delivery_with_a_bad_signature_is_refused_and_changes_nothing(rig: Rig) -> None:
    lead = rig.api.leads()[1]
    assert lead.lead_id is not None
    contact = rig.tasks_of(lead.lead_id)["contact"]
    before = cycles_done(rig.daemon)
    values = rig.api.values()
    body = json.dumps(
        {
            "event_name": "item:completed",
            "user_id": rig.sandbox.todoist.user_id,
            "event_data": {**contact, "checked": True},
            "initiator": {"id": rig.sandbox.todoist.user_id},
            "version": "10",
        }
    ).encode()
    forged = base64.b64encode(hmac.new(b"not-the-secret", body, hashlib.sha256).digest())

    for signature in (forged.decode(), None):
        headers = {"Content-Type": "application/json", "X-Todoist-Delivery-ID": "forged-1"}
        if signature is not None:
            headers["X-Todoist-Hmac-SHA256"] = signature
        answer = rig.intake.post("/todoist/webhook", content=body, headers=headers)
        assert answer.status_code == 401
    time.sleep(1.5)  # a trigger becomes a cycle within a second
    assert cycles_done(rig.daemon) == before

    # A correctly signed delivery right after is answered: the refusals cost it nothing.
    good = base64.b64encode(hmac.new(SECRET.encode(), body, hashlib.sha256).digest()).decode()
    answer = rig.intake.post(
        "/todoist/webhook",
        content=body,
        headers={
            "Content-Type": "application/json",
            "X-Todoist-Hmac-SHA256": good,
            "X-Todoist-Delivery-ID": "signed-1",
        },
    )
    assert answer.status_code == 200
    wait_for("the signed delivery's cycle", lambda: cycles_done(rig.daemon) > before, timeout=10)
    # It was only a trigger: the task is open in Todoist, so nothing was marked.
    assert rig.api.values() == values
    assert rig.api.task(contact["id"])["checked"] is False  # type: ignore[index]


def test_sandbox_serve_delivers_webhooks_once_todoist_connect_authorised_the_app(
    procs: Procs, tmp_path: Path
) -> None:
    """``journey-sync sandbox serve``, ``journey-sync run`` and ``journey-sync
    todoist-connect`` as three processes, as a person sets them up from the README."""
    intake_port, redirect_port = free_port(), free_port()
    tap = WebhookTap(f"http://127.0.0.1:{intake_port}/todoist/webhook")
    sandbox = procs.add(
        Process(
            [EXE, "sandbox", "serve", "--port", str(free_port()), "--workdir", str(tmp_path)],
            {
                **base_env(),
                "SANDBOX_WEBHOOK_URL": tap.url,
                "SANDBOX_OAUTH_REDIRECT": f"http://127.0.0.1:{redirect_port}/callback",
            },
            tmp_path / "sandbox.log",
            tmp_path,
        )
    )
    wait_for("the sandbox", lambda: "ready" in sandbox.output().splitlines(), timeout=30)
    env = read_env(tmp_path / "env")
    api = Api(env)
    daemon = start_daemon(
        procs,
        tmp_path,
        env,
        JOURNEY_SYNC_INTERVAL=HOUR,
        JOURNEY_SYNC_INTAKE_PORT=str(intake_port),
        JOURNEY_SYNC_INTAKE_TOKEN=TOKEN,
    )
    try:
        wait_for(
            "onboarding",
            lambda: (leads := api.leads()) and all(x.lead_id for x in leads) and api.tasks_by_key(),
            timeout=40,
        )
        first, second = api.leads()[:2]
        assert first.lead_id and second.lead_id
        wait_for("the first cycle's end", lambda: cycles_done(daemon) >= 1, timeout=10)
        ticked_first = api.tasks_of(first.lead_id)["contact"]["id"]
        api.close_task(ticked_first)  # not authorised yet: no webhook (shown below)

        connect = procs.add(
            Process(
                [EXE, "todoist-connect", "--no-browser", "--port", str(redirect_port)],
                daemon_env(env),
                tmp_path / "connect.log",
                tmp_path,
            )
        )
        address = wait_for(
            "the authorisation address",
            lambda: next(
                (line for line in connect.output().splitlines() if "/oauth/authorize?" in line),
                None,
            ),
            timeout=20,
        )
        page = httpx.get(address.strip(), follow_redirects=True, timeout=10)  # the browser
        assert page.status_code == 200 and "close this tab" in page.text
        assert connect.proc.wait(timeout=20) == 0, connect.output()
        token_file = tmp_path / "journey-sync-todoist-oauth-token"
        assert token_file.stat().st_mode & 0o777 == 0o600
        assert token_file.read_text().strip() not in connect.output()

        ticked_second = api.tasks_of(second.lead_id)["contact"]["id"]
        api.close_task(ticked_second)
        wait_for("the second tick's webhook", lambda: tap.seen, timeout=10)
        # The sandbox sends deliveries one at a time in the order of the events: had the
        # first tick (before the app was authorised) been sent, it would have come first.
        assert tap.seen[0] == ("item:completed", ticked_second), tap.seen
        assert all(item != ticked_first for _, item in tap.seen), tap.seen

        for lead in (first, second):  # the earlier tick too: the cycle reads every change
            wait_for(
                f"{lead.name}'s mark",
                lambda lead=lead: api.lead(lead.name).cells.get("Client contacted") == 1,
                timeout=10,
            )
        assert "Traceback" not in daemon.output()
    finally:
        api.close()
        tap.close()
