"""The Todoist side of journey-sync: ``TaskGateway`` over the Todoist API v1.

Four endpoints, all with the same ``httpx.Client``, the same retry policy and the same
error mapping:

* ``POST /api/v1/sync`` without commands: items, projects and collaborators changed since
  a sync token (``changes``).
* ``POST /api/v1/sync`` with up to 100 commands: adds, closes and deletes in one request
  (``apply``). Every command carries a uuid that Todoist never executes twice, which is
  what makes resending a request (after a timeout, a 5xx or a crash) safe.
* ``GET /api/v1/tasks/completed/by_completion_date``: completions older than the sync
  token, e.g. made while the service was down (``completed``).
* ``GET /api/v1/activities``: the activity log's task completions, only when a recurring
  task's date moved on (a recurring task ticked stays open on its next date and is in no
  completed-task list: ``recurring_completions``).

Why not the SDK's methods: todoist-api-python 4.0.0 does not wrap ``/sync`` at all, its
``get_completed_tasks_by_completion_date`` has no ``project_id`` argument (the API has
one), and its ``Task`` model refuses an object that lacks any of ~20 keys we never read.
Both kinds of answer use the same v1 field names, so one lenient mapping serves both.
Calling the endpoints directly also means ``base_url`` (the sandbox emulator) needs no
URL-rewriting trick: every URL is built from it.

Text sent to Todoist is never parsed: tasks are created with ``item_add`` (never quick
add), due dates are sent as structured ``date``/``timezone`` (never ``due.string``) and
label parsing from the content is switched off.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta, tzinfo
from types import TracebackType
from typing import Any, Final, overload
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import httpx
import msgspec

from ..errors import AccessError, ApiError, ServiceError, SettingsError
from ..ports import (
    MAX_COMMANDS_PER_REQUEST,
    NOT_ACKNOWLEDGED,
    AddProject,
    AddTask,
    CloseTask,
    CommandResult,
    DeleteTask,
    Due,
    MoveTask,
    Project,
    ReopenTask,
    Task,
    TaskChanges,
    TaskCommand,
    UpdateTask,
)
from ..settings import DEFAULT_TODOIST_API_URL, Secret
from .retry import RetryPolicy, RetryStats, TransientFailure
from .sync_stream import MalformedAnswer, SyncSplitter

log = logging.getLogger(__name__)

SERVICE: Final = "Todoist"
SYNC_PATH: Final = "/api/v1/sync"
COMPLETED_PATH: Final = "/api/v1/tasks/completed/by_completion_date"
ACTIVITIES_PATH: Final = "/api/v1/activities"
ACTIVITIES_PAGE_SIZE: Final = 100  # the activity log's maximum `limit`
FULL_SYNC_TOKEN: Final = "*"
RESOURCE_TYPES: Final = ("items", "projects", "collaborators")

# The API refuses a since..until window longer than 3 months on this endpoint (docs; the
# SDK docstring says "up to 3 months"). 89 days fits inside any three calendar months.
COMPLETED_WINDOW: Final = timedelta(days=89)
COMPLETED_PAGE_SIZE: Final = 200  # the API's maximum `limit`

# Same budget as the SDK: Todoist itself cuts requests off after 60 s.
TIMEOUT: Final = httpx.Timeout(connect=10.0, read=60.0, write=60.0, pool=10.0)

TOKEN_REFUSED: Final = (
    "Todoist refused the API token (revoked or mistyped?): copy a fresh token from Todoist "
    "Settings > Integrations > Developer and set TODOIST_API_TOKEN"
)
RATE_LIMITED: Final = "Todoist is rate-limiting journey-sync; the next cycle will try again"
UNAVAILABLE: Final = "Todoist is unavailable; the next cycle will try again"

UNTIL_MARGIN: Final = timedelta(minutes=5)
_EXCERPT_CHARS: Final = 300  # how much of an unexpected body an error keeps


def _new_uuid() -> str:
    return str(uuid.uuid4())


def _utc_now() -> datetime:
    return datetime.now(UTC)


class TodoistGateway:
    """``TaskGateway`` for one Todoist account (one API token).

    ``client`` lets tests (and the daemon) supply a configured ``httpx.Client``; when it
    is omitted the gateway creates one and ``close`` closes it. ``uuid_fn`` makes the
    ``X-Request-Id`` of each request; ``clock`` is "now" for ``completed``.
    """

    def __init__(
        self,
        *,
        token: Secret,
        base_url: str = DEFAULT_TODOIST_API_URL,
        client: httpx.Client | None = None,
        retry: RetryPolicy | None = None,
        stats: RetryStats | None = None,
        uuid_fn: Callable[[], str] = _new_uuid,
        clock: Callable[[], datetime] = _utc_now,
    ) -> None:
        try:
            url = httpx.URL(base_url)
        except httpx.InvalidURL:
            url = httpx.URL()
        if url.scheme not in ("http", "https") or not url.host:
            raise SettingsError(
                f"The Todoist API URL {base_url!r} is not an http(s) URL: set "
                "JOURNEY_SYNC_TODOIST_API_URL to e.g. https://api.todoist.com."
            )
        self._token = token
        self.base_url = base_url.rstrip("/")
        self._owns_client = client is None
        self._client = client if client is not None else httpx.Client(timeout=TIMEOUT)
        self._retry = retry if retry is not None else RetryPolicy()
        self.stats = stats if stats is not None else RetryStats()
        self._uuid_fn = uuid_fn
        self._clock = clock

    # ------------------------------------------------------------------ lifecycle

    def close(self) -> None:
        if self._owns_client:
            self._client.close()

    def __enter__(self) -> TodoistGateway:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"TodoistGateway(base_url={self.base_url!r})"

    # --------------------------------------------------------------- the port

    def changes(
        self, sync_token: str | None, take: Callable[[Task], None] | None = None
    ) -> TaskChanges:
        """Items, projects and collaborators changed since ``sync_token``.

        A token Todoist no longer accepts (expired, from another account, garbage in the
        state database) must not stop the service for good: the gateway then asks for a
        full sync, and the caller stores the fresh token it gets back.

        The answer is read as it arrives (``sync_stream``): with ``take``, each task goes
        to it as soon as its window of the answer is in, and none is kept; without, the
        tasks are kept as their raw JSON, decoded when read.
        """
        token = sync_token or FULL_SYNC_TOKEN
        response = self._request("POST", SYNC_PATH, data=_read_form(token), stream=True)
        if token != FULL_SYNC_TOKEN and _rejects_sync_token(response):
            log.warning(
                "Todoist rejected the stored sync token (HTTP %s: %s); doing a full sync",
                response.status_code,
                _error_text(_body_of(response)) or "no reason given",
            )
            token = FULL_SYNC_TOKEN
            response = self._request("POST", SYNC_PATH, data=_read_form(token), stream=True)
        if not response.is_success:  # its (small) body was read: see ``_request``
            raise _error_for(response)
        try:
            return _read_sync(response, token, take)
        finally:
            response.close()

    def projects(self) -> tuple[Project, ...]:
        """Every project the token sees, archived and deleted ones flagged: one ``/sync``
        read of projects only (``doctor``'s token and project checks)."""
        form = {"sync_token": FULL_SYNC_TOKEN, "resource_types": json.dumps(["projects"])}
        response = self._request("POST", SYNC_PATH, data=form)
        data = self._json_or_raise(response)
        if not isinstance(data.get("projects"), list):
            raise _malformed(response, "a sync answer without a project list")
        return tuple(_project(p) for p in _dicts(data.get("projects")))

    def completed(self, *, project_id: str | None, since: datetime) -> Sequence[Task]:
        """Tasks of ``project_id`` (``None``: of every project) completed from ``since``
        until now, marked ``checked``.

        The window is walked in steps the API accepts, each step page by page. A task
        completed on a step boundary (both ends are inclusive) or a recurring task
        completed several times is listed once, with its latest completion.
        """
        start = _as_utc(since)
        # ``until`` is exclusive and sent in whole seconds; a task completed in the last
        # moments (or by a clock a little ahead of ours) must not fall outside it.
        now = _as_utc(self._clock()) + UNTIL_MARGIN
        found: dict[str, Task] = {}
        while start < now:
            end = min(start + COMPLETED_WINDOW, now)
            for item in self._completed_between(project_id, start, end):
                task = _task(item, checked=True)
                if project_id is not None and task.project_id != project_id:
                    continue  # the API filters by project; this guards against one that doesn't
                seen = found.get(task.id)
                if seen is None or _later(task.completed_at, seen.completed_at):
                    found[task.id] = task
            start = end
        return tuple(found.values())

    def recurring_completions(self, since: datetime) -> Sequence[tuple[str, datetime]]:
        """Every task completion since ``since`` in the activity log (``GET
        /api/v1/activities``, ``object_type=item``, ``event_type=completed``, page by page):
        a recurring task's ticks are there and in no completed-task list."""
        found: list[tuple[str, datetime]] = []
        cursor: str | None = None
        seen_cursors: set[str] = set()
        while True:
            params = {
                "object_type": "item",
                "event_type": "completed",
                "date_from": _api_datetime(_as_utc(since)),
                "limit": str(ACTIVITIES_PAGE_SIZE),
            }
            if cursor:
                params["cursor"] = cursor
            response = self._request("GET", ACTIVITIES_PATH, params=params)
            if response.status_code in (402, 403):
                # A plan without the activity log ("Premium only feature"): the token is
                # fine (the /sync read before this one worked). Ticks of recurring tasks
                # cannot be seen; everything else goes on.
                log.warning(
                    "Todoist refused its activity log (HTTP %s, %s): a recurring journey "
                    "task ticked in Todoist does not write its mark; a plan with the "
                    "activity log (Pro or Business) does",
                    response.status_code,
                    _error_text(_body_of(response)) or "no reason given",
                )
                return tuple(found)
            data = self._json_or_raise(response)
            for event in _dicts(data.get("results")):
                at = _timestamp(event.get("event_date"))
                object_id = event.get("object_id")
                if (
                    at is not None
                    and object_id is not None
                    and event.get("event_type")
                    in (
                        None,
                        "completed",
                    )
                ):
                    found.append((str(object_id), at))
            next_cursor = data.get("next_cursor")
            if not isinstance(next_cursor, str) or not next_cursor:
                return tuple(found)
            if next_cursor in seen_cursors:
                raise _malformed(response, "a page cursor it had already given")
            seen_cursors.add(next_cursor)
            cursor = next_cursor

    def apply(self, commands: Sequence[TaskCommand]) -> Sequence[CommandResult]:
        """Send ``commands`` in one ``/sync`` request; one result per command, in order.

        A command Todoist refuses does not fail the request (HTTP 200, an error object
        under its uuid), so results must be read one by one. A successful add resent
        after a crash is not executed again; its ``new_id`` may then be missing, and the
        caller finds the task again by the lead id and step key in its description.
        """
        if len(commands) > MAX_COMMANDS_PER_REQUEST:
            raise ValueError(
                f"{len(commands)} commands in one request; Todoist accepts at most "
                f"{MAX_COMMANDS_PER_REQUEST}: split them into batches"
            )
        uuids = [c.uuid for c in commands]
        if len(set(uuids)) != len(uuids):
            # sync_status is keyed by uuid: two commands with one uuid cannot be told apart.
            raise ValueError("two commands in one request share a uuid")
        if not commands:
            return ()
        # msgspec writes the same JSON as json.dumps (compact, UTF-8), several times faster:
        # onboarding 10,000 leads sends 1,194 batches of 100 commands.
        form = {"commands": _JSON_ENCODER.encode([_command(c) for c in commands])}
        data = self._json_or_raise(self._request("POST", SYNC_PATH, data=form))
        statuses = data.get("sync_status")
        mapping = data.get("temp_id_mapping")
        statuses = statuses if isinstance(statuses, dict) else {}
        mapping = mapping if isinstance(mapping, dict) else {}
        return tuple(_result(c, statuses.get(c.uuid, _MISSING), mapping) for c in commands)

    # ------------------------------------------------------------------ HTTP

    def _request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        data: Mapping[str, str | bytes] | None = None,
        stream: bool = False,
    ) -> httpx.Response:
        """Send one request with retries; the answer may still be a 429/5xx.

        ``stream``: the answer may be large (the /sync read after onboarding 10,000 leads
        is 80 MB): a successful one is returned unread, for the caller to read as it
        arrives and close; any other is read (and closed) here."""
        headers = {
            "Authorization": f"Bearer {self._token.reveal()}",
            # One id per logical request, kept across retries, so the server can
            # recognise a resend.
            "X-Request-Id": self._uuid_fn(),
            "User-Agent": "journey-sync",
        }
        if data is not None:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        request = self._client.build_request(
            method,
            self.base_url + path,
            params=params,
            content=None if data is None else form_body(data),
            headers=headers,
            timeout=TIMEOUT,
        )

        def send() -> httpx.Response:
            try:
                if not stream:
                    return self._client.send(request)
                response = self._client.send(request, stream=True)
                if not response.is_success:
                    try:  # an error's body is small: read, so it can be looked at
                        response.read()
                    finally:
                        response.close()
                return response
            except httpx.TransportError as exc:  # timeouts, refused connections, resets
                raise TransientFailure(f"{type(exc).__name__}: {exc}") from None

        try:
            return self._retry.run(
                send,
                status_of=lambda r: r.status_code,
                retry_after_of=_retry_after,
                stats=self.stats,
            )
        except TransientFailure as exc:
            raise ServiceError(
                f"Could not reach Todoist at {self.base_url} ({exc}); the next cycle will "
                "try again."
            ) from None

    def _json_or_raise(self, response: httpx.Response) -> dict[str, Any]:
        if not response.is_success:
            raise _error_for(response)
        try:
            data = response.json()
        except ValueError:
            raise _malformed(response, "a body that is not JSON") from None
        if not isinstance(data, dict):
            raise _malformed(response, f"JSON that is not an object ({type(data).__name__})")
        return data

    def _completed_between(
        self, project_id: str | None, since: datetime, until: datetime
    ) -> Iterator[dict[str, Any]]:
        cursor: str | None = None
        seen_cursors: set[str] = set()
        while True:
            params = {
                "since": _api_datetime(since),
                "until": _api_datetime(until),
                "limit": str(COMPLETED_PAGE_SIZE),
            }
            if project_id is not None:
                params["project_id"] = project_id
            if cursor:
                params["cursor"] = cursor
            response = self._request("GET", COMPLETED_PATH, params=params)
            data = self._json_or_raise(response)
            yield from _dicts(data.get("items"))
            next_cursor = data.get("next_cursor")
            if not isinstance(next_cursor, str) or not next_cursor:
                return
            if next_cursor in seen_cursors:
                raise _malformed(response, "a page cursor it had already given")
            seen_cursors.add(next_cursor)
            cursor = next_cursor


