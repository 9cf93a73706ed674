"""Journeys that change (issue 16), against the in-memory gateways: a workflow edited
while leads are in the sheet, and coaches typed in the sheet receiving their leads' tasks.

Each test names the point of the issue it shows; each would fail without it.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

import pytest

from journey_sync.actions import TemplateSummary, UpdateTaskAction
from journey_sync.cli import main
from journey_sync.errors import WorkflowFileError
from journey_sync.ports import Due, Task
from journey_sync.template import confirm_template, template_hash
from journey_sync.workflow import Offset, Step, Workflow, load_workflows, parse_workflows
from support.checks import assert_exactly_once
from support.world import ROOT, World, lead_row

TODAY = date(2026, 3, 2)  # a Monday


def edit(world: World, *, steps: Callable[[Step], Step | None] | None = None, **more: Any) -> None:
    """The business edits workflows.yaml and restarts journey-sync."""
    workflow = world.workflow
    changes: dict[str, Any] = dict(more)
    if steps is not None:
        changes["steps"] = tuple(s for s in map(steps, workflow.steps) if s is not None)
    world.workflow = Workflow.model_validate(
        {**workflow.model_dump(by_alias=True), **_dumped(changes)}
    )
    world.engine = world._engine()


def _dumped(changes: dict[str, Any]) -> dict[str, Any]:
    out = dict(changes)
    if "steps" in out:
        out["steps"] = [s.model_dump(by_alias=True) for s in out["steps"]]
    return out


def step_edit(which: str, /, **fields: Any) -> Callable[[Step], Step | None]:
    return lambda s: s.model_copy(update=fields) if s.key == which else s


def task(world: World, name: str, step: str) -> Task:
    return world.todoist.task_for(world.lead_id(name), step)


def two_leads(make_world: Callable[..., World]) -> World:
    world = make_world([lead_row("Ann Lee", TODAY), lead_row("Bo Chan", TODAY)], TODAY)
    world.cycle()
    return world


# ------------------------------------------------------------ 1. template versions


def test_a_new_step_reaches_active_leads_for_whom_it_is_still_ahead(make_world) -> None:  # type: ignore[no-untyped-def]
    old = TODAY - timedelta(days=300)
    world = make_world(
        [lead_row("Ann Lee", TODAY), lead_row("Old Timer", old), lead_row("Gone Girl", TODAY)],
        TODAY,
    )
    world.cycle()
    world.sheet.set(world.sheet.row_of("Gone Girl"), "Reason for discontinue", "Moved away")
    world.cycle()
    nine_months = Step.model_validate(
        {"key": "touch_base_9m", "content": "Nine-month touch base with {name}", "due": "+9m"}
    )
    world.workflow = Workflow.model_validate(
        {
            **world.workflow.model_dump(by_alias=True),
            "steps": [
                *(s.model_dump(by_alias=True) for s in world.workflow.steps),
                nine_months.model_dump(by_alias=True),
            ],
        }
    )
    world.engine = world._engine()
    report = world.cycle()
    assert report.tasks_created == 1  # Ann only: Old Timer's is past, Gone Girl left
    assert task(world, "Ann Lee", "touch_base_9m").due is not None
    assert task(world, "Ann Lee", "touch_base_9m").due.day == date(2026, 12, 2)  # type: ignore[union-attr]
    assert_exactly_once(world)
    assert world.cycle().tasks_created == 0


def test_a_reworded_step_updates_the_open_tasks_made_from_it(make_world) -> None:  # type: ignore[no-untyped-def]
    world = two_leads(make_world)
    world.todoist.complete(task(world, "Bo Chan", "book_meeting").id)
    world.cycle()
    edit(world, steps=step_edit("book_meeting", content="Call {name} to book a meeting"))
    plan, _ = world.engine.plan_only()
    lines = dict(plan.lines())
    assert lines["change journey"] == ["step book_meeting: 1 updated"]
    world.cycle()
    assert task(world, "Ann Lee", "book_meeting").content == "Call Ann Lee to book a meeting"
    # A completed task is history: not rewritten.
    assert task(world, "Bo Chan", "book_meeting").content == "Book a first meeting with Bo Chan"
    assert world.engine.plan_only()[0].is_empty()  # once


def test_a_persons_own_change_survives_a_template_edit_of_the_same_field(make_world) -> None:  # type: ignore[no-untyped-def]
    world = two_leads(make_world)
    ann_task = task(world, "Ann Lee", "hold_meeting")
    world.todoist.edit(ann_task.id, content="Hold the meeting with Ann at the park", priority=4)
    world.cycle()
    edit(
        world,
        steps=step_edit(
            "hold_meeting", content="Meet {name} in the studio", labels=("meeting",), priority=2
        ),
    )
    world.cycle()
    ann, bo = task(world, "Ann Lee", "hold_meeting"), task(world, "Bo Chan", "hold_meeting")
    # Ann's content and priority were changed by a person: theirs. Her labels follow.
    assert ann.content == "Hold the meeting with Ann at the park" and ann.priority == 4
    assert ann.labels == ("meeting",)
    assert (bo.content, bo.priority, bo.labels) == ("Meet Bo Chan in the studio", 2, ("meeting",))
    # A second edit of the same field still leaves Ann's alone.
    edit(world, steps=step_edit("hold_meeting", content="Meet {name} at the front desk"))
    world.cycle()
    assert task(world, "Ann Lee", "hold_meeting").content == "Hold the meeting with Ann at the park"
    assert task(world, "Bo Chan", "hold_meeting").content == "Meet Bo Chan at the front desk"


def test_a_changed_offset_moves_open_tasks_unless_a_person_rescheduled(make_world) -> None:  # type: ignore[no-untyped-def]
    world = two_leads(make_world)
    bo_task = task(world, "Bo Chan", "check_in_1m")
    world.todoist.edit(bo_task.id, due=Due(date(2026, 4, 20)))
    world.cycle()
    edit(world, steps=step_edit("check_in_1m", due=Offset.parse("+3w")))
    report = world.cycle()
    assert task(world, "Ann Lee", "check_in_1m").due.day == date(2026, 3, 23)  # type: ignore[union-attr]
    assert task(world, "Bo Chan", "check_in_1m").due.day == date(2026, 4, 20)  # type: ignore[union-attr]
    assert report.failed_commands == []
    assert world.engine.plan_only()[0].is_empty()


def test_a_removed_step_keeps_its_tasks_by_default_and_deletes_them_when_asked(make_world) -> None:  # type: ignore[no-untyped-def]
    world = two_leads(make_world)
    ann_id = world.lead_id("Ann Lee")
    kept_id = task(world, "Ann Lee", "touch_base_6w").id
    edit(world, steps=lambda s: None if s.key == "touch_base_6w" else s)
    world.cycle()
    assert any(t.id == kept_id and not t.is_deleted for t in world.todoist.active())
    edit(world, on_step_removed="delete")
    world.cycle()
    assert not any(t.id == kept_id for t in world.todoist.active())
    assert f"lead {ann_id} · step touch_base_6w" not in "".join(
        t.description for t in world.todoist.active()
    )
    assert world.engine.plan_only()[0].is_empty()


def test_departed_leads_are_never_touched_by_a_template_edit(make_world) -> None:  # type: ignore[no-untyped-def]
    world = two_leads(make_world)
    edit(world, on_leave="keep")
    world.sheet.set(world.sheet.row_of("Bo Chan"), "Reason for discontinue", "Moved away")
    world.cycle()
    before = task(world, "Bo Chan", "hold_meeting")
    edit(
        world,
        steps=lambda s: (
            None
            if s.key == "touch_base_6w"
            else s.model_copy(update={"content": "New: " + s.content})
        ),
        on_step_removed="delete",
        on_leave="keep",
    )
    world.cycle()
    assert task(world, "Bo Chan", "hold_meeting") == before
    assert not task(world, "Bo Chan", "touch_base_6w").is_deleted
    assert task(world, "Ann Lee", "hold_meeting").content.startswith("New: ")


def test_a_renamed_step_is_the_same_step(make_world) -> None:  # type: ignore[no-untyped-def]
    world = two_leads(make_world)
    old_id = task(world, "Ann Lee", "book_meeting").id
    edit(
        world,
        steps=step_edit("book_meeting", key="book_first_meeting", renamed_from="book_meeting"),
        on_step_removed="delete",
    )
    report = world.cycle()
    assert report.tasks_created == 0 and report.tasks_removed == 0
    assert any(t.id == old_id for t in world.todoist.active())
    ann = world.lead_id("Ann Lee")
    assert world.state.memory(world.workflow.name).tasks[(ann, "book_first_meeting")].task_id == (
        old_id
    )
    # Completing it still marks the stage; nothing is created again, even from scratch.
    world.todoist.complete(old_id)
    world.cycle()
    assert world.mark("Ann Lee", "Client meeting booked") == 1
    world.restart(lose_state=True)
    assert world.cycle().tasks_created == 0
    assert_exactly_once(world)


def test_a_big_change_is_held_until_apply_template_confirms_it(make_world) -> None:  # type: ignore[no-untyped-def]
    world = make_world([lead_row(n, TODAY) for n in ("Ann Lee", "Bo Chan", "Cy Dunn")], TODAY)
    world.cycle()
    edit(
        world,
        steps=step_edit("hold_meeting", content="Meet {name} in the studio"),
        max_template_changes=2,
    )
    plan, _ = world.engine.plan_only()
    assert dict(plan.lines())["change journey"] == [
        "step hold_meeting: 3 updated (held: waiting for `journey-sync apply-template`)"
    ]
    for _ in range(2):  # every cycle says it waits, and changes nothing
        report = world.cycle()
        assert any("apply-template" in w for w in report.warnings)
        assert task(world, "Ann Lee", "hold_meeting").content.startswith("Hold the first")
    confirm_template(world.state, world.workflow)
    report = world.cycle()
    assert not report.warnings
    assert {task(world, n, "hold_meeting").content for n in ("Ann Lee", "Bo Chan", "Cy Dunn")} == {
        f"Meet {n} in the studio" for n in ("Ann Lee", "Bo Chan", "Cy Dunn")
    }
    # A later, different edit is held again: the confirmation was for that template only.
    edit(world, steps=step_edit("hold_meeting", content="Meet {name} outside"))
    assert any("apply-template" in w for w in world.cycle().warnings)


# ------------------------------------------------------------------- 2. coaches


def coach_world(make_world: Callable[..., World]) -> World:
    world = make_world([lead_row("Ann Lee", TODAY), lead_row("Bo Chan", TODAY)], TODAY)
    world.todoist.collaborators.update({"U1": "Sam Stone", "U2": "Kim Park"})
    edit(
        world,
        steps=lambda s: (
            s.model_copy(update={"for_": "coach"})
            if s.key in ("complimentary_session", "coach_report_4m")
            else s
        ),
        coaches={"Sammy": "Sam Stone"},
    )
    world.cycle()
    return world


def test_a_coach_typed_in_the_sheet_receives_the_leads_coach_tasks(make_world) -> None:  # type: ignore[no-untyped-def]
    world = coach_world(make_world)
    world.sheet.set(world.sheet.row_of("Ann Lee"), "Name of coach", "sam stone")
    world.cycle()
    assert task(world, "Ann Lee", "complimentary_session").responsible_uid == "U1"
    assert task(world, "Ann Lee", "coach_report_4m").responsible_uid == "U1"
    assert task(world, "Ann Lee", "hold_meeting").responsible_uid is None  # not a coach step
    assert task(world, "Bo Chan", "complimentary_session").responsible_uid is None
    # A name mapped in the workflow.
    world.sheet.set(world.sheet.row_of("Bo Chan"), "Name of coach", "Sammy")
    world.cycle()
    assert task(world, "Bo Chan", "complimentary_session").responsible_uid == "U1"
    assert world.engine.plan_only()[0].is_empty()


def test_a_coach_typed_as_an_e_mail_address_is_found_by_it(make_world) -> None:  # type: ignore[no-untyped-def]
    world = make_world([lead_row("Ann Lee", TODAY)], TODAY)
    world.todoist.collaborators.update({"U1": "Sam Stone", "U2": "Kim Park"})
    world.todoist.collaborator_emails.update(
        {"U1": "sam@studio.example", "U2": "kim@studio.example"}
    )
    edit(
        world,
        steps=lambda s: s.model_copy(update={"for_": "coach"}) if s.key == "coach_report_4m" else s,
    )
    world.cycle()
    world.sheet.set(world.sheet.row_of("Ann Lee"), "Name of coach", " Kim@Studio.example ")
    world.cycle()
    assert task(world, "Ann Lee", "coach_report_4m").responsible_uid == "U2"
    assert (world.sheet.row_of("Ann Lee"), world.sheet.header_column("Name of coach")) not in (
        world.sheet.notes
    )
    # Remembered across a restart (the e-mails are kept in the state store, schema 4).
    world.restart()
    world.todoist.collaborator_emails.clear()  # Todoist reports no change of them
    world.sheet.set(world.sheet.row_of("Ann Lee"), "Name of coach", "sam@studio.example")
    world.cycle()
    assert task(world, "Ann Lee", "coach_report_4m").responsible_uid == "U1"


def test_a_changed_coach_reassigns_the_tasks_nobody_reassigned_by_hand(make_world) -> None:  # type: ignore[no-untyped-def]
    world = coach_world(make_world)
    world.sheet.set(world.sheet.row_of("Ann Lee"), "Name of coach", "Sam Stone")
    world.cycle()
    world.todoist.assign(task(world, "Ann Lee", "coach_report_4m").id, "U2")  # by hand
    world.cycle()
    world.sheet.set(world.sheet.row_of("Ann Lee"), "Name of coach", "Kim Park")
    world.cycle()
    assert task(world, "Ann Lee", "complimentary_session").responsible_uid == "U2"
    world.sheet.set(world.sheet.row_of("Ann Lee"), "Name of coach", "Sam Stone")
    world.cycle()
    assert task(world, "Ann Lee", "complimentary_session").responsible_uid == "U1"
    assert task(world, "Ann Lee", "coach_report_4m").responsible_uid == "U2"  # a person's


def test_a_coach_nobody_matches_gets_a_note_listing_the_collaborators(make_world) -> None:  # type: ignore[no-untyped-def]
    world = coach_world(make_world)
    row = world.sheet.row_of("Ann Lee")
    world.sheet.set(row, "Name of coach", "Pat Nobody")
    world.cycle()
    note = world.sheet.notes.get((row, world.sheet.header_column("Name of coach"))) or ""
    assert "Pat Nobody" in note and "Kim Park, Sam Stone" in note
    assert task(world, "Ann Lee", "complimentary_session").responsible_uid is None
    world.sheet.set(row, "Name of coach", "Kim Park")
    world.cycle()
    assert (row, world.sheet.header_column("Name of coach")) not in world.sheet.notes
    assert task(world, "Ann Lee", "complimentary_session").responsible_uid == "U2"


def test_assigning_in_todoist_fills_the_empty_cell_and_the_directions_never_fight(  # type: ignore[no-untyped-def]
    make_world,
) -> None:
    world = coach_world(make_world)
    world.todoist.assign(task(world, "Ann Lee", "complimentary_session").id, "U2")
    world.cycle()
    assert world.sheet.get(world.sheet.row_of("Ann Lee"), "Name of coach") == "Kim Park"
    world.cycle()
    # The cell now names Kim: her other coach task follows; the one assigned stays.
    assert task(world, "Ann Lee", "coach_report_4m").responsible_uid == "U2"
    assert task(world, "Ann Lee", "complimentary_session").responsible_uid == "U2"
    plan, _ = world.engine.plan_only()
    assert plan.is_empty() and not plan.of(UpdateTaskAction)
    assert not plan.of(TemplateSummary)


# ------------------------------------------------------- the command and the file


def test_apply_template_confirms_the_held_template_in_the_state(
    make_world: Callable[..., World], monkeypatch: pytest.MonkeyPatch
) -> None:
    world = two_leads(make_world)
    edit(world, steps=step_edit("hold_meeting", content="Meet {name}"), max_template_changes=1)
    assert any("apply-template" in w for w in world.cycle().warnings)
    monkeypatch.setenv("JOURNEY_SYNC_WORKFLOWS", str(ROOT / "workflows.yaml"))
    monkeypatch.setenv("JOURNEY_SYNC_STATE", str(world.db_path))
    assert main(["apply-template", "--workflow", "no such workflow"]) == 2
    # The command confirms the file's template; the test's world runs an edited one.
    assert main(["apply-template"]) == 0
    assert world.state.get(world.workflow.name, "template_confirmed") == template_hash(
        load_workflows(ROOT / "workflows.yaml").workflows[0]
    )
    confirm_template(world.state, world.workflow)
    assert not world.cycle().warnings
    assert task(world, "Ann Lee", "hold_meeting").content == "Meet Ann Lee"


def test_renamed_from_must_name_a_key_that_is_gone_and_only_once() -> None:
    text = (ROOT / "workflows.yaml").read_text()
    text = text.replace(
        "      - key: hold_meeting\n",
        "      - key: hold_meeting\n        renamed_from: book_meeting\n",
    ).replace(
        "      - key: check_in_1m\n",
        "      - key: check_in_1m\n        renamed_from: book_meeting\n        for: coach\n",
    )
    with pytest.raises(WorkflowFileError) as caught:
        parse_workflows(text)
    messages = [f"{p.field}: {p.message}" for p in caught.value.problems]
    assert any("renamed_from" in m and "still a step key" in m for m in messages), messages
    assert any("two steps are renamed from 'book_meeting'" in m for m in messages), messages
    ok = (
        (ROOT / "workflows.yaml")
        .read_text()
        .replace(
            "      - key: check_in_1m\n",
            "      - key: check_in_4w\n        renamed_from: check_in_1m\n        for: coach\n",
        )
    )
    step = next(s for s in parse_workflows(ok).workflows[0].steps if s.key == "check_in_4w")
    assert (step.renamed_from, step.for_) == ("check_in_1m", "coach")
