"""`journey-sync report`: the compact source x stage grid first, then the funnel overall,
by source and by month; --json and --csv carry every figure, equal to the footer."""

from __future__ import annotations

import csv
import io
import json
from datetime import date, timedelta

from test_footer import STAGES, WORKFLOW, build, write_footer

from journey_sync.dates import date_to_serial, today_in
from journey_sync.footer import footer_differences
from journey_sync.funnel import funnel
from journey_sync.report import plural, render_report
from journey_sync.sheet import read_sheet
from support.world import World, lead_row

TODAY = date(2026, 3, 2)


def sheet_of_mixed_ages():  # type: ignore[no-untyped-def]
    old = date_to_serial(TODAY - timedelta(days=400))
    young = date_to_serial(TODAY - timedelta(days=1))  # +2d steps not due yet
    none = [None] * len(STAGES)
    sheet = build(
        [
            ("Ann", old, [1, 1, 1, *none[3:]], None, False),
            ("Bo", old, [1, *none[1:]], "Price", False),
            ("Cy", young, [1, *none[1:]], None, False),
            ("Dee", young, none, None, False),
        ]
    )
    sources = {"Ann": "Referral", "Bo": "Instagram", "Cy": "Referral", "Dee": "Referral"}
    column = 4  # "Source of lead"
    for (row, col), value in list(sheet.cells.items()):
        if col == 1 and isinstance(value, str) and value in sources:
            sheet.cells[(row, column)] = sources[value]
    return sheet


def test_json_equals_the_footer_cell_for_cell() -> None:
    sheet = sheet_of_mixed_ages()
    write_footer(sheet, TODAY)
    model = read_sheet(WORKFLOW, sheet.read())
    data = json.loads(render_report(WORKFLOW, list(model.leads), as_json=True, today=TODAY))
    assert data["today"] == "2026-03-02" and data["overall"]["leads"] == 4
    # Rebuild the figures from the JSON alone: the footer reads exactly them.
    figures = funnel(WORKFLOW, model.leads, TODAY)
    stages = data["overall"]["stages"]
    for stage, from_json in zip(figures.stages, stages, strict=True):
        assert from_json["reached"] == stage.reached and from_json["share"] == stage.share
        assert from_json["drop_off"] == stage.drop_off
        assert from_json["not_yet_due"] == stage.not_yet_due
    assert not footer_differences(model, figures)
    booked = stages[1]
    # "Meeting booked" (+2d) is due for the two old leads only: one of the two contacted
    # went on, one did not.
    assert (booked["reached"], booked["not_yet_due"], booked["drop_off"]) == (1, 2, 50.0)
    assert booked["due_through"] == "2026-02-28"
    assert data["by_source"]["Referral"]["leads"] == 3
    assert data["by_source"]["Instagram"]["stages"][0]["share"] == 100.0
    assert set(data["by_month"]) == {"2025-01", "2026-03"}


def test_text_starts_with_the_source_by_stage_grid_and_says_1_lead() -> None:
    sheet = sheet_of_mixed_ages()
    model = read_sheet(WORKFLOW, sheet.read())
    text = render_report(WORKFLOW, list(model.leads), today=TODAY)
    lines = text.splitlines()
    assert lines[0].startswith(f"{WORKFLOW.name}: share of leads reaching each stage, by source")
    assert lines[1].split() == ["All", "Instagram", "Referral"]
    assert lines[2].split() == ["4", "leads", "1", "lead", "3", "leads"]
    contacted = lines[3]
    assert contacted.startswith("Client contacted") and contacted.split()[-3:] == [
        "75.0%",
        "100.0%",
        "66.7%",
    ]
    assert "1 leads" not in text
    assert "source Instagram: 1 lead," in text and "month 2026-03: 2 leads," in text
    assert text.index("share of leads reaching each stage") < text.index("all leads")
    assert plural(1, "lead") == "1 lead" and plural(0, "lead") == "0 leads"


def test_csv_has_one_row_per_group_and_stage_with_every_figure() -> None:
    sheet = sheet_of_mixed_ages()
    model = read_sheet(WORKFLOW, sheet.read())
    rows = list(
        csv.DictReader(
            io.StringIO(render_report(WORKFLOW, list(model.leads), as_csv=True, today=TODAY))
        )
    )
    groups = {(r["group"], r["name"]) for r in rows}
    assert groups == {
        ("overall", "all"),
        ("source", "Instagram"),
        ("source", "Referral"),
        ("month", "2025-01"),
        ("month", "2026-03"),
    }
    assert len(rows) == len(groups) * len(STAGES)
    booked = next(r for r in rows if r["group"] == "overall" and r["stage_key"] == "meeting_booked")
    assert (booked["reached"], booked["drop_off"], booked["not_yet_due"]) == ("1", "50.0", "2")
    last = next(r for r in rows if r["group"] == "overall" and r["stage_key"] == "month_12")
    assert last["drop_off"] == ""  # nobody at the previous stage: blank, not 0 or 100


def test_timing_columns_when_reached_days_are_known() -> None:
    sheet = sheet_of_mixed_ages()
    model = read_sheet(WORKFLOW, sheet.read())
    leads = [lead for lead in model.leads]
    # Give the leads ids as the engine would, and the days they reached "contacted".
    leads = [
        type(lead)(**{**lead.__dict__, "lead_id": f"L{i}"})  # dataclass copy with an id
        for i, lead in enumerate(leads)
    ]
    reached_on = {
        f"L{i}": {"contacted": lead.lead_date + timedelta(days=2 * i)}  # type: ignore[operator]
        for i, lead in enumerate(leads)
    }
    data = json.loads(
        render_report(WORKFLOW, leads, as_json=True, today=TODAY, reached_on=reached_on)
    )
    contacted = data["overall"]["stages"][0]
    # Ann 0 days, Bo 2, Cy 4 (Dee never reached it).
    assert (contacted["timed_leads"], contacted["median_days"], contacted["p80_days"]) == (
        3,
        2,
        3.2,
    )
    assert data["by_source"]["Referral"]["stages"][0]["median_days"] == 2.0  # Ann 0, Cy 4
    text = render_report(WORKFLOW, leads, today=TODAY, reached_on=reached_on)
    assert "median d" in text and "p80 d" in text


def test_report_equals_the_footer_after_real_cycles(make_world) -> None:  # type: ignore[no-untyped-def]
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
    model = read_sheet(world.workflow, world.sheet.read())
    today = today_in(world.workflow.zone, world.clock())
    data = json.loads(render_report(world.workflow, list(model.leads), as_json=True, today=today))
    contacted = data["overall"]["stages"][0]
    assert (contacted["reached"], contacted["share"], contacted["left_here"]) == (2, 66.7, 1)
    assert data["by_source"]["Referral"]["stages"][0]["reached"] == 2
    assert not footer_differences(model, funnel(world.workflow, model.leads, today))
