"""A dry run says what the next real cycle does, names new leads by row and name (their
ids are drawn by the real cycle), and can list everything or count per kind."""

from __future__ import annotations

import io
from datetime import date

from journey_sync.cycles import Outcome
from journey_sync.dryrun import EXAMPLES, plan_lines, print_dry_run
from support.world import lead_row

TODAY = date(2026, 3, 2)


def test_the_dry_run_is_what_the_next_cycle_does(make_world) -> None:  # type: ignore[no-untyped-def]
    world = make_world([lead_row("Ann Lee", TODAY), lead_row("Bo Chan", TODAY)], TODAY)
    world.cycle()
    world.todoist.complete(world.todoist.task_for(world.lead_id("Ann Lee"), "contact").id)
    world.sheet.set(world.sheet.row_of("Bo Chan"), "Client meeting booked", 1)
    world.sheet.append_lead({"Client name": "Cy Dunn", "Date of lead": 46083})
    plan, dry = world.engine.plan_only()
    writes, commands = world.sheet.write_requests, world.todoist.command_requests
    assert (world.sheet.write_requests, world.todoist.command_requests) == (writes, commands)
    real = world.cycle()
    for field in ("new_leads", "tasks_created", "marks_written", "tasks_closed", "tasks_removed"):
        assert getattr(dry, field) == getattr(real, field), field
    lines = plan_lines(plan, show_all=True)
    assert "would write lead id: 1" in lines
    assert any("new lead 'Cy Dunn' (row 4)" in line for line in lines)
    assert not any("L-" in line for line in lines if "Cy Dunn" in line)


def test_the_dry_run_counts_per_kind_and_lists_all_on_request(make_world) -> None:  # type: ignore[no-untyped-def]
    world = make_world([lead_row("Ann Lee", TODAY)], TODAY)
    plan, report = world.engine.plan_only()
    steps = len(world.workflow.steps)
    short = plan_lines(plan)
    assert f"would create task: {steps}" in short
    assert any(f"{steps - EXAMPLES} more (--all" in line for line in short)
    full = plan_lines(plan, show_all=True)
    assert sum(1 for line in full if line.endswith(" of 'Ann Lee')")) == steps
    out = io.StringIO()
    print_dry_run([Outcome(report.workflow, True, report=report, plan=plan)], out, show_all=True)
    printed = out.getvalue()
    assert printed.count(" of 'Ann Lee')") == steps
    assert "more (--all" not in printed


def test_a_dry_run_never_opens_a_write_transaction(make_world, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Not even one rolled back: the dry run plans from what it reads, on a fresh state
    (everything to do) and on a synced one with changes in Todoist and the sheet."""
    world = make_world([lead_row("Ann Lee", TODAY)], TODAY)

    def refused() -> None:
        raise AssertionError("the dry run opened a write transaction")

    with monkeypatch.context() as patched:
        patched.setattr(world.state, "transaction", refused)
        assert world.engine.plan_only()[1].tasks_created == len(world.workflow.steps)
    world.cycle()
    world.todoist.complete(world.todoist.task_for(world.lead_id("Ann Lee"), "contact").id)
    world.sheet.append_lead({"Client name": "Cy Dunn", "Date of lead": 46083})
    monkeypatch.setattr(world.state, "transaction", refused)
    dry = world.engine.run_cycle(dry_run=True)
    assert dry.dry_run and dry.marks_written == 1 and dry.new_leads == 1
