"""The Todoist emulator's behaviour: idempotency, temp ids, incremental sync, errors."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import pytest

from journey_sync_sandbox.oauth import ServiceAccount
from journey_sync_sandbox.server import Sandbox
from journey_sync_sandbox.todoist import CommandError


def _uuid() -> str:
    return str(uuid.uuid4())


def _sync(
    client: httpx.Client, commands: list[dict[str, Any]] | None = None, **fields: Any
) -> httpx.Response:
    form = {k: json.dumps(v) if isinstance(v, list) else v for k, v in fields.items()}
    if commands is not None:
        form["commands"] = json.dumps(commands)
    return client.post("/sync", data=form)


def _read(client: httpx.Client, token: str) -> dict[str, Any]:
    answer = _sync(client, sync_token=token, resource_types=["items", "projects", "collaborators"])
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def _add(content: str, project: str, *, temp_id: str | None = None, **args: Any) -> dict[str, Any]:
    return {
        "type": "item_add",
        "uuid": _uuid(),
        "temp_id": temp_id or _uuid(),
        "args": {"content": content, "project_id": project, **args},
    }


def test_a_resent_uuid_is_not_executed_twice(sandbox: Sandbox, todoist: httpx.Client) -> None:
    project = sandbox.todoist.add_project("Client journeys")
    command = _add("Contact Ann", project)
    first = _sync(todoist, [command]).json()
    again = _sync(todoist, [command]).json()  # e.g. resent after a timeout
    assert first["sync_status"] == again["sync_status"] == {command["uuid"]: "ok"}
    assert again["temp_id_mapping"] == first["temp_id_mapping"]
    assert [t["content"] for t in sandbox.todoist.tasks(project)] == ["Contact Ann"]
    close = {
        "type": "item_close",
        "uuid": _uuid(),
        "args": {"id": first["temp_id_mapping"][command["temp_id"]]},
    }
    _sync(todoist, [close])
    sandbox.todoist.uncomplete(first["temp_id_mapping"][command["temp_id"]])
    _sync(todoist, [close])  # the same close again: not executed, the task stays open
    assert sandbox.todoist.tasks(project)[0]["checked"] is False


def test_temp_ids_link_commands_of_one_request(sandbox: Sandbox, todoist: httpx.Client) -> None:
    project = {
        "type": "project_add",
        "uuid": _uuid(),
        "temp_id": "p1",
        "args": {"name": "Client journeys"},
    }
    task = _add("Contact Ann", "p1", temp_id="t1", due={"date": "2026-03-02"}, priority=4)
    close = {"type": "item_close", "uuid": _uuid(), "args": {"id": "t1"}}
    body = _sync(todoist, [project, task, close]).json()
    assert set(body["sync_status"].values()) == {"ok"}
    project_id, task_id = body["temp_id_mapping"]["p1"], body["temp_id_mapping"]["t1"]
    item = sandbox.todoist.task(task_id)
    assert item["project_id"] == project_id
    assert item["checked"] is True and item["priority"] == 4
    assert len(task_id) == 16 and task_id.isalnum()


def test_incremental_sync_reports_completed_and_deleted_items(
    sandbox: Sandbox, todoist: httpx.Client
) -> None:
    project = sandbox.todoist.add_project("Client journeys")
    done, gone, kept = (sandbox.todoist.add_task(n, project_id=project) for n in ("a", "b", "c"))
    full = _read(todoist, "*")
    assert full["full_sync"] is True
    assert {i["id"] for i in full["items"]} == {done, gone, kept}
    sandbox.todoist.complete(done)
    sandbox.todoist.delete(gone)
    new = sandbox.todoist.add_task("d", project_id=project)
    changes = _read(todoist, full["sync_token"])
    assert changes["full_sync"] is False
    by_id = {i["id"]: i for i in changes["items"]}
    assert set(by_id) == {done, gone, new}
    assert by_id[done]["checked"] is True and by_id[done]["completed_at"]
    assert by_id[gone]["is_deleted"] is True
    assert by_id[new]["checked"] is False
    quiet = _read(todoist, changes["sync_token"])
    assert quiet["items"] == [] and quiet["projects"] == [] and quiet["collaborators"] == []
    again = _read(todoist, "*")  # a full sync lists active items only
    assert {i["id"] for i in again["items"]} == {kept, new}
    assert _read(todoist, full["sync_token"])["items"] == changes["items"]  # tokens stay valid


def test_an_unknown_sync_token_is_refused(todoist: httpx.Client) -> None:
    answer = _sync(todoist, sync_token="not-a-token", resource_types=["items"])
    assert answer.status_code == 400
    body = answer.json()
    assert body["error_tag"] == "INVALID_ARGUMENT_VALUE"
    assert body["error_extra"]["argument"] == "sync_token"
    assert set(body) == {"error", "error_code", "error_extra", "error_tag", "http_code"}


def test_at_most_100_commands_per_request(sandbox: Sandbox, todoist: httpx.Client) -> None:
    project = sandbox.todoist.add_project("P")
    hundred = [_add(f"t{n}", project) for n in range(100)]
    assert _sync(todoist, hundred).status_code == 200
    refused = _sync(
        todoist, [*[_add(f"u{n}", project) for n in range(100)], _add("one more", project)]
    )
    assert refused.status_code == 400
    assert refused.json()["error_extra"]["argument"] == "commands"
    assert len(sandbox.todoist.tasks(project)) == 100  # nothing of the refused request ran


def test_wrong_or_missing_token_gets_401(sandbox: Sandbox) -> None:
    for headers in ({}, {"Authorization": "Bearer wrong"}):
        answer = httpx.post(f"{sandbox.url}/api/v1/sync", data={"sync_token": "*"}, headers=headers)
        assert answer.status_code == 401
        body = answer.json()
        assert body["http_code"] == 401 and body["error_tag"] == "AUTH_INVALID_TOKEN"
        assert set(body) == {"error", "error_code", "error_extra", "error_tag", "http_code"}


def test_failed_commands_report_errors_without_failing_the_request(
    sandbox: Sandbox, todoist: httpx.Client
) -> None:
    missing = {"type": "item_close", "uuid": _uuid(), "args": {"id": "6XXXXXXXXXXXXXXX"}}
    no_project = _add("x", "6YYYYYYYYYYYYYYY")
    natural = _add("x", sandbox.todoist.inbox_project_id, due={"string": "tomorrow at 10"})
    body = _sync(todoist, [missing, no_project, natural]).json()
    assert body["sync_status"][missing["uuid"]] == {
        "error": "Item not found",
        "error_code": 22,
        "error_extra": {},
        "error_tag": "ITEM_NOT_FOUND",
        "http_code": 404,
    }
    assert body["sync_status"][no_project["uuid"]]["error_tag"] == "PROJECT_NOT_FOUND"
    assert body["sync_status"][natural["uuid"]]["error_extra"]["argument"] == "due"
    # A failed command may be sent again (only executed uuids are remembered).
    sandbox.todoist.add_task("exists", task_id="6XXXXXXXXXXXXXXX")
    assert _sync(todoist, [missing]).json()["sync_status"][missing["uuid"]] == "ok"


def test_json_body_like_the_typescript_sdk(sandbox: Sandbox, todoist: httpx.Client) -> None:
    command = _add("From JSON", sandbox.todoist.inbox_project_id)
    answer = todoist.post(
        "/sync",
        json={"commands": [command], "resource_types": ["items"], "sync_token": "*"},
    )
    body = answer.json()
    assert body["sync_status"] == {command["uuid"]: "ok"}
    assert [i["content"] for i in body["items"]] == ["From JSON"]


def test_timed_due_keeps_the_zone_and_clock_stamps_changes(account: ServiceAccount) -> None:
    moments = iter([datetime(2026, 3, 1, 9, 0, tzinfo=UTC) + timedelta(hours=h) for h in range(50)])
    with (
        Sandbox(clock=lambda: next(moments), service_account=account) as sandbox,
        httpx.Client(
            base_url=sandbox.url + "/api/v1",
            headers={"Authorization": f"Bearer {sandbox.todoist.token}"},
        ) as client,
    ):
        command = _add(
            "Hold the meeting",
            sandbox.todoist.inbox_project_id,
            due={"date": "2026-03-30T09:00:00Z", "timezone": "Europe/London"},
        )
        task_id = _sync(client, [command]).json()["temp_id_mapping"][command["temp_id"]]
        item = sandbox.todoist.task(task_id)
        assert item["due"] == {
            "date": "2026-03-30T09:00:00Z",
            "timezone": "Europe/London",
            "string": "2026-03-30 10:00",  # British Summer Time began on 29 March
            "lang": "en",
            "is_recurring": False,
        }
        sandbox.todoist.complete(task_id)
        item = sandbox.todoist.task(task_id)
        assert item["added_at"].startswith("2026-03-01T")
        assert item["completed_at"] > item["added_at"]
        assert item["updated_at"].endswith("Z") and "." not in item["updated_at"]


def test_collaborators_and_assignment_show_in_sync(sandbox: Sandbox, todoist: httpx.Client) -> None:
    coach = sandbox.todoist.add_collaborator("Sam Carter", "sam@studio.example")
    project = sandbox.todoist.add_project("Client journeys")
    task = sandbox.todoist.add_task(
        "Refer Ann to a coach", project_id=project, due=date(2026, 3, 2)
    )
    full = _read(todoist, "*")
    assert {c["full_name"] for c in full["collaborators"]} == {"Sam Carter"}
    assert set(full["collaborators"][0]) == {"id", "email", "full_name", "timezone", "image_id"}
    sandbox.todoist.assign(task, coach)
    changes = _read(todoist, full["sync_token"])
    assert [(i["id"], i["responsible_uid"]) for i in changes["items"]] == [(task, coach)]
    with pytest.raises(CommandError, match="Invalid argument"):
        sandbox.todoist.assign(task, "12345")  # not a collaborator


def test_deleting_a_project_deletes_its_tasks(sandbox: Sandbox, todoist: httpx.Client) -> None:
    project = sandbox.todoist.add_project("Old")
    task = sandbox.todoist.add_task("t", project_id=project)
    token = _read(todoist, "*")["sync_token"]
    body = _sync(
        todoist, [{"type": "project_delete", "uuid": _uuid(), "args": {"id": project}}]
    ).json()
    assert list(body["sync_status"].values()) == ["ok"]
    changes = _read(todoist, token)
    assert [p["is_deleted"] for p in changes["projects"]] == [True]
    assert [(i["id"], i["is_deleted"]) for i in changes["items"]] == [(task, True)]
