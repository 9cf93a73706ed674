"""The green and red rules stay one pair while people edit the sheet under a running daemon:
a column inserted (Sheets rewrites the rules' formulas, $K2 becoming $L2) adds no second
pair, and a rule a person deleted is added back within the hour, not only at a restart.
The real Sheets gateway against the sandbox: the in-memory sheet compares with the live
rules and cannot show a stale copy."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from journey_sync.adapters.google_sheets import RULES_MAX_AGE, GoogleSheetsGateway
from journey_sync.engine import Engine
from journey_sync.state import StateStore
from journey_sync.workflow import Workflow
from journey_sync_sandbox.server import Sandbox
from support.fakes import FakeTodoist
from support.world import HEADERS, Clock, lead_row

TODAY = date(2026, 3, 2)


class Running:
    def __init__(self, workflow: Workflow, tmp_path: Path, sandbox: Sandbox, clock: Clock):
        book = sandbox.create_spreadsheet("studio", first_sheet="Leads")
        self.sheet = book.sheets[0]
        self.sheet.set_values(
            "A1", [HEADERS, lead_row("Ann Lee", TODAY), lead_row("Bo Chan", TODAY)], raw=True
        )
        key = sandbox.service_account.write_key_file(
            tmp_path / "key.json", token_uri=f"{sandbox.url}/token"
        )
        self.seconds = 0.0
        gateway = GoogleSheetsGateway(
            spreadsheet=book.id,
            worksheet="Leads",
            credentials_file=key,
            base_url=sandbox.url,
            monotonic=lambda: self.seconds,
        )
        self.todoist = FakeTodoist(clock=clock)
        ids = itertools.count(1)
        self.engine = Engine(
            workflow,
            gateway,
            self.todoist,
            StateStore(tmp_path / "state.db"),
            clock=clock,
            new_id=lambda: f"L-{next(ids):04d}",
        )
        self.engine.run_cycle()
        self.engine.run_cycle()

    def rules(self) -> list[str]:
        return [
            r["booleanRule"]["condition"]["values"][0]["userEnteredValue"]
            for r in self.sheet.conditional_formats
        ]

    def a_task_ticked(self) -> None:
        """Something for the next cycle to write."""
        task = next(t for t in self.todoist.active() if "step contact" in t.description)
        self.todoist.complete(task.id)


@pytest.fixture
def running(workflow: Workflow, tmp_path: Path) -> Iterator[Running]:
    clock = Clock(datetime(2026, 3, 2, 12, tzinfo=UTC))
    with Sandbox(clock=clock) as sandbox:
        yield Running(workflow, tmp_path, sandbox, clock)


def test_a_column_inserted_while_running_adds_no_second_pair_of_rules(running: Running) -> None:
    assert len(running.rules()) == 2
    running.sheet.insert_dimension("COLUMNS", 2, 3)  # a column right of "Date of lead"
    running.sheet.set_cell(1, 3, "Phone")
    running.seconds += 60  # the next cycle
    running.a_task_ticked()
    running.engine.run_cycle()
    running.engine.run_cycle()
    rules = running.rules()
    assert len(rules) == 2, rules


def test_a_deleted_rule_is_added_back_within_the_hour(running: Running) -> None:
    wanted = running.rules()
    running.sheet.delete_rule(1)  # Format > Conditional formatting > the green rule deleted
    running.a_task_ticked()
    running.engine.run_cycle()
    assert len(running.rules()) == 1  # within the hour: the rules seen are trusted
    running.seconds += RULES_MAX_AGE + 1
    running.a_task_ticked()
    running.engine.run_cycle()
    assert running.rules() == wanted


def test_a_row_inserted_under_the_header_moves_the_rules_to_it_not_a_second_pair(
    running: Running,
) -> None:
    wanted = running.rules()
    # A new lead's row inserted right under the header: Sheets moves the rules down a
    # row ($A2 becomes $A3), and the new row is left uncoloured.
    running.sheet.insert_dimension("ROWS", 1, 2)
    assert running.rules() != wanted
    running.seconds += RULES_MAX_AGE + 1  # within the hour: the rules are read again
    running.a_task_ticked()
    running.engine.run_cycle()
    running.engine.run_cycle()
    assert running.rules() == wanted  # one pair, from row 2 again