# ---------------------------------------------------------------- requests out


_FORM_SAFE: Final = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-~"
# Each unsafe byte's form encoding: "+" for a space, "%XX" for the others.
_FORM_ESCAPES: Final = tuple(b"+" if b == 0x20 else b"%%%02X" % b for b in range(256))
_JSON_ENCODER: Final = msgspec.json.Encoder()


def form_encode(fields: Mapping[str, str]) -> str:
    """``urllib.parse.urlencode(fields)``: the same text (see ``form_body``)."""
    return form_body(fields).decode("ascii")


def form_body(fields: Mapping[str, str | bytes]) -> bytes:
    """``urllib.parse.urlencode(fields).encode()``, made by replacing each distinct unsafe
    byte at once instead of quoting byte by byte in Python: onboarding 10,000 leads sends
    54 MB of commands as form fields (urlencode took 2 s to encode them; replacing the
    unsafe characters of the text 1.4 s; the bytes 0.25 s). A ``bytes`` value is taken as
    UTF-8 text already encoded."""
    return b"&".join(_form_quote(k) + b"=" + _form_quote(v) for k, v in fields.items())


def _form_quote(text: str | bytes) -> bytes:
    data = text.encode("utf-8") if isinstance(text, str) else text
    # The distinct unsafe bytes, found at C speed: drop the safe ones, then each found one.
    rest = data.translate(None, _FORM_SAFE)
    unsafe = []
    while rest:
        unsafe.append(rest[0])
        rest = rest.translate(None, rest[:1])
    # "%" first (every replacement adds one), then "+" (a space becomes one).
    for byte in sorted(unsafe, key=lambda b: (b != 0x25, b != 0x2B)):
        data = data.replace(bytes((byte,)), _FORM_ESCAPES[byte])
    return data


