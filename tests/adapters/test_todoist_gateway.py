"""TodoistGateway against a scripted Todoist (httpx.MockTransport).

Answers are shaped like the Todoist v1 material in tests/recordings (docs examples
and the SDK's fixtures); where a shape is hand-written here, the test says so.
"""

from __future__ import annotations

import json
import logging
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs
from zoneinfo import ZoneInfo

import httpx
import pytest

from journey_sync.adapters.retry import RetryPolicy, RetryStats
from journey_sync.adapters.todoist import NOT_ACKNOWLEDGED, TodoistGateway
from journey_sync.errors import AccessError, ApiError, ServiceError, SettingsError
from journey_sync.ports import (
    MAX_COMMANDS_PER_REQUEST,
    AddProject,
    AddTask,
    CloseTask,
    CommandResult,
    DeleteTask,
    Due,
    Project,
    Task,
    TaskCommand,
    UpdateTask,
)
from journey_sync.settings import Secret
from support.recordings import recording

TOKEN = "0123456789abcdef-SECRET-token"
NOW = datetime(2025, 7, 1, 12, 0, tzinfo=UTC)


SYNC_DOCS = recording("todoist_docs_v1_sync_commands.json")
DUE_DOCS = recording("todoist_docs_v1_due_date_variants.json")
ERROR_DOCS = recording("todoist_docs_v1_error_responses.json")
COMPLETED_FIXTURE = recording("todoist_sdk_fixture_completed_by_completion_date.json")
SDK_OBJECTS = recording("todoist_sdk_fixture_task_object.json")

# Hand-written in the shape the docs give for an error (see pagination_invalid_cursor):
# what we expect Todoist to answer for a sync token it does not accept.
INVALID_SYNC_TOKEN = {
    "error": "Invalid argument value",
    "error_code": 20,
    "error_extra": {"argument": "sync_token"},
    "error_tag": "INVALID_ARGUMENT_VALUE",
    "http_code": 400,
}


# ------------------------------------------------------------------ harness

Answer = httpx.Response | Exception | Callable[[httpx.Request], httpx.Response]


@dataclass
class FakeTodoist:
    """Answers requests in order with scripted responses and records them."""

    answers: list[Answer]
    requests: list[httpx.Request] = field(default_factory=list)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if not self.answers:
            raise AssertionError(f"unexpected request {request.method} {request.url}")
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        if callable(answer):
            return answer(request)
        return answer


@dataclass
class Harness:
    gateway: TodoistGateway
    fake: FakeTodoist
    sleeps: list[float]
    stats: RetryStats


def harness(
    *answers: Answer,
    base_url: str = "https://api.todoist.com",
    max_attempts: int = 4,
) -> Harness:
    fake = FakeTodoist(list(answers))
    sleeps: list[float] = []
    stats = RetryStats()
    ids = iter(f"request-{n}" for n in range(1000))
    gateway = TodoistGateway(
        token=Secret(TOKEN),
        base_url=base_url,
        client=httpx.Client(transport=httpx.MockTransport(fake)),
        retry=RetryPolicy(max_attempts=max_attempts, sleep=sleeps.append, rng=random.Random(7)),
        stats=stats,
        uuid_fn=lambda: next(ids),
        clock=lambda: NOW,
    )
    return Harness(gateway, fake, sleeps, stats)


def answer(status: int = 200, body: Any = None, **kwargs: Any) -> httpx.Response:
    if body is None:
        return httpx.Response(status, **kwargs)
    return httpx.Response(status, json=body, **kwargs)


def form(request: httpx.Request) -> dict[str, str]:
    assert request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    fields = parse_qs(request.content.decode(), keep_blank_values=True, strict_parsing=True)
    assert all(len(v) == 1 for v in fields.values()), fields
    return {k: v[0] for k, v in fields.items()}


def sent_commands(request: httpx.Request) -> list[dict[str, Any]]:
    fields = form(request)
    assert set(fields) == {"commands"}
    commands: list[dict[str, Any]] = json.loads(fields["commands"])
    return commands


def sync_answer(**fields: Any) -> httpx.Response:
    body = {"sync_token": "token-after", "full_sync": False, "temp_id_mapping": {}}
    return answer(200, body | fields)


def item(**overrides: Any) -> dict[str, Any]:
    """A sync item as in the docs' item object example, with overrides."""
    return dict(SYNC_DOCS["item_object_example"]) | overrides


def add_task(n: int, *, due: Due | None = None, project_id: str = "proj-1") -> AddTask:
    return AddTask(
        uuid=f"uuid-{n}",
        temp_id=f"temp-{n}",
        project_id=project_id,
        content=f"Step {n}",
        description=f"lead:L{n} step:s{n}",
        due=due or Due(day=date(2025, 3, 3)),
    )


# ------------------------------------------------------- 1. transport, base_url


def test_base_url_is_honoured_for_sync() -> None:
    h = harness(sync_answer(full_sync=True), base_url="http://127.0.0.1:9")
    h.gateway.changes(None)
    assert [str(r.url) for r in h.fake.requests] == ["http://127.0.0.1:9/api/v1/sync"]
    assert h.fake.requests[0].method == "POST"


