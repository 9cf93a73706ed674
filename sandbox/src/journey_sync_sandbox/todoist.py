"""Todoist API v1 state: tasks ("items" in /sync), projects, collaborators, sync tokens.

Shapes come from ``tests/recordings/todoist_*.json``: a sync item has exactly
the keys of ``item_object_example`` (todoist_docs_v1_sync_commands.json); a REST task
adds ``completed_by_uid``, ``note_count`` and ``goal_ids``
(todoist_docs_v1_rest_task_responses.json); ids are opaque 16-character strings like
``6X7rM8997g3RQmvh``.

Behaviour follows the Sync docs (https://developer.todoist.com/api/v1/#tag/Sync):

* a full sync (``sync_token='*'``) lists active items only; an incremental sync lists
  every item changed since the token, completed (``checked``) and deleted
  (``is_deleted``) ones included;
* commands run in order; a failing command does not fail the request (its error
  object goes under its uuid in ``sync_status``); ``temp_id``s of earlier commands
  may be used by later ones;
* a command whose uuid was already executed is not executed again (idempotency); the
  sandbox answers "ok" again, with the same ``temp_id_mapping`` for an add.

The clock (``clock() -> aware datetime``) stamps added/updated/completed times, so a
simulated year can run in seconds.
"""

from __future__ import annotations

import collections
import random
import re
import secrets
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

MAX_COMMANDS = 100  # "The maximum number of commands is 100 per request" (Request limits)
FULL_SYNC = "*"
ID_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"  # base58

SUPPORTED_RESOURCES = ("items", "projects", "collaborators", "user")
# Other documented resource types are accepted and answered empty.
OTHER_RESOURCES = (
    "labels",
    "notes",
    "project_notes",
    "sections",
    "filters",
    "reminders",
    "reminders_location",
    "locations",
    "live_notifications",
    "user_settings",
    "notification_settings",
    "user_plan_limits",
    "completed_info",
    "stats",
    "workspaces",
    "workspace_users",
    "workspace_filters",
    "view_options",
    "project_view_options_defaults",
    "role_actions",
)
# Resource types whose answer key differs from the type's name (docs' full sync example).
_RESPONSE_KEYS = {"notification_settings": "settings_notifications"}
_OBJECT_RESOURCES = {
    "user_settings",
    "notification_settings",
    "user_plan_limits",
    "stats",
    "workspace_users",
    "role_actions",
}


def _utc_now() -> datetime:
    return datetime.now(UTC)