def _read_form(sync_token: str) -> dict[str, str]:
    # Form fields, as in the docs' curl examples; list-valued fields are JSON text.
    return {"sync_token": sync_token, "resource_types": json.dumps(list(RESOURCE_TYPES))}


def _command(command: TaskCommand) -> dict[str, Any]:
    if isinstance(command, AddTask):
        return {
            "type": "item_add",
            "uuid": command.uuid,
            "temp_id": command.temp_id,
            "args": {
                "content": command.content,
                "description": command.description,
                "project_id": command.project_id,
                "due": _due_out(command.due),
                "priority": command.priority,
                "labels": list(command.labels),
                # Content like "Call @Sam" must stay text, not create a label "Sam".
                "auto_parse_labels": False,
            },
        }
    if isinstance(command, AddProject):
        return {
            "type": "project_add",
            "uuid": command.uuid,
            "temp_id": command.temp_id,
            "args": {"name": command.name},
        }
    if isinstance(command, CloseTask):
        # item_close behaves like a person ticking the task (a recurring task moves to its
        # next date instead of vanishing); item_complete completes it for good.
        kind = "item_complete" if command.for_good else "item_close"
        return {"type": kind, "uuid": command.uuid, "args": {"id": command.task_id}}
    if isinstance(command, DeleteTask):
        return {"type": "item_delete", "uuid": command.uuid, "args": {"id": command.task_id}}
    if isinstance(command, ReopenTask):
        return {"type": "item_uncomplete", "uuid": command.uuid, "args": {"id": command.task_id}}
    if isinstance(command, MoveTask):
        return {
            "type": "item_update",
            "uuid": command.uuid,
            "args": {"id": command.task_id, "due": _due_out(command.due)},
        }
    if isinstance(command, UpdateTask):
        args: dict[str, Any] = {"id": command.task_id}
        if command.content is not None:
            args["content"] = command.content
        if command.description is not None:
            args["description"] = command.description
        if command.priority is not None:
            args["priority"] = command.priority
        if command.labels is not None:
            args["labels"] = list(command.labels)
        if command.due is not None:
            args["due"] = _due_out(command.due)
        if command.responsible_uid is not None:
            args["responsible_uid"] = command.responsible_uid
        return {"type": "item_update", "uuid": command.uuid, "args": args}
    raise TypeError(f"not a task command: {command!r}")


