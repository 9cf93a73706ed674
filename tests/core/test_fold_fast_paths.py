"""The shortcuts ``fold_changes`` takes for speed (issue 13) change nothing it decides.

* ``fields_text`` builds the text of a task's fields directly; it must be exactly what
  ``dump_fields(task_fields(...))`` gives, for any text.
* A task Todoist lists unchanged (the echo of an onboarding) is adopted without a new
  record; one that changed in any field is still stored.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date

from hypothesis import given
from hypothesis import strategies as st

from journey_sync.changes import fold_changes
from journey_sync.ports import Due, Task, TaskChanges
from journey_sync.records import (
    Memory,
    TaskRecord,
    due_text,
    dump_fields,
    fields_text,
    task_fields,
    task_marker,
)


@given(
    st.text(),
    st.text(),
    st.integers(-(2**70), 2**70),
    st.lists(st.text()) | st.lists(st.text()).map(tuple),
)
def test_fields_text_is_dump_fields(
    content: str, description: str, priority: int, labels: list[str] | tuple[str, ...]
) -> None:
    assert fields_text(content, description, priority, labels) == dump_fields(
        task_fields(content, description, priority, labels)
    )


def _task(**changes: object) -> Task:
    task = Task(
        id="T1",
        project_id="P",
        content="Call Ana",
        description="Lead: Ana\n\n" + task_marker("L-1", "call"),
        due=Due(day=date(2026, 3, 1)),
    )
    return replace(task, **changes)  # type: ignore[arg-type]


def _memory(task: Task) -> Memory:
    seen = dump_fields(task_fields(task.content, task.description, task.priority, task.labels))
    record = TaskRecord("L-1", "call", task.id, "open", due=due_text(task.due), seen=seen)
    return Memory(tasks={("L-1", "call"): record}, project_id="P")


def test_an_unchanged_task_is_adopted_without_a_record_to_store() -> None:
    task = _task()
    folded = fold_changes(_memory(task), TaskChanges("t", False, tasks=(task,)), project_id="P")
    assert folded.records == ()
    assert folded.adopted == frozenset({("L-1", "call")})


@given(
    st.sampled_from(
        [
            {"checked": True},
            {"is_deleted": True},
            {"responsible_uid": "U9"},
            {"content": "Call Ana today"},
            {"priority": 4},
            {"labels": ("x",)},
            {"due": Due(day=date(2026, 3, 2))},
            {"due": None},
        ]
    )
)
def test_a_task_changed_in_any_field_is_stored(change: dict[str, object]) -> None:
    before = _task()
    after = _task(**change)
    folded = fold_changes(_memory(before), TaskChanges("t", False, tasks=(after,)), project_id="P")
    assert [r.task_id for r in folded.records] == ["T1"]
    assert folded.adopted == frozenset({("L-1", "call")})
