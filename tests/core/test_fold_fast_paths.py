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


def test_a_few_listed_tasks_are_found_by_their_markers_without_indexing_every_record() -> None:
    """A cycle that lists a ticked task or two finds their records by marker; a task
    whose description lost its marker, or whose marker names another record, is still
    found by its id (the records are indexed then), as Todoist's id is the truth."""
    from journey_sync.changes import Fold

    task = _task(checked=True)
    other = TaskRecord("L-2", "call", "T2", "open")
    memory = replace(_memory(task), tasks={**_memory(task).tasks, ("L-2", "call"): other})

    fold = Fold(memory)
    fold.take(task)
    assert fold._ids is None  # found by its marker
    assert fold.finish(TaskChanges("t", False), project_id="P").records[0].status == "completed"

    for description in ("marker typed away", "Lead: Ana\n\n" + task_marker("L-2", "call")):
        fold = Fold(memory)
        fold.take(replace(task, description=description))
        assert fold._ids is not None
        folded = fold.finish(TaskChanges("t", False), project_id="P")
        assert [(r.lead_id, r.task_id, r.status) for r in folded.records] == [
            ("L-1", "T1", "completed")
        ]