def _due_out(due: Due) -> dict[str, str]:
    """A structured due: never ``string``, which Todoist would parse as natural language.

    A whole day is a bare date. A moment is sent as a fixed UTC instant plus the IANA zone
    it belongs to (Todoist's "fixed timezone" due), so it stays at 09:00 local time on
    both sides of a DST change and whatever zone the Todoist user's devices are in.
    """
    if due.at is None:
        return {"date": due.day.isoformat()}
    if due.at.tzinfo is None or due.at.utcoffset() is None:
        raise ValueError(f"Due.at must be timezone-aware, got {due.at.isoformat()}")
    out = {"date": due.at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")}
    zone = due.timezone or getattr(due.at.tzinfo, "key", None)
    if zone:
        out["timezone"] = zone
    return out


def _api_datetime(moment: datetime) -> str:
    # The SDK's format for aware datetimes: UTC, whole seconds, "Z".
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# ---------------------------------------------------------------- answers in

_MISSING: Final = object()


def _result(command: TaskCommand, status: object, mapping: Mapping[str, Any]) -> CommandResult:
    if status == "ok":
        new_id = None
        if isinstance(command, AddTask | AddProject):
            mapped = mapping.get(command.temp_id)
            new_id = str(mapped) if mapped is not None else None
        return CommandResult(uuid=command.uuid, ok=True, new_id=new_id)
    if status is _MISSING:
        return CommandResult(uuid=command.uuid, ok=False, error=NOT_ACKNOWLEDGED)
    if isinstance(status, dict):
        code = status.get("error_code")
        return CommandResult(
            uuid=command.uuid,
            ok=False,
            error=_error_text(status) or json.dumps(status)[:_EXCERPT_CHARS],
            error_code=code if isinstance(code, int) and not isinstance(code, bool) else None,
        )
    return CommandResult(uuid=command.uuid, ok=False, error=str(status)[:_EXCERPT_CHARS])


# ---------------------------------------------------------- the /sync read, typed
#
# A /sync read after onboarding 10,000 leads lists ~120,000 items (81 MB of JSON, about 30
# keys each). Parsing that into dicts (``json.loads``) peaks at ~360 MB and costs more than
# a second; msgspec decodes straight into these structs, skipping every key not declared
# here without building it, in a fraction of the time and memory. The types are as loose
# as the dict path's reading (ids may be numbers, any field may be null or missing): an
# answer that still does not fit (an item that is not an object, a due that is not one)
# is read the old way, so one odd item never hides the others.


class _DueIn(msgspec.Struct, frozen=True):
    date: Any = None
    timezone: Any = None
    is_recurring: Any = None


class _ItemIn(msgspec.Struct):
    id: Any = ""
    project_id: Any = ""
    content: Any = None
    description: Any = None
    checked: Any = None
    is_deleted: Any = None
    due: _DueIn | None = None
    responsible_uid: Any = None
    completed_at: Any = None
    priority: Any = None
    labels: Any = None


class _SyncIn(msgspec.Struct):
    sync_token: Any = None
    full_sync: Any = None
    # No items: ``sync_stream`` hands them on as they arrive and leaves an empty list here
    # (an "items" that is not a list lists no task, as the dict path always read it).
    projects: Any = None
    collaborators: Any = None


_SYNC_DECODER: Final = msgspec.json.Decoder(_SyncIn)
_ITEM_DECODER: Final = msgspec.json.Decoder(_ItemIn)
_ITEMS_DECODER: Final = msgspec.json.Decoder(list[_ItemIn])
_BATCH: Final = 1000
_new_object: Final = object.__new__


def _read_sync(
    response: httpx.Response, token: str, take: Callable[[Task], None] | None
) -> TaskChanges:
    """A successful ``/sync`` read's answer, read as it arrives (``TaskGateway.changes``)."""
    splitter = SyncSplitter(response.iter_bytes())
    kept: list[msgspec.Raw] = []
    dues: dict[_DueIn, Due | None] = {}  # one Due per distinct due, across windows
    try:
        for window in splitter.windows():
            if take is None:
                kept.extend(window)
            else:
                for task in _TaskList(window, dues):
                    take(task)
    except httpx.TransportError as exc:
        raise ServiceError(
            f"Todoist's answer to {SYNC_PATH} was cut off ({type(exc).__name__}: {exc}); "
            "nothing of it was kept, the next cycle will read it again."
        ) from None
    except (MalformedAnswer, httpx.DecodingError) as exc:
        raise _malformed(
            response, f"a body that is not JSON ({exc})", splitter.head.encode()
        ) from None
    rest = splitter.rest
    tasks: Sequence[Task] = _TaskList(kept, dues)
    try:  # the splitter checked the structure; a value may still not be JSON (``tru``)
        typed = _SYNC_DECODER.decode(rest)
    except msgspec.DecodeError as exc:
        raise _malformed(response, f"a body that is not JSON ({exc})", rest) from None
    new_token, full_sync = typed.sync_token, typed.full_sync
    projects, collaborators = typed.projects, typed.collaborators
    if not isinstance(new_token, str) or not new_token:
        raise _malformed(response, "a sync answer without a sync_token", rest)
    # Todoist may answer an old token with a full sync of its own accord; trust it.
    full = bool(token == FULL_SYNC_TOKEN if full_sync is None else full_sync)
    return TaskChanges(
        sync_token=new_token,
        full=full,
        tasks=tasks,
        projects=tuple(_project(p) for p in _dicts(projects)),
        collaborators={
            str(c["id"]): str(c.get("full_name") or c.get("email") or "")
            for c in _dicts(collaborators)
            if "id" in c
        },
        collaborator_emails={
            str(c["id"]): str(c["email"])
            for c in _dicts(collaborators)
            if "id" in c and c.get("email")
        },
    )


class _TaskList(Sequence[Task]):
    """The tasks of a typed /sync answer, each decoded and built when it is read.

    The echo of an onboarding lists 120,000 items: a ``Task`` (and its ``__dict__``) for
    every one of them held at once took 150 MB, their decoded structs as much, for a fold
    that reads each task once and keeps none. Here only the answer's text is held (each
    item a raw view into it); an item is decoded into its declared fields, made a task and
    dropped as the fold reaches it. An item the structs do not fit (not an object, a due
    that is not one) is read alone the lenient way, so one odd item never hides the others.
    Due dates repeat (a journey's steps fall on a few hundred days), so each distinct one
    is read once and its ``Due`` shared. Equal to any sequence of the same tasks.
    """

    __slots__ = ("_dues", "_items")

    def __init__(
        self, items: Sequence[msgspec.Raw], dues: dict[_DueIn, Due | None] | None = None
    ) -> None:
        # Items that are not objects are left out, as the dict path leaves them out.
        self._items = [raw for raw in items if memoryview(raw)[:1].tobytes() == b"{"]
        self._dues: dict[_DueIn, Due | None] = {} if dues is None else dues

    def __len__(self) -> int:
        return len(self._items)

    @overload
    def __getitem__(self, index: int) -> Task: ...

    @overload
    def __getitem__(self, index: slice) -> tuple[Task, ...]: ...

    def __getitem__(self, index: int | slice) -> Task | tuple[Task, ...]:
        if isinstance(index, slice):
            return tuple(self._tasks(self._items[index]))
        return next(self._tasks([self._items[index]]))

    def __iter__(self) -> Iterator[Task]:
        return self._tasks(self._items)

    def _tasks(self, raws: Sequence[msgspec.Raw]) -> Iterator[Task]:
        # A thousand items decoded in one call (one call per item cost a fifth of the
        # fold); a batch holding an odd item is decoded item by item.
        for start in range(0, len(raws), _BATCH):
            batch = raws[start : start + _BATCH]
            try:
                items = _ITEMS_DECODER.decode(b"[" + b",".join(batch) + b"]")
            except msgspec.DecodeError:
                items = None
            if items is not None:
                for item in items:
                    yield self._task(item)
                continue
            for raw in batch:
                try:
                    one = _ITEM_DECODER.decode(raw)
                except msgspec.DecodeError:
                    yield _task(msgspec.json.decode(raw))  # an object: see __init__
                    continue
                yield self._task(one)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Sequence) and not isinstance(other, str | bytes):
            return len(self) == len(other) and all(a == b for a, b in zip(self, other, strict=True))
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]  # like a list: equal to its contents

    def __repr__(self) -> str:
        return f"_TaskList({list(self)!r})"

    def _task(self, item: _ItemIn) -> Task:
        raw = item.due
        if raw is None:
            due = None
        else:
            try:
                due = self._dues[raw]
            except KeyError:
                due = self._dues[raw] = _due_in(
                    {"date": raw.date, "timezone": raw.timezone, "is_recurring": raw.is_recurring}
                )
            except TypeError:  # an unhashable value (a list as the date): read it alone
                due = _due_in(
                    {"date": raw.date, "timezone": raw.timezone, "is_recurring": raw.is_recurring}
                )
        responsible = item.responsible_uid
        labels = item.labels
        priority = item.priority
        completed = item.completed_at
        # ``Task`` is a frozen dataclass: its ``__init__`` sets each of its 11 fields through
        # ``object.__setattr__`` (0.29 s for the 120,000 items of an echo). The same
        # instance, its fields put in its ``__dict__`` at once (0.06 s); equal to one made
        # by ``Task(...)`` (tests/adapters/test_todoist_fast_task.py).
        task: Task = _new_object(Task)
        task.__dict__.update(
            id=str(item.id),
            project_id=str(item.project_id),
            content=str(item.content or ""),
            description=str(item.description or ""),
            checked=bool(item.checked),
            is_deleted=bool(item.is_deleted),
            due=due,
            responsible_uid=str(responsible) if responsible is not None else None,
            completed_at=_timestamp(completed) if completed else None,
            priority=priority
            if isinstance(priority, int) and not isinstance(priority, bool)
            else 1,
            labels=tuple(x for x in labels if isinstance(x, str))
            if isinstance(labels, list) and labels
            else (),
        )
        return task


