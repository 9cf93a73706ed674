"""Leads straight from a web form, and Todoist webhooks: the fast paths into a cycle.

``POST /leads`` (or ``/leads/<workflow>`` when there are several) takes a lead as JSON or
as a form post, fields named by the workflow's column roles (``name``, ``lead_date``,
``source``, ``heard_about``, ``coach`` and any ``extra`` column). It is authorised by the
bearer token (``JOURNEY_SYNC_INTAKE_TOKEN``) or, for a plain HTML form on a website, by a
form key in the URL (``?key=...``, ``JOURNEY_SYNC_INTAKE_FORM_KEYS``) that allows nothing but
adding leads. The lead is committed to the intake file (``intake_store``) before the
``201`` answer, then written RAW (typed text never becomes a formula) into the row under
the last lead by the daemon's main thread, just before the cycle it asks for at once: its
tasks exist within seconds. A sheet that cannot be written leaves the lead pending; every
later cycle tries again, so a lead accepted is never lost.

``POST /todoist/webhook`` takes Todoist's webhook deliveries, checked by their
``X-Todoist-Hmac-SHA256`` (base64 HMAC-SHA256 of the raw body with the app's client
secret); an item event in a workflow's project asks for a cycle (several events in a
moment become one). A webhook is only a trigger: the cycle reads Todoist's changes by sync
token as always, so a lost, repeated or forged-but-valid delivery changes nothing.

The server is the standard library's, in daemon threads, like the health endpoint; it is
on its own port (``JOURNEY_SYNC_INTAKE_PORT``, off by default) because this one faces the
internet (through a reverse proxy with TLS) while the health port stays private.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import json
import logging
import re
import sqlite3
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from .dates import date_to_serial, today_in
from .engine import Engine, new_lead_id
from .errors import SettingsError
from .intake_store import IntakeLead, IntakeStore, intake_path
from .ports import CellValue, CellWrite, RowInsert, SheetGateway, SheetWrites
from .serving import BackgroundServer
from .settings import Settings
from .sheet import read_sheet
from .workflow import Workflow

log = logging.getLogger("journey_sync.intake")

MAX_BODY = 16 * 1024  # bytes of a lead form
MAX_WEBHOOK_BODY = 256 * 1024  # a Todoist delivery carries one item, with its description
MAX_NAME = 200  # characters of a lead's name
MAX_TEXT = 1000  # characters of any other field
MAX_KEY = 200  # characters of an Idempotency-Key
ROW_WAIT = 10.0  # seconds a 201 waits for the lead's row before answering without it
# Item events that can change a mark; anything else (notes, projects) is answered and ignored.
ITEM_EVENTS = frozenset({"item:completed", "item:uncompleted", "item:updated", "item:deleted"})
# Roles the intake never writes: journey-sync's own cells and the leaving columns.
_NOT_FROM_FORMS = frozenset({"lead_id", "reason_left", "left_on"})
# Extra columns whose text says how to reach the lead (part of a duplicate's fingerprint).
_CONTACT_ROLES = ("email", "phone", "contact", "mobile", "telephone")


# --------------------------------------------------------------------------- validation


class Invalid(Exception):
    """A lead that cannot be taken: each field's problem (``422``)."""

    def __init__(self, problems: Mapping[str, str]) -> None:
        super().__init__("; ".join(f"{k}: {v}" for k, v in problems.items()))
        self.problems = dict(problems)


def form_roles(workflow: Workflow) -> list[str]:
    """The field names a form may send for this workflow."""
    return [r for r in workflow.sheet.columns.roles() if r not in _NOT_FROM_FORMS]


