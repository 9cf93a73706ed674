"""A studio's staff at work while ``journey-sync run`` runs as its own process.

The sandbox runs in this test's process (so a person can act at the exact moment a cycle
is between its read and its write: ``Sandbox.before_next``); journey-sync is a separate
process talking HTTP to it, cycling every second. People act through the same APIs a
person's tools use (``Api``), and only the sheet and Todoist are looked at.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from journey_sync_sandbox.server import Sandbox
from support.e2e import Api, Process, Procs, read_env, start_daemon, wait_cycles, wait_for

pytestmark = pytest.mark.e2e


@dataclass
class Studio:
    sandbox: Sandbox
    api: Api
    daemon: Process

    def pairs(self) -> Counter[tuple[str, str]]:
        """(lead, step) -> how many live tasks Todoist has for it."""
        return Counter({k: len(v) for k, v in self.api.tasks_by_key().items()})

    def assert_exactly_once(self) -> None:
        doubled = {k: n for k, n in self.pairs().items() if n > 1}
        assert not doubled, f"duplicate tasks: {doubled}"

    def ids(self) -> dict[str, str | None]:
        return {lead.name: lead.lead_id for lead in self.api.leads()}

    def settle(self, cycles: int = 3) -> None:
        wait_cycles(self.daemon, cycles, timeout=30)

    def sheet(self) -> Any:
        assert self.sandbox.spreadsheet is not None
        return self.sandbox.spreadsheet.worksheet(self.api.workflow.sheet.worksheet)


@pytest.fixture
def studio(procs: Procs, tmp_path: Path) -> Iterator[Studio]:
    sandbox = Sandbox().start(0)
    try:
        sandbox.write_workdir(tmp_path, leads=6, seed=11)
        env = read_env(tmp_path / "env")
        api = Api(env)
        daemon = start_daemon(procs, tmp_path, env, JOURNEY_SYNC_MISSING_GRACE="3")
        wait_for(
            "onboarding",
            lambda: (
                (leads := api.leads())
                and all(x.lead_id for x in leads)
                and set(api.tasks_by_key()) == api.expected_pairs(leads)
            ),
            timeout=40,
        )
        studio = Studio(sandbox, api, daemon)
        yield studio
        daemon = studio.daemon  # a test may have restarted it
        assert daemon.alive, daemon.output()[-3000:]
        assert "Traceback" not in daemon.output()
        api.close()
    finally:
        sandbox.stop()


def _is_values_write(method: str, path: str) -> bool:
    return method == "POST" and path.endswith("values:batchUpdate")


# ------------------------------------------------------------------- point 1


def test_ids_cleared_or_the_column_re_added_cost_no_second_task_set(studio: Studio) -> None:
    api = studio.api
    ids = studio.ids()
    before = studio.pairs()
    first = api.leads()[0]
    api.put(api.cell_a1(first.row, "Lead ID"), [[""]])  # one id cell cleared
    wait_for("the id back", lambda: studio.ids() == ids, timeout=20)
    # The whole column deleted (cycles run without it and say what is missing)...
    api.delete_column("Lead ID")
    wait_for(
        "the missing column named",
        lambda: "no column 'Lead ID'" in studio.daemon.output(),
        timeout=20,
    )
    # ...and added back empty, as the error tells people to do.
    api.add_column("Lead ID")
    wait_for("every id back", lambda: studio.ids() == ids, timeout=20)
    studio.settle()
    assert studio.pairs() == before
    studio.assert_exactly_once()


def test_a_row_moved_by_copy_and_paste_keeps_its_tasks(studio: Studio) -> None:
    api = studio.api
    lead = api.leads()[0]
    before = studio.pairs()
    last = max(x.row for x in api.leads())
    api.insert_row(last + 1)
    row = api.values(f"Leads!A{lead.row}:{lead.row}")[0]
    api.put(f"Leads!A{last + 1}", [row])  # the copy, carrying the lead's id
    studio.settle()
    assert studio.pairs() == before
    api.delete_rows(lead.row)  # then the original row deleted
    studio.settle()
    moved = api.lead(lead.name)
    assert moved.lead_id == lead.lead_id
    assert studio.pairs() == before
    studio.assert_exactly_once()


# ------------------------------------------------------------------- point 2


def test_rows_sorted_while_a_cycle_writes_put_marks_in_the_right_rows(studio: Studio) -> None:
    api = studio.api
    leads = api.leads()
    target = leads[0]
    assert target.lead_id is not None
    tasks = api.tasks_of(target.lead_id)
    sheet = studio.sheet()
    first, last = leads[0].row, leads[-1].row

    def sort_rows_z_to_a() -> None:
        grid = sheet.get_grid()
        rows = [list(grid[r - 1]) for r in range(first, last + 1)]
        rows.sort(key=lambda r: str(r[0]), reverse=True)
        sheet.set_values((first, 1), rows, raw=True)

    studio.sandbox.before_next(_is_values_write, sort_rows_z_to_a)
    api.close_task(tasks["contact"]["id"])
    wait_for(
        "the mark in the lead's own row",
        lambda: api.lead(target.name).cells.get("Client contacted") == 1,
        timeout=30,
    )
    studio.settle()
    assert "landed in other rows and are taken back" in studio.daemon.output()
    for other in api.leads():
        if other.name != target.name:
            assert other.cells.get("Client contacted") in ("", None), other.name
            assert other.lead_id is not None
            contact = api.tasks_of(other.lead_id)["contact"]
            assert contact["checked"] is False, other.name  # not closed as a "hand mark"
    studio.assert_exactly_once()


def test_a_new_lead_typed_and_rows_deleted_while_a_cycle_writes(studio: Studio) -> None:
    api = studio.api
    ids = studio.ids()
    gone = api.leads()[0]
    api.type_lead("Nia New", api.today())
    studio.sandbox.before_next(_is_values_write, lambda: studio.sheet().delete_rows(gone.row))
    wait_for(
        "Nia's id and tasks",
        lambda: (
            (nia := api.lead("Nia New")).lead_id
            and set(api.tasks_of(nia.lead_id)) == api.expected_steps(api.today())
        ),
        timeout=30,
    )
    studio.settle()
    assert "landed in other rows and are taken back" in studio.daemon.output()
    now = studio.ids()
    for name, lead_id in ids.items():
        if name != gone.name:
            assert now[name] == lead_id, name  # no id overwritten by another lead's
    studio.assert_exactly_once()


# ------------------------------------------------------------------- point 7


def test_a_departure_undone_and_a_row_deleted(studio: Studio) -> None:
    api = studio.api
    leaving, deleted = api.leads()[0], api.leads()[1]
    assert leaving.lead_id is not None and deleted.lead_id is not None
    steps = set(api.tasks_of(leaving.lead_id))
    api.put(api.cell_a1(leaving.row, "Reason for discontinue"), [["Moved away"]])
    wait_for("its tasks removed", lambda: not api.tasks_of(leaving.lead_id or ""), timeout=20)
    assert api.lead(leaving.name).cells.get("When left journey") not in ("", None)
    api.put(api.cell_a1(leaving.row, "Reason for discontinue"), [[""]])
    wait_for(
        "its journey back",
        lambda: (
            set(api.tasks_of(leaving.lead_id or ""))
            == steps & set(api.expected_steps(leaving.lead_date or api.today()))
        ),
        timeout=20,
    )
    assert api.lead(leaving.name).cells.get("When left journey") in ("", None)
    # A row deleted: its tasks stay while it may come back (3 s here, a day by default)...
    open_before = {t["id"] for t in api.open_tasks() if deleted.lead_id in t["description"]}
    api.delete_rows(api.lead(deleted.name).row)
    wait_for(
        "the log naming the missing lead",
        lambda: (
            deleted.name.casefold() in studio.daemon.output().casefold()
            and "not in the sheet" in studio.daemon.output()
        ),
        timeout=20,
    )
    assert {t["id"] for t in api.open_tasks() if deleted.lead_id in t["description"]}
    # ...then they are removed.
    wait_for(
        "the deleted lead's tasks removed",
        lambda: not any(t["id"] in open_before for t in api.open_tasks()),
        timeout=30,
    )
    studio.assert_exactly_once()


# ----------------------------------------------------------------- the tab renamed


def test_a_tab_renamed_is_followed_while_running_and_after_a_restart(
    studio: Studio, procs: Procs, tmp_path: Path
) -> None:
    api = studio.api
    sheet_id = api._sheet_id()
    api.batch_update(
        {
            "updateSheetProperties": {
                "properties": {"sheetId": sheet_id, "title": "Leads 2026"},
                "fields": "title",
            }
        }
    )
    # From here the person's tools address the tab by its new name.
    sheet = api.workflow.sheet.model_copy(update={"worksheet": "Leads 2026"})
    api.workflow = api.workflow.model_copy(update={"sheet": sheet})

    def served(name: str) -> bool:
        lead = api.lead(name)
        return bool(
            lead.lead_id and set(api.tasks_of(lead.lead_id)) == api.expected_steps(api.today())
        )

    api.type_lead("Nia New", api.today())
    wait_for("Nia's id and tasks in the renamed tab", lambda: served("Nia New"), timeout=30)
    assert "renamed to 'Leads 2026'" in studio.daemon.output()

    # Restarted with workflows.yaml still naming "Leads": the remembered tab id finds it.
    assert studio.daemon.terminate() == 0
    studio.daemon = start_daemon(procs, tmp_path, api.env, JOURNEY_SYNC_MISSING_GRACE="3")
    api.type_lead("Oto Late", api.today())
    wait_for("Oto's id and tasks after the restart", lambda: served("Oto Late"), timeout=30)
    studio.settle()
    studio.assert_exactly_once()
    assert "not found in spreadsheet" not in studio.daemon.output()
