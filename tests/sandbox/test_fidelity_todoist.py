"""The Todoist emulator against Todoist's documented examples and the SDK's fixtures.

No live Todoist v1 traffic is public (SOURCES.md), so fidelity here means: the docs'
request examples are accepted and answered in the docs' shape; objects carry exactly
the documented keys; the official SDK (todoist-api-python 4.0.0) reads the sandbox's
answers with its own models and pagination.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from todoist_api_python.api import TodoistAPI
from todoist_api_python.models import Task

from journey_sync_sandbox.server import Sandbox
from journey_sync_sandbox.todoist import TodoistService
from support.recordings import RECORDINGS


def _load(name: str) -> dict[str, Any]:
    return dict(json.loads((RECORDINGS / name).read_text("utf-8")))


SYNC_DOCS = _load("todoist_docs_v1_sync_commands.json")
ERROR_DOCS = _load("todoist_docs_v1_error_responses.json")
REST_DOCS = _load("todoist_docs_v1_rest_task_responses.json")
DUE_DOCS = _load("todoist_docs_v1_due_date_variants.json")
SDK_TASKS = _load("todoist_sdk_fixture_get_tasks_paginated.json")
SDK_COMPLETED = _load("todoist_sdk_fixture_completed_by_completion_date.json")
SDK_OBJECTS = _load("todoist_sdk_fixture_task_object.json")
ITEM_KEYS = list(SYNC_DOCS["item_object_example"])
REST_TASK_KEYS = set(REST_DOCS["exchanges"][0]["response"]["json"])


def _exchange(name: str) -> dict[str, Any]:
    return next(e for e in SYNC_DOCS["exchanges"] if e["name"] == name)


def _sync_form(commands: list[dict[str, Any]], **fields: str) -> dict[str, str]:
    return {"commands": json.dumps(commands), **fields}


def _types(data: Any) -> Any:
    """The JSON shape: keys and value types, recursively."""
    if isinstance(data, dict):
        return {k: _types(v) for k, v in data.items()}
    if isinstance(data, list):
        return [_types(v) for v in data[:1]]
    if isinstance(data, bool):
        return "bool"
    if isinstance(data, int | float):
        return "number"
    return type(data).__name__


# --------------------------------------------------------------------- /sync


def test_docs_project_add_answer_has_the_documented_minimal_shape(
    sandbox: Sandbox, todoist: httpx.Client
) -> None:
    exchange = _exchange("project_add (full response shown in docs)")
    command = exchange["request_form"]["commands"][0]
    answer = todoist.post("/sync", data=_sync_form([command]))
    assert answer.status_code == 200
    body = answer.json()
    documented = exchange["response_json"]
    assert set(documented) <= set(body)
    assert body["sync_status"] == {command["uuid"]: "ok"}
    new_id = body["temp_id_mapping"][command["temp_id"]]
    assert isinstance(new_id, str) and len(new_id) == len(
        documented["temp_id_mapping"][command["temp_id"]]
    )
    assert isinstance(body["sync_token"], str) and body["sync_token"]
    assert sandbox.todoist.projects[new_id].name == "Shopping List"


def test_docs_item_add_into_an_existing_project(sandbox: Sandbox, todoist: httpx.Client) -> None:
    exchange = _exchange("item_add")
    command = exchange["request_form"]["commands"][0]
    sandbox.todoist.add_project("Groceries", project_id=command["args"]["project_id"])
    body = todoist.post("/sync", data=_sync_form([command])).json()
    assert body["sync_status"] == exchange["response_json_partial"]["sync_status"]
    task_id = body["temp_id_mapping"][command["temp_id"]]
    item = sandbox.todoist.task(task_id)
    assert list(item) == ITEM_KEYS  # the docs' item object, key for key
    assert _types({k: item[k] for k in ITEM_KEYS if item[k] is not None}) == _types(
        {k: v for k, v in SYNC_DOCS["item_object_example"].items() if item[k] is not None}
    )
    assert item["labels"] == ["Food", "Shopping"]


def test_docs_batch_project_and_items_by_temp_id(sandbox: Sandbox, todoist: httpx.Client) -> None:
    exchange = _exchange("batch: project_add + 3x item_add referencing the project's temp_id")
    commands = exchange["request_form"]["commands"]
    body = todoist.post("/sync", data=_sync_form(commands)).json()
    documented = exchange["response_json"]
    assert body["sync_status"] == documented["sync_status"]
    assert set(body["temp_id_mapping"]) == set(documented["temp_id_mapping"])
    assert body["full_sync"] is documented["full_sync"]
    project_id = body["temp_id_mapping"][commands[0]["temp_id"]]
    contents = {t["content"] for t in sandbox.todoist.tasks(project_id)}
    assert contents == {"Buy Milk", "Buy Coffee", "Buy Sugar"}


@pytest.mark.parametrize(
    "name", ["item_move", "item_delete", "item_complete", "item_uncomplete", "item_close"]
)
def test_docs_item_commands_on_the_tasks_they_name(
    sandbox: Sandbox, todoist: httpx.Client, name: str
) -> None:
    """The docs' examples address tasks that exist; the sandbox recreates them first."""
    exchange = _exchange(name)
    command = exchange["request_form"]["commands"][0]
    args = command["args"]
    sandbox.todoist.add_task("a task", task_id=args["id"])
    if "parent_id" in args:
        sandbox.todoist.add_task("a parent", task_id=args["parent_id"])
    if name == "item_uncomplete":
        sandbox.todoist.complete(args["id"])
    body = todoist.post("/sync", data=_sync_form([command])).json()
    assert body["sync_status"] == exchange["response_json_partial"]["sync_status"]
    item = sandbox.todoist.items[args["id"]]
    expected_state = {
        "item_move": item.parent_id == args.get("parent_id"),
        "item_delete": item.is_deleted,
        "item_complete": item.checked and item.completed_at == datetime(2017, 1, 2, 1, tzinfo=UTC),
        "item_uncomplete": not item.checked and item.completed_at is None,
        "item_close": item.checked,
    }
    assert expected_state[name]


