"""A Todoist app, as registered in Todoist's developer console: its OAuth authorisation
and its webhooks.

**OAuth** (Todoist's documented flow, under the sandbox's base URL):

* ``GET /oauth/authorize?client_id=...&scope=...&state=...``: in Todoist the user signs in
  and allows the app; the sandbox's one user allows at once. The answer is a ``302`` to the
  app's *OAuth redirect URL* (set in the console, not in the request) with ``code`` and
  ``state``; a missing scope redirects with ``error=invalid_scope``; an unknown client id
  is a ``400`` page (there is nowhere to redirect to).
* ``POST /oauth/access_token`` (form: ``client_id``, ``client_secret``, ``code``):
  ``{"access_token": ..., "token_type": "Bearer"}``; a wrong or used code is
  ``{"error": "bad_authorization_code"}`` and wrong app credentials
  ``{"error": "incorrect_application_credentials"}`` (status 400). A code works once.

The token works on the Todoist API like the personal token. As in Todoist, the app's
webhooks are delivered for the user only once the user has authorised the app.

**Webhooks** (the documented delivery): for each item event of the account (``item:added``,
``item:updated``, ``item:completed``, ``item:uncompleted``, ``item:deleted``) a ``POST`` of
``{"event_name", "user_id", "event_data" (the item), "initiator" (the user),
"triggered_at", "version": "10"}`` (``item:updated`` adds ``event_data_extra`` with the
item before), with ``X-Todoist-Hmac-SHA256`` (base64 of the HMAC-SHA256 of the body with
the client secret), ``X-Todoist-Delivery-ID`` (the same on every attempt of one delivery)
and ``User-Agent: Todoist-Webhooks``. Any answer but 200 (or no answer) is a failure and is
retried: Todoist retries after 15 minutes, up to three attempts; the sandbox keeps the
three attempts but waits ``retry_delays`` (seconds, 1 and 3 by default) so tests need not
wait. Deliveries go out from a thread of their own: an API request that ticks a task never
waits for them.
"""

from __future__ import annotations

import base64
import hashlib
import heapq
import hmac
import http.client
import itertools
import json
import secrets
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

from .web import Request, Response

WEBHOOK_VERSION = "10"
ITEM_EVENTS = ("item:added", "item:updated", "item:completed", "item:uncompleted", "item:deleted")
RETRY_DELAYS = (1.0, 3.0)  # seconds before the 2nd and 3rd attempt (Todoist: 15 minutes)
SCOPES = frozenset(
    {"task:add", "data:read", "data:read_write", "data:delete", "project:delete", "backups:read"}
)


@dataclass
class Delivery:
    """One event's delivery and what became of each attempt."""

    delivery_id: str
    event_name: str
    body: bytes
    statuses: list[int | None] = field(default_factory=list)  # None: no answer
    done: bool = False

    @property
    def delivered(self) -> bool:
        return bool(self.statuses) and self.statuses[-1] == 200

    def payload(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.body)
        return data


def sign(secret: str, body: bytes) -> str:
    """``X-Todoist-Hmac-SHA256``: base64 of the HMAC-SHA256 of the raw body."""
    return base64.b64encode(hmac.new(secret.encode("utf-8"), body, hashlib.sha256).digest()).decode(
        "ascii"
    )