def test_base_url_is_honoured_for_completed_and_trailing_slash_is_ignored() -> None:
    h = harness(answer(200, {"items": [], "next_cursor": None}), base_url="http://127.0.0.1:8765/")
    h.gateway.completed(project_id="p", since=NOW - timedelta(days=1))
    url = h.fake.requests[0].url
    assert (url.scheme, url.host, url.port, url.path) == (
        "http",
        "127.0.0.1",
        8765,
        "/api/v1/tasks/completed/by_completion_date",
    )


def test_every_request_has_a_timeout_the_bearer_token_and_a_request_id() -> None:
    h = harness(sync_answer(), answer(200, {"items": [], "next_cursor": None}), sync_answer())
    h.gateway.changes("t")
    h.gateway.completed(project_id="p", since=NOW - timedelta(days=1))
    h.gateway.apply([CloseTask(uuid="u", task_id="1")])
    assert len(h.fake.requests) == 3
    for request in h.fake.requests:
        assert request.headers["Authorization"] == f"Bearer {TOKEN}"
        assert request.extensions["timeout"] == {
            "connect": 10.0,
            "read": 60.0,
            "write": 60.0,
            "pool": 10.0,
        }
    assert len({r.headers["X-Request-Id"] for r in h.fake.requests}) == 3


@pytest.mark.parametrize("base_url", ["api.todoist.com", "ftp://api.todoist.com", "http://[::1"])
def test_a_base_url_that_is_not_http_is_a_settings_error(base_url: str) -> None:
    with pytest.raises(SettingsError, match="JOURNEY_SYNC_TODOIST_API_URL"):
        TodoistGateway(token=Secret(TOKEN), base_url=base_url)


def test_repr_does_not_show_the_token() -> None:
    h = harness()
    assert TOKEN not in repr(h.gateway)


# ------------------------------------------------------------------ 2. changes


def test_full_sync_sends_star_and_resource_types_as_json_form_fields() -> None:
    h = harness(sync_answer(full_sync=True), sync_answer(full_sync=True))
    h.gateway.changes(None)
    h.gateway.changes("")  # an empty stored token is no token
    for request in h.fake.requests:
        fields = form(request)
        assert fields["sync_token"] == "*"
        assert json.loads(fields["resource_types"]) == ["items", "projects", "collaborators"]
        assert "commands" not in fields


def test_full_sync_maps_items_projects_and_collaborators() -> None:
    timed = item(id="6X7rM8997g3RQmvj", due=DUE_DOCS["fixed_timezone"], responsible_uid="2671362")
    project = SDK_OBJECTS["project"]
    # Collaborator shape per the v1 Sync docs (id, email, full_name, timezone, image_id).
    collaborator = {
        "id": "2671362",
        "email": "sam@example.com",
        "full_name": "Sam Coach",
        "timezone": "Europe/London",
        "image_id": None,
    }
    h = harness(
        sync_answer(
            sync_token="TnYUZEpuzf2FMA9qzyY3j4xky6dXiYejmSO85S5paZ_a9y1FI85mBbIWZGpW",
            full_sync=True,
            items=[SYNC_DOCS["item_object_example"], timed],
            projects=[project, project | {"id": "old", "is_archived": True}],
            collaborators=[collaborator],
        )
    )
    changes = h.gateway.changes(None)

    assert changes.full is True
    assert changes.sync_token == "TnYUZEpuzf2FMA9qzyY3j4xky6dXiYejmSO85S5paZ_a9y1FI85mBbIWZGpW"
    madrid = ZoneInfo("Europe/Madrid")
    assert changes.tasks == (
        Task(
            id="6X7rM8997g3RQmvh",
            project_id="6Jf8VQXxpwv56VQ7",
            content="Buy Milk",
            description="",
            labels=("Food", "Shopping"),  # the docs' example item's labels, as reported
        ),
        Task(
            id="6X7rM8997g3RQmvj",
            project_id="6Jf8VQXxpwv56VQ7",
            content="Buy Milk",
            description="",
            labels=("Food", "Shopping"),
            due=Due(
                day=date(2016, 12, 6),
                at=datetime(2016, 12, 6, 14, 0, tzinfo=madrid),
                timezone="Europe/Madrid",
                recurring=True,  # the docs' example due: "every day", is_recurring true
            ),
            responsible_uid="2671362",
        ),
    )
    assert changes.projects == (
        Project(id="6X7rM8997g3RQmvh", name="Inbox"),
        Project(id="old", name="Inbox", is_archived=True),
    )
    assert changes.collaborators == {"2671362": "Sam Coach"}
    assert changes.collaborator_emails == {"2671362": "sam@example.com"}


def test_incremental_sync_reports_completed_and_deleted_items() -> None:
    h = harness(
        sync_answer(
            sync_token="token-2",
            items=[
                item(id="done", checked=True, completed_at="2025-06-30T08:15:00.123456Z"),
                item(id="gone", is_deleted=True),
            ],
        )
    )
    changes = h.gateway.changes("token-1")

    assert form(h.fake.requests[0])["sync_token"] == "token-1"
    assert changes.full is False
    assert changes.sync_token == "token-2"
    done, gone = changes.tasks
    assert (done.id, done.checked, done.is_deleted) == ("done", True, False)
    assert done.completed_at == datetime(2025, 6, 30, 8, 15, 0, 123456, tzinfo=UTC)
    assert (gone.id, gone.checked, gone.is_deleted) == ("gone", False, True)