def validate_lead(workflow: Workflow, given: Mapping[str, object], today: date) -> dict[str, str]:
    """The lead's fields (role -> text, ``lead_date`` ISO), or ``Invalid`` naming each
    problem. Unknown fields are problems too, so a misspelt field is not silently lost."""
    roles = form_roles(workflow)
    problems: dict[str, str] = {}
    fields: dict[str, str] = {}
    for key, raw in given.items():
        if key not in roles:
            problems[key] = f"unknown field: use {', '.join(roles)}"
            continue
        if raw is None:
            continue
        if isinstance(raw, bool) or not isinstance(raw, str | int | float):
            problems[key] = "must be text"
            continue
        text = " ".join(str(raw).split())  # one line: no tabs, newlines or runs of spaces
        if any(ord(ch) < 32 or 0x7F <= ord(ch) < 0xA0 for ch in text):
            problems[key] = "holds control characters"
            continue
        limit = MAX_NAME if key == "name" else MAX_TEXT
        if len(text) > limit:
            problems[key] = f"is {len(text)} characters long; at most {limit}"
            continue
        if text:
            fields[key] = text
    if "name" not in fields and "name" not in problems:
        problems["name"] = "is required"
    if "lead_date" in fields:
        try:
            day = date.fromisoformat(fields["lead_date"])
        except ValueError:
            problems["lead_date"] = "must be a date as YYYY-MM-DD"
        else:
            if day > today + timedelta(days=1):
                problems["lead_date"] = f"is in the future (today is {today.isoformat()})"
            elif day < today - timedelta(days=366):
                problems["lead_date"] = "is more than a year ago"
            else:
                fields["lead_date"] = day.isoformat()
    else:
        fields["lead_date"] = today.isoformat()
    if problems:
        raise Invalid(problems)
    return fields


def slug(name: str) -> str:
    """A workflow's name as a URL path segment: ``Studio client journey`` ->
    ``studio-client-journey``."""
    return "-".join(re.findall(r"[a-z0-9]+", name.casefold()))


def workflow_named(workflows: Sequence[Workflow], key: str | None) -> Workflow | None:
    """The workflow of that name or slug; without a name, the only one (None if several)."""
    if key is None:
        return workflows[0] if len(workflows) == 1 else None
    return next((w for w in workflows if key in (w.name, slug(w.name))), None)


def fingerprint(fields: Mapping[str, str]) -> str:
    """What makes two posts the same lead without an Idempotency-Key: name, contact and
    source (case and spacing forgiven)."""
    parts = [fields.get("name", ""), *(fields.get(r, "") for r in _CONTACT_ROLES)]
    parts.append(fields.get("source", ""))
    text = "\x1f".join(" ".join(p.split()).casefold() for p in parts)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


# --------------------------------------------------------------------------- rate limit


