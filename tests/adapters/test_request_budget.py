"""DESIGN's cost per cycle, counted at the sandbox: whole engine cycles over the real
gateways and real HTTP.

- a cycle with no changes: one Sheets read, one Todoist request, no write;
- 100 new leads of 12 steps: at most 13 Todoist requests and at most 2 Sheets writes;
- a cycle with 5 completions: at most one Sheets write.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from journey_sync.dates import date_to_serial
from journey_sync.engine import Engine
from journey_sync.plan import parse_marker
from journey_sync.settings import load_settings
from journey_sync.state import StateStore
from journey_sync.wiring import sheet_gateway, task_gateway
from journey_sync.workflow import Workflow, load_workflows
from journey_sync_sandbox.server import Sandbox
from journey_sync_sandbox.workdir import read_env_file

NOW = datetime(2026, 3, 2, 12, tzinfo=UTC)


class Studio:
    def __init__(self, sandbox: Sandbox, directory: Path):
        self.sandbox = sandbox
        # The example workflow less one reminder: a 12-step journey, as the issue counts.
        text = (Path(__file__).resolve().parents[2] / "workflows.yaml").read_text()
        text = re.sub(r"      - key: touch_base_6w\n(?:        .*\n)+", "", text)
        (directory / "twelve.yaml").write_text(text)
        sandbox.write_workdir(directory, leads=1, workflow_yaml=directory / "twelve.yaml")
        env = read_env_file(directory / "env")
        self.settings = load_settings(env)
        self.workflow: Workflow = load_workflows(self.settings.workflows).workflows[0]
        assert len(self.workflow.steps) == 12
        assert sandbox.spreadsheet is not None
        self.sheet = sandbox.spreadsheet.sheets[0]
        self.engine = Engine(
            self.workflow,
            sheet_gateway(self.workflow, self.settings),
            task_gateway(self.settings),
            StateStore(self.settings.state),
            clock=lambda: NOW,
        )

    def counts(self) -> dict[str, int]:
        return self.sandbox.traffic.counts()

    def cycle_cost(self) -> dict[str, int]:
        before = self.counts()
        self.engine.run_cycle()
        after = self.counts()
        return {k: after[k] - before[k] for k in after}

    def type_leads(self, count: int) -> None:
        rows = [[f"Budget Lead {i:03d}", date_to_serial(NOW.date())] for i in range(count)]
        last = max(
            r for r in range(1, 400) if self.sheet.reader().value(r - 1, 0) not in (None, "")
        )
        # Under the last lead, as a person types them (the footer moves down).
        footer_first = next(
            r
            for r in range(2, last + 2)
            if str(self.sheet.reader().value(r - 1, 0)).startswith("Total")
        )
        self.sheet.set_values((footer_first - 1, 1), rows)


@pytest.fixture
def studio(tmp_path: Path) -> Iterator[Studio]:
    with Sandbox(clock=lambda: NOW) as sandbox:
        yield Studio(sandbox, tmp_path)


def test_quiet_cycle_is_one_read_one_todoist_request_no_write(studio: Studio) -> None:
    studio.cycle_cost()  # onboarding (and the metadata read, cached after)
    cost = studio.cycle_cost()
    assert cost["sheets_reads"] == 1
    assert cost["sheets_writes"] == 0
    assert cost["todoist_requests"] == 1


def test_100_new_leads_of_12_steps_within_13_todoist_requests_and_2_writes(studio: Studio) -> None:
    studio.cycle_cost()  # the first lead: the Todoist project now exists
    studio.type_leads(100)
    cost = studio.cycle_cost()
    assert cost["todoist_requests"] <= 13
    assert cost["sheets_writes"] <= 2
    tasks = studio.sandbox.todoist.tasks()
    keys = [parse_marker(t["description"]) for t in tasks]
    assert len(keys) == len(set(keys)) == 101 * 12


def test_five_completions_cost_at_most_one_sheet_write(studio: Studio) -> None:
    studio.cycle_cost()
    studio.type_leads(5)
    studio.cycle_cost()
    for task in [t for t in studio.sandbox.todoist.tasks() if "step contact" in t["description"]][
        :5
    ]:
        studio.sandbox.todoist.complete(task["id"])
    cost = studio.cycle_cost()
    assert cost["sheets_writes"] <= 1
    assert cost["todoist_requests"] == 1
    marks = [studio.sheet.reader().value(r, 4) for r in range(1, 8)]
    assert marks.count(1) == 5
