"""A completion in the last second before a rebuild is not missed (a regression test).

After the state file is lost, the engine rebuilds its memory from a full sync plus
Todoist's completed history, asked through ``TodoistGateway.completed()``. That method
ends its last window at "now" formatted by ``_api_datetime``, which drops the
microseconds, and ``by_completion_date`` treats ``until`` as exclusive. A task completed
in the fraction of a second between the whole second and "now" is missing from the
answer, so the rebuild thinks the step never had a task: the engine creates a second task
for that (lead, step) and never writes the stage mark (DESIGN invariants 1 and 2). Fixed
by ending the last window a margin after "now" (``UNTIL_MARGIN``).

Deterministic here: the sandbox, the engine and the gateway share a simulated clock; the
task is completed at 12:00:00.400 and the rebuild runs at 12:00:00.900.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from journey_sync.adapters.todoist import TodoistGateway
from journey_sync.engine import Engine
from journey_sync.plan import parse_marker
from journey_sync.settings import Settings, load_settings
from journey_sync.state import StateStore
from journey_sync.wiring import sheet_gateway
from journey_sync.workflow import Workflow, load_workflows
from journey_sync_sandbox.demo import SimClock
from journey_sync_sandbox.server import Sandbox
from journey_sync_sandbox.workdir import read_env_file

pytestmark = pytest.mark.e2e

START = datetime(2026, 3, 2, 12, 0, 0, tzinfo=UTC)


class World:
    def __init__(self, sandbox: Sandbox, workdir: Path, clock: SimClock) -> None:
        self.sandbox = sandbox
        self.workdir = workdir
        self.clock = clock
        self.settings: Settings = load_settings(read_env_file(workdir / "env"))
        self.workflow: Workflow = load_workflows(self.settings.workflows).workflows[0]

    def gateway(self) -> TodoistGateway:
        return TodoistGateway(
            token=self.settings.require_todoist_token(),
            base_url=self.settings.todoist_api_url,
            clock=self.clock,
        )

    def engine(self, state_file: str) -> Engine:
        return Engine(
            self.workflow,
            sheet_gateway(self.workflow, self.settings),
            self.gateway(),
            StateStore(self.workdir / state_file),
            clock=self.clock,
        )

    def contact_task(self) -> dict[str, object]:
        return next(t for t in self.sandbox.todoist.tasks() if "step contact" in t["description"])


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    clock = SimClock(START)
    with Sandbox(clock=clock) as sandbox:
        sandbox.write_workdir(tmp_path, leads=1)
        yield World(sandbox, tmp_path, clock)


def test_completed_lists_a_task_completed_within_the_last_second(world: World) -> None:
    world.engine("first.db").run_cycle()
    task = world.contact_task()
    world.clock.now = START + timedelta(milliseconds=400)
    world.sandbox.todoist.complete(str(task["id"]))
    world.clock.now = START + timedelta(milliseconds=900)
    project = world.sandbox.todoist.project_named(world.workflow.todoist_project)
    assert project is not None
    found = world.gateway().completed(
        project_id=str(project["id"]), since=START - timedelta(days=1)
    )
    assert [t.id for t in found] == [task["id"]]


def test_a_rebuild_right_after_a_completion_keeps_exactly_one_task_and_the_mark(
    world: World,
) -> None:
    world.engine("first.db").run_cycle()
    task = world.contact_task()
    world.clock.now = START + timedelta(milliseconds=400)
    world.sandbox.todoist.complete(str(task["id"]))
    world.clock.now = START + timedelta(milliseconds=900)
    world.engine("rebuilt.db").run_cycle()  # the state file was lost
    keys = [
        parse_marker(str(t["description"]))
        for t in world.sandbox.todoist.tasks(include_completed=True)
    ]
    assert len([k for k in keys if k and k[1] == "contact"]) == 1
    sheet = world.sandbox.spreadsheet
    assert sheet is not None
    leads = sheet.worksheet("Leads")
    assert leads.value(2, leads.header_column("Client contacted")) == 1


def test_the_same_rebuild_one_second_later_is_right(world: World) -> None:
    """The control: with the completion a whole second in the past, the rebuild is right."""
    world.engine("first.db").run_cycle()
    task = world.contact_task()
    world.clock.now = START + timedelta(milliseconds=400)
    world.sandbox.todoist.complete(str(task["id"]))
    world.clock.now = START + timedelta(milliseconds=1900)
    world.engine("rebuilt.db").run_cycle()
    keys = [
        parse_marker(str(t["description"]))
        for t in world.sandbox.todoist.tasks(include_completed=True)
    ]
    assert len([k for k in keys if k and k[1] == "contact"]) == 1
    sheet = world.sandbox.spreadsheet
    assert sheet is not None
    leads = sheet.worksheet("Leads")
    assert leads.value(2, leads.header_column("Client contacted")) == 1
