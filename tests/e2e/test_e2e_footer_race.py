"""Rows deleted or inserted while a cycle writes the footer (issue 10, point 2), end to
end: ``journey-sync run --once`` as its own process against the sandbox, the person's
action taken by the sandbox between the cycle's read and its write (``before_next``). Only
the sheet is looked at: what people typed under the footer and the leads' names survive,
and the footer ends up in one piece under the leads."""

from __future__ import annotations

from pathlib import Path

import pytest

from journey_sync_sandbox.server import Sandbox
from support.e2e import Api, read_env, run_once

pytestmark = pytest.mark.e2e


def _is_write(method: str, path: str) -> bool:
    return method == "POST" and (path.endswith(":batchUpdate"))


@pytest.mark.parametrize("person", ["delete", "insert"])
def test_rows_moving_while_the_footer_is_written_erase_nothing(tmp_path: Path, person: str) -> None:
    sandbox = Sandbox().start(0)
    try:
        sandbox.write_workdir(tmp_path, leads=0, seed=7)
        env = read_env(tmp_path / "env")
        api = Api(env)
        today = api.today()
        for name in ("Ann Lee", "Bo Chan", "Cy Dunn", "Dee Ewe"):
            api.type_lead(name, today)
        # No footer yet: the first cycle writes all of it under Dee, while a person deletes
        # two lead rows (the footer would land on the note below) or inserts two (it would
        # land on Cy's and Dee's rows).
        api.put("Leads!A14", [["Keys are with Sam"]])
        assert sandbox.spreadsheet is not None
        sheet = sandbox.spreadsheet.worksheet(api.workflow.sheet.worksheet)
        if person == "delete":
            sandbox.before_next(_is_write, lambda: sheet.delete_rows(2, 2))
        else:
            sandbox.before_next(_is_write, lambda: sheet.insert_rows(3, 2))
        out = run_once(env, tmp_path)
        assert "taken back" in out, out
        names = [row[0] if row else "" for row in api.values()]
        assert names.count("Keys are with Sam") == 1, names
        kept = (
            ["Cy Dunn", "Dee Ewe"]
            if person == "delete"
            else ["Ann Lee", "Bo Chan", "Cy Dunn", "Dee Ewe"]
        )
        assert sorted(lead.name for lead in api.leads()) == kept
        run_once(env, tmp_path)
        run_once(env, tmp_path)
        names = [row[0] if row else "" for row in api.values()]
        assert names.count("Keys are with Sam") == 1, names
        assert sorted(lead.name for lead in api.leads()) == kept
        footer = api.footer_rows()
        assert footer and footer == list(range(footer[0], footer[0] + len(footer)))
        assert min(footer) > max(lead.row for lead in api.leads())
    finally:
        sandbox.stop()
