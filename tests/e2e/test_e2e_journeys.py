"""A lead's journey through two processes: ``journey-sync sandbox serve`` and
``journey-sync run``, seen only through the emulated Google Sheets and Todoist APIs."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from support.e2e import (
    SERIAL_EPOCH,
    Api,
    Lead,
    Process,
    Procs,
    start_daemon,
    start_sandbox,
    wait_for,
)

pytestmark = pytest.mark.e2e

ALL_STEPS = {
    "contact",
    "book_meeting",
    "hold_meeting",
    "refer_to_coach",
    "complimentary_session",
    "first_paid_session",
    "check_in_1m",
    "touch_base_6w",
    "check_in_2m",
    "check_in_3m",
    "coach_report_4m",
    "check_in_6m",
    "check_in_12m",
}


@dataclass
class Studio:
    api: Api
    daemon: Process
    workdir: Path

    def new_lead(self, name: str, lead_date: date) -> tuple[Lead, dict[str, dict[str, Any]]]:
        """Type a lead; wait until journey-sync gave it an id and its tasks."""
        self.api.type_lead(name, lead_date)
        lead = wait_for(
            f"a lead id for {name}",
            lambda: next((x for x in self.api.leads() if x.name == name and x.lead_id), None),
            timeout=20,
        )
        assert lead.lead_id is not None
        lead_id = lead.lead_id
        expected = self.api.expected_steps(lead_date)
        tasks = wait_for(
            f"the tasks of {name}",
            lambda: (t := self.api.tasks_of(lead_id)) and set(t) == expected and t,
            timeout=20,
        )
        return lead, tasks

    def cell(self, name: str, header: str) -> Any:
        return self.api.lead(name).cells.get(header, "")


@pytest.fixture(scope="module")
def studio(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Studio]:
    procs = Procs()
    workdir = tmp_path_factory.mktemp("journeys")
    try:
        _, env = start_sandbox(procs, workdir, leads=5, seed=3)
        api = Api(env)
        daemon = start_daemon(procs, workdir, env)
        wait_for(
            "the seeded leads' tasks",
            lambda: (
                (leads := api.leads())
                and all(x.lead_id for x in leads)
                and set(api.tasks_by_key()) == api.expected_pairs(leads)
            ),
            timeout=30,
        )
        yield Studio(api, daemon, workdir)
        assert daemon.alive, daemon.output()[-3000:]
        assert "Traceback" not in daemon.output()
        api.close()
    finally:
        procs.close_all()


def test_a_new_lead_gets_its_tasks_minus_those_pointless_for_an_old_lead(studio: Studio) -> None:
    api = studio.api
    today = api.today()
    # A lead from today: every step of the example workflow, 13 tasks.
    _, fresh = studio.new_lead("Nora Fresh", today)
    assert set(fresh) == ALL_STEPS
    assert fresh["contact"]["due"]["date"][:10] == today.isoformat()
    assert "journey-sync: lead " in fresh["contact"]["description"]
    # 100 days old: the 6-week touch-base has passed (pointless now); every stage step
    # is still created (overdue ones due today), as is the 4-month coach report.
    _, older = studio.new_lead("Olga Older", today - timedelta(days=100))
    assert set(older) == ALL_STEPS - {"touch_base_6w"}
    assert older["book_meeting"]["due"]["date"][:10] == today.isoformat()
    # 200 days old: the 4-month coach report has passed too.
    _, oldest = studio.new_lead("Otto Oldest", today - timedelta(days=200))
    assert set(oldest) == ALL_STEPS - {"touch_base_6w", "coach_report_4m"}
    # Each task is in Todoist once, under the lead's id written in the sheet.
    for name in ("Nora Fresh", "Olga Older", "Otto Oldest"):
        lead = api.lead(name)
        assert lead.lead_id and lead.lead_id.startswith("L-")


def test_completing_a_task_in_todoist_writes_1_in_its_stage_column(studio: Studio) -> None:
    api = studio.api
    _, tasks = studio.new_lead("Bea Ticked", api.today())
    api.close_task(tasks["contact"]["id"])
    wait_for(
        "1 in 'Client contacted'",
        lambda: studio.cell("Bea Ticked", "Client contacted") == 1,
        timeout=15,
    )
    # Un-completing it takes journey-sync's own mark away again.
    api.reopen_task(tasks["contact"]["id"])
    wait_for(
        "the mark cleared",
        lambda: studio.cell("Bea Ticked", "Client contacted") in ("", None),
        timeout=15,
    )


def test_a_1_typed_by_hand_closes_the_open_task(studio: Studio) -> None:
    api = studio.api
    lead, tasks = studio.new_lead("Cal Typed", api.today())
    booking = tasks["book_meeting"]
    assert booking["checked"] is False
    api.put(api.cell_a1(lead.row, "Client meeting booked"), [["1"]])  # USER_ENTERED
    closed = wait_for(
        "the booking task closed",
        lambda: (t := api.task(booking["id"])) is not None and t["checked"] and t,
        timeout=15,
    )
    assert closed["checked"] is True
    assert booking["id"] not in {t["id"] for t in api.open_tasks()}
    assert studio.cell("Cal Typed", "Client meeting booked") == 1  # the person's 1 stays
    assert api.task(tasks["contact"]["id"])["checked"] is False  # other tasks untouched


def test_a_reason_fills_when_left_and_removes_the_open_tasks(studio: Studio) -> None:
    api = studio.api
    lead, tasks = studio.new_lead("Dee Leaving", api.today())
    api.close_task(tasks["contact"]["id"])
    wait_for(
        "the contact mark",
        lambda: studio.cell("Dee Leaving", "Client contacted") == 1,
        timeout=15,
    )
    api.put(api.cell_a1(lead.row, "Reason for discontinue"), [["Moved away"]])
    today_serial = (api.today() - SERIAL_EPOCH).days
    wait_for(
        "'When left journey' filled",
        lambda: studio.cell("Dee Leaving", "When left journey") == today_serial,
        timeout=15,
    )
    still_open = [k for k in tasks if k != "contact"]
    wait_for(
        "the open tasks removed",
        lambda: all(api.task(tasks[k]["id"]) is None for k in still_open),
        timeout=15,
    )
    assert lead.lead_id is not None
    assert set(api.tasks_of(lead.lead_id)) == {"contact"}  # the done one stays done
    assert api.task(tasks["contact"]["id"])["checked"] is True
    assert studio.cell("Dee Leaving", "Reason for discontinue") == "Moved away"
