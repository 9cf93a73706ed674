"""The Funnel tab end to end (issue 12): ``journey-sync run --once`` as its own process
against the sandbox's Sheets API. Only the spreadsheet is looked at: the tab and its three
charts are created once, kept through a restart and a lost state file (charts found
again by title, never duplicated), rewritten when a mark changes, and a person's own
cells on the tab stay."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from journey_sync_sandbox.server import Sandbox
from support.e2e import Api, read_env, run_once

pytestmark = pytest.mark.e2e


def funnel_sheet(api: Api) -> dict[str, Any] | None:
    meta = api._sheets("GET", "", params={"fields": "sheets(properties,charts)"})
    return next((s for s in meta["sheets"] if s["properties"]["title"] == "Funnel"), None)


def test_the_funnel_tab_is_kept_once_with_its_charts(tmp_path: Path) -> None:
    sandbox = Sandbox().start(0)
    try:
        sandbox.write_workdir(tmp_path, leads=0, seed=5)
        env = read_env(tmp_path / "env")
        workflows = Path(env["JOURNEY_SYNC_WORKFLOWS"])
        text = workflows.read_text()
        with_tab = text.replace(
            "      worksheet: Leads\n", "      worksheet: Leads\n      funnel_tab: Funnel\n", 1
        )
        assert with_tab != text
        workflows.write_text(with_tab)
        api = Api(env)
        today = api.today()
        api.type_lead("Ann Lee", today)
        api.type_lead("Bo Chan", today)
        run_once(env, tmp_path)
        tab = funnel_sheet(api)
        assert tab is not None
        assert len(tab["charts"]) == 3
        cells = api.values("Funnel!A1:Z40")
        assert cells[0][0] and any(row and row[0] == "Client contacted" for row in cells)

        # A person's own notes beside journey-sync's block.
        api.put("Funnel!Z90", [["Monday: call back the Instagram leads"]])
        run_once(env, tmp_path)  # the echo of the tasks created
        run_once(env, tmp_path)
        assert len(funnel_sheet(api)["charts"]) == 3  # type: ignore[index]

        # Ann's contact task is completed: her mark lands, the tab says so.
        ann = api.lead("Ann Lee").lead_id
        assert ann is not None
        api.close_task(api.tasks_of(ann)["contact"]["id"])
        run_once(env, tmp_path)
        rows = api.values("Funnel!A1:Z40")
        contacted = next(row for row in rows if row and row[0] == "Client contacted")
        assert contacted[1] == 1  # reached

        # A lost state file: the tab is written again, its charts found by title.
        for suffix in ("", "-wal", "-shm"):
            Path(env["JOURNEY_SYNC_STATE"] + suffix).unlink(missing_ok=True)
        run_once(env, tmp_path)
        tab = funnel_sheet(api)
        assert tab is not None and len(tab["charts"]) == 3
        titles = [c["spec"]["title"] for c in tab["charts"]]
        assert len(set(titles)) == 3
        assert api.values("Funnel!Z90") == [["Monday: call back the Instagram leads"]]
        # Only one Funnel tab, and the leads' worksheet is still the first.
        meta = api._sheets("GET", "", params={"fields": "sheets.properties"})
        assert [s["properties"]["title"] for s in meta["sheets"]].count("Funnel") == 1
    finally:
        sandbox.stop()