class Webhooks:
    """Queues events and POSTs them from one background thread, retrying failures."""

    def __init__(
        self,
        url: str,
        secret: str,
        *,
        retry_delays: tuple[float, ...] = RETRY_DELAYS,
        timeout: float = 5.0,
        events: frozenset[str] = frozenset(ITEM_EVENTS),
    ) -> None:
        self.url = url
        self.secret = secret
        self.retry_delays = retry_delays
        self.timeout = timeout
        self.events = events
        self.deliveries: list[Delivery] = []
        self._queue: list[tuple[float, int, Delivery]] = []  # (due, order, delivery)
        self._order = itertools.count()
        self._cond = threading.Condition()
        self._closed = False
        self._busy = 0
        self._thread = threading.Thread(target=self._run, name="sandbox-webhooks", daemon=True)
        self._thread.start()

    def send(self, event_name: str, payload: dict[str, Any]) -> Delivery | None:
        """Queue a delivery (never waits for the network)."""
        if event_name not in self.events:
            return None
        body = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
        delivery = Delivery(str(uuid.uuid4()), event_name, body)
        with self._cond:
            self.deliveries.append(delivery)
            heapq.heappush(self._queue, (time.monotonic(), next(self._order), delivery))
            self._cond.notify()
        return delivery

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """True once nothing is queued for now and no attempt is under way (tests)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                due_now = self._queue and self._queue[0][0] <= time.monotonic()
                if not due_now and self._busy == 0:
                    return True
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(min(left, 0.05))

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        self._thread.join(timeout=self.timeout + 1)

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._closed:
                    now = time.monotonic()
                    if self._queue and self._queue[0][0] <= now:
                        break
                    self._cond.wait(self._queue[0][0] - now if self._queue else None)
                if self._closed:
                    return
                _, _, delivery = heapq.heappop(self._queue)
                self._busy += 1
            try:
                status = self._post(delivery)
            finally:
                with self._cond:
                    self._busy -= 1
                    delivery.statuses.append(status)
                    attempts = len(delivery.statuses)
                    if status == 200 or attempts > len(self.retry_delays):
                        delivery.done = True
                    else:
                        due = time.monotonic() + self.retry_delays[attempts - 1]
                        heapq.heappush(self._queue, (due, next(self._order), delivery))
                    self._cond.notify_all()

    def _post(self, delivery: Delivery) -> int | None:
        # http.client, not urllib: urllib would send "X-todoist-hmac-sha256".
        parts = urlsplit(self.url)
        kind = (
            http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
        )
        path = urlunsplit(("", "", parts.path or "/", parts.query, ""))
        try:
            connection = kind(parts.netloc, timeout=self.timeout)
            try:
                connection.request(
                    "POST",
                    path,
                    body=delivery.body,
                    headers={
                        "Content-Type": "application/json",
                        "User-Agent": "Todoist-Webhooks",
                        "X-Todoist-Hmac-SHA256": sign(self.secret, delivery.body),
                        "X-Todoist-Delivery-ID": delivery.delivery_id,
                    },
                )
                answer = connection.getresponse()
                answer.read()
                return int(answer.status)
            finally:
                connection.close()
        except (OSError, http.client.HTTPException):
            return None


@dataclass
class TodoistApp:
    """The app's console settings, and what the sandbox's user did with it."""

    client_id: str
    client_secret: str
    redirect_uri: str | None = None
    webhook_url: str | None = None
    authorised: bool = False  # the user went through OAuth (webhooks are on from then)
    # The console's "Watched Events": only these are delivered.
    events: frozenset[str] = frozenset(ITEM_EVENTS)


class TodoistAppServer:
    """``/oauth/authorize`` and ``/oauth/access_token``, and the app's webhooks."""

    def __init__(
        self,
        app: TodoistApp,
        *,
        user: Callable[[], dict[str, Any]],
        issue_token: Callable[[str], None],
        retry_delays: tuple[float, ...] = RETRY_DELAYS,
    ) -> None:
        self.app = app
        self._user = user
        self._issue_token = issue_token
        self._lock = threading.Lock()
        self._codes: dict[str, str] = {}  # code -> client id (single use)
        self.tokens_issued = 0
        self.webhooks = (
            Webhooks(
                app.webhook_url, app.client_secret, retry_delays=retry_delays, events=app.events
            )
            if app.webhook_url
            else None
        )

    def close(self) -> None:
        if self.webhooks is not None:
            self.webhooks.close()

    # ------------------------------------------------------------------ OAuth

    def handle(self, request: Request) -> Response:
        route = request.segments()
        if route == ["oauth", "authorize"] and request.method == "GET":
            return self._authorize(request)
        if route == ["oauth", "access_token"] and request.method == "POST":
            return self._access_token(request)
        return Response.json(404, {"error": "not_found"})

    def _authorize(self, request: Request) -> Response:
        if request.param("client_id") != self.app.client_id or not self.app.redirect_uri:
            return Response(
                400,
                b"Invalid client_id (or the app has no OAuth redirect URL)\n",
                {"Content-Type": "text/plain; charset=utf-8"},
            )
        state = request.param("state") or ""
        scopes = {s for s in (request.param("scope") or "").split(",") if s}
        if not scopes or not scopes <= SCOPES:
            return _redirect(self.app.redirect_uri, {"error": "invalid_scope", "state": state})
        code = secrets.token_hex(20)
        with self._lock:
            self._codes[code] = self.app.client_id
        return _redirect(self.app.redirect_uri, {"code": code, "state": state})

    def _access_token(self, request: Request) -> Response:
        form = request.form()
        if form.get("client_id") != self.app.client_id or not hmac.compare_digest(
            form.get("client_secret", "").encode(), self.app.client_secret.encode()
        ):
            return Response.json(400, {"error": "incorrect_application_credentials"}, compact=True)
        with self._lock:
            owner = self._codes.pop(form.get("code", ""), None)
        if owner != self.app.client_id:
            return Response.json(400, {"error": "bad_authorization_code"}, compact=True)
        token = secrets.token_hex(20)
        self._issue_token(token)
        with self._lock:
            self.tokens_issued += 1
            self.app.authorised = True
        return Response.json(200, {"access_token": token, "token_type": "Bearer"}, compact=True)

    # --------------------------------------------------------------- webhooks

    def item_event(
        self, event_name: str, item: dict[str, Any], old: dict[str, Any] | None = None
    ) -> None:
        """Called by the Todoist emulator (under its lock) for each item event."""
        if self.webhooks is None or not self.app.authorised:
            return
        user = self._user()
        payload: dict[str, Any] = {
            "event_name": event_name,
            "user_id": user["id"],
            "event_data": item,
            "initiator": {
                "email": user["email"],
                "full_name": user["full_name"],
                "id": user["id"],
                "image_id": None,
                "is_premium": bool(user.get("is_premium")),
            },
            "triggered_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "version": WEBHOOK_VERSION,
        }
        if event_name == "item:updated" and old is not None:
            payload["event_data_extra"] = {"old_item": old, "update_intent": "item_updated"}
        self.webhooks.send(event_name, payload)


def _redirect(target: str, params: dict[str, str]) -> Response:
    parts = urlsplit(target)
    query = "&".join(q for q in (parts.query, urlencode(params)) if q)
    location = urlunsplit((parts.scheme, parts.netloc, parts.path, query, ""))
    return Response(302, b"", {"Location": location})
