"""One contract, two implementations: the in-memory fakes the engine tests use and the real
gateways talking HTTP to the sandbox must behave alike, or the engine tests prove nothing."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from journey_sync.adapters.google_sheets import GoogleSheetsGateway
from journey_sync.adapters.todoist import TodoistGateway
from journey_sync.ports import (
    AddProject,
    AddTask,
    CellWrite,
    CloseTask,
    DeleteTask,
    Due,
    FormulaWrite,
    RowInsert,
    SheetGateway,
    SheetWrites,
    TaskGateway,
)
from journey_sync.settings import Secret
from journey_sync_sandbox.server import Sandbox
from support.fakes import FakeSheet, FakeTodoist

NOW = datetime(2026, 3, 2, 12, tzinfo=UTC)
ROWS: list[list[Any]] = [["Client name", "Date of lead", "Score"], ["Ann", 46083, 3], ["Bo", 46084]]


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(clock=lambda: NOW) as running:
        yield running


@pytest.fixture(params=["fake", "sandbox"])
def sheet(request: pytest.FixtureRequest, tmp_path: Path) -> SheetGateway:
    if request.param == "fake":
        return FakeSheet(ROWS)
    sandbox: Sandbox = request.getfixturevalue("sandbox")
    book = sandbox.create_spreadsheet(f"contract {tmp_path.name}", first_sheet="Leads")
    book.sheets[0].set_values("A1", ROWS, raw=True)
    key = sandbox.service_account.write_key_file(
        tmp_path / "key.json", token_uri=f"{sandbox.url}/token"
    )
    return GoogleSheetsGateway(
        spreadsheet=book.id, worksheet="Leads", credentials_file=key, base_url=sandbox.url
    )


@pytest.fixture(params=["fake", "sandbox"])
def tasks(request: pytest.FixtureRequest) -> TaskGateway:
    if request.param == "fake":
        return FakeTodoist(clock=lambda: NOW)
    sandbox: Sandbox = request.getfixturevalue("sandbox")
    return TodoistGateway(token=Secret(sandbox.todoist.token), base_url=sandbox.url)


# ------------------------------------------------------------------- sheet


def test_read_is_ragged_with_trailing_empties_omitted(sheet: SheetGateway) -> None:
    snapshot = sheet.read()
    assert snapshot.rows[:3] == (
        ("Client name", "Date of lead", "Score"),
        ("Ann", 46083, 3),
        ("Bo", 46084),
    )


def test_values_are_written_raw_cell_by_cell(sheet: SheetGateway) -> None:
    sheet.apply(
        SheetWrites(
            values=(
                CellWrite(2, 3, "=1+1"),
                CellWrite(3, 3, 1),
                CellWrite(2, 1, None),
                CellWrite(3, 4, 46090, as_date=True),
            )
        )
    )
    snapshot = sheet.read()
    assert snapshot.cell(2, 3) == "=1+1"  # text stays text, never a formula
    assert snapshot.cell(3, 3) == 1
    assert snapshot.cell(2, 1) is None
    assert snapshot.cell(2, 2) == 46083  # untouched neighbour
    assert snapshot.cell(3, 4) == 46090  # a date reads back as its serial number


def test_formulas_are_evaluated_and_follow_inserted_rows(sheet: SheetGateway) -> None:
    sheet.apply(
        SheetWrites(formulas=(FormulaWrite(5, 3, '=COUNTIFS($A$1:$A$4,"<>",$C$1:$C$4,3)'),))
    )
    assert sheet.read().cell(5, 3) == 1
    sheet.apply(
        SheetWrites(
            inserts=(RowInsert(before_row=3, count=2),),
            values=(CellWrite(3, 1, "Cy"), CellWrite(3, 3, 3)),
        )
    )
    snapshot = sheet.read()
    assert snapshot.cell(5, 1) == "Bo"  # moved down by the insert
    assert snapshot.cell(7, 3) == 2  # the formula moved too, and its range grew


# ------------------------------------------------------------------- tasks


def _add(uuid: str, temp: str, project: str, content: str = "Contact Ann") -> AddTask:
    return AddTask(
        uuid,
        temp,
        project,
        content,
        f"x\n\njourney-sync: lead L-1 · step {uuid}",
        Due(date(2026, 3, 2)),
    )


def test_full_then_incremental_sync_with_temp_ids_completion_and_deletion(
    tasks: TaskGateway,
) -> None:
    first = tasks.changes(None)
    assert first.full
    results = tasks.apply(
        [
            AddProject("p-uuid", "p-temp", "Contract journeys"),
            _add("a1", "t1", "p-temp"),
            _add("a2", "t2", "p-temp", "#home @x Call Bo"),
        ]
    )
    assert [r.ok for r in results] == [True, True, True]
    project_id, task_1, task_2 = (r.new_id for r in results)
    assert project_id and task_1 and task_2
    after_add = tasks.changes(first.sync_token)
    assert not after_add.full
    added = {t.id: t for t in after_add.tasks}
    assert added[task_2].content == "#home @x Call Bo"  # never parsed as quick-add
    assert added[task_1].project_id == project_id and added[task_1].due == Due(date(2026, 3, 2))
    assert any(p.id == project_id and p.name == "Contract journeys" for p in after_add.projects)

    assert [r.ok for r in tasks.apply([CloseTask("c1", task_1), DeleteTask("d1", task_2)])] == [
        True,
        True,
    ]
    changed = {t.id: t for t in tasks.changes(after_add.sync_token).tasks}
    assert changed[task_1].checked and not changed[task_1].is_deleted
    assert changed[task_2].is_deleted
    assert task_1 not in {
        t.id for t in tasks.changes(None).tasks
    }  # a full sync lists active tasks only
    done = tasks.completed(project_id=project_id, since=NOW - timedelta(days=30))
    assert [t.id for t in done if t.id == task_1] == [task_1]


def test_a_resent_uuid_is_not_executed_twice(tasks: TaskGateway) -> None:
    [project] = tasks.apply([AddProject("p2", "p2-temp", "Resend journeys")])
    assert project.new_id
    command = _add("same-uuid", "same-temp", project.new_id)
    tasks.apply([command])
    again = tasks.apply([command])
    assert again[0].ok
    titles = [t.content for t in tasks.changes(None).tasks if t.project_id == project.new_id]
    assert titles == ["Contact Ann"]


def test_a_command_on_a_missing_task_fails_alone(tasks: TaskGateway) -> None:
    [project] = tasks.apply([AddProject("p3", "p3-temp", "Mixed journeys")])
    assert project.new_id
    results = tasks.apply(
        [CloseTask("c-missing", "6X7rM8997g3RQmvh"), _add("ok-1", "ok-temp", project.new_id)]
    )
    assert [r.ok for r in results] == [False, True]
    assert results[0].error


def test_a_recurring_task_ticked_moves_on_and_is_in_the_activity_log_only(
    tasks: TaskGateway, sandbox: Sandbox
) -> None:
    [project, task] = tasks.apply(
        [AddProject("p4", "p4-temp", "Recurring journeys"), _add("r1", "r1-temp", "p4-temp")]
    )
    assert project.new_id and task.new_id
    # A person sets "every month" on it (in Todoist's app).
    if isinstance(tasks, FakeTodoist):
        tasks.make_recurring(task.new_id)
    else:
        item = sandbox.todoist.items[task.new_id]
        assert item.due is not None
        item.due = {**item.due, "string": "every month", "is_recurring": True}
    token = tasks.changes(None).sync_token
    tasks.apply([CloseTask("r-close", task.new_id)])  # ticked: item_close
    [moved] = [t for t in tasks.changes(token).tasks if t.id == task.new_id]
    assert not moved.checked and moved.due is not None and moved.due.recurring
    assert moved.due.day == date(2026, 4, 2)  # its next date
    assert task.new_id in {i for i, _ in tasks.recurring_completions(NOW - timedelta(days=1))}
    done = tasks.completed(project_id=project.new_id, since=NOW - timedelta(days=30))
    assert task.new_id not in {t.id for t in done}
    tasks.apply([CloseTask("r-complete", task.new_id, for_good=True)])  # item_complete
    assert task.new_id not in {t.id for t in tasks.changes(None).tasks}  # done for good