def stamp_micro(moment: datetime) -> str:
    """``2025-01-21T21:28:43.841504Z`` (added_at, completed_at in the docs example)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def stamp_seconds(moment: datetime) -> str:
    """``2025-01-21T21:28:43Z`` (updated_at in the docs example)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class CommandError(Exception):
    """A command Todoist refuses: its error object goes into ``sync_status``."""

    def __init__(
        self,
        error: str,
        error_code: int,
        error_tag: str,
        http_code: int,
        extra: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(error)
        self.body: dict[str, Any] = {
            "error": error,
            "error_code": error_code,
            "error_extra": dict(extra or {}),
            "error_tag": error_tag,
            "http_code": http_code,
        }


class RequestError(Exception):
    """A whole request Todoist refuses (HTTP 4xx with the error object as body)."""

    def __init__(self, status: int, body: Mapping[str, Any]) -> None:
        super().__init__(body.get("error"))
        self.status = status
        self.body = dict(body)


def invalid_argument(argument: str, explanation: str | None = None) -> CommandError:
    extra: dict[str, Any] = {"argument": argument}
    if explanation:
        extra["explanation"] = explanation
    return CommandError("Invalid argument value", 20, "INVALID_ARGUMENT_VALUE", 400, extra)


def missing_argument(argument: str) -> CommandError:
    return CommandError(
        "Required argument is missing", 19, "ARGUMENT_MISSING", 400, {"argument": argument}
    )


def invalid_temp_id() -> CommandError:
    # The docs' sync_status example: {"error_code": 15, "error": "Invalid temporary id"}.
    return CommandError("Invalid temporary id", 15, "INVALID_TEMPID", 400)


def item_not_found() -> CommandError:
    return CommandError("Item not found", 22, "ITEM_NOT_FOUND", 404)


def project_not_found() -> CommandError:
    return CommandError("Project not found", 21, "PROJECT_NOT_FOUND", 404)


# ------------------------------------------------------------------- objects


@dataclass
class Item:
    id: str
    user_id: str
    project_id: str
    content: str
    added_at: datetime
    updated_at: datetime
    description: str = ""
    priority: int = 1
    due: dict[str, Any] | None = None
    deadline: dict[str, Any] | None = None
    parent_id: str | None = None
    child_order: int = 1
    section_id: str | None = None
    day_order: int = -1
    is_collapsed: bool = False
    labels: list[str] = field(default_factory=list)
    added_by_uid: str | None = None
    assigned_by_uid: str | None = None
    responsible_uid: str | None = None
    checked: bool = False
    is_deleted: bool = False
    completed_at: datetime | None = None
    completed_by_uid: str | None = None
    duration: dict[str, Any] | None = None
    seq: int = 0

    def sync_json(self) -> dict[str, Any]:
        """Exactly the keys (and order) of the docs' item object example."""
        return {
            "id": self.id,
            "user_id": self.user_id,
            "project_id": self.project_id,
            "content": self.content,
            "description": self.description,
            "priority": self.priority,
            "due": dict(self.due) if self.due else None,
            "deadline": dict(self.deadline) if self.deadline else None,
            "parent_id": self.parent_id,
            "child_order": self.child_order,
            "section_id": self.section_id,
            "day_order": self.day_order,
            "is_collapsed": self.is_collapsed,
            "labels": list(self.labels),
            "added_by_uid": self.added_by_uid,
            "assigned_by_uid": self.assigned_by_uid,
            "responsible_uid": self.responsible_uid,
            "checked": self.checked,
            "is_deleted": self.is_deleted,
            "added_at": stamp_micro(self.added_at),
            "updated_at": stamp_seconds(self.updated_at),
            "completed_at": stamp_micro(self.completed_at) if self.completed_at else None,
            "duration": dict(self.duration) if self.duration else None,
        }

    def rest_json(self) -> dict[str, Any]:
        """The REST task: the sync keys plus those of the docs' REST sample."""
        out = self.sync_json()
        out["completed_by_uid"] = self.completed_by_uid
        out["note_count"] = 0
        out["goal_ids"] = []
        return out


@dataclass
class Project:
    id: str
    name: str
    created_at: datetime
    updated_at: datetime
    color: str = "charcoal"
    description: str = ""
    parent_id: str | None = None
    child_order: int = 1
    is_collapsed: bool = False
    shared: bool = False
    can_assign_tasks: bool = False
    is_deleted: bool = False
    is_archived: bool = False
    is_favorite: bool = False
    view_style: str = "list"
    inbox_project: bool = False
    seq: int = 0

    def sync_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id,
            "name": self.name,
            "description": self.description,
            "color": self.color,
            "parent_id": self.parent_id,
            "child_order": self.child_order,
            "is_collapsed": self.is_collapsed,
            "shared": self.shared,
            "can_assign_tasks": self.can_assign_tasks,
            "is_deleted": self.is_deleted,
            "is_archived": self.is_archived,
            "is_favorite": self.is_favorite,
            "is_frozen": False,
            "view_style": self.view_style,
            "folder_id": None,
            "created_at": stamp_seconds(self.created_at),
            "updated_at": stamp_seconds(self.updated_at),
        }
        if self.inbox_project:
            out["inbox_project"] = True  # "true or otherwise this property is not sent"
        return out

    def rest_json(self) -> dict[str, Any]:
        """The keys of the SDK's project fixture (todoist_sdk_fixture_task_object.json)."""
        return {
            "id": self.id,
            "name": self.name,
            "description": self.description,
            "parent_id": self.parent_id,
            "folder_id": None,
            "workspace_id": None,
            "child_order": self.child_order,
            "color": self.color,
            "is_shared": self.shared,
            "is_collapsed": self.is_collapsed,
            "is_favorite": self.is_favorite,
            "inbox_project": self.inbox_project,
            "can_assign_tasks": self.can_assign_tasks,
            "is_archived": self.is_archived,
            "view_style": self.view_style,
            "created_at": stamp_micro(self.created_at),
            "updated_at": stamp_micro(self.updated_at),
        }


@dataclass
class Collaborator:
    id: str
    email: str
    full_name: str
    timezone: str = "Europe/London"
    seq: int = 0

    def json(self) -> dict[str, Any]:
        # The docs' collaborator object.
        return {
            "id": self.id,
            "email": self.email,
            "full_name": self.full_name,
            "timezone": self.timezone,
            "image_id": None,
        }


