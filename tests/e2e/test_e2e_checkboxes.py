"""Checkboxes in a stage column, end to end (issue 10, point 6): the studio inserts
checkboxes (a BOOLEAN data validation and FALSE in each lead's cell, as Insert > Checkbox
does) through the Sheets API; ``journey-sync run --once`` as its own process ticks the box
when the task is completed, unticks it when the task is reopened, counts it in the footer,
and closes the task of a box ticked by hand."""

from __future__ import annotations

from pathlib import Path

import pytest

from journey_sync_sandbox.server import Sandbox
from support.e2e import Api, read_env, run_once

pytestmark = pytest.mark.e2e


def test_checkboxes_are_ticked_unticked_and_counted(tmp_path: Path) -> None:
    sandbox = Sandbox().start(0)
    try:
        sandbox.write_workdir(tmp_path, leads=0, seed=4)
        env = read_env(tmp_path / "env")
        api = Api(env)
        today = api.today()
        for name in ("Ann Lee", "Bo Chan"):
            api.type_lead(name, today)
        run_once(env, tmp_path)
        leads = api.leads()
        column = api.column("Client contacted")
        first, last = min(x.row for x in leads), max(x.row for x in leads)
        api.batch_update(
            {
                "setDataValidation": {
                    "range": {
                        "sheetId": api._sheet_id(),
                        "startRowIndex": first - 1,
                        "endRowIndex": last,
                        "startColumnIndex": column - 1,
                        "endColumnIndex": column,
                    },
                    "rule": {"condition": {"type": "BOOLEAN"}, "strict": True},
                }
            }
        )
        for lead in leads:
            api.put(api.cell_a1(lead.row, "Client contacted"), [["FALSE"]])
        ann, bo = api.lead("Ann Lee"), api.lead("Bo Chan")
        assert ann.lead_id and bo.lead_id
        api.close_task(api.tasks_of(ann.lead_id)["contact"]["id"])
        run_once(env, tmp_path)
        assert api.lead("Ann Lee").cells["Client contacted"] is True  # ticked, not 1
        # Bo's box ticked by hand: his contact task is closed, once.
        api.put(api.cell_a1(bo.row, "Client contacted"), [["TRUE"]])
        run_once(env, tmp_path)
        assert api.tasks_of(bo.lead_id)["contact"]["checked"] is True
        # The footer counts both ticked boxes.
        rows = api.values()
        total = next(r for r in rows if r and r[0] == "Total reached")
        assert total[column - 1] == 2
        # Ann's task reopened: her box is unticked (FALSE), not emptied.
        api.reopen_task(api.tasks_of(ann.lead_id)["contact"]["id"])
        run_once(env, tmp_path)
        assert api.lead("Ann Lee").cells["Client contacted"] is False
    finally:
        sandbox.stop()
