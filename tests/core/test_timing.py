"""Time between stages: median and 80th percentile of days from lead date to a stage."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta

from test_footer import STAGES, WORKFLOW, build

from journey_sync.funnel import by_source
from journey_sync.sheet import read_sheet
from journey_sync.timing import percentile, stage_timings, timings_by

DAY = date(2026, 1, 5)


def test_percentile_interpolates_like_sheets_percentile() -> None:
    assert percentile([], 0.5) is None
    assert percentile([7], 0.8) == 7
    assert percentile([1, 2, 3, 4], 0.5) == 2.5
    assert percentile([10, 0, 20, 30, 40], 0.8) == 32.0  # rank 3.2 between 30 and 40
    assert percentile([1, 2], 0.8) == 1.8


def leads_with_ids():  # type: ignore[no-untyped-def]
    none = [None] * len(STAGES)
    sheet = build(
        [
            ("Ann", "2026-01-05", [1, 1, *none[2:]], None, False),
            ("Bo", "2026-01-05", [1, *none[1:]], None, False),
            ("Cy", "2026-01-05", [1, *none[1:]], None, False),
            ("Dee", "2026-01-05", none, None, False),
        ]
    )
    sources = iter(["Referral", "Instagram", "Referral", "Referral"])
    leads = read_sheet(WORKFLOW, sheet.read()).leads
    return [replace(lead, lead_id=f"L{i}", source=next(sources)) for i, lead in enumerate(leads)]


def test_days_from_lead_date_to_each_stage_overall_and_by_source() -> None:
    leads = leads_with_ids()
    reached_on = {
        "L0": {"contacted": DAY, "meeting_booked": DAY + timedelta(days=3)},
        "L1": {"contacted": DAY + timedelta(days=2)},
        "L2": {"contacted": DAY - timedelta(days=1)},  # before the lead date: a typo, 0 days
        "L3": {"contacted": DAY + timedelta(days=9)},  # no longer marked: not counted
    }
    contacted, booked, had = stage_timings(WORKFLOW, leads, reached_on)[:3]
    assert (contacted.leads, contacted.median_days, contacted.p80_days) == (3, 0, 1.2)
    assert (booked.leads, booked.median_days) == (1, 3)
    assert (had.leads, had.median_days, had.p80_days) == (0, None, None)
    grouped = timings_by(WORKFLOW, leads, reached_on, by_source)
    assert grouped["Instagram"][0].median_days == 2
    assert grouped["Referral"][0].leads == 2
