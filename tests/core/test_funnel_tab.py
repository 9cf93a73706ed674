"""The Funnel tab's plan: tables and charts from the figures, written only when a figure
changed, a shrunk table cleared behind, the same figures as the report."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import date, timedelta

from test_footer import STAGES, WORKFLOW, build

from journey_sync.dates import date_to_serial
from journey_sync.funnel_tab import (
    COHORT_CHART,
    FUNNEL_CHART,
    SOURCE_CHART,
    STAGE_HEADERS,
    plan_funnel_tab,
)
from journey_sync.ports import SheetWrites
from journey_sync.report import render_report
from journey_sync.sheet import Lead, read_sheet

TODAY = date(2026, 3, 2)


def leads(extra_source: bool = True) -> list[Lead]:
    old = date_to_serial(TODAY - timedelta(days=400))
    young = date_to_serial(TODAY - timedelta(days=1))
    none = [None] * len(STAGES)
    rows = [
        ("Ann", old, [1, 1, 1, *none[3:]], None, False),
        ("Bo", old, [1, *none[1:]], "Price", False),
        ("Cy", young, [1, *none[1:]], None, False),
    ]
    found = list(read_sheet(WORKFLOW, build(rows).read()).leads)
    sources = ["Referral", "Instagram" if extra_source else "Referral", "Referral"]
    return [replace(lead, source=source) for lead, source in zip(found, sources, strict=True)]


def cells(plan) -> dict[tuple[int, int], object]:  # type: ignore[no-untyped-def]
    return {(w.row, w.column): w.value for w in plan.writes.values}


def test_the_tab_holds_the_stage_table_sources_and_cohorts_with_three_charts() -> None:
    plan = plan_funnel_tab(WORKFLOW, leads(), TODAY, None)
    assert plan is not None and plan.writes.title == "Funnel"
    grid = cells(plan)
    header_row = next(r for (r, c), v in grid.items() if c == 1 and v == "Stage")
    assert [grid[(header_row, c)] for c in range(1, len(STAGE_HEADERS) + 1)] == list(STAGE_HEADERS)
    contacted = [grid[(header_row + 1, c)] for c in range(1, 6)]
    assert contacted == ["Client contacted", 3, 1.0, 0, 0.0]
    booked = [grid[(header_row + 2, c)] for c in range(1, 6)]
    # Due for the two old leads only (+2d): 2 contacted, 1 booked: 50% drop-off.
    assert booked == ["Client meeting booked", 1, 0.333, 1, 0.5]
    texts = {v for v in grid.values() if isinstance(v, str)}
    assert {"Instagram (1 lead)", "Referral (2 leads)", "2025-01", "2026-03"} <= texts
    charts = {c.title: c for c in plan.writes.charts}
    assert set(charts) == {FUNNEL_CHART, SOURCE_CHART, COHORT_CHART}
    funnel_chart = charts[FUNNEL_CHART]
    assert funnel_chart.chart_type == "BAR"
    assert (funnel_chart.domain.first_row, funnel_chart.domain.last_row) == (
        header_row,
        header_row + len(STAGES),
    )
    assert len(charts[SOURCE_CHART].series) == 2  # one per source
    width = max(c for _, c in grid)
    assert all(c.anchor_column > width for c in plan.writes.charts)  # beside the tables
    assert any(pattern == "0.0%" for _, pattern in plan.writes.number_formats)


def test_written_once_then_quiet_until_a_figure_changes() -> None:
    first = plan_funnel_tab(WORKFLOW, leads(), TODAY, None)
    assert first is not None
    assert plan_funnel_tab(WORKFLOW, leads(), TODAY, first.memory) is None  # quiet cycle
    changed = [replace(lead, marks=lead.marks | {"meeting_booked"}) for lead in leads()]
    second = plan_funnel_tab(WORKFLOW, changed, TODAY, first.memory)
    assert second is not None and second.memory.fingerprint != first.memory.fingerprint
    # Lost memory (a deleted state database): written again, once.
    assert plan_funnel_tab(WORKFLOW, leads(), TODAY, None) is not None


def test_a_shrunk_table_is_cleared_behind() -> None:
    wide = plan_funnel_tab(WORKFLOW, leads(extra_source=True), TODAY, None)
    assert wide is not None
    narrow = plan_funnel_tab(WORKFLOW, leads(extra_source=False), TODAY, wide.memory)
    assert narrow is not None
    written = cells(narrow)
    # Every cell of the old block is written (blanks clear what the wider table left).
    for r in range(1, wide.memory.rows + 1):
        for c in range(1, wide.memory.columns + 1):
            assert (r, c) in written
    assert "Instagram (1 lead)" not in written.values()


def test_the_tab_says_what_the_report_says() -> None:
    plan = plan_funnel_tab(WORKFLOW, leads(), TODAY, None)
    assert plan is not None
    grid = cells(plan)
    header_row = next(r for (r, c), v in grid.items() if c == 1 and v == "Stage")
    data = json.loads(render_report(WORKFLOW, leads(), as_json=True, today=TODAY))
    for index, stage in enumerate(data["overall"]["stages"]):
        row = header_row + 1 + index
        assert grid[(row, 1)] == stage["header"]
        assert grid[(row, 2)] == stage["reached"]
        assert grid[(row, 3)] == round(stage["share"] / 100, 4)
        assert grid[(row, 4)] == stage["not_yet_due"]
        expected = None if stage["drop_off"] is None else round(stage["drop_off"] / 100, 4)
        assert grid[(row, 5)] == expected


def test_the_fake_sheet_keeps_the_tab_like_the_gateway() -> None:
    """The in-memory sheet the engine tests use: charts found by title, never twice."""
    sheet = build([])
    first = plan_funnel_tab(WORKFLOW, leads(), TODAY, None)
    assert first is not None
    sheet.apply(SheetWrites(tabs=(first.writes,)))
    requests_after_first = sheet.write_requests
    assert requests_after_first == 2  # one batchUpdate (tab, charts), one values write
    again = plan_funnel_tab(WORKFLOW, leads(), TODAY, None)  # a restart with lost state
    assert again is not None
    sheet.apply(SheetWrites(tabs=(again.writes,)))
    assert [c.title for c in sheet.tab_charts["Funnel"]] == [c.title for c in first.writes.charts]
    assert sheet.tabs["Funnel"] == {k: v for k, v in cells(first).items() if v is not None}
