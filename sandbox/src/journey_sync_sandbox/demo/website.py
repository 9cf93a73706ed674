"""The demo's fast paths: the studio's web form and Todoist's webhooks, for real.

journey-sync's intake (``journey_sync.intake``: the same ``Intake`` and ``IntakeServer``
the daemon starts when ``JOURNEY_SYNC_INTAKE_PORT`` is set) listens on 127.0.0.1:

* a visitor's browser posts the website's plain HTML form, form-encoded, to
  ``POST /leads?key=<form key>``; journey-sync keeps the lead, asks for a cycle, and the
  cycle writes the row (under the last lead, above the footer, with its id) and makes its
  tasks; the browser's ``201`` answer names the row;
* the sandbox's Todoist app (registered as in Todoist's developer console, authorised)
  POSTs each watched item event to ``/todoist/webhook``, signed with the app's client
  secret; journey-sync checks the signature and asks for a cycle.

The daemon would run each asked-for cycle within a second. The demo's time moves a day
at a time and runs one cycle a day anyway, so it records which days' cycles were asked
for, and by what, and runs the intake's hooks around the cycle exactly as the daemon does
(``before_cycle`` writes the accepted leads, ``learn`` remembers the workflow's project).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import httpx

from journey_sync.engine import Engine
from journey_sync.intake import ITEM_EVENTS, Access, Intake, IntakeServer, RateLimiter
from journey_sync.intake_store import IntakeStore, intake_path
from journey_sync.workflow import Workflow

from ..server import Sandbox

FORM_KEY = "demo-website-form"
CLIENT_ID = "demo-app"
CLIENT_SECRET = "demo-app-client-secret"
# Seconds to wait for something that happens on 127.0.0.1 at once (a failure, not a pace).
PATIENCE = 30.0


@dataclass
class FormPost:
    """One visitor's form, posted from their own thread (the browser waits for the answer)."""

    name: str
    status: int | None = None
    answer: dict[str, object] = field(default_factory=dict)
    error: str | None = None
    thread: threading.Thread | None = None

    @property
    def lead_id(self) -> str | None:
        value = self.answer.get("lead_id")
        return value if isinstance(value, str) else None

    @property
    def row(self) -> int | None:
        value = self.answer.get("row")
        return value if isinstance(value, int) else None


class Website:
    """journey-sync's intake on a real port, the web form that posts to it, and the
    sandbox's Todoist app delivering webhooks to it."""

    def __init__(
        self,
        sandbox: Sandbox,
        workflow: Workflow,
        state: Path,
        clock: Callable[[], datetime],
        new_id: Callable[[], str],
    ) -> None:
        self.workflow = workflow
        self._asked = threading.Condition()
        self._asks = 0  # cycles asked for (by a form or a webhook) since the start
        self.store = IntakeStore(intake_path(state))
        self.intake = Intake(
            self.store,
            [workflow],
            trigger=self._ask,
            client_secret=CLIENT_SECRET,
            clock=clock,
            new_id=new_id,
        )
        # The whole year's visitors come from 127.0.0.1, some seconds apart: the demo is
        # not the flood the per-address limit is for.
        self.server = IntakeServer(
            self.intake,
            Access(form_keys=(FORM_KEY,)),
            "127.0.0.1",
            0,
            limiter=RateLimiter(per_minute=60_000),
        )
        self.server.start()
        self.app = sandbox.register_todoist_app(
            CLIENT_ID,
            CLIENT_SECRET,
            webhook_url=f"{self.server.url}/todoist/webhook",
            authorised=True,  # the owner ran `journey-sync todoist-connect` once
            events=ITEM_EVENTS,  # the console's watched events: what journey-sync hears
        )
        self.posts: list[FormPost] = []
        self._asks_by_forms = 0

    def close(self) -> None:
        if self.app.webhooks is not None:
            self.app.webhooks.wait_idle(PATIENCE)
            self.app.webhooks.close()
        self.server.stop()
        for post in self.posts:
            if post.thread is not None:
                post.thread.join(PATIENCE)
        self.store.close()

    # ------------------------------------------------------------------ the form

    def post_form(self, fields: dict[str, str]) -> FormPost:
        """A visitor sends the form; returns once journey-sync has kept the lead (or
        refused it), while the browser still waits for the row in the answer."""
        post = FormPost(fields.get("name", ""))
        self._deliveries_in()  # so that no webhook's ask is taken for this form's
        with self._asked:
            before = self._asks
        post.thread = threading.Thread(
            target=self._send, args=(post, fields), name="demo-visitor", daemon=True
        )
        post.thread.start()
        with self._asked:
            # Accepted (a cycle was asked for) or answered (refused, or a duplicate).
            self._asked.wait_for(
                lambda: self._asks > before or post.status is not None or post.error is not None,
                PATIENCE,
            )
            if self._asks > before:
                self._asks_by_forms += self._asks - before
        self.posts.append(post)
        return post

    def _send(self, post: FormPost, fields: dict[str, str]) -> None:
        try:
            answer = httpx.post(
                f"{self.server.url}/leads",
                params={"key": FORM_KEY},
                data=fields,  # application/x-www-form-urlencoded, as a plain HTML form
                timeout=PATIENCE,
            )
            body = answer.json()
            post.answer = body if isinstance(body, dict) else {}
            post.status = answer.status_code
        except (httpx.HTTPError, ValueError) as exc:
            post.error = str(exc) or type(exc).__name__
        with self._asked:
            self._asked.notify_all()

    def answers(self) -> list[FormPost]:
        """The posts so far, once each browser has its answer."""
        for post in self.posts:
            if post.thread is not None:
                post.thread.join(PATIENCE)
        return list(self.posts)

    # ------------------------------------------------------------------ webhooks

    def _ask(self, workflow: str) -> None:
        with self._asked:
            self._asks += 1
            self._asked.notify_all()

    def asks_by_webhooks(self) -> int:
        """Cycles asked for by webhooks so far, once every delivery due has arrived."""
        self._deliveries_in()
        with self._asked:
            return self._asks - self._asks_by_forms

    def _deliveries_in(self) -> None:
        if self.app.webhooks is not None and not self.app.webhooks.wait_idle(PATIENCE):
            raise RuntimeError(f"the sandbox's webhooks were still busy after {PATIENCE} s")

    def deliveries(self) -> tuple[int, int]:
        """(deliveries made, deliveries journey-sync answered 200)."""
        if self.app.webhooks is None:
            return 0, 0
        made = list(self.app.webhooks.deliveries)
        return len(made), sum(1 for d in made if d.delivered)

    # ------------------------------------------------------------------ the cycle

    def run_cycle(self, engine: Engine) -> None:
        """The daemon's cycle: accepted leads written first, the project learnt after."""
        self.intake.before_cycle(engine)
        engine.run_cycle()
        self.intake.learn(engine)