def _task(item: Mapping[str, Any], *, checked: bool | None = None) -> Task:
    responsible = item.get("responsible_uid")
    return Task(
        id=str(item.get("id", "")),
        project_id=str(item.get("project_id", "")),
        content=str(item.get("content") or ""),
        description=str(item.get("description") or ""),
        checked=bool(item.get("checked")) if checked is None else checked,
        is_deleted=bool(item.get("is_deleted")),
        due=_due_in(item.get("due")),
        responsible_uid=str(responsible) if responsible is not None else None,
        completed_at=_timestamp(item.get("completed_at")),
        priority=_priority(item.get("priority")),
        labels=tuple(str(x) for x in item.get("labels") or () if isinstance(x, str)),
    )


def _priority(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 1


def _project(raw: Mapping[str, Any]) -> Project:
    return Project(
        id=str(raw.get("id", "")),
        name=str(raw.get("name") or ""),
        is_deleted=bool(raw.get("is_deleted")),
        is_archived=bool(raw.get("is_archived")),
    )


def _due_in(raw: object) -> Due | None:
    due = _due_when(raw)
    if due is not None and isinstance(raw, dict) and raw.get("is_recurring") is True:
        return replace(due, recurring=True)
    return due


def _due_when(raw: object) -> Due | None:
    """Read the three kinds of v1 due date.

    ``"2016-12-01"`` is a whole day. ``"2016-12-01T12:00:00.000000"`` (no ``Z``) is a
    floating time: noon wherever the person happens to be, so it has no instant; we keep
    its day. ``"2016-12-06T13:00:00.000000Z"`` with ``timezone`` is a fixed instant, shown
    in that zone; its day is the day in that zone.
    """
    if not isinstance(raw, dict):
        return None
    text = raw.get("date")
    if not isinstance(text, str):
        return None
    zone = _zone(raw.get("timezone"))
    try:
        if "T" not in text:
            return Due(day=date.fromisoformat(text))
        moment = datetime.fromisoformat(text)
    except ValueError:
        # One unreadable date must not hide every other change: keep the task, drop the due.
        log.warning("Ignoring a Todoist due date that cannot be read: %r", text)
        return None
    if moment.tzinfo is None:
        if zone is None:
            return Due(day=moment.date())
        moment = moment.replace(tzinfo=zone)
    local = moment.astimezone(zone or UTC)
    return Due(day=local.date(), at=local, timezone=getattr(zone, "key", None))


def _zone(name: object) -> tzinfo | None:
    if not isinstance(name, str) or not name:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        log.warning("Ignoring an unknown time zone in a Todoist due date: %r", name)
        return None


def _timestamp(raw: object) -> datetime | None:
    if not isinstance(raw, str) or not raw:
        return None
    try:
        return _as_utc(datetime.fromisoformat(raw))
    except ValueError:
        log.warning("Ignoring a Todoist timestamp that cannot be read: %r", raw)
        return None


def _as_utc(moment: datetime) -> datetime:
    # Naive datetimes are taken as UTC, as the API's own timestamps are.
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _later(a: datetime | None, b: datetime | None) -> bool:
    return a is not None and (b is None or a > b)


def _dicts(raw: object) -> list[dict[str, Any]]:
    return [x for x in raw if isinstance(x, dict)] if isinstance(raw, list) else []


# ---------------------------------------------------------------- errors


def _retry_after(response: httpx.Response) -> str | None:
    """Retry-After, or Todoist's ``error_extra.retry_after`` when the header is absent."""
    header: str | None = response.headers.get("Retry-After")
    if header is not None:
        return header
    if response.status_code != 429:
        return None
    body = _body_of(response)
    extra = body.get("error_extra") if isinstance(body, dict) else None
    seconds = extra.get("retry_after") if isinstance(extra, dict) else None
    return str(seconds) if isinstance(seconds, int | float) else None


def _rejects_sync_token(response: httpx.Response) -> bool:
    """Whether an incremental read failed because of the token it sent.

    The read's only variable input is the token (the resource types are constants), so
    any client error that is not about credentials, the URL or the rate limit is taken
    as a rejected token. A full sync then either works or fails with its own error.
    """
    status = response.status_code
    return 400 <= status < 500 and status not in (401, 403, 404, 429)


def _body_of(response: httpx.Response) -> object:
    """The parsed JSON body, or an excerpt of the text when it is not JSON."""
    try:
        return response.json()
    except ValueError:
        return response.text[:_EXCERPT_CHARS]


def _error_text(body: object) -> str | None:
    """Todoist's own words from an error object ``{"error", "error_tag", ...}``."""
    if not isinstance(body, dict) or not body.get("error"):
        return None
    text = str(body["error"])
    tag = body.get("error_tag")
    extra = body.get("error_extra")
    details = [str(tag)] if tag else []
    if isinstance(extra, dict):
        details += [f"{k}: {extra[k]}" for k in ("argument", "explanation") if extra.get(k)]
    return f"{text} ({'; '.join(details)})" if details else text


def _error_for(response: httpx.Response) -> Exception:
    """The error for a non-2xx answer; messages are built from what we know, never by
    echoing the request (its headers carry the token)."""
    status = response.status_code
    body = _body_of(response)
    said = _error_text(body) or (body if isinstance(body, str) and body else None)
    if status in (401, 403):
        return AccessError(TOKEN_REFUSED)
    if status == 404:
        where = response.request.url.copy_with(query=None)
        message = f"{where} was not found ({said or 'no reason given'})"
        if response.request.url.path == SYNC_PATH:
            message += ": check that JOURNEY_SYNC_TODOIST_API_URL points at the Todoist API"
        return ApiError(SERVICE, status, message, body)
    if status == 429:
        return ApiError(SERVICE, status, RATE_LIMITED, body)
    if status >= 500:
        return ApiError(SERVICE, status, UNAVAILABLE, body)
    return ApiError(SERVICE, status, said or "no reason given", body)


def _malformed(response: httpx.Response, what: str, body: bytes | None = None) -> ApiError:
    """``body``: the part of a streamed answer that was kept (it cannot be read again)."""
    text = response.text if body is None else body.decode("utf-8", "replace")
    excerpt = text[:_EXCERPT_CHARS]
    return ApiError(
        SERVICE,
        response.status_code,
        f"Todoist answered {response.request.url.path} with {what}: {excerpt!r}",
        excerpt,
    )
