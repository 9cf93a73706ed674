"""The Funnel tab kept by the cycle (issue 12, point 2) and the days stages were reached
(point 3): written once, quiet when nothing changed, rewritten when a mark changes, its
charts never duplicated across restarts or a lost state file, a person's own cells kept."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path

import pytest

from journey_sync.errors import WorkflowFileError
from journey_sync.funnel_tab import FUNNEL_CHART
from journey_sync.report import render_report
from journey_sync.sheet import read_sheet
from journey_sync.workflow import Workflow, load_workflows
from support.world import World, lead_row

TAB = "Funnel"


@pytest.fixture
def with_tab(workflow: Workflow) -> Workflow:
    return workflow.model_copy(
        update={"sheet": workflow.sheet.model_copy(update={"funnel_tab": TAB})}
    )


def _world(workflow: Workflow, tmp_path: Path, today: date = date(2026, 3, 2)) -> World:
    rows = [lead_row("Ann", today - timedelta(days=40)), lead_row("Bo", today - timedelta(days=3))]
    return World(workflow, tmp_path, rows, today)


def _tab_writes(world: World) -> int:
    return sum(1 for w in world.sheet.applied for t in w.tabs if t.title == TAB)


def _cell(world: World, text: str) -> tuple[int, int]:
    return next(k for k, v in world.sheet.tabs[TAB].items() if v == text)


def test_written_once_then_quiet_then_rewritten_when_a_mark_changes(
    with_tab: Workflow, tmp_path: Path
) -> None:
    world = _world(with_tab, tmp_path)
    world.cycle()
    assert _tab_writes(world) == 1
    assert len(world.sheet.tab_charts[TAB]) == 3
    assert FUNNEL_CHART in {c.title for c in world.sheet.tab_charts[TAB]}
    world.cycle()  # the echo of the tasks created
    writes_before = world.sheet.write_requests
    world.cycle()  # quiet: nothing changed
    assert _tab_writes(world) == 1
    assert world.sheet.write_requests == writes_before

    contact = next(t for t in world.todoist.active() if "step contact" in t.description)
    world.todoist.complete(contact.id)
    world.cycle()
    assert _tab_writes(world) == 2
    assert len(world.sheet.tab_charts[TAB]) == 3  # replaced by title, not added again


def test_charts_never_duplicated_across_a_restart_or_a_lost_state_file(
    with_tab: Workflow, tmp_path: Path
) -> None:
    world = _world(with_tab, tmp_path)
    world.cycle()
    world.restart()
    world.cycle()
    assert _tab_writes(world) == 1  # what was written is remembered across a restart
    world.restart(lose_state=True)
    world.cycle()
    assert _tab_writes(world) == 2  # written again, once
    assert sorted(c.title for c in world.sheet.tab_charts[TAB]) == sorted(
        {c.title for c in world.sheet.tab_charts[TAB]}
    )
    assert len(world.sheet.tab_charts[TAB]) == 3


def test_a_persons_cells_outside_the_block_are_kept(with_tab: Workflow, tmp_path: Path) -> None:
    world = _world(with_tab, tmp_path)
    world.cycle()
    world.sheet.tabs[TAB][(60, 30)] = "Our notes for the Monday meeting"
    contact = next(t for t in world.todoist.active() if "step contact" in t.description)
    world.todoist.complete(contact.id)
    world.cycle()
    assert _tab_writes(world) == 2
    assert world.sheet.tabs[TAB][(60, 30)] == "Our notes for the Monday meeting"


def test_no_tab_unless_the_workflow_names_one(workflow: Workflow, tmp_path: Path) -> None:
    world = _world(workflow, tmp_path)
    world.cycle()
    assert world.sheet.tabs == {} and _tab_writes(world) == 0


def test_the_dry_run_lists_the_tab_and_writes_nothing(with_tab: Workflow, tmp_path: Path) -> None:
    world = _world(with_tab, tmp_path)
    plan, _ = world.engine.plan_only()
    assert dict(plan.lines())["write funnel tab"] == [f"{TAB!r}: its tables and 3 charts"]
    assert world.sheet.tabs == {}


def test_the_day_a_stage_was_reached_is_the_completion_day_or_the_day_first_seen(
    with_tab: Workflow, tmp_path: Path
) -> None:
    start = date(2026, 3, 2)
    world = _world(with_tab, tmp_path, start)
    world.cycle()
    world.cycle()
    ann = next(
        t for t in world.todoist.active() if "step contact" in t.description and "Ann" in t.content
    )
    world.todoist.complete(ann.id)  # completed on 2 March ...
    world.clock.set_day(start + timedelta(days=3))  # ... seen three days later
    world.cycle()
    bo_row = world.sheet.row_of("Bo")
    world.sheet.set(bo_row, "Client meeting booked", 1)  # typed by hand on 5 March
    world.cycle()
    model = read_sheet(with_tab, world.sheet.read())
    ids = {lead.name: lead.lead_id for lead in model.leads}
    reached = world.state.reached(with_tab.name)
    assert reached[ids["Ann"]]["contacted"] == start
    assert reached[ids["Bo"]]["meeting_booked"] == start + timedelta(days=3)
    # A mark removed and typed again keeps the day it was first reached.
    world.clock.set_day(start + timedelta(days=9))
    world.sheet.set(bo_row, "Client meeting booked", None)
    world.cycle()
    world.sheet.set(bo_row, "Client meeting booked", 1)
    world.cycle()
    assert world.state.reached(with_tab.name)[ids["Bo"]]["meeting_booked"] == start + timedelta(
        days=3
    )
    # The report and the tab say it: Ann reached "contacted" 40 days after her lead date.
    figures = json.loads(
        render_report(with_tab, list(model.leads), as_json=True, today=start, reached_on=reached)
    )
    contacted = next(s for s in figures["overall"]["stages"] if s["key"] == "contacted")
    assert contacted["median_days"] == 40 and contacted["timed_leads"] == 1
    cells = world.sheet.tabs[TAB]
    row = next(r for (r, c), v in cells.items() if c == 1 and v == "Client contacted")
    column = next(c for (r, c), v in cells.items() if v == "Median days from lead")
    assert cells[(row, column)] == 40


def test_a_funnel_tab_named_like_the_leads_worksheet_is_refused(tmp_path: Path) -> None:
    text = (Path(__file__).resolve().parents[2] / "workflows.yaml").read_text()
    broken = text.replace("worksheet: Leads", "worksheet: Leads\n      funnel_tab: Leads", 1)
    assert broken != text
    path = tmp_path / "workflows.yaml"
    path.write_text(broken)
    with pytest.raises(WorkflowFileError, match="funnel_tab 'Leads' is the leads' worksheet"):
        load_workflows(path)