def test_docs_sync_error_shapes(sandbox: Sandbox, todoist: httpx.Client) -> None:
    """sync_status errors: the documented invalid temp id, and the full error object."""
    documented = ERROR_DOCS["sync_status_mixed"]["sync_status"]
    ok_uuid, bad_uuid = list(documented)
    commands = [
        {"type": "project_add", "temp_id": "tmp-1", "uuid": ok_uuid, "args": {"name": "A"}},
        {
            "type": "item_add",
            "temp_id": "tmp-2",
            "uuid": bad_uuid,
            "args": {"content": "x", "project_id": "0a57a3db-2ff1-4d2d-adf6-12490c13c712"},
        },
    ]
    body = todoist.post("/sync", data=_sync_form(commands)).json()
    assert body["sync_status"][ok_uuid] == "ok"
    error = body["sync_status"][bad_uuid]
    assert {k: error[k] for k in documented[bad_uuid]} == documented[bad_uuid]
    full = ERROR_DOCS["sync_status_error_with_extra"]["sync_status"]
    assert set(error) == set(next(iter(full.values())))


def test_full_sync_response_carries_the_documented_fields(todoist: httpx.Client) -> None:
    body = todoist.post("/sync", data={"sync_token": "*", "resource_types": '["all"]'}).json()
    skeleton = _exchange("read resources (full sync)")["response_json_skeleton"]
    # "The workspace_users resource type will not be returned in full sync".
    assert set(skeleton) - set(body) == {"workspace_users"}
    assert body["full_sync"] is True
    assert "full_sync_date_utc" in body


# --------------------------------------------------------------------- REST


def test_rest_error_bodies_are_the_documented_ones(todoist: httpx.Client) -> None:
    missing = todoist.get("/tasks/6X7rM8997g3RQmvh")
    documented = ERROR_DOCS["rest_error_format"]
    assert missing.status_code == documented["status"]
    assert set(missing.json()) == set(documented["json"])
    assert {k: missing.json()[k] for k in ("error", "error_code", "error_tag", "http_code")} == {
        k: documented["json"][k] for k in ("error", "error_code", "error_tag", "http_code")
    }
    assert set(missing.json()["error_extra"]) == set(documented["json"]["error_extra"])
    for case, params in (
        ("pagination_invalid_cursor", {"cursor": "forged.cursor"}),
        ("pagination_limit_over_200", {"limit": "201"}),
    ):
        answer = todoist.get("/tasks", params=params)
        expected = ERROR_DOCS[case]
        assert answer.status_code == expected["status"]
        got = answer.json()
        assert {k: got[k] for k in expected["json"] if k != "error_extra"} == {
            k: v for k, v in expected["json"].items() if k != "error_extra"
        }
        for key, value in expected["json"]["error_extra"].items():
            assert got["error_extra"][key] == value


def test_rest_task_objects_have_the_docs_keys(sandbox: Sandbox, todoist: httpx.Client) -> None:
    created = todoist.post(
        "/tasks",
        json={
            "content": "Buy milk",
            "due_date": "2025-02-12",
            "labels": ["errands"],
            "priority": 2,
        },
    )
    assert created.status_code == 200
    task = created.json()
    assert set(task) == REST_TASK_KEYS
    assert task["due"] == {
        "date": "2025-02-12",
        "timezone": None,
        "string": "2025-02-12",
        "lang": "en",
        "is_recurring": False,
    }
    fetched = todoist.get(f"/tasks/{task['id']}")
    assert fetched.json() == task
    Task.from_dict(task)  # the SDK's model accepts it (every required key present)
    assert todoist.post(f"/tasks/{task['id']}/close").status_code == 204
    assert todoist.post(f"/tasks/{task['id']}/reopen").status_code == 204
    assert todoist.delete(f"/tasks/{task['id']}").status_code == 204
    assert todoist.get(f"/tasks/{task['id']}").status_code == 404