class RateLimiter:
    """A token bucket per client address: ``burst`` requests at once, then ``per_minute``."""

    def __init__(
        self,
        per_minute: float,
        burst: int | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.rate = per_minute / 60.0
        self.burst = float(burst if burst is not None else max(1, int(per_minute // 3)))
        self._clock = clock
        self._lock = threading.Lock()
        self._buckets: dict[str, tuple[float, float]] = {}  # address -> (tokens, when)

    def take(self, address: str) -> float:
        """0 when the request may go ahead, else seconds until it may."""
        now = self._clock()
        with self._lock:
            tokens, when = self._buckets.get(address, (self.burst, now))
            tokens = min(self.burst, tokens + (now - when) * self.rate)
            if tokens >= 1.0:
                self._buckets[address] = (tokens - 1.0, now)
                if len(self._buckets) > 10_000:
                    self._forget(now)
                return 0.0
            self._buckets[address] = (tokens, now)
            return (1.0 - tokens) / self.rate if self.rate > 0 else 60.0

    def _forget(self, now: float) -> None:
        full = [a for a, (t, w) in self._buckets.items() if t + (now - w) * self.rate >= self.burst]
        for address in full:
            del self._buckets[address]


# --------------------------------------------------------------------------- the intake


@dataclass(frozen=True)
class Accepted:
    lead: IntakeLead
    new: bool  # False: the same lead was posted before (nothing added)


@dataclass
class Intake:
    """What the endpoints do, without HTTP: accept leads, write them, hear webhooks.

    ``trigger(workflow)`` asks the daemon for a cycle of that workflow now (debounced by
    the daemon); ``write_pending`` runs on the daemon's main thread, before each cycle.
    """

    store: IntakeStore
    workflows: Sequence[Workflow]
    trigger: Callable[[str], None] = lambda name: None
    client_secret: str | None = None
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    # The id a lead gets at once (the engine's, so both hand out ids the same way; the demo
    # passes its seeded one, so the same seed gives the same year).
    new_id: Callable[[], str] = new_lead_id
    _written: threading.Condition = field(default_factory=threading.Condition)
    # workflow -> its Todoist project id, learnt from the state after each cycle.
    project_ids: dict[str, str] = field(default_factory=dict)
    # Why the last write_pending left its leads pending (None: it did not fail).
    last_write_error: str | None = None
    # Leads this process accepted (and asked a cycle for) that the daemon's look at the
    # intake file has not seen yet: that look asks only for leads kept by another process.
    accepted_here: set[str] = field(default_factory=set)

    def learn(self, engine: Engine) -> None:
        """After a cycle (main thread): remember the workflow's Todoist project id, to
        tell which workflow a webhook's item belongs to."""
        project = engine.state.get(engine.name, "project_id")
        if project:
            self.project_ids[engine.name] = project

    def before_cycle(self, engine: Engine) -> None:
        self.write_pending(engine.workflow, engine.sheet)

    def workflow(self, key: str | None) -> Workflow | None:
        """The workflow a path names; without a name, the only one (None if several)."""
        return workflow_named(self.workflows, key)

    # ------------------------------------------------------------ leads

    def accept(
        self, workflow: Workflow, given: Mapping[str, object], idempotency_key: str | None
    ) -> Accepted:
        """Validate and keep a lead (committed before this returns), then ask for a cycle."""
        now = self.clock()
        fields = validate_lead(workflow, given, today_in(workflow.zone, now))
        lead, new = self.store.accept(
            self.new_id(),
            workflow.name,
            fields,
            fingerprint=fingerprint(fields),
            idempotency_key=idempotency_key,
            now=now,
        )
        if new:
            self.accepted_here.add(lead.lead_id)
            log.info(
                "%s: lead %s accepted from the intake",
                workflow.name,
                lead.lead_id,
                extra={"fields": {"event": "lead_accepted", "workflow": workflow.name}},
            )
        if not lead.written:
            self.trigger(workflow.name)
        return Accepted(lead, new)

    def wait_written(self, lead_id: str, timeout: float) -> IntakeLead | None:
        """The lead once it is in the sheet, or as it is after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        with self._written:
            while True:
                lead = self.store.get(lead_id)
                left = deadline - time.monotonic()
                if lead is None or lead.written or left <= 0:
                    return lead
                self._written.wait(left)

    def write_pending(self, workflow: Workflow, sheet: SheetGateway) -> int:
        """Write the workflow's accepted leads into the sheet (main thread, before a
        cycle): one read, one write. Returns how many were written; a failure is logged
        and the leads stay pending for the next cycle."""
        self.last_write_error = None
        pending = self.store.pending(workflow.name)
        if not pending:
            return 0
        try:
            rows = self._write(workflow, sheet, pending)
        except Exception as exc:  # the sheet unavailable: keep them, say so, carry on
            self.last_write_error = str(exc) or type(exc).__name__
            log.warning(
                "%s: %d accepted lead(s) not written yet (the next cycle tries again): %s",
                workflow.name,
                len(pending),
                exc,
                extra={"fields": {"event": "intake_write_failed", "workflow": workflow.name}},
            )
            return 0
        now = self.clock()
        for lead, row in zip(pending, rows, strict=True):
            self.store.written(lead.lead_id, row, now)
        with self._written:
            self._written.notify_all()
        log.info(
            "%s: %d lead(s) from the intake written (rows %s)",
            workflow.name,
            len(pending),
            ", ".join(str(r) for r in rows),
            extra={"fields": {"event": "intake_written", "workflow": workflow.name}},
        )
        self.store.forget_old(now)
        return len(pending)

    def _write(self, workflow: Workflow, sheet: SheetGateway, leads: list[IntakeLead]) -> list[int]:
        snapshot = sheet.read()
        model = read_sheet(workflow, snapshot)
        rows_of = {lead.lead_id: lead.row for lead in model.leads if lead.lead_id}
        # A lead written before a crash (its id is in the sheet) is not written twice.
        todo = [lead for lead in leads if lead.lead_id not in rows_of]
        first = model.last_data_row + 1
        span = range(first, first + len(todo))
        # New rows, inserted under the last lead (above the footer, as a person would; the
        # cycle moves the footer's figures), and written in the same request: a row a
        # person inserts meanwhile, or a client they are typing under the last lead, is
        # moved down, never written over (rows already there may have changed since the
        # read above).
        inserts = (RowInsert(before_row=first, count=len(todo)),) if todo else ()
        columns = model.layout.roles
        values: list[CellWrite] = []
        for lead, row in zip(todo, span, strict=True):
            rows_of[lead.lead_id] = row
            values.append(CellWrite(row, columns["lead_id"], lead.lead_id))
            for role, text in lead.fields.items():
                column = columns.get(role)
                if column is None:
                    continue  # the column was removed from the workflow since
                value: CellValue = text
                if role == "lead_date":
                    value = date_to_serial(date.fromisoformat(text))
                values.append(CellWrite(row, column, value, as_date=role == "lead_date"))
        if values:
            sheet.apply(
                SheetWrites(inserts=inserts, values=tuple(values), values_with_inserts=True)
            )
        return [rows_of[lead.lead_id] for lead in leads]

    # ------------------------------------------------------------ webhooks

    def signature_ok(self, body: bytes, signature: str | None) -> bool:
        if not self.client_secret or not signature:
            return False
        digest = hmac.new(self.client_secret.encode("utf-8"), body, hashlib.sha256).digest()
        expected = base64.b64encode(digest).decode("ascii")
        return hmac.compare_digest(expected.encode("ascii"), signature.strip().encode("ascii"))

    def webhook(self, body: bytes, delivery_id: str | None) -> str:
        """A delivery whose signature was checked: ask for the cycles it concerns.
        Returns what was done, for the answer and the log."""
        try:
            payload = json.loads(body)
        except ValueError:
            return "not JSON: ignored"
        if not isinstance(payload, dict):
            return "not an event: ignored"
        event = payload.get("event_name")
        if event not in ITEM_EVENTS:
            # Answered and forgotten (item:added and the like, a burst at onboarding):
            # nothing to recognise a repeat of, so nothing is written for it.
            return f"event {event!r}: ignored"
        if delivery_id and not self.store.first_delivery(delivery_id[:200], self.clock()):
            return "repeated delivery: already seen"
        data = payload.get("event_data")
        project = str(data.get("project_id", "")) if isinstance(data, dict) else ""
        known = dict(self.project_ids)
        names = [w.name for w in self.workflows if known.get(w.name) == project]
        if not names:
            # A project no workflow knows yet (before a workflow's first cycle): every
            # workflow that has not learnt its project looks.
            names = [w.name for w in self.workflows if w.name not in known]
        for name in names:
            self.trigger(name)
        return f"event {event}: cycle asked for {', '.join(names) or 'no workflow'}"


# --------------------------------------------------------------------------- HTTP


@dataclass(frozen=True)
class Access:
    """Who may post: the bearer token (everything), form keys (adding leads only), and
    the reverse proxies whose ``X-Forwarded-For`` names the real client."""

    token: str | None = None
    form_keys: tuple[str, ...] = ()
    trusted_proxies: tuple[str, ...] = ()

    def bearer_ok(self, header: str | None) -> bool:
        if not self.token or not header or not header.startswith("Bearer "):
            return False
        given = header.removeprefix("Bearer ").strip().encode("utf-8")
        return hmac.compare_digest(given, self.token.encode("utf-8"))

    def form_key_ok(self, key: str | None) -> bool:
        if not key:
            return False
        given = key.encode("utf-8")
        # Every key is compared (no early exit), each in constant time.
        found = False
        for candidate in self.form_keys:
            found |= hmac.compare_digest(given, candidate.encode("utf-8"))
        return found

    def client(self, peer: str, forwarded: str | None) -> str:
        """The address to rate-limit: the peer, or the last address a trusted proxy
        added to ``X-Forwarded-For``."""
        if forwarded and self._trusted(peer):
            hops = [h.strip() for h in forwarded.split(",") if h.strip()]
            while hops and self._trusted(hops[-1]):
                hops.pop()
            if hops:
                return hops[-1]
        return peer

    def _trusted(self, address: str) -> bool:
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        for proxy in self.trusted_proxies:
            try:
                if ip in ipaddress.ip_network(proxy, strict=False):
                    return True
            except ValueError:
                continue
        return False


class IntakeServer(BackgroundServer):
    """``POST /leads[/<workflow>]`` and ``POST /todoist/webhook``, from daemon threads."""

    def __init__(
        self,
        intake: Intake,
        access: Access,
        host: str,
        port: int,
        *,
        limiter: RateLimiter | None = None,
        row_wait: float = ROW_WAIT,
    ) -> None:
        self.intake = intake
        handler = _handler_for(intake, access, limiter or RateLimiter(30), row_wait)
        super().__init__(host, port, handler, name="intake", reuse_address=True)


def _handler_for(
    intake: Intake, access: Access, limiter: RateLimiter, row_wait: float
) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "journey-sync"
        sys_version = ""
        protocol_version = "HTTP/1.1"
        timeout = 30  # seconds a client may take to send its request

        def do_POST(self) -> None:
            url = urlsplit(self.path)
            parts = [unquote(p) for p in url.path.split("/") if p]
            if parts == ["todoist", "webhook"]:
                # Todoist's own deliveries come in bursts (a dozen ticks in a minute) and
                # are signed: only a delivery that fails its signature counts.
                self._webhook()
            elif parts and parts[0] == "leads" and len(parts) <= 2:
                if not self._limited():
                    self._lead(parts[1] if len(parts) == 2 else None, parse_qs(url.query))
            else:
                self._json(404, {"error": "not found: POST /leads or /todoist/webhook"})

        def _limited(self) -> bool:
            """Count this request against its address; answer 429 when over the limit."""
            client = access.client(self.client_address[0], self.headers.get("X-Forwarded-For"))
            wait = limiter.take(client)
            if wait <= 0:
                return False
            self._json(
                429,
                {"error": "too many requests from this address"},
                {"Retry-After": str(max(1, int(wait + 0.999)))},
                close=True,
            )
            return True

        def do_GET(self) -> None:
            self._json(405, {"error": "use POST"}, {"Allow": "POST"})

        def _body(self, limit: int) -> bytes | None:
            """The body, or None after answering 411/413 (without reading a big one)."""
            length = self.headers.get("Content-Length")
            if self.headers.get("Transfer-Encoding") or length is None:
                self._json(411, {"error": "send a Content-Length"}, close=True)
                return None
            try:
                size = int(length)
            except ValueError:
                self._json(400, {"error": "bad Content-Length"}, close=True)
                return None
            if size < 0 or size > limit:
                self._json(413, {"error": f"the body is over {limit // 1024} KB"}, close=True)
                return None
            return self.rfile.read(size)

        def _lead(self, key: str | None, query: dict[str, list[str]]) -> None:
            if not (
                access.bearer_ok(self.headers.get("Authorization"))
                or access.form_key_ok(next(iter(query.get("key", [])), None))
            ):
                self._json(
                    401, {"error": "unauthorised"}, {"WWW-Authenticate": "Bearer"}, close=True
                )
                return
            body = self._body(MAX_BODY)
            if body is None:
                return
            workflow = intake.workflow(key)
            if workflow is None:
                self._json(404, {"error": "no such workflow: POST /leads/<workflow>"})
                return
            given = self._fields(body)
            if given is None:
                return
            idem = self.headers.get("Idempotency-Key")
            if idem is not None and not 0 < len(idem.strip()) <= MAX_KEY:
                self._json(422, {"problems": {"Idempotency-Key": f"1 to {MAX_KEY} characters"}})
                return
            try:
                accepted = intake.accept(workflow, given, idem.strip() if idem else None)
            except Invalid as exc:
                self._json(422, {"error": "the lead was not added", "problems": exc.problems})
                return
            lead = accepted.lead
            if not lead.written and row_wait > 0:
                lead = intake.wait_written(lead.lead_id, row_wait) or lead
            self._json(
                201 if accepted.new else 200,
                {
                    "lead_id": lead.lead_id,
                    "workflow": workflow.name,
                    "row": lead.row,
                    "written": lead.written,
                    "duplicate": not accepted.new,
                },
            )

        def _fields(self, body: bytes) -> dict[str, object] | None:
            kind = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
            try:
                text = body.decode("utf-8")
            except UnicodeDecodeError:
                self._json(400, {"error": "the body is not UTF-8"})
                return None
            if kind == "application/json":
                try:
                    data = json.loads(text)
                except ValueError:
                    self._json(400, {"error": "the body is not JSON"})
                    return None
                if not isinstance(data, dict):
                    self._json(422, {"problems": {"body": "must be a JSON object"}})
                    return None
                return {str(k): v for k, v in data.items()}
            if kind == "application/x-www-form-urlencoded":
                pairs = parse_qs(text, keep_blank_values=True, max_num_fields=64)
                # A plain HTML form may carry its submit button; nothing else is ignored.
                return {k: v[-1] for k, v in pairs.items() if k not in ("submit", "key")}
            self._json(415, {"error": "send application/json or application/x-www-form-urlencoded"})
            return None

        def _webhook(self) -> None:
            body = self._body(MAX_WEBHOOK_BODY)
            if body is None:
                return
            if not intake.signature_ok(body, self.headers.get("X-Todoist-Hmac-SHA256")):
                if not self._limited():
                    self._json(401, {"error": "bad or missing signature"}, close=True)
                return
            done = intake.webhook(body, self.headers.get("X-Todoist-Delivery-ID"))
            log.debug("intake: Todoist webhook: %s", done)
            self._json(200, {"ok": True, "result": done})

        def _json(
            self,
            status: int,
            data: Mapping[str, object],
            headers: Mapping[str, str] | None = None,
            *,
            close: bool = False,
        ) -> None:
            body = (json.dumps(data, ensure_ascii=False) + "\n").encode("utf-8")
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            if close:
                # The body may be unread (refused before reading): end the connection.
                self.send_header("Connection", "close")
                self.close_connection = True
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            log.debug("intake: " + format, *args)

    return Handler


# --------------------------------------------------------------------------- the shell


@dataclass(frozen=True)
class ShellResult:
    """What ``journey-sync add-lead`` did: the lead as it is now, whether it was new, and
    why it is not in the sheet yet (None once it is)."""

    lead: IntakeLead
    new: bool
    not_written: str | None


def add_lead(
    store: IntakeStore,
    workflow: Workflow,
    workflows: Sequence[Workflow],
    given: Mapping[str, object],
    idempotency_key: str | None,
    sheet: Callable[[], SheetGateway],
    *,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> ShellResult:
    """``POST /leads`` from a shell: the same validation (``Invalid``), the same intake
    file (committed first, so the idempotency key and the 24-hour fingerprint hold across
    both paths) and the same write (RAW, under the last lead, above the footer, with its id).
    ``sheet`` builds the gateway; when it cannot be built or the sheet cannot be written,
    the lead stays pending in the intake file and the daemon's next cycle writes it."""
    intake = Intake(store, workflows, clock=clock)
    accepted = intake.accept(workflow, given, idempotency_key)
    if accepted.lead.written:
        return ShellResult(accepted.lead, accepted.new, None)
    try:
        gateway = sheet()
    except Exception as exc:  # no credentials, a bad key file: the lead is kept anyway
        return ShellResult(accepted.lead, accepted.new, str(exc) or type(exc).__name__)
    intake.write_pending(workflow, gateway)
    lead = store.get(accepted.lead.lead_id) or accepted.lead
    reason = None if lead.written else intake.last_write_error or "not written"
    return ShellResult(lead, accepted.new, reason)


# --------------------------------------------------------------------------- wiring


def open_intake(settings: Settings, workflows: Sequence[Workflow]) -> Intake | None:
    """The daemon's intake: when its port is on, or when leads wait in its file (from
    ``journey-sync add-lead``); else None."""
    path = intake_path(settings.state)
    if settings.intake_port == 0 and not path.exists():
        return None
    if settings.intake_port != 0 and not (
        settings.intake_token or settings.form_keys() or settings.todoist_client_secret
    ):
        raise SettingsError(
            f"JOURNEY_SYNC_INTAKE_PORT={settings.intake_port} turns the intake on, but nothing "
            "may use it: set JOURNEY_SYNC_INTAKE_TOKEN (or _FILE) for POST /leads, "
            "JOURNEY_SYNC_INTAKE_FORM_KEYS for web forms, or TODOIST_CLIENT_SECRET (or "
            "_FILE) for Todoist's webhooks; or set the port to 0."
        )
    try:
        store = IntakeStore(path)
    except sqlite3.Error as exc:
        raise SettingsError(f"the intake file {path} cannot be opened ({exc})") from None
    secret = settings.todoist_client_secret
    return Intake(store, workflows, client_secret=secret.reveal() if secret else None)


def intake_server(intake: Intake, settings: Settings) -> IntakeServer:
    token = settings.intake_token
    access = Access(
        token=token.reveal() if token else None,
        form_keys=settings.form_keys(),
        trusted_proxies=tuple(
            p.strip() for p in settings.intake_trusted_proxies.split(",") if p.strip()
        ),
    )
    try:
        return IntakeServer(
            intake,
            access,
            settings.intake_host,
            settings.intake_port,
            limiter=RateLimiter(settings.intake_rate_per_minute),
        )
    except OSError as exc:
        raise SettingsError(
            f"the intake cannot listen on {settings.intake_host}:{settings.intake_port} "
            f"({exc.strerror}): set JOURNEY_SYNC_INTAKE_PORT to a free port (0 turns it off) "
            "or JOURNEY_SYNC_INTAKE_HOST to an address of this machine."
        ) from None