def test_a_full_sync_the_server_chose_is_reported_as_full() -> None:
    h = harness(sync_answer(full_sync=True))
    assert h.gateway.changes("very-old-token").full is True


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        pytest.param(
            DUE_DOCS["full_day"],  # "every day": is_recurring true
            Due(day=date(2016, 12, 1), recurring=True),
            id="whole-day",
        ),
        pytest.param(
            DUE_DOCS["create_or_update_examples"][1]["output"]["due"],
            Due(day=date(2018, 11, 15)),
            id="floating-time-keeps-its-day",
        ),
        pytest.param(
            DUE_DOCS["create_or_update_examples"][2]["output"]["due"],
            Due(
                day=date(2018, 11, 16),
                at=datetime(2018, 11, 16, 12, 0, tzinfo=ZoneInfo("Asia/Jakarta")),
                timezone="Asia/Jakarta",
            ),
            id="fixed-timezone",
        ),
        pytest.param(
            {"date": "2025-03-30T20:00:00Z", "timezone": "Asia/Tokyo", "string": "x"},
            Due(
                day=date(2025, 3, 31),  # the day people in Tokyo see, not the UTC day
                at=datetime(2025, 3, 31, 5, 0, tzinfo=ZoneInfo("Asia/Tokyo")),
                timezone="Asia/Tokyo",
            ),
            id="local-day-differs-from-utc-day",
        ),
        pytest.param(
            {"date": "2025-03-30T20:00:00Z", "timezone": None, "string": "x"},
            Due(day=date(2025, 3, 30), at=datetime(2025, 3, 30, 20, 0, tzinfo=UTC)),
            id="utc-without-zone",
        ),
        pytest.param(DUE_DOCS["floating_with_time"], None, id="docs-typo-is-ignored"),
        pytest.param(None, None, id="no-due"),
    ],
)
def test_due_dates_are_read_in_all_three_forms(raw: Any, expected: Due | None) -> None:
    h = harness(sync_answer(items=[item(due=raw)]))
    (task,) = h.gateway.changes("t").tasks
    assert task.due == expected
    if expected is not None and expected.at is not None:
        # Equal instants compare equal across zones; the wall clock must match too.
        assert task.due is not None and task.due.at is not None
        assert task.due.at.utcoffset() == expected.at.utcoffset()
    assert task.content == "Buy Milk"  # an unreadable due never loses the task


def test_rejected_sync_token_falls_back_to_a_full_sync() -> None:
    h = harness(
        answer(400, INVALID_SYNC_TOKEN),
        sync_answer(sync_token="fresh", full_sync=True, items=[item()]),
    )
    changes = h.gateway.changes("stale-token")

    assert [form(r)["sync_token"] for r in h.fake.requests] == ["stale-token", "*"]
    assert changes.full is True
    assert changes.sync_token == "fresh"
    assert len(changes.tasks) == 1
    assert h.sleeps == []  # a rejected token is not a transient failure


def test_a_failing_full_sync_after_a_rejected_token_raises_instead_of_looping() -> None:
    h = harness(answer(400, INVALID_SYNC_TOKEN), answer(400, INVALID_SYNC_TOKEN))
    with pytest.raises(ApiError) as caught:
        h.gateway.changes("stale-token")
    assert caught.value.status == 400
    assert "INVALID_ARGUMENT_VALUE" in str(caught.value)
    assert len(h.fake.requests) == 2


def test_a_sync_answer_without_a_token_is_an_error() -> None:
    h = harness(answer(200, {"items": []}))
    with pytest.raises(ApiError, match="without a sync_token"):
        h.gateway.changes(None)


# ---------------------------------------------------------------- 3. completed


def completed_params(request: httpx.Request) -> dict[str, str]:
    assert request.method == "GET"
    assert request.url.path == "/api/v1/tasks/completed/by_completion_date"
    return dict(request.url.params)


def test_recurring_completions_read_the_activity_log_page_by_page() -> None:
    event = {
        "object_type": "item",
        "object_id": "6X7rM8997g3RQmvh",
        "event_type": "completed",
        "event_date": "2026-03-02T10:15:00Z",
        "parent_project_id": "6Jf8VQXxpwv56VQ7",
        "extra_data": {"content": "Check in", "is_recurring": True},
    }
    h = harness(
        answer(200, {"results": [event], "next_cursor": "c2"}),
        answer(200, {"results": [{**event, "object_id": "other"}], "next_cursor": None}),
    )
    found = h.gateway.recurring_completions(datetime(2026, 3, 1, tzinfo=UTC))
    assert found == (
        ("6X7rM8997g3RQmvh", datetime(2026, 3, 2, 10, 15, tzinfo=UTC)),
        ("other", datetime(2026, 3, 2, 10, 15, tzinfo=UTC)),
    )
    first, second = (dict(r.url.params) for r in h.fake.requests)
    assert h.fake.requests[0].url.path == "/api/v1/activities"
    assert first == {
        "object_type": "item",
        "event_type": "completed",
        "date_from": "2026-03-01T00:00:00Z",
        "limit": "100",
    }
    assert second["cursor"] == "c2"