def test_rest_pagination_shape(sandbox: Sandbox, todoist: httpx.Client) -> None:
    """todoist_sdk_fixture_get_tasks_paginated.json: {results, next_cursor}, cursor then null."""
    for n in range(3):
        sandbox.todoist.add_task(f"task {n}")
    first = todoist.get("/tasks", params={"limit": 2}).json()
    recorded = SDK_TASKS["exchanges"]
    assert set(first) == set(recorded[0]["response"]["json"])
    assert len(first["results"]) == 2 and isinstance(first["next_cursor"], str)
    second = todoist.get("/tasks", params={"limit": 2, "cursor": first["next_cursor"]}).json()
    assert len(second["results"]) == 1 and second["next_cursor"] is None
    fixture_keys = set(recorded[0]["response"]["json"]["results"][0])
    assert fixture_keys <= set(second["results"][0])
    # A cursor belongs to its query: reusing it with other filters is refused.
    other = todoist.get("/tasks", params={"cursor": first["next_cursor"], "label": "x"})
    assert other.status_code == 400


def test_projects_list_shape(todoist: httpx.Client) -> None:
    body = todoist.get("/projects").json()
    assert set(body) == {"results", "next_cursor"}
    assert set(body["results"][0]) == set(SDK_OBJECTS["project"])


def test_completed_by_completion_date_shape_and_window(
    sandbox: Sandbox, todoist: httpx.Client
) -> None:
    done = sandbox.todoist.add_task("done")
    sandbox.todoist.add_task("open")
    sandbox.todoist.complete(done)
    now = datetime.now(UTC)
    params = {
        "since": (now - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%S"),  # naive, as the SDK
        "until": (now + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    body = todoist.get("/tasks/completed/by_completion_date", params=params).json()
    recorded = SDK_COMPLETED["exchanges"][1]["response"]["json"]
    assert set(body) == set(recorded)  # {items, next_cursor}: not "results"
    assert [i["id"] for i in body["items"]] == [done]
    assert body["items"][0]["checked"] is True and body["items"][0]["completed_at"]
    assert set(body["items"][0]) == REST_TASK_KEYS
    too_long = dict(params, since=(now - timedelta(days=120)).strftime("%Y-%m-%dT%H:%M:%SZ"))
    refused = todoist.get("/tasks/completed/by_completion_date", params=too_long)
    assert refused.status_code == 400
    assert refused.json()["error_tag"] == "INVALID_ARGUMENT_VALUE"


@pytest.mark.parametrize("example", DUE_DOCS["create_or_update_examples"][3:])
def test_due_date_variants_from_the_docs(example: dict[str, Any]) -> None:
    """Dates given as dates come back as the docs show (the user's zone: Asia/Jakarta)."""
    service = TodoistService(timezone="Asia/Jakarta")
    task_id = service.create_item({"content": "x", "due": example["input"]["due"]}).id
    assert service.task(task_id)["due"] == example["output"]["due"]


# ------------------------------------------------------------------ the SDK


class _ToSandbox(httpx.BaseTransport):
    """Sends the SDK's requests for https://api.todoist.com to the sandbox instead."""

    def __init__(self, url: str) -> None:
        self._target = httpx.URL(url)
        self._inner = httpx.HTTPTransport()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        request.url = request.url.copy_with(
            scheme=self._target.scheme, host=self._target.host, port=self._target.port
        )
        request.headers["Host"] = f"{self._target.host}:{self._target.port}"
        return self._inner.handle_request(request)

    def close(self) -> None:
        self._inner.close()


def test_official_sdk_reads_and_writes_through_the_sandbox(sandbox: Sandbox) -> None:
    client = httpx.Client(transport=_ToSandbox(sandbox.url))
    with TodoistAPI(sandbox.todoist.token, client=client) as api:
        created = api.add_task("Call Amelia", description="lead", due_date=datetime.now(UTC).date())
        for n in range(4):
            api.add_task(f"more {n}")
        pages = list(api.get_tasks(limit=2))
        assert [len(p) for p in pages] == [2, 2, 1]
        assert created.id in {t.id for page in pages for t in page}
        assert api.complete_task(created.id) is True
        since = datetime.now(UTC) - timedelta(hours=1)
        until = datetime.now(UTC) + timedelta(hours=1)
        completed = [
            t
            for page in api.get_completed_tasks_by_completion_date(since=since, until=until)
            for t in page
        ]
        assert [t.id for t in completed] == [created.id]
        assert completed[0].completed_at is not None
        projects = [p for page in api.get_projects() for p in page]
        assert any(p.is_inbox_project for p in projects)
    with TodoistAPI("wrong-token", client=httpx.Client(transport=_ToSandbox(sandbox.url))) as api:
        with pytest.raises(httpx.HTTPStatusError) as refused:
            list(api.get_tasks())
        assert refused.value.response.status_code == 401
