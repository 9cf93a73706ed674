"""`journey-sync report`: the funnel overall, by source and by month, equal to the footer."""

from __future__ import annotations

import json
from datetime import date, timedelta

from journey_sync.report import render_report
from journey_sync.sheet import read_sheet
from support.world import World, lead_row

TODAY = date(2026, 3, 2)


def test_report_breaks_the_funnel_down_by_source_and_month(make_world) -> None:  # type: ignore[no-untyped-def]
    world: World = make_world(
        [
            lead_row("Ann", TODAY - timedelta(days=40), source="Instagram"),
            lead_row("Bo", TODAY, source="Referral"),
            lead_row("Cy", TODAY, source="Referral"),
        ],
        TODAY,
    )
    world.cycle()
    for name in ("Bo", "Cy"):
        world.todoist.complete(world.todoist.task_for(world.lead_id(name), "contact").id)
    world.sheet.set(world.sheet.row_of("Cy"), "Reason for discontinue", "Price")
    world.cycle()
    leads = list(read_sheet(world.workflow, world.sheet.read()).leads)
    data = json.loads(render_report(world.workflow, leads, as_json=True))
    assert data["overall"]["leads"] == 3
    contacted = data["overall"]["stages"][0]
    assert (contacted["reached"], contacted["share"], contacted["left_here"]) == (2, 66.7, 1)
    assert data["by_source"]["Referral"]["stages"][0]["reached"] == 2
    assert data["by_source"]["Instagram"]["stages"][0]["reached"] == 0
    assert set(data["by_month"]) == {"2026-01", "2026-03"}
    # The footer in the sheet says the same as the report.
    footer_total = min(f.row for f in read_sheet(world.workflow, world.sheet.read()).footer)
    assert world.sheet.get(footer_total, "Client contacted") == contacted["reached"]
    assert world.sheet.get(footer_total + 1, "Client contacted") == contacted["share"]
    text = render_report(world.workflow, leads)
    assert "source Referral" in text and "month 2026-01" in text and "66.7" in text
