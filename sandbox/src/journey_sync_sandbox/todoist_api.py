"""Todoist API v1 over HTTP: ``/api/v1/sync`` and the REST task/project routes.

Request and answer shapes: todoist_docs_v1_sync_commands.json (sync),
todoist_sdk_fixture_get_tasks_paginated.json and todoist_docs_v1_rest_task_responses.json
(REST lists ``{results, next_cursor}``), todoist_sdk_fixture_completed_by_completion_date.json
(``{items, next_cursor}``), todoist_docs_v1_error_responses.json (error bodies, the
cursor and limit refusals).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from .errors import todoist_error
from .todoist import (
    CommandError,
    Item,
    RequestError,
    TodoistService,
    add_months,
    invalid_argument,
    missing_argument,
)
from .web import BadBody, Request, Response

DEFAULT_LIMIT = 50
MAX_LIMIT = 200  # "If you specify a limit greater than 200, the API will return a validation error"
COMPLETED_WINDOW_MONTHS = 3  # by_completion_date: "completion-date window max 3 months"


class _Refusal(Exception):
    def __init__(self, response: Response) -> None:
        self.response = response


def _from_command_error(exc: CommandError) -> _Refusal:
    body = exc.body
    return _Refusal(
        todoist_error(
            int(body["http_code"]),
            error=body["error"],
            error_code=body["error_code"],
            error_tag=body["error_tag"],
            extra=body["error_extra"],
        )
    )


def _task_not_found() -> _Refusal:
    # The documented REST error example (todoist_docs_v1_error_responses.json).
    return _Refusal(
        todoist_error(
            404,
            error="Task not found",
            error_code=478,
            error_tag="NOT_FOUND",
            extra={"retry_after": 3},
        )
    )


class TodoistApi:
    """Request -> Response for everything under ``/api/v1``."""

    def __init__(self, service: TodoistService) -> None:
        self.service = service
        self._cursor_key = secrets.token_bytes(16)

    def handle(self, request: Request) -> Response:
        if not self.service.token_ok(request.bearer()):
            # A wrong or missing token: Todoist's error object, status 401.
            return todoist_error(401, extra={"access_type": "access_token"})
        segments = request.segments()
        if segments[:2] != ["api", "v1"]:
            return todoist_error(404, error="Not found")
        route = segments[2:]
        try:
            with self.service.lock:
                return self._route(request, route)
        except _Refusal as refusal:
            return refusal.response
        except RequestError as exc:
            return Response.json(
                exc.status, exc.body, {"Content-Type": "application/json"}, compact=True
            )
        except CommandError as exc:
            return _from_command_error(exc).response
        except BadBody:
            return todoist_error(400, extra={"argument": "body"})

    def _route(self, request: Request, route: list[str]) -> Response:
        verb = request.method
        if route == ["sync"]:
            if verb != "POST":
                # "GET was removed, this endpoint only accepts POST requests in v1"
                return todoist_error(
                    405, error="Method not allowed", error_tag="METHOD_NOT_ALLOWED"
                )
            return self._sync(request)
        if route == ["tasks"]:
            if verb == "GET":
                return self._list_tasks(request)
            if verb == "POST":
                return self._create_task(request)
        if route == ["tasks", "completed", "by_completion_date"] and verb == "GET":
            return self._completed(request)
        if route == ["activities"] and verb == "GET":
            return self._activities(request)
        if route == ["projects"] and verb == "GET":
            return self._list_projects(request)
        if len(route) == 2 and route[0] == "projects" and verb == "GET":
            project = self.service.projects.get(route[1])
            if project is None or project.is_deleted:
                raise _Refusal(todoist_error(404, error="Project not found"))
            return _json(project.rest_json())
        if len(route) in (2, 3) and route[0] == "tasks":
            item = self.service.items.get(route[1])
            if item is None or item.is_deleted:
                raise _task_not_found()
            action = route[2] if len(route) == 3 else None
            if action is None and verb == "GET":
                return _json(item.rest_json())
            if action is None and verb == "POST":
                self.service.update_item(item, _rest_args(_json_body(request)))
                return _json(item.rest_json())
            if action is None and verb == "DELETE":
                self.service.delete_item(item)
                return Response.empty(204)
            # The SDK's tests mock 204 No Content for these (todoist_sdk_request_shapes_tasks_write.json).
            if action == "close" and verb == "POST":
                self.service.complete_item(item)
                return Response.empty(204)
            if action == "reopen" and verb == "POST":
                self.service.uncomplete_item(item)
                return Response.empty(204)
        return todoist_error(404, error="Not found")

    # ------------------------------------------------------------------ sync

    def _sync(self, request: Request) -> Response:
        """Form fields as in the docs' curl examples, or a JSON body as the TS SDK sends."""
        if request.is_form() or not request.body.strip().startswith(b"{"):
            fields: Mapping[str, Any] = request.form()
        else:
            body = request.json()
            if not isinstance(body, Mapping):
                raise RequestError(400, invalid_argument("body").body)
            fields = body
        commands = _json_field(fields.get("commands"), "commands")
        resource_types = _json_field(fields.get("resource_types"), "resource_types")
        if commands is not None and not isinstance(commands, list):
            raise RequestError(400, invalid_argument("commands").body)
        if resource_types is not None and (
            not isinstance(resource_types, list)
            or not all(isinstance(x, str) for x in resource_types)
        ):
            raise RequestError(400, invalid_argument("resource_types").body)
        token = fields.get("sync_token")
        out = self.service.sync(
            sync_token=None if token is None else str(token),
            resource_types=resource_types,
            commands=commands,
        )
        return _json(out)

    # ------------------------------------------------------------------ REST

    def _list_tasks(self, request: Request) -> Response:
        filters = {k: request.param(k) for k in ("project_id", "section_id", "parent_id", "label")}
        ids = set((request.param("ids") or "").split(",")) - {""}
        items = [
            i
            for i in self.service.items.values()
            if not i.checked
            and not i.is_deleted
            and not self.service.projects[i.project_id].is_deleted
            and (filters["project_id"] is None or i.project_id == filters["project_id"])
            and (filters["section_id"] is None or i.section_id == filters["section_id"])
            and (filters["parent_id"] is None or i.parent_id == filters["parent_id"])
            and (filters["label"] is None or filters["label"] in i.labels)
            and (not ids or i.id in ids)
        ]
        page, cursor = self._page(request, [i.rest_json() for i in items], "tasks")
        return _json({"results": page, "next_cursor": cursor})

    def _list_projects(self, request: Request) -> Response:
        projects = [p.rest_json() for p in self.service.projects.values() if not p.is_deleted]
        page, cursor = self._page(request, projects, "projects")
        return _json({"results": page, "next_cursor": cursor})

    def _completed(self, request: Request) -> Response:
        since = _moment(request.param("since"), "since")
        until = _moment(request.param("until"), "until")
        if until > add_months(since, COMPLETED_WINDOW_MONTHS):
            raise _from_command_error(
                invalid_argument("until", "the period between since and until is over 3 months")
            )
        filters = {k: request.param(k) for k in ("project_id", "section_id", "parent_id")}
        done: list[Item] = [
            i
            for i in self.service.items.values()
            if i.checked
            and not i.is_deleted
            and i.completed_at is not None
            and since <= i.completed_at < until  # since inclusive, until exclusive (docs)
            and (filters["project_id"] is None or i.project_id == filters["project_id"])
            and (filters["section_id"] is None or i.section_id == filters["section_id"])
            and (filters["parent_id"] is None or i.parent_id == filters["parent_id"])
        ]
        done.sort(key=lambda i: i.completed_at or since, reverse=True)  # newest first
        page, cursor = self._page(request, [i.rest_json() for i in done], "completed")
        return _json({"items": page, "next_cursor": cursor})

    def _activities(self, request: Request) -> Response:
        """The activity log (newest first), filtered by object type, event type and
        date_from/date_to; only item completions are kept by the sandbox."""
        date_from, date_to = request.param("date_from"), request.param("date_to")
        since = _moment(date_from, "date_from") if date_from else None
        until = _moment(date_to, "date_to") if date_to else None
        wanted = {k: request.param(k) for k in ("object_type", "event_type", "object_id")}
        events = [
            e
            for e in reversed(self.service.activities)
            if all(v is None or str(e.get(k)) == v for k, v in wanted.items())
            and (since is None or _moment(e["event_date"], "event_date") >= since)
            and (until is None or _moment(e["event_date"], "event_date") < until)
        ]
        page, cursor = self._page(request, events, "activities")
        return _json({"results": page, "next_cursor": cursor})

    def _create_task(self, request: Request) -> Response:
        body = _json_body(request)
        args = _rest_args(body)
        if "content" not in args:
            raise _from_command_error(missing_argument("content"))
        item = self.service.create_item(args)
        return _json(item.rest_json())

    # ------------------------------------------------------------ pagination

    def _page(
        self, request: Request, rows: Sequence[dict[str, Any]], kind: str
    ) -> tuple[list[dict[str, Any]], str | None]:
        raw_limit = request.param("limit")
        try:
            limit = DEFAULT_LIMIT if raw_limit in (None, "") else int(str(raw_limit))
        except ValueError:
            raise _from_command_error(invalid_argument("limit")) from None
        if limit > MAX_LIMIT:
            raise _Refusal(
                todoist_error(
                    400,
                    extra={
                        "argument": "limit",
                        "expected": "Input should be less than or equal to 200",
                    },
                )
            )
        if limit < 1:
            raise _Refusal(
                todoist_error(
                    400,
                    extra={"argument": "limit", "expected": "Input should be greater than 0"},
                )
            )
        scope = _scope(request, kind)
        offset = 0
        cursor = request.param("cursor")
        if cursor:
            offset = self._read_cursor(cursor, scope)
        page = list(rows[offset : offset + limit])
        following = offset + limit
        return page, self._make_cursor(following, scope) if following < len(rows) else None

    def _make_cursor(self, offset: int, scope: str) -> str:
        payload = base64.urlsafe_b64encode(json.dumps([offset, scope]).encode()).decode()
        sig = hmac.new(self._cursor_key, payload.encode(), hashlib.sha256).digest()[:12]
        return payload.rstrip("=") + "." + base64.urlsafe_b64encode(sig).decode().rstrip("=")

    def _read_cursor(self, cursor: str, scope: str) -> int:
        # Cursors are opaque and bound to the request's parameters: a tampered cursor or
        # one from another query is the documented "Invalid argument value" (cursor).
        refusal = _Refusal(todoist_error(400, extra={"argument": "cursor"}))
        payload, _, sig = cursor.partition(".")
        try:
            expected = hmac.new(
                self._cursor_key, _padded(payload).encode(), hashlib.sha256
            ).digest()[:12]
            given = base64.urlsafe_b64decode(_padded(sig))
            if not hmac.compare_digest(expected, given):
                raise refusal
            offset, bound = json.loads(base64.urlsafe_b64decode(_padded(payload)))
        except (ValueError, TypeError):
            raise refusal from None
        if bound != scope or not isinstance(offset, int) or offset < 0:
            raise refusal
        return offset