# --------------------------------------------------------------------- dues

_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_TEMP_ID = re.compile(
    r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
)


def _zone(name: Any, argument: str = "due") -> ZoneInfo:
    try:
        return ZoneInfo(str(name))
    except (ZoneInfoNotFoundError, ValueError):
        raise invalid_argument(argument, f"unknown timezone {name!r}") from None


def parse_due(raw: Any, user_timezone: str) -> dict[str, Any] | None:
    """A ``due`` argument as Todoist stores it (todoist_docs_v1_due_date_variants.json).

    ``{"date": "2018-10-14"}`` is a full day; ``{"date": "2018-10-14T10:00:00"}`` a
    floating time; ``{"date": "...Z", "timezone": ...}`` a fixed moment, shown in its
    zone (the user's when none is given). Natural-language ``string`` dues are
    refused: the sandbox does not parse them, and journey-sync never sends them.
    """
    if raw is None:
        return None
    if not isinstance(raw, Mapping):
        raise invalid_argument("due")
    text = raw.get("date")
    if not isinstance(text, str) or not text:
        if raw.get("string"):
            raise invalid_argument("due", "the sandbox does not parse natural-language dues")
        raise invalid_argument("due")
    lang = str(raw.get("lang") or "en")
    # The date text is kept as sent (docs: "2018-10-14T05:00:00.000000Z" comes back as
    # is; the tod capture shows "...T12:00:00Z" without microseconds).
    try:
        if _DAY.match(text):
            date.fromisoformat(text)
            return _due(text, None, raw.get("string") or text, lang)
        if text.endswith("Z"):
            moment = datetime.fromisoformat(text[:-1]).replace(tzinfo=UTC)
            zone_name = raw.get("timezone") or user_timezone
            local = moment.astimezone(_zone(zone_name))
            return _due(
                text, str(zone_name), raw.get("string") or local.strftime("%Y-%m-%d %H:%M"), lang
            )
        naive = datetime.fromisoformat(text)
        if naive.tzinfo is not None:
            raise invalid_argument("due", "use a date ending in Z for a fixed time")
        if raw.get("timezone"):
            # A local time in a named zone is stored as a fixed UTC moment in that zone.
            zone_name = str(raw["timezone"])
            moment = naive.replace(tzinfo=_zone(zone_name)).astimezone(UTC)
            return _due(
                moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
                zone_name,
                raw.get("string") or naive.strftime("%Y-%m-%d %H:%M"),
                lang,
            )
        return _due(text, None, raw.get("string") or naive.strftime("%Y-%m-%d %H:%M"), lang)
    except ValueError:
        raise invalid_argument("due", f"{text!r} is not a date") from None


def _due(day: str, timezone: str | None, string: str, lang: str) -> dict[str, Any]:
    return {
        "date": day,
        "timezone": timezone,
        "string": string,
        "lang": lang,
        # The docs' recurring examples: "every day", "every day at 12", "ev day at 2pm".
        # The sandbox takes the date as sent and only marks such a string recurring.
        "is_recurring": string.strip().casefold().startswith(("every ", "ev ")),
    }


def _next_occurrence(due: dict[str, Any]) -> dict[str, Any]:
    """A recurring due moved to its next date (by the day, week or year its string
    names; else by a month), as Todoist moves a recurring task that is ticked."""
    text = str(due["date"])
    string = str(due.get("string") or "").casefold()
    day_part = text[:10]
    moment = datetime.fromisoformat(day_part)
    if " day" in string:
        moved = moment + timedelta(days=1)
    elif " week" in string:
        moved = moment + timedelta(weeks=1)
    elif " year" in string:
        moved = add_months(moment, 12)
    else:
        moved = add_months(moment, 1)
    return {**due, "date": moved.strftime("%Y-%m-%d") + text[10:]}


