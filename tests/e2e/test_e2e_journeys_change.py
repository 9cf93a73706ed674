"""Journeys that change (issue 16), end to end: ``journey-sync run --once`` as its own
process against the sandbox's Sheets and Todoist APIs. The studio edits workflows.yaml
while leads are in the sheet, a person rewords one task in Todoist, a coach's name is
typed in the sheet; only the sheet and Todoist are looked at.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from journey_sync_sandbox.server import Sandbox
from support.e2e import Api, read_env, run_once

pytestmark = pytest.mark.e2e


def test_a_template_edit_and_a_coach_typed_in_the_sheet_reach_todoist(tmp_path: Path) -> None:
    sandbox = Sandbox().start(0)
    try:
        sandbox.write_workdir(tmp_path, leads=0, seed=3)
        env = read_env(tmp_path / "env")
        api = Api(env)
        today = api.today()
        api.type_lead("Ann Lee", today)
        api.type_lead("Bo Chan", today)
        run_once(env, tmp_path)
        ann, bo = api.lead("Ann Lee").lead_id, api.lead("Bo Chan").lead_id
        assert ann and bo
        # A person rewords Ann's meeting task in Todoist.
        ann_meeting = api.tasks_of(ann)["hold_meeting"]
        api._todoist("POST", f"/tasks/{ann_meeting['id']}", json={"content": "Ann: at the park"})
        # The studio rewords the step, makes two steps the coach's, holds big changes.
        workflows = Path(env["JOURNEY_SYNC_WORKFLOWS"])
        text = workflows.read_text()
        text = text.replace(
            'content: "Hold the first meeting with {name}"',
            'content: "Meet {name} in the studio"',
        ).replace(
            "        priority: 3\n        labels: [journey]\n        marks: meeting_had",
            "        priority: 4\n        labels: [journey]\n        marks: meeting_had",
        )
        text = text.replace(
            'content: "Complimentary coach session with {name}"',
            'content: "Complimentary coach session with {name}"\n        for: coach',
        )
        text = text.replace("    steps:\n", "    max_template_changes: 1\n    steps:\n", 1)
        workflows.write_text(text)
        # Two tasks would change, more than 1: held, and the dry run says what per step.
        dry = run_once(env, tmp_path, "run", "--once", "--dry-run")
        assert "step hold_meeting: 2 updated (held" in dry, dry
        out = run_once(env, tmp_path)
        assert "apply-template" in out, out
        assert api.tasks_of(bo)["hold_meeting"]["content"] == "Hold the first meeting with Bo Chan"
        run_once(env, tmp_path, "apply-template")
        # The coach typed in the sheet (Ann's row) gets her coach task.
        api.put(api.cell_a1(api.lead("Ann Lee").row, "Name of coach"), [[" priya SHAH "]])
        run_once(env, tmp_path)
        run_once(env, tmp_path)
        tasks_ann, tasks_bo = api.tasks_of(ann), api.tasks_of(bo)
        assert tasks_bo["hold_meeting"]["content"] == "Meet Bo Chan in the studio"
        assert tasks_bo["hold_meeting"]["priority"] == 4
        assert tasks_ann["hold_meeting"]["content"] == "Ann: at the park"  # the person's
        assert tasks_ann["hold_meeting"]["priority"] == 4  # a field nobody changed
        priya = next(
            c["id"] for c in sandbox.todoist.list_collaborators() if c["full_name"] == "Priya Shah"
        )
        assert tasks_ann["complimentary_session"]["responsible_uid"] == priya
        assert tasks_bo["complimentary_session"]["responsible_uid"] is None
        assert tasks_ann["hold_meeting"]["responsible_uid"] is None
        api.close()
    finally:
        sandbox.stop()