def test_an_activity_log_refused_by_the_plan_is_a_warning_not_a_failed_cycle(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # A plan without the activity log answers 403 "Premium only feature": the token is
    # fine, so no "token refused" error stops the cycle; recurring ticks are not seen.
    h = harness(answer(403, {"error": "Premium only feature", "error_code": 32}))
    with caplog.at_level(logging.WARNING):
        assert h.gateway.recurring_completions(datetime(2026, 3, 1, tzinfo=UTC)) == ()
    assert "activity log" in caplog.text and "Premium only feature" in caplog.text


def test_completed_walks_windows_from_since_to_now() -> None:
    empty: dict[str, Any] = {"items": [], "next_cursor": None}
    h = harness(*(answer(200, empty) for _ in range(3)))
    since = datetime(2025, 1, 1, tzinfo=UTC)
    assert h.gateway.completed(project_id="p1", since=since) == ()

    params = [completed_params(r) for r in h.fake.requests]
    assert [(p["since"], p["until"]) for p in params] == [
        ("2025-01-01T00:00:00Z", "2025-03-31T00:00:00Z"),
        ("2025-03-31T00:00:00Z", "2025-06-28T00:00:00Z"),
        ("2025-06-28T00:00:00Z", "2025-07-01T12:05:00Z"),  # now + UNTIL_MARGIN
    ]
    assert all(p["project_id"] == "p1" and p["limit"] == "200" for p in params)
    assert "cursor" not in params[0]


def test_completed_of_every_project_sends_no_project_filter() -> None:
    # A task a person moved to their Inbox is listed under the Inbox: the history read
    # after a full sync asks for every project (the SDK's method has no filter at all).
    h = harness(answer(200, {"items": [], "next_cursor": None}))
    assert h.gateway.completed(project_id=None, since=NOW - timedelta(days=1)) == ()
    (params,) = [completed_params(r) for r in h.fake.requests]
    assert "project_id" not in params and params["limit"] == "200"


def test_completed_follows_the_cursor_and_marks_tasks_checked() -> None:
    first, second = COMPLETED_FIXTURE["exchanges"]
    h = harness(answer(200, first["response"]["json"]), answer(200, second["response"]["json"]))
    tasks = h.gateway.completed(project_id="6Jf8VQXxpwv56VQ7", since=NOW - timedelta(days=30))

    assert [t.id for t in tasks] == ["6X7rM8997g3RQmvh", "6X7rfFVPjhvv84XG", "6X7rfEVP8hvv25ZQ"]
    assert all(t.checked for t in tasks)  # the fixture has no "checked" key at all
    assert all(t.completed_at == datetime(2024, 2, 13, 10, 0, tzinfo=UTC) for t in tasks)
    assert tasks[0].responsible_uid == "2423523"
    first_params, second_params = (completed_params(r) for r in h.fake.requests)
    assert "cursor" not in first_params
    assert second_params["cursor"] == "next"
    assert second_params["since"] == first_params["since"]


def test_completed_lists_a_task_once_and_only_the_projects_tasks() -> None:
    def done(task_id: str, at: str, project: str = "p1") -> dict[str, Any]:
        return item(id=task_id, project_id=project, checked=True, completed_at=at)

    h = harness(
        # A recurring task completed twice, and one task on the window boundary.
        answer(
            200, {"items": [done("a", "2025-03-30T10:00:00Z"), done("b", "2025-03-31T00:00:00Z")]}
        ),
        answer(
            200,
            {
                "items": [
                    done("b", "2025-03-31T00:00:00Z"),
                    done("a", "2025-05-01T10:00:00Z"),
                    done("x", "2025-05-02T10:00:00Z", project="other"),
                ]
            },
        ),
    )
    tasks = h.gateway.completed(project_id="p1", since=datetime(2025, 3, 1, tzinfo=UTC))
    assert {t.id: t.completed_at for t in tasks} == {
        "a": datetime(2025, 5, 1, 10, 0, tzinfo=UTC),
        "b": datetime(2025, 3, 31, tzinfo=UTC),
    }


def test_completed_with_naive_since_reads_it_as_utc() -> None:
    h = harness(answer(200, {"items": [], "next_cursor": None}))
    h.gateway.completed(project_id="p", since=datetime(2025, 6, 30, 6, 30))
    assert completed_params(h.fake.requests[0])["since"] == "2025-06-30T06:30:00Z"


def test_completed_since_now_or_later_asks_nothing() -> None:
    h = harness()
    assert h.gateway.completed(project_id="p", since=NOW + timedelta(minutes=5)) == ()
    assert h.fake.requests == []


def test_completed_stops_on_a_cursor_that_repeats() -> None:
    page = {"items": [], "next_cursor": "same"}
    h = harness(answer(200, page), answer(200, page))
    with pytest.raises(ApiError, match="cursor"):
        h.gateway.completed(project_id="p", since=NOW - timedelta(days=1))


# -------------------------------------------------------------------- 4. apply


def test_apply_rejects_more_than_100_commands_before_sending() -> None:
    h = harness()
    too_many = [
        CloseTask(uuid=f"u{n}", task_id=str(n)) for n in range(MAX_COMMANDS_PER_REQUEST + 1)
    ]
    with pytest.raises(ValueError, match="at most 100"):
        h.gateway.apply(too_many)
    assert h.fake.requests == []


def test_apply_sends_100_commands_in_one_request() -> None:
    commands = [CloseTask(uuid=f"u{n}", task_id=str(n)) for n in range(MAX_COMMANDS_PER_REQUEST)]
    h = harness(sync_answer(sync_status={c.uuid: "ok" for c in commands}))
    results = h.gateway.apply(commands)
    assert len(h.fake.requests) == 1
    assert len(sent_commands(h.fake.requests[0])) == 100
    assert all(r.ok for r in results)


def test_apply_of_nothing_sends_nothing() -> None:
    h = harness()
    assert h.gateway.apply([]) == ()
    assert h.fake.requests == []


def test_apply_rejects_two_commands_with_one_uuid() -> None:
    h = harness()
    with pytest.raises(ValueError, match="uuid"):
        h.gateway.apply([CloseTask(uuid="u", task_id="1"), DeleteTask(uuid="u", task_id="2")])


def test_form_body_encodes_every_kind_of_command_as_json() -> None:
    commands: list[TaskCommand] = [
        AddProject(uuid="u-p", temp_id="t-p", name="Journeys"),
        AddTask(
            uuid="u-t",
            temp_id="t-t",
            project_id="t-p",
            content="Call Ana #Sales @phone tomorrow p1",
            description="journey-sync lead:L1 step:contact",
            due=Due(day=date(2025, 3, 3)),
            priority=3,
            labels=("journey", "lead"),
        ),
        CloseTask(uuid="u-c", task_id="6X7rfFVPjhvv84XG"),
        DeleteTask(uuid="u-d", task_id="6X7rfFVPjhvv84XH"),
    ]
    h = harness(sync_answer(sync_status={c.uuid: "ok" for c in commands}))
    h.gateway.apply(commands)

    (request,) = h.fake.requests
    assert request.url.path == "/api/v1/sync"
    assert sent_commands(request) == [
        {"type": "project_add", "uuid": "u-p", "temp_id": "t-p", "args": {"name": "Journeys"}},
        {
            "type": "item_add",
            "uuid": "u-t",
            "temp_id": "t-t",
            "args": {
                # Sent verbatim: item_add, not quick add, and label parsing off.
                "content": "Call Ana #Sales @phone tomorrow p1",
                "description": "journey-sync lead:L1 step:contact",
                "project_id": "t-p",
                "due": {"date": "2025-03-03"},
                "priority": 3,
                "labels": ["journey", "lead"],
                "auto_parse_labels": False,
            },
        },
        {"type": "item_close", "uuid": "u-c", "args": {"id": "6X7rfFVPjhvv84XG"}},
        {"type": "item_delete", "uuid": "u-d", "args": {"id": "6X7rfFVPjhvv84XH"}},
    ]


def test_update_task_sends_item_update_with_only_the_fields_that_change() -> None:
    commands: list[TaskCommand] = [
        UpdateTask(
            uuid="u-1",
            task_id="6X7rfFVPjhvv84XG",
            content="Meet Ana in the studio #not-a-project",
            priority=4,
            labels=(),
            due=Due(day=date(2025, 3, 24)),
        ),
        UpdateTask(uuid="u-2", task_id="6X7rfFVPjhvv84XH", responsible_uid="2671362"),
    ]
    h = harness(sync_answer(sync_status={c.uuid: "ok" for c in commands}))
    h.gateway.apply(commands)

    (request,) = h.fake.requests
    assert sent_commands(request) == [
        {
            "type": "item_update",
            "uuid": "u-1",
            "args": {
                "id": "6X7rfFVPjhvv84XG",
                "content": "Meet Ana in the studio #not-a-project",
                "priority": 4,
                "labels": [],  # an empty list clears the labels; None leaves them alone
                "due": {"date": "2025-03-24"},
            },
        },
        {
            "type": "item_update",
            "uuid": "u-2",
            "args": {"id": "6X7rfFVPjhvv84XH", "responsible_uid": "2671362"},
        },
    ]


@pytest.mark.parametrize(
    ("zone", "local", "utc_text"),
    [
        # Europe/Berlin springs forward on 2025-03-30 and falls back on 2025-10-26.
        ("Europe/Berlin", datetime(2025, 3, 29, 9, 0), "2025-03-29T08:00:00Z"),
        ("Europe/Berlin", datetime(2025, 3, 31, 9, 0), "2025-03-31T07:00:00Z"),
        ("Europe/Berlin", datetime(2025, 10, 25, 9, 0), "2025-10-25T07:00:00Z"),
        ("Europe/Berlin", datetime(2025, 10, 27, 9, 0), "2025-10-27T08:00:00Z"),
        ("America/New_York", datetime(2025, 3, 10, 9, 0), "2025-03-10T13:00:00Z"),
        ("Australia/Sydney", datetime(2025, 4, 7, 9, 0), "2025-04-06T23:00:00Z"),
    ],
)
def test_timed_due_is_a_fixed_utc_instant_with_its_zone_across_dst(
    zone: str, local: datetime, utc_text: str
) -> None:
    at = local.replace(tzinfo=ZoneInfo(zone))
    due = Due(day=at.date(), at=at, timezone=zone)
    h = harness(sync_answer(sync_status={"uuid-1": "ok"}))
    h.gateway.apply([add_task(1, due=due)])
    sent_due = sent_commands(h.fake.requests[0])[0]["args"]["due"]
    assert sent_due == {"date": utc_text, "timezone": zone}

    # Todoist echoes it back as a fixed-timezone due; reading it gives the same moment.
    echo = harness(sync_answer(items=[item(due=sent_due | {"string": "x", "lang": "en"})]))
    (task,) = echo.gateway.changes("t").tasks
    assert task.due == due
    assert task.due is not None and task.due.at is not None
    assert (task.due.at.hour, task.due.at.minute) == (9, 0)


def test_timed_due_takes_the_zone_name_from_its_datetime_when_not_given() -> None:
    at = datetime(2025, 3, 31, 9, 0, tzinfo=ZoneInfo("Europe/Berlin"))
    h = harness(sync_answer(sync_status={"uuid-1": "ok"}))
    h.gateway.apply([add_task(1, due=Due(day=at.date(), at=at))])
    sent_due = sent_commands(h.fake.requests[0])[0]["args"]["due"]
    assert sent_due == {"date": "2025-03-31T07:00:00Z", "timezone": "Europe/Berlin"}


def test_a_naive_due_time_is_refused_before_sending() -> None:
    h = harness()
    with pytest.raises(ValueError, match="timezone-aware"):
        h.gateway.apply([add_task(1, due=Due(day=date(2025, 3, 3), at=datetime(2025, 3, 3, 9)))])
    assert h.fake.requests == []


def test_no_due_ever_carries_a_natural_language_string() -> None:
    at = datetime(2025, 3, 3, 9, tzinfo=ZoneInfo("Europe/Berlin"))
    commands = [add_task(1), add_task(2, due=Due(day=at.date(), at=at, timezone="Europe/Berlin"))]
    h = harness(sync_answer(sync_status={"uuid-1": "ok", "uuid-2": "ok"}))
    h.gateway.apply(commands)
    for command in sent_commands(h.fake.requests[0]):
        assert set(command["args"]["due"]) <= {"date", "timezone"}
    assert all("quick" not in r.url.path for r in h.fake.requests)


def test_project_add_and_item_adds_referencing_its_temp_id_in_one_request() -> None:
    exchange = next(e for e in SYNC_DOCS["exchanges"] if e["name"].startswith("batch"))
    project_cmd, *item_cmds = exchange["request_form"]["commands"]
    commands: list[AddProject | AddTask] = [
        AddProject(uuid=project_cmd["uuid"], temp_id=project_cmd["temp_id"], name="Shopping List"),
        *(
            AddTask(
                uuid=c["uuid"],
                temp_id=c["temp_id"],
                project_id=c["args"]["project_id"],
                content=c["args"]["content"],
                description="",
                due=Due(day=date(2025, 3, 3)),
            )
            for c in item_cmds
        ),
    ]
    h = harness(answer(200, exchange["response_json"]))
    results = h.gateway.apply(commands)

    sent = sent_commands(h.fake.requests[0])
    assert [c["type"] for c in sent] == ["project_add", "item_add", "item_add", "item_add"]
    assert {c["args"]["project_id"] for c in sent[1:]} == {project_cmd["temp_id"]}
    mapping = exchange["response_json"]["temp_id_mapping"]
    assert results == tuple(
        CommandResult(uuid=c.uuid, ok=True, new_id=mapping[c.temp_id]) for c in commands
    )
    assert results[0].new_id == "6X6HrhXfQ9857XVG"


def test_sync_status_with_ok_errors_and_a_missing_uuid() -> None:
    mixed = ERROR_DOCS["sync_status_mixed"]["sync_status"]
    with_extra = ERROR_DOCS["sync_status_error_with_extra"]["sync_status"]
    commands = [
        replace(add_task(1), uuid="32eaa699-e9d7-47ed-91ea-e58d475791f1"),
        replace(add_task(2), uuid="bec5b356-3cc1-462a-9887-fe145e3e1ebf"),
        add_task(3),  # Todoist's answer does not mention this one
    ]
    h = harness(
        sync_answer(sync_status=mixed, temp_id_mapping={"temp-1": "6X7rM8997g3RQmvh"}),
        sync_answer(sync_status=with_extra),
    )
    ok, refused, missing = h.gateway.apply(commands)

    assert ok == CommandResult(uuid=commands[0].uuid, ok=True, new_id="6X7rM8997g3RQmvh")
    assert refused == CommandResult(
        uuid=commands[1].uuid, ok=False, error="Invalid temporary id", error_code=15
    )
    assert missing == CommandResult(uuid="uuid-3", ok=False, error=NOT_ACKNOWLEDGED)
    assert "no status" in NOT_ACKNOWLEDGED and "same uuid" in NOT_ACKNOWLEDGED

    (detailed,) = h.gateway.apply(
        [CloseTask(uuid="bec5b356-3cc1-462a-9887-fe145e3e1ebf", task_id="1")]
    )
    assert detailed.ok is False
    assert detailed.error_code == 20
    assert detailed.error is not None
    assert detailed.error.startswith("Invalid argument value")
    assert "INVALID_ARGUMENT_VALUE" in detailed.error
    assert "file_url contains disallowed URL" in detailed.error


def test_an_ok_add_without_a_temp_id_mapping_has_no_new_id() -> None:
    # A resend of an already executed add: Todoist says ok, the mapping may be absent.
    h = harness(sync_answer(sync_status={"uuid-1": "ok"}))
    (result,) = h.gateway.apply([add_task(1)])
    assert result == CommandResult(uuid="uuid-1", ok=True, new_id=None)


# --------------------------------------------------------------- 5. errors


@pytest.mark.parametrize("status", [401, 403])
def test_refused_token_is_an_access_error_that_never_shows_the_token(status: int) -> None:
    h = harness(answer(status, {"error": "Forbidden", "error_tag": "AUTH_INVALID_TOKEN"}))
    with pytest.raises(AccessError) as caught:
        h.gateway.changes(None)
    message = str(caught.value)
    assert message == (
        "Todoist refused the API token (revoked or mistyped?): copy a fresh token from "
        "Todoist Settings > Integrations > Developer and set TODOIST_API_TOKEN"
    )
    assert TOKEN not in message
    assert TOKEN not in repr(caught.value)
    assert all(TOKEN not in repr(arg) for arg in caught.value.args)
    assert len(h.fake.requests) == 1  # credentials are not retried


def test_404_on_the_sync_path_is_an_api_error_pointing_at_the_url_setting() -> None:
    body = ERROR_DOCS["rest_error_format"]["json"]
    h = harness(answer(404, body), base_url="http://127.0.0.1:9")
    with pytest.raises(ApiError) as caught:
        h.gateway.apply([CloseTask(uuid="u", task_id="1")])
    assert caught.value.status == 404
    assert caught.value.body == body
    assert "http://127.0.0.1:9/api/v1/sync" in str(caught.value)
    assert "JOURNEY_SYNC_TODOIST_API_URL" in str(caught.value)


def test_other_client_errors_carry_todoists_words() -> None:
    body = ERROR_DOCS["pagination_invalid_cursor"]["json"]
    h = harness(answer(400, body))
    with pytest.raises(ApiError) as caught:
        h.gateway.completed(project_id="p", since=NOW - timedelta(days=1))
    assert caught.value.status == 400
    assert "Invalid argument value (INVALID_ARGUMENT_VALUE; argument: cursor)" in str(caught.value)


def test_a_non_json_error_body_keeps_status_and_a_short_excerpt() -> None:
    html = "<html><body>" + "Bad Gateway " * 1000 + "</body></html>"
    h = harness(*(answer(502, text=html) for _ in range(4)))
    with pytest.raises(ApiError) as caught:
        h.gateway.changes(None)
    assert caught.value.status == 502
    assert isinstance(caught.value.body, str)
    assert caught.value.body.startswith("<html><body>Bad Gateway")
    assert len(caught.value.body) <= 300


def test_a_non_json_client_error_is_reported_with_its_text() -> None:
    h = harness(answer(400, text="Bad request: something"))
    with pytest.raises(ApiError, match="Bad request: something") as caught:
        h.gateway.apply([CloseTask(uuid="u", task_id="1")])
    assert caught.value.status == 400


def test_a_success_whose_body_is_not_json_is_an_api_error() -> None:
    h = harness(answer(200, text="<html>captive portal</html>"))
    with pytest.raises(ApiError, match="not JSON") as caught:
        h.gateway.changes(None)
    assert caught.value.status == 200
    assert caught.value.body == "<html>captive portal</html>"


@pytest.mark.parametrize(
    "body",
    [
        '{"sync_token": tru, "items": []}',  # a bad value outside the items
        '{"sync_token": "t", "items": [{"id": 1x}]}',  # a bad value inside them
    ],
)
def test_a_success_with_a_value_that_is_not_json_is_an_api_error(body: str) -> None:
    h = harness(answer(200, text=body))
    with pytest.raises(ApiError, match="not JSON") as caught:
        h.gateway.changes("t0", lambda task: None)
    assert caught.value.status == 200


def test_retries_exhausted_on_503_raise_a_clear_api_error() -> None:
    h = harness(*(answer(503, {"error": "Service unavailable"}) for _ in range(4)))
    with pytest.raises(ApiError) as caught:
        h.gateway.changes("t")
    assert caught.value.status == 503
    assert "Todoist is unavailable; the next cycle will try again" in str(caught.value)
    assert len(h.fake.requests) == 4
    assert len(h.sleeps) == 3


def test_rate_limit_exhausted_raises_a_clear_api_error() -> None:
    h = harness(*(answer(429, headers={"Retry-After": "1"}) for _ in range(4)))
    with pytest.raises(ApiError, match="rate-limiting journey-sync; the next cycle") as caught:
        h.gateway.changes("t")
    assert caught.value.status == 429


def test_connection_errors_exhausted_raise_a_service_error_without_the_token() -> None:
    h = harness(*(httpx.ConnectError("[Errno 111] Connection refused") for _ in range(4)))
    with pytest.raises(ServiceError) as caught:
        h.gateway.changes("t")
    assert not isinstance(caught.value, ApiError)
    message = str(caught.value)
    assert "https://api.todoist.com" in message
    assert "Connection refused" in message
    assert "next cycle will try again" in message
    assert TOKEN not in message and TOKEN not in repr(caught.value)
    assert caught.value.__cause__ is None and caught.value.__suppress_context__
    assert len(h.fake.requests) == 4


# -------------------------------------------------------------- 6. retries


def test_429_honours_retry_after() -> None:
    h = harness(answer(429, headers={"Retry-After": "7"}), sync_answer())
    h.gateway.changes("t")
    assert len(h.sleeps) == 1
    assert 7.0 <= h.sleeps[0] <= 7.5  # the server's wait plus a little jitter


def test_429_without_retry_after_uses_todoists_error_extra() -> None:
    body = {"error": "Too many requests", "error_extra": {"retry_after": 3}, "http_code": 429}
    h = harness(answer(429, body), sync_answer())
    h.gateway.changes("t")
    assert len(h.sleeps) == 1
    assert 3.0 <= h.sleeps[0] <= 3.5


def test_429_without_any_hint_backs_off_exponentially_with_jitter() -> None:
    h = harness(answer(429), answer(429), answer(429), sync_answer())
    h.gateway.changes("t")
    assert len(h.sleeps) == 3
    for attempt, wait in enumerate(h.sleeps, start=1):
        assert 0.05 <= wait <= 2 ** (attempt - 1) + 0.05


def test_500_then_success_resends_the_same_request() -> None:
    h = harness(answer(500), sync_answer(sync_status={"u": "ok"}))
    (result,) = h.gateway.apply([CloseTask(uuid="u", task_id="1")])
    assert result.ok
    first, second = h.fake.requests
    # Same body (same command uuids) and request id: Todoist runs the command once.
    assert first.content == second.content
    assert first.headers["X-Request-Id"] == second.headers["X-Request-Id"]


def test_a_read_timeout_then_success() -> None:
    def timeout(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    h = harness(timeout, sync_answer(sync_token="after-timeout"))
    assert h.gateway.changes("t").sync_token == "after-timeout"
    assert len(h.fake.requests) == 2
    assert len(h.sleeps) == 1


def test_client_errors_are_not_retried() -> None:
    h = harness(answer(400, {"error": "Invalid argument value"}))
    with pytest.raises(ApiError):
        h.gateway.apply([CloseTask(uuid="u", task_id="1")])
    assert len(h.fake.requests) == 1
    assert h.sleeps == []


# ---------------------------------------------------------------- 7. stats


def test_stats_count_every_http_attempt() -> None:
    h = harness(
        answer(429, headers={"Retry-After": "0"}), answer(500), sync_answer(), sync_answer()
    )
    h.gateway.changes("t")
    assert (h.stats.requests, h.stats.retries) == (3, 2)
    h.gateway.changes("t")
    assert (h.stats.requests, h.stats.retries) == (4, 2)
    assert h.gateway.stats is h.stats


# ------------------------------------------------------- projects (doctor)


def test_projects_is_one_sync_read_of_projects_only() -> None:
    projects = [
        {"id": "p1", "name": "Client journeys", "is_archived": False, "is_deleted": False},
        {"id": "p2", "name": "Old", "is_archived": True},
        "not an object",
    ]
    h = harness(sync_answer(full_sync=True, projects=projects))
    found = h.gateway.projects()
    assert found == (
        Project(id="p1", name="Client journeys"),
        Project(id="p2", name="Old", is_archived=True),
    )
    assert len(h.fake.requests) == 1
    fields = form(h.fake.requests[0])
    assert fields["sync_token"] == "*"
    assert json.loads(fields["resource_types"]) == ["projects"]


def test_projects_says_what_is_wrong_with_the_token_or_the_answer() -> None:
    with pytest.raises(AccessError, match="Todoist refused the API token"):
        harness(answer(401, {"error": "Unauthorized"})).gateway.projects()
    with pytest.raises(ApiError, match="without a project list"):
        harness(sync_answer(full_sync=True)).gateway.projects()


# ------------------------------------------------------------ a large answer


class Trickle(httpx.SyncByteStream):
    """An answer's body arriving in small chunks; counts those sent so far, and can be
    cut off after some."""

    def __init__(self, body: bytes, size: int, *, cut_after: int | None = None) -> None:
        self.chunks = [body[i : i + size] for i in range(0, len(body), size)]
        self.sent = 0
        self.cut_after = cut_after

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self.chunks:
            if self.cut_after is not None and self.sent >= self.cut_after:
                raise httpx.ReadError("connection reset by peer")
            self.sent += 1
            yield chunk


def a_large_answer(n: int) -> bytes:
    items = [
        {"id": str(i), "project_id": "p", "content": f"Task {i}", "description": "x" * 200}
        for i in range(n)
    ]
    # The sync token after the items, as Todoist's own (alphabetical) answers have it.
    return json.dumps({"full_sync": False, "items": items, "sync_token": "t2"}).encode()


def test_a_large_answer_is_handed_over_task_by_task_while_it_arrives() -> None:
    # Issue 13: the echo of an onboarding is an 81 MB answer; held whole it was the
    # daemon's peak memory. Its tasks go to ``take`` as their part of the answer arrives.
    body = Trickle(a_large_answer(20_000), 64 * 1024)
    h = harness(httpx.Response(200, stream=body, headers={"Content-Type": "application/json"}))
    arrived_by: list[int] = []
    changes = h.gateway.changes("t1", lambda task: arrived_by.append(body.sent))
    assert len(arrived_by) == 20_000 and changes.tasks == ()
    assert changes.sync_token == "t2" and not changes.full
    assert body.sent == len(body.chunks) > 50
    # The first tasks were taken when a fraction of the answer had arrived.
    assert arrived_by[0] < len(body.chunks) / 4


def test_without_take_the_tasks_of_a_streamed_answer_are_kept() -> None:
    body = Trickle(a_large_answer(300), 1000)
    h = harness(httpx.Response(200, stream=body))
    changes = h.gateway.changes("t1")
    assert [t.id for t in changes.tasks] == [str(i) for i in range(300)]
    assert changes.tasks[299].content == "Task 299"


def test_an_answer_cut_off_midway_is_a_service_error_for_the_next_cycle() -> None:
    body = Trickle(a_large_answer(8_000), 4096, cut_after=400)
    h = harness(httpx.Response(200, stream=body))
    taken: list[Task] = []
    with pytest.raises(ServiceError, match=r"cut off.*next cycle"):
        h.gateway.changes("t1", taken.append)
    assert 0 < len(taken) < 8_000  # what was taken is the caller's to drop: no token came
