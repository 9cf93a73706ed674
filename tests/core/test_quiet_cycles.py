"""A quiet cycle after a settled one does not reload the state or replan; any change does."""

from __future__ import annotations

from datetime import date, timedelta

from support.world import lead_row

TODAY = date(2026, 3, 2)


def test_quiet_cycles_skip_planning_until_something_changes(make_world, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    world = make_world([lead_row("Ann Lee", TODAY), lead_row("Bo Ng", TODAY)], TODAY)
    world.cycle()  # onboarding
    world.cycle()  # takes in the echo of its own tasks; nothing to do: settles
    loads = []
    real = world.state.memory
    monkeypatch.setattr(world.state, "memory", lambda name: loads.append(name) or real(name))
    report = world.cycle()
    assert loads == [] and report.leads == 2 and report.figures is not None

    world.sheet.set(world.sheet.row_of("Bo Ng"), "Client meeting booked", 1)  # typed by hand
    report = world.cycle()
    assert loads and report.tasks_closed == 1

    loads.clear()
    world.cycle()  # takes in the close's echo
    world.cycle()
    n = len(loads)
    world.cycle()
    assert len(loads) == n  # quiet again

    world.todoist.complete(world.todoist.task_for(world.lead_id("Ann Lee"), "contact").id)
    report = world.cycle()
    assert report.marks_written == 1

    world.cycle()
    world.clock.set_day(TODAY + timedelta(days=1))  # a new day always replans
    loads.clear()
    world.cycle()
    assert loads


def test_a_task_ticked_on_a_settled_sheet_plans_with_the_settled_rows(
    make_world, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    """The sheet reads as the settled cycle's; only Todoist changed: the rows are not read
    into leads again (10,000 of them cost a one-lead cycle a fifth of its CPU), and the
    mark still lands in the lead's row. A sheet that changed is read again."""
    import journey_sync.engine as engine_module

    world = make_world([lead_row("Ann Lee", TODAY), lead_row("Bo Ng", TODAY)], TODAY)
    world.cycle()
    world.cycle()  # settles
    world.cycle()
    reads = []
    real = engine_module.read_sheet
    monkeypatch.setattr(
        engine_module, "read_sheet", lambda *a, **k: reads.append(1) or real(*a, **k)
    )
    world.todoist.complete(world.todoist.task_for(world.lead_id("Bo Ng"), "contact").id)
    report = world.cycle()
    assert report.marks_written == 1 and reads == []
    assert world.sheet.get(world.sheet.row_of("Bo Ng"), "Client contacted") == 1
    assert world.sheet.get(world.sheet.row_of("Ann Lee"), "Client contacted") in (None, "")

    world.cycle()  # the sheet changed (the mark): read again
    assert reads
