"""The typed decoding of Todoist's /sync read gives exactly the tasks the dict path gives.

``changes`` decodes the answer with msgspec into structs (only the fields journey-sync uses;
issue 13: 120,000 items without a dict per item). Whatever the answer holds, the tasks must
be the ones the lenient dict reading (``_task``) makes of it, and an answer the structs do
not fit must still be read, item by item, the old way.
"""

from __future__ import annotations

import json
from dataclasses import FrozenInstanceError, fields, replace
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from journey_sync.adapters.todoist import _read_sync, _task, form_encode
from journey_sync.ports import Task, TaskChanges

DUES: list[Any] = [
    None,
    {"date": "2026-03-01"},
    {"date": "2026-03-01T09:00:00Z", "timezone": "Europe/Berlin", "string": "x", "lang": "en"},
    {"date": "2026-03-01T12:00:00.000000"},
    {"date": "2026-03-01T12:00:00", "timezone": "Nowhere/Atlantis"},
    {"date": "not a date"},
    {"date": None, "timezone": None},
    {},
]
SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-5, 5), st.text(max_size=8))


@st.composite
def items(draw: st.DrawFn) -> dict[str, Any]:
    item: dict[str, Any] = {
        "id": draw(st.one_of(st.text(min_size=1, max_size=6), st.integers(1, 10**12))),
        "project_id": draw(st.one_of(st.text(max_size=6), st.integers(1, 99))),
        "content": draw(st.one_of(st.none(), st.text(max_size=12))),
        "description": draw(st.one_of(st.none(), st.text(max_size=40))),
        "checked": draw(SCALARS),
        "is_deleted": draw(SCALARS),
        "due": draw(st.sampled_from(DUES)),
        "responsible_uid": draw(st.one_of(st.none(), st.text(max_size=6), st.integers(1, 9))),
        "completed_at": draw(
            st.one_of(st.none(), st.just(""), st.just("2026-01-02T03:04:05.000000Z"))
        ),
        "priority": draw(SCALARS),
        "labels": draw(st.one_of(st.none(), st.lists(st.one_of(st.text(max_size=5), SCALARS)))),
        "child_order": 3,
        "note_count": 0,
        "deadline": None,
    }
    for key in draw(st.sets(st.sampled_from(sorted(item)))):
        del item[key]  # any field may be missing
    return item


def response(body: Any) -> httpx.Response:
    text = json.dumps(body, separators=(",", ":"))
    return httpx.Response(200, content=text.encode(), request=httpx.Request("POST", "http://x"))


def read(body: Any) -> TaskChanges:
    """The gateway's reading of a /sync answer, its tasks kept."""
    return _read_sync(response(body), "t0", None)


def taken(body: Any) -> tuple[Task, ...]:
    """The tasks the gateway hands to ``take`` as it reads the answer."""
    got: list[Task] = []
    changes = _read_sync(response(body), "t0", got.append)
    assert changes.tasks == ()
    return tuple(got)


@settings(max_examples=200, deadline=None)
@given(st.lists(items(), max_size=8))
def test_typed_items_read_as_the_dict_path_reads_them(raw: list[dict[str, Any]]) -> None:
    body = {"sync_token": "t", "full_sync": False, "items": raw}
    expected = tuple(_task(item) for item in raw)
    assert read(body).tasks == expected
    assert taken(body) == expected


def test_an_item_the_structs_do_not_fit_is_read_alone_the_dict_way() -> None:
    # Items are decoded one by one as they are read: an odd one (not an object, a due
    # that is not one) gives what the dict path gives, and the others are still typed.
    raw: list[Any] = [{"id": "1"}, "not an object", {"id": "2", "due": "tomorrow"}, 7]
    tasks = read({"sync_token": "t", "items": raw}).tasks
    assert tasks == tuple(_task(item) for item in raw if isinstance(item, dict))
    assert taken({"sync_token": "t", "items": raw}) == tasks
    assert len(tasks) == 2 and tasks[1].id == "2" and tasks[1].due is None
    assert tasks[:1] == (_task({"id": "1"}),)


def test_an_answer_the_structs_do_not_fit_is_left_to_the_dict_path() -> None:
    # "items" that is not a list is not streamed: the rest of the answer, read the
    # lenient way, lists no task (as the dict path always did); the token still counts.
    changes = read({"sync_token": "t", "items": "not a list", "projects": 5})
    assert changes.tasks == () and changes.projects == () and changes.sync_token == "t"
    assert taken({"sync_token": "t", "items": {"id": "1"}}) == ()


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.text(max_size=6), st.text(max_size=40), max_size=3))
def test_form_encoding_is_urlencode(fields: dict[str, str]) -> None:
    assert form_encode(fields) == urlencode(fields)


def test_form_encoding_of_a_command_batch_is_urlencode() -> None:
    text = json.dumps(
        [{"content": "Call Ana Müller + 100% “now” & = ? #1 😀", "labels": ["a b"]}] * 3,
        ensure_ascii=False,
        separators=(",", ":"),
    )
    assert form_encode({"commands": text}) == urlencode({"commands": text})


@settings(max_examples=100, deadline=None)
@given(st.lists(items(), min_size=1, max_size=4))
def test_a_typed_task_is_the_task_its_constructor_makes(raw: list[dict[str, Any]]) -> None:
    # The typed path fills a Task's __dict__ directly instead of calling the frozen
    # dataclass's __init__ (issue 13: 0.29 s -> 0.06 s for an echo's 120,000 items). The
    # result must be indistinguishable from Task(...): fields in declaration order, repr,
    # hash, replace(), frozenness; and Task must keep nothing __init__ would add.
    assert "__post_init__" not in vars(Task) and "__slots__" not in vars(Task)
    for task in read({"sync_token": "t", "items": raw}).tasks:
        made = Task(**{f.name: getattr(task, f.name) for f in fields(Task)})
        assert type(task) is Task and vars(task) == vars(made)
        assert list(vars(task)) == [f.name for f in fields(Task)]
        assert repr(task) == repr(made) and task == made
        if all(not isinstance(getattr(task, f.name), list) for f in fields(Task)):
            assert hash(task) == hash(made)
        assert replace(task, content="x") == replace(made, content="x")
        with pytest.raises(FrozenInstanceError):
            task.content = "changed"  # type: ignore[misc]
