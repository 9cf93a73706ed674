"""The invariants, checked over a world of fakes: exactly once, the footer is right."""

from __future__ import annotations

from collections import Counter

from journey_sync.dates import today_in
from journey_sync.footer import footer_differences
from journey_sync.funnel import funnel
from journey_sync.sheet import read_sheet
from support.world import World


def tasks_per_step(world: World) -> Counter[tuple[str, str]]:
    counts: Counter[tuple[str, str]] = Counter()
    for task in world.todoist.all_tasks():
        if task.is_deleted:
            continue
        lead, step = task.description.rsplit("journey-sync: lead ", 1)[1].split(" · step ")
        counts[(lead, step)] += 1
    return counts


def assert_exactly_once(world: World) -> None:
    duplicated = {k: n for k, n in tasks_per_step(world).items() if n > 1}
    assert not duplicated, f"duplicate tasks: {duplicated}"


def assert_footer_right(world: World) -> None:
    model = read_sheet(world.workflow, world.sheet.read())
    figures = funnel(world.workflow, model.leads, today_in(world.workflow.zone, world.clock()))
    footer_rows = [f.row for f in model.footer]
    assert footer_rows, "no footer"
    assert min(footer_rows) > max((lead.row for lead in model.leads), default=1), (
        "a lead is under the footer"
    )
    # Every footer cell reads what the Python figures say (footer.expected_values).
    assert not footer_differences(model, figures)
