"""Reusing the last plan's per-lead decisions (``PlanMemo``, with ``RowMemo``'s leads)
gives exactly the plan made from scratch, through what people do between cycles."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

import journey_sync.engine as engine_module
import journey_sync.plan as plan_module
from journey_sync.plan import PlanMemo
from journey_sync.sheet import cells_to_check, find_layout, read_sheet
from support.world import lead_row

TODAY = date(2026, 3, 2)


def test_a_memo_plan_is_the_plan_from_scratch(make_world, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    real = engine_module.plan_cycle
    compared: list[tuple[int, int]] = []
    reused: list[int] = []

    def both(workflow, model, memory, today, new_id, **options):  # type: ignore[no-untyped-def]
        memo: PlanMemo | None = options.get("memo")
        before = dict(memo.leads) if memo is not None else {}
        ids: list[str] = []

        def recording() -> str:
            ids.append(new_id())
            return ids[-1]

        plan = real(workflow, model, memory, today, recording, **options)
        if memo is None:
            return plan
        reused.append(sum(1 for k, v in memo.leads.items() if before.get(k) is v))
        replay: Callable[[], str] = iter(ids).__next__
        # Read again without the memo, asking which cells are formulas as the engine does
        # (a lead typed over the footer: its figures are the old footer's, not marks).
        rows = cells_to_check(workflow, model.snapshot)
        formulas = (
            world.sheet.formula_cells(rows, find_layout(workflow, model.snapshot).last_column)
            if rows
            else None
        )
        fresh_model = read_sheet(workflow, model.snapshot, formulas)
        assert fresh_model == model
        scratch = real(workflow, fresh_model, memory, today, replay, **{**options, "memo": None})
        assert scratch.actions == plan.actions
        assert scratch.warnings == plan.warnings and scratch.footer == plan.footer
        compared.append((len(plan.actions), len(memo.leads)))
        return plan

    monkeypatch.setattr(engine_module, "plan_cycle", both)
    identified: list[int] = []
    real_identify = plan_module.identify

    def counting(*args, **kwargs):  # type: ignore[no-untyped-def]
        identified.append(1)
        return real_identify(*args, **kwargs)

    monkeypatch.setattr(plan_module, "identify", counting)
    # Plans that looked only at the leads whose stamp moved on (a task ticked on a settled
    # sheet), and how many leads each looked at.
    replanned: list[int] = []
    real_replan = PlanMemo.leads_to_replan

    def replanning(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        redo = real_replan(self, *args, **kwargs)
        if redo is not None:
            replanned.append(len(redo))
        return redo

    monkeypatch.setattr(PlanMemo, "leads_to_replan", replanning)
    names = ["Ann Lee", "Bo Ng", "Cy Oh", "Di Park", "Ed Quinn", "Flo Ray"]
    world = make_world([lead_row(n, TODAY - timedelta(days=i)) for i, n in enumerate(names)], TODAY)
    sheet, todoist = world.sheet, world.todoist

    def person(action: Callable[[], Any]) -> None:
        action()
        world.cycle()
        world.cycle()  # the echo of what the cycle did

    person(lambda: None)  # onboarding
    person(lambda: todoist.complete(todoist.task_for(world.lead_id("Ann Lee"), "contact").id))
    person(lambda: sheet.set(sheet.row_of("Bo Ng"), "Client meeting booked", 1))
    person(lambda: sheet.set(sheet.row_of("Cy Oh"), "Date of lead", 46100))
    person(lambda: sheet.set(sheet.row_of("Di Park"), "Reason for discontinue", "moved away"))
    person(lambda: sheet.sort_leads("Client name", first=2, last=7, reverse=True))
    person(lambda: todoist.uncomplete(todoist.task_for(world.lead_id("Ann Lee"), "contact").id))
    person(lambda: sheet.delete_rows(sheet.row_of("Ed Quinn")))
    person(lambda: world.clock.set_day(TODAY + timedelta(days=3)))
    person(lambda: sheet.set(sheet.row_of("Bo Ng"), "Client meeting booked", None))
    person(lambda: todoist.complete(todoist.task_for(world.lead_id("Flo Ray"), "contact").id))
    person(lambda: sheet.sort_leads("Client name", first=2, last=6, outside=("Lead ID",)))
    person(lambda: sheet.append_lead({"Client name": "Gus Todd", "Date of lead": 46083}))
    person(lambda: sheet.append_lead({"Client name": "Gus Todd", "Date of lead": 46083}))
    # Rows with notes (an impossible date, an unreadable one) while other leads' tasks are
    # ticked: the notes are wanted again, in the order of the rows, from the kept plans.
    person(lambda: sheet.set(sheet.row_of("Cy Oh"), "Date of lead", "31/12/9999"))
    person(lambda: sheet.set(sheet.row_of("Flo Ray"), "Date of lead", "next week"))
    person(lambda: todoist.complete(todoist.task_for(world.lead_id("Bo Ng"), "contact").id))
    person(lambda: todoist.complete(todoist.task_for(world.lead_id("Ann Lee"), "contact").id))
    person(lambda: todoist.complete(todoist.task_for(world.lead_id("Flo Ray"), "book_meeting").id))
    person(lambda: todoist.uncomplete(todoist.task_for(world.lead_id("Bo Ng"), "contact").id))
    assert len(compared) >= 38
    # The few leads' plans, not all: most short passes looked at the one lead changed.
    assert replanned and sorted(replanned)[len(replanned) // 2] == 1
    # Each plan from scratch identifies; the memo's plans reused their last identities
    # when every row read as before (so fewer calls than two per compared plan).
    assert len(identified) < 2 * len(compared)
    assert sum(reused) > 0  # the memo was used, not only compared


def test_a_row_that_could_not_be_planned_is_planned_again_when_only_todoist_changed(
    make_world, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    """A lead whose plan failed is kept by no plan: when a task of another lead is ticked
    on the settled sheet (only the leads whose stamp moved on are looked at), it is
    planned again, and its note ("cannot handle this row") stays wanted."""
    real_tasks = plan_module.plan_tasks
    broken: set[str] = set()

    def failing(ctx, view):  # type: ignore[no-untyped-def]
        if view.lead_id in broken:
            raise ValueError("a cell no plan can read")
        return real_tasks(ctx, view)

    monkeypatch.setattr(plan_module, "plan_tasks", failing)
    looked_at = watch_replans(monkeypatch)
    compare_with_scratch(monkeypatch, read_again=False)
    world = make_world([lead_row("Ann Lee", TODAY), lead_row("Bo Ng", TODAY)], TODAY)
    broken.add("L-0002")  # Bo's id, once written
    world.cycle()
    assert world.lead_id("Bo Ng") == "L-0002"
    world.cycle()  # Bo's note placed
    world.cycle()
    world.cycle()  # settled, Bo kept by no plan
    looked_at.clear()
    todoist = world.todoist
    todoist.complete(todoist.task_for(world.lead_id("Ann Lee"), "contact").id)
    report = world.cycle()
    assert report.marks_written == 1
    assert looked_at and looked_at[-1] == {world.lead_id("Ann Lee"), world.lead_id("Bo Ng")}


def test_the_cycle_after_a_mark_was_written_plans_only_that_leads_row(
    make_world, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    """The cycle after a change reads the mark it wrote: one row changed, so the identities
    are the last ones with that row taken in, and only its lead is planned again (not a
    check of every lead's kept plan); the plan is the plan from scratch."""
    looked_at = watch_replans(monkeypatch)
    compare_with_scratch(monkeypatch, read_again=True)
    names = ["Ann Lee", "Bo Ng", "Cy Oh", "Di Park"]
    world = make_world([lead_row(n, TODAY - timedelta(days=i)) for i, n in enumerate(names)], TODAY)
    for _ in range(4):
        world.cycle()  # onboarding, its echo, settled
    todoist = world.todoist
    for name, step in (("Ann Lee", "contact"), ("Cy Oh", "contact"), ("Ann Lee", "book_meeting")):
        todoist.complete(todoist.task_for(world.lead_id(name), step).id)
        looked_at.clear()
        assert world.cycle().marks_written == 1  # the mark written
        assert world.cycle().marks_written == 0  # the cycle that reads it
        assert looked_at[-1] == {world.lead_id(name)}
    # A hand mark typed in one row: that lead (its task closed), nobody else.
    world.sheet.set(world.sheet.row_of("Bo Ng"), "Client meeting had", 1)
    looked_at.clear()
    assert world.cycle().tasks_closed == 1
    assert looked_at[-1] is not None and world.lead_id("Bo Ng") in looked_at[-1]
    assert len(looked_at[-1]) <= 2


def watch_replans(monkeypatch) -> list[set[str] | None]:  # type: ignore[no-untyped-def]
    """What each plan's ``leads_to_replan`` answered (None: every lead looked at)."""
    looked_at: list[set[str] | None] = []
    real_replan = PlanMemo.leads_to_replan

    def replanning(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        looked_at.append(real_replan(self, *args, **kwargs))
        return looked_at[-1]

    monkeypatch.setattr(PlanMemo, "leads_to_replan", replanning)
    return looked_at


def compare_with_scratch(monkeypatch, *, read_again: bool) -> None:  # type: ignore[no-untyped-def]
    """Every plan the engine makes is checked against a plan from scratch (no memo; with
    ``read_again``, of the snapshot read again without the row memo), ids replayed."""
    real = engine_module.plan_cycle

    def both(workflow, model, memory, today, new_id, **options):  # type: ignore[no-untyped-def]
        ids: list[str] = []

        def recording() -> str:
            ids.append(new_id())
            return ids[-1]

        plan = real(workflow, model, memory, today, recording, **options)
        fresh = read_sheet(workflow, model.snapshot) if read_again else model
        replay: Callable[[], str] = iter(ids).__next__
        scratch = real(workflow, fresh, memory, today, replay, **{**options, "memo": None})
        assert scratch.actions == plan.actions and scratch.footer == plan.footer
        return plan

    monkeypatch.setattr(engine_module, "plan_cycle", both)