# ------------------------------------------------------------------ helpers


def _json(data: Any) -> Response:
    return Response.json(200, data, {"Content-Type": "application/json"}, compact=True)


def _padded(text: str) -> str:
    return text + "=" * (-len(text) % 4)


def _scope(request: Request, kind: str) -> str:
    keys = sorted(k for k in request.query if k not in ("cursor", "limit"))
    return kind + "?" + "&".join(f"{k}={request.param(k)}" for k in keys)


def _json_field(value: Any, name: str) -> Any:
    """Form fields carry JSON text; a JSON body may carry the array itself."""
    if value is None or not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except json.JSONDecodeError:
        raise RequestError(400, invalid_argument(name).body) from None


def _json_body(request: Request) -> Mapping[str, Any]:
    body = request.json()
    if body is None:
        return {}
    if not isinstance(body, Mapping):
        raise RequestError(400, invalid_argument("body").body)
    return body


def _moment(raw: str | None, name: str) -> datetime:
    if not raw:
        raise _from_command_error(missing_argument(name))
    try:
        moment = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise _from_command_error(invalid_argument(name)) from None
    # The SDK sends naive datetimes for UTC ("2024-03-01T00:00:00").
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


_REST_RENAMES: dict[str, str] = {
    "assignee_id": "responsible_uid",
    "order": "child_order",
}
_REST_DIRECT = (
    "content",
    "description",
    "project_id",
    "section_id",
    "parent_id",
    "labels",
    "priority",
    "child_order",
    "day_order",
    "is_collapsed",
)


def _rest_args(body: Mapping[str, Any]) -> dict[str, Any]:
    """REST task fields (flat ``due_date``/``due_datetime``) as sync command args."""
    args: dict[str, Any] = {k: body[k] for k in _REST_DIRECT if k in body}
    for rest_name, sync_name in _REST_RENAMES.items():
        if rest_name in body:
            args[sync_name] = body[rest_name]
    if body.get("due_string"):
        raise invalid_argument("due_string", "the sandbox does not parse natural-language dues")
    if body.get("due_datetime"):
        args["due"] = {"date": body["due_datetime"]}
    elif body.get("due_date"):
        args["due"] = {"date": body["due_date"]}
    if body.get("deadline_date"):
        args["deadline"] = {"date": body["deadline_date"]}
    if body.get("duration") is not None:
        args["duration"] = {"amount": body["duration"], "unit": body.get("duration_unit", "minute")}
    return args