def due_from_python(when: date | datetime, timezone: str) -> dict[str, Any]:
    if isinstance(when, datetime):
        if when.tzinfo is None:
            when = when.replace(tzinfo=ZoneInfo(timezone))
        return (
            parse_due(
                {"date": when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"), "timezone": timezone},
                timezone,
            )
            or {}
        )
    return parse_due({"date": when.isoformat()}, timezone) or {}


def add_months(moment: datetime, months: int) -> datetime:
    month = moment.month - 1 + months
    year, month = moment.year + month // 12, month % 12 + 1
    for day in range(moment.day, 27, -1):
        try:
            return moment.replace(year=year, month=month, day=day)
        except ValueError:
            continue
    return moment.replace(year=year, month=month, day=min(moment.day, 28))


# ------------------------------------------------------------------ service


@dataclass
class _Done:
    """A command already executed, remembered by its uuid."""

    mapping: dict[str, str]


class TodoistService:
    """One Todoist account: its API token, user, projects, tasks and collaborators."""

    def __init__(
        self,
        *,
        token: str = "sandbox-todoist-token",
        clock: Callable[[], datetime] = _utc_now,
        seed: int = 0,
        full_name: str = "Studio Owner",
        email: str = "owner@studio.example",
        timezone: str = "Europe/London",
    ) -> None:
        self.lock = threading.RLock()
        self.token = token
        # Tokens an app got through OAuth (``/oauth/access_token``): the same account.
        self.oauth_tokens: set[str] = set()
        # Called under the lock for each item event ("item:added", ...), with the item's
        # sync JSON and, for "item:updated", the item before: the app's webhooks.
        self.listeners: list[Callable[[str, dict[str, Any], dict[str, Any] | None], None]] = []
        self.clock = clock
        self.timezone = timezone
        self._rng = random.Random(seed)
        self._seq = 0
        self._tokens: dict[str, int] = {}
        self._done: dict[str, _Done] = {}
        self.items: dict[str, Item] = {}
        # The activity log's item completions, oldest first (GET /api/v1/activities).
        self.activities: list[dict[str, Any]] = []
        # Items per project (deleted ones too: they stay in ``items``), so that an add
        # finds its child_order without scanning every item (quadratic onboarding).
        self._in_project: collections.Counter[str] = collections.Counter()
        self.projects: dict[str, Project] = {}
        self.collaborators: dict[str, Collaborator] = {}
        self.user_id = str(self._rng.randrange(2_000_000, 9_999_999))
        self.full_name = full_name
        self.email = email
        inbox = self._new_project("Inbox", inbox=True)
        self.inbox_project_id = inbox.id

    # ------------------------------------------------------------ helpers

    def now(self) -> datetime:
        moment = self.clock()
        return moment if moment.tzinfo else moment.replace(tzinfo=UTC)

    def new_id(self) -> str:
        return "6" + "".join(self._rng.choice(ID_ALPHABET) for _ in range(15))

    def _bump(self) -> int:
        self._seq += 1
        return self._seq

    def _touch(self, item: Item) -> None:
        item.updated_at = self.now()
        item.seq = self._bump()

    def token_ok(self, token: str | None) -> bool:
        return token is not None and (token == self.token or token in self.oauth_tokens)

    def _emit(self, event: str, item: Item, old: dict[str, Any] | None = None) -> None:
        if self.listeners:
            data = item.sync_json()
            for listener in self.listeners:
                listener(event, data, old)

    def _before(self, item: Item) -> dict[str, Any] | None:
        """The item as it is, when someone listens (for item:updated's old_item)."""
        return item.sync_json() if self.listeners else None

    def _new_project(
        self, name: str, *, inbox: bool = False, project_id: str | None = None
    ) -> Project:
        now = self.now()
        order = 1 + sum(1 for p in self.projects.values() if not p.inbox_project)
        project = Project(
            id=project_id or self.new_id(),
            name=name,
            created_at=now,
            updated_at=now,
            child_order=0 if inbox else order,
            inbox_project=inbox,
            # Sandbox simplification: the coaches collaborate on every project the
            # account creates (in Todoist someone shares it with them once).
            shared=not inbox and bool(self.collaborators),
            can_assign_tasks=not inbox and bool(self.collaborators),
            seq=self._bump(),
        )
        self.projects[project.id] = project
        return project

    def user_json(self) -> dict[str, Any]:
        zone = ZoneInfo(self.timezone)
        offset = self.now().astimezone(zone).utcoffset() or timedelta()
        minutes = int(offset.total_seconds() // 60)
        sign = "+" if minutes >= 0 else "-"
        hours, rest = divmod(abs(minutes), 60)
        return {
            "id": self.user_id,
            "email": self.email,
            "full_name": self.full_name,
            "inbox_project_id": self.inbox_project_id,
            "lang": "en",
            "is_premium": True,
            "premium_status": "current_personal_plan",
            "start_day": 1,
            "next_week": 1,
            "weekend_start_day": 6,
            "days_off": [6, 7],
            "date_format": 0,
            "time_format": 0,
            "tz_info": {
                "timezone": self.timezone,
                "hours": (1 if minutes >= 0 else -1) * hours,
                "minutes": rest,
                "is_dst": 1 if (self.now().astimezone(zone).dst() or timedelta()) else 0,
                "gmt_string": f"{sign}{hours:02d}:{rest:02d}",
            },
        }

    def _live_item(self, item_id: Any) -> Item:
        item = self.items.get(str(item_id)) if item_id is not None else None
        if item is None or item.is_deleted:
            raise item_not_found()
        return item

    def _live_project(self, project_id: Any) -> Project:
        project = self.projects.get(str(project_id)) if project_id is not None else None
        if project is None or project.is_deleted:
            raise project_not_found()
        return project

    def _check_responsible(self, uid: Any) -> str | None:
        if uid in (None, ""):
            return None
        text = str(uid)
        if text != self.user_id and text not in self.collaborators:
            raise invalid_argument("responsible_uid")
        return text

    # ------------------------------------------------------------- changes

    def create_item(self, args: Mapping[str, Any], *, item_id: str | None = None) -> Item:
        content = args.get("content")
        if not isinstance(content, str) or not content.strip():
            raise missing_argument("content")
        project = self._live_project(args.get("project_id") or self.inbox_project_id)
        priority = args.get("priority", 1)
        if not isinstance(priority, int) or isinstance(priority, bool) or not 1 <= priority <= 4:
            raise invalid_argument("priority")
        labels = args.get("labels") or []
        if not isinstance(labels, list) or not all(isinstance(x, str) for x in labels):
            raise invalid_argument("labels")
        if args.get("auto_parse_labels") is True:
            # Todoist creates labels from "@words" in the content when asked to.
            labels = labels + [m for m in re.findall(r"@(\w+)", content) if m not in labels]
        now = self.now()
        siblings = self._in_project[project.id]
        item = Item(
            id=item_id or self.new_id(),
            user_id=self.user_id,
            project_id=project.id,
            content=content,
            description=str(args.get("description") or ""),
            priority=priority,
            due=parse_due(args.get("due"), self.timezone),
            deadline=_deadline(args.get("deadline")),
            parent_id=args.get("parent_id"),
            section_id=args.get("section_id"),
            child_order=int(args.get("child_order") or siblings + 1),
            labels=list(labels),
            added_by_uid=self.user_id,
            assigned_by_uid=self.user_id,
            responsible_uid=self._check_responsible(args.get("responsible_uid")),
            added_at=now,
            updated_at=now,
            duration=_duration(args.get("duration")),
            seq=self._bump(),
        )
        self.items[item.id] = item
        self._in_project[project.id] += 1
        self._emit("item:added", item)
        return item

    def update_item(self, item: Item, args: Mapping[str, Any]) -> None:
        old = self._before(item)
        if "content" in args:
            content = args["content"]
            if not isinstance(content, str) or not content.strip():
                raise invalid_argument("content")
            item.content = content
        if "description" in args:
            item.description = str(args["description"] or "")
        if "priority" in args:
            priority = args["priority"]
            if not isinstance(priority, int) or not 1 <= priority <= 4:
                raise invalid_argument("priority")
            item.priority = priority
        if "labels" in args:
            labels = args["labels"] or []
            if not isinstance(labels, list):
                raise invalid_argument("labels")
            item.labels = [str(x) for x in labels]
        if "due" in args:
            item.due = parse_due(args["due"], self.timezone)
        if "deadline" in args:
            item.deadline = _deadline(args["deadline"])
        if "duration" in args:
            item.duration = _duration(args["duration"])
        if "responsible_uid" in args:
            item.responsible_uid = self._check_responsible(args["responsible_uid"])
        if "day_order" in args:
            item.day_order = int(args["day_order"])
        if "child_order" in args:
            item.child_order = int(args["child_order"])
        if "is_collapsed" in args:
            item.is_collapsed = bool(args["is_collapsed"])
        self._touch(item)
        self._emit("item:updated", item, old)

    def complete_item(
        self, item: Item, at: datetime | None = None, *, for_good: bool = False
    ) -> None:
        """``item_close`` (a person's tick) or, ``for_good``, ``item_complete``: a recurring
        task ticked moves to its next date and stays open; either way the completion is in
        the activity log."""
        if item.checked:
            return  # closing a completed task changes nothing (sandbox choice)
        self.activities.append(
            {
                "id": str(self._bump()),
                "object_type": "item",
                "object_id": item.id,
                "event_type": "completed",
                "event_date": (at or self.now()).strftime("%Y-%m-%dT%H:%M:%SZ"),
                "parent_project_id": item.project_id,
                "parent_item_id": item.parent_id,
                "initiator_id": self.user_id,
                "extra_data": {
                    "content": item.content,
                    "is_recurring": bool(item.due and item.due.get("is_recurring")),
                },
            }
        )
        if not for_good and item.due and item.due.get("is_recurring"):
            item.due = _next_occurrence(item.due)
            self._touch(item)
            return
        item.checked = True
        item.completed_at = at or self.now()
        item.completed_by_uid = self.user_id
        self._touch(item)
        self._emit("item:completed", item)

    def uncomplete_item(self, item: Item) -> None:
        if not item.checked:
            return
        item.checked = False
        item.completed_at = None
        item.completed_by_uid = None
        self._touch(item)
        self._emit("item:uncompleted", item)

    def delete_item(self, item: Item) -> None:
        for child in [i for i in self.items.values() if i.parent_id == item.id]:
            if not child.is_deleted:
                self.delete_item(child)  # "Delete a task and all its sub-tasks"
        item.is_deleted = True
        self._touch(item)
        self._emit("item:deleted", item)

    def delete_project(self, project: Project) -> None:
        if project.inbox_project:
            raise CommandError(
                "Inbox project can't be deleted", 42, "INBOX_PROJECT_NOT_ALLOWED", 400
            )
        project.is_deleted = True
        project.updated_at = self.now()
        project.seq = self._bump()
        for item in self.items.values():
            if item.project_id == project.id and not item.is_deleted:
                item.is_deleted = True
                self._touch(item)

    # --------------------------------------------------------------- /sync

    def sync(
        self,
        *,
        sync_token: str | None,
        resource_types: Sequence[str] | None,
        commands: Sequence[Any] | None,
    ) -> dict[str, Any]:
        """One /api/v1/sync request: commands first, then the reads asked for."""
        with self.lock:
            if commands is not None and len(commands) > MAX_COMMANDS:
                raise RequestError(
                    400,
                    invalid_argument(
                        "commands", f"at most {MAX_COMMANDS} commands are allowed per request"
                    ).body,
                )
            since: int | None = None
            if resource_types and sync_token not in (None, FULL_SYNC):
                since = self._tokens.get(str(sync_token))
                if since is None:
                    # Undocumented: Todoist's answer to an unknown token. We refuse the
                    # request like any invalid argument (400), so a client has to fall
                    # back to a full sync.
                    raise RequestError(400, invalid_argument("sync_token").body)
            out: dict[str, Any] = {}
            if commands is not None:
                statuses, mapping = self._run(commands)
                out["sync_status"] = statuses
                out["temp_id_mapping"] = mapping
            full = since is None
            if resource_types:
                out.update(self._read(resource_types, since))
            out["full_sync"] = full
            if resource_types and full:
                out["full_sync_date_utc"] = stamp_seconds(self.now())
            if "temp_id_mapping" not in out:
                out["temp_id_mapping"] = {}
            token = secrets.token_urlsafe(45)
            self._tokens[token] = self._seq
            out["sync_token"] = token
            return out

    def _run(self, commands: Sequence[Any]) -> tuple[dict[str, Any], dict[str, str]]:
        statuses: dict[str, Any] = {}
        mapping: dict[str, str] = {}
        for command in commands:
            # Checked before anything runs: a result can only be reported under a uuid.
            if not isinstance(command, Mapping) or not isinstance(command.get("uuid"), str):
                raise RequestError(400, invalid_argument("commands").body)
        for command in commands:
            uuid = command["uuid"]
            done = self._done.get(uuid)
            if done is not None:
                statuses[uuid] = "ok"  # already executed: not run again
                mapping.update(done.mapping)
                continue
            try:
                new = self._execute(command, mapping)
            except CommandError as exc:
                statuses[uuid] = exc.body
                continue
            statuses[uuid] = "ok"
            mapping.update(new)
            self._done[uuid] = _Done(new)
        return statuses, mapping

    def _execute(self, command: Mapping[str, Any], temp: Mapping[str, str]) -> dict[str, str]:
        kind = command.get("type")
        args = command.get("args") or {}
        if not isinstance(args, Mapping):
            raise invalid_argument("args")

        def real(value: Any) -> Any:
            if not isinstance(value, str):
                return value
            if value in temp:
                return temp[value]
            known = value in self.items or value in self.projects
            if not known and _TEMP_ID.match(value):
                raise invalid_temp_id()  # a temp id no earlier command defined
            return value

        temp_id = command.get("temp_id")
        if kind == "item_add":
            resolved = {**args, "project_id": real(args.get("project_id"))}
            if "parent_id" in args:
                resolved["parent_id"] = real(args.get("parent_id"))
            item = self.create_item(resolved)
            return {str(temp_id): item.id} if temp_id else {}
        if kind == "project_add":
            name = args.get("name")
            if not isinstance(name, str) or not name.strip():
                raise missing_argument("name")
            project = self._new_project(name)
            return {str(temp_id): project.id} if temp_id else {}
        if kind == "project_delete":
            self.delete_project(self._live_project(real(args.get("id"))))
            return {}
        item = self._live_item(real(args.get("id")))
        if kind == "item_update":
            self.update_item(item, args)
        elif kind in ("item_close", "item_complete"):
            at = _completion_time(args.get("date_completed")) if kind == "item_complete" else None
            self.complete_item(item, at, for_good=kind == "item_complete")
        elif kind == "item_uncomplete":
            self.uncomplete_item(item)
        elif kind == "item_delete":
            self.delete_item(item)
        elif kind == "item_move":
            old = self._before(item)
            if args.get("project_id"):
                target = self._live_project(real(args["project_id"])).id
                self._in_project[item.project_id] -= 1
                self._in_project[target] += 1
                item.project_id = target
                item.parent_id = None
                item.section_id = None
            elif "parent_id" in args:
                item.parent_id = self._live_item(real(args["parent_id"])).id
            self._touch(item)
            self._emit("item:updated", item, old)
        else:
            raise invalid_argument("type", f"unknown command {kind!r}")
        return {}

    def _read(self, resource_types: Sequence[str], since: int | None) -> dict[str, Any]:
        wanted = _resources(resource_types)
        out: dict[str, Any] = {}
        if "items" in wanted:
            out["items"] = [
                i.sync_json()
                for i in self.items.values()
                if (
                    since is None
                    and not i.checked
                    and not i.is_deleted
                    and not self.projects[i.project_id].is_deleted
                )
                or (since is not None and i.seq > since)
            ]
        if "projects" in wanted:
            out["projects"] = [
                p.sync_json()
                for p in self.projects.values()
                if (since is None and not p.is_deleted and not p.is_archived)
                or (since is not None and p.seq > since)
            ]
        if "collaborators" in wanted:
            changed = [c for c in self.collaborators.values() if since is None or c.seq > since]
            out["collaborators"] = [c.json() for c in changed]
            out["collaborator_states"] = [
                {
                    "project_id": p.id,
                    "user_id": c.id,
                    "state": "active",
                    "is_deleted": False,
                    "role": "READ_WRITE",
                }
                for c in changed
                for p in self.projects.values()
                if p.shared and not p.is_deleted
            ]
        if "user" in wanted and since is None:
            out["user"] = self.user_json()
        for name in wanted - set(SUPPORTED_RESOURCES):
            key = _RESPONSE_KEYS.get(name, name)
            out[key] = {} if name in _OBJECT_RESOURCES else []
        if "items" in wanted:
            out["day_orders"] = {}
        if "live_notifications" in wanted:
            out["live_notifications_last_read_id"] = "0"
        return out

    # ---------------------------------------------------------- Python API

    def add_project(self, name: str, *, project_id: str | None = None) -> str:
        """A project (``project_id`` only to recreate a known id, e.g. a docs example's)."""
        with self.lock:
            return self._new_project(name, project_id=project_id).id

    def project_named(self, name: str) -> dict[str, Any] | None:
        with self.lock:
            for project in self.projects.values():
                if project.name == name and not project.is_deleted:
                    return project.sync_json()
        return None

    def add_collaborator(self, full_name: str, email: str, *, share_all: bool = True) -> str:
        """A person the projects are shared with (e.g. a coach tasks can be assigned to)."""
        with self.lock:
            collaborator = Collaborator(
                id=str(self._rng.randrange(10_000_000, 99_999_999)),
                email=email,
                full_name=full_name,
                timezone=self.timezone,
                seq=self._bump(),
            )
            self.collaborators[collaborator.id] = collaborator
            if share_all:
                for project in self.projects.values():
                    if not project.inbox_project:  # an Inbox cannot be shared
                        project.shared = project.can_assign_tasks = True
                        project.seq = self._bump()
            return collaborator.id

    def list_collaborators(self) -> list[dict[str, Any]]:
        with self.lock:
            return [c.json() for c in self.collaborators.values()]

    def add_task(
        self,
        content: str,
        *,
        project_id: str | None = None,
        description: str = "",
        due: date | datetime | None = None,
        labels: Iterable[str] = (),
        priority: int = 1,
        responsible_uid: str | None = None,
        task_id: str | None = None,
    ) -> str:
        """A task, as a person adds it in the app (``task_id`` only to recreate a known id)."""
        with self.lock:
            args: dict[str, Any] = {
                "content": content,
                "project_id": project_id,
                "description": description,
                "labels": list(labels),
                "priority": priority,
                "responsible_uid": responsible_uid,
            }
            if due is not None:
                args["due"] = due_from_python(due, self.timezone)
            return self.create_item(args, item_id=task_id).id

    def task(self, task_id: str) -> dict[str, Any]:
        with self.lock:
            return self.items[task_id].sync_json()

    def tasks(
        self,
        project_id: str | None = None,
        *,
        include_completed: bool = False,
        include_deleted: bool = False,
    ) -> list[dict[str, Any]]:
        with self.lock:
            return [
                i.sync_json()
                for i in self.items.values()
                if (project_id is None or i.project_id == project_id)
                and (include_completed or not i.checked)
                and (include_deleted or not i.is_deleted)
            ]

    def complete(self, task_id: str, at: datetime | None = None) -> None:
        """Tick a task, as a person in the Todoist app would."""
        with self.lock:
            self.complete_item(self._live_item(task_id), at)

    def uncomplete(self, task_id: str) -> None:
        with self.lock:
            self.uncomplete_item(self._live_item(task_id))

    def delete(self, task_id: str) -> None:
        with self.lock:
            self.delete_item(self._live_item(task_id))

    def assign(self, task_id: str, collaborator_id: str | None) -> None:
        """Make ``collaborator_id`` responsible for a task (None unassigns)."""
        with self.lock:
            item = self._live_item(task_id)
            old = self._before(item)
            item.responsible_uid = self._check_responsible(collaborator_id)
            self._touch(item)
            self._emit("item:updated", item, old)

    def update(self, task_id: str, **fields: Any) -> None:
        with self.lock:
            self.update_item(self._live_item(task_id), fields)


def _resources(resource_types: Sequence[str]) -> set[str]:
    known = set(SUPPORTED_RESOURCES) | set(OTHER_RESOURCES)
    wanted: set[str] = set()
    for name in resource_types:
        if name == "all":
            wanted |= known - {"workspace_users"}  # "not returned in full sync"
        elif name.startswith("-"):
            continue
        elif name in known:
            wanted.add(name)
    for name in resource_types:
        if name.startswith("-"):
            wanted.discard(name[1:])
    return wanted


def _deadline(raw: Any) -> dict[str, Any] | None:
    if raw is None:
        return None
    if not isinstance(raw, Mapping) or not isinstance(raw.get("date"), str):
        raise invalid_argument("deadline")
    try:
        date.fromisoformat(raw["date"])
    except ValueError:
        raise invalid_argument("deadline") from None
    return {"date": raw["date"], "lang": str(raw.get("lang") or "en")}


def _duration(raw: Any) -> dict[str, Any] | None:
    if raw is None:
        return None
    if (
        not isinstance(raw, Mapping)
        or not isinstance(raw.get("amount"), int)
        or raw["amount"] <= 0
        or raw.get("unit") not in ("minute", "day")
    ):
        raise invalid_argument("duration")
    return {"amount": raw["amount"], "unit": raw["unit"]}


def _completion_time(raw: Any) -> datetime | None:
    if raw in (None, ""):
        return None
    try:
        moment = datetime.fromisoformat(str(raw).replace("Z", "+00:00"))
    except ValueError:
        raise invalid_argument("date_completed") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
