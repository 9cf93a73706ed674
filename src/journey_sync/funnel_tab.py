"""The Funnel tab: the funnel's figures as tables and native charts, on a tab of its own.

Pure. ``plan_funnel_tab`` lays out three tables from the top-left corner of the tab:

1. the stage table: reached, share of leads, not yet due, drop-off among due leads,
   median and 80th-percentile days from lead date to the stage;
2. by source of lead: each source's share of its leads reaching each stage;
3. by month of lead (cohorts): each month's share of its leads reaching each stage;

and three charts to their right: a bar chart of the funnel, grouped columns by source,
and a line per stage over the cohorts. The tab is journey-sync's block only: columns
A to the table width, rows 1 to the last table row. People may add charts and notes
anywhere else on the tab; they are kept.

Written only when a figure changed: the plan carries a fingerprint of everything it
would write, and returns nothing when it equals the one remembered (the state store
keeps ``TabMemory``), so a quiet cycle makes no write and needs no extra read. The
memory also carries the block's last size, so a table that shrank is cleared behind.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

from .funnel import Funnel, breakdown, by_month, by_source, funnel
from .ports import CellValue, CellWrite, TabChart, TabRange, TabWrites
from .sheet import Lead
from .timing import ReachedOn, StageTiming, stage_timings
from .workflow import Workflow

DEFAULT_TITLE = "Funnel"
PERCENT = "0.0%"

STAGE_HEADERS = (
    "Stage",
    "Reached",
    "Share of leads",
    "Not yet due",
    "Drop-off among due leads",
    "Median days from lead",
    "80% within (days)",
)

FUNNEL_CHART = "Funnel: leads reaching each stage"
SOURCE_CHART = "Funnel by source of lead (share of each source's leads)"
COHORT_CHART = "Cohorts: share of each month's leads reaching each stage"
CHART_TITLES = frozenset({FUNNEL_CHART, SOURCE_CHART, COHORT_CHART})


@dataclass(frozen=True)
class TabMemory:
    """What the state store keeps about the tab between cycles."""

    fingerprint: str
    rows: int  # the block's size when last written
    columns: int


@dataclass(frozen=True)
class FunnelTabPlan:
    writes: TabWrites
    memory: TabMemory  # to store once the writes are applied


def _fraction(percent: float | None) -> float | None:
    return None if percent is None else round(percent / 100, 4)


def tab_tables(
    workflow: Workflow,
    leads: Iterable[Lead],
    today: date | None,
    reached_on: ReachedOn | None = None,
) -> tuple[list[list[CellValue | None]], list[tuple[TabRange, str]], list[TabChart]]:
    """The block's grid (row 1 first), its number formats and its charts."""
    leads = list(leads)
    overall: Funnel = funnel(workflow, leads, today)
    timings: tuple[StageTiming, ...] | None = (
        stage_timings(workflow, leads, reached_on) if reached_on is not None else None
    )
    sources = breakdown(workflow, leads, by_source, today)
    months = breakdown(workflow, leads, by_month, today)
    stages = workflow.stages
    grid: list[list[CellValue | None]] = []
    formats: list[tuple[TabRange, str]] = []

    grid.append(
        [
            f"{workflow.name}: the funnel (kept by journey-sync; add your own notes "
            "and charts outside this block)"
        ]
    )
    grid.append(
        [
            f"{overall.leads} lead{'' if overall.leads == 1 else 's'}; drop-off counts only "
            "the leads for whom the stage is due (the step that marks it is due)"
        ]
    )
    stage_header = len(grid) + 1
    grid.append(list(STAGE_HEADERS))
    for index, stage in enumerate(overall.stages):
        timing = timings[index] if timings is not None else None
        grid.append(
            [
                stage.header,
                stage.reached,
                _fraction(stage.share) if overall.leads else None,
                stage.not_yet_due,
                _fraction(stage.drop_off),
                timing.median_days if timing else None,
                timing.p80_days if timing else None,
            ]
        )
    stage_last = len(grid)
    formats.append((TabRange(stage_header + 1, stage_last, 3, 3), PERCENT))
    formats.append((TabRange(stage_header + 1, stage_last, 5, 5), PERCENT))

    grid.append([])
    grid.append(["By source of lead: share of each source's leads reaching each stage"])
    source_header = len(grid) + 1
    names = list(sources)
    grid.append(
        [
            "Stage",
            *(
                f"{name} ({sources[name].leads} lead{'' if sources[name].leads == 1 else 's'})"
                for name in names
            ),
        ]
    )
    for index, stage_def in enumerate(stages):
        grid.append([stage_def.header, *(_fraction(sources[n].stages[index].share) for n in names)])
    source_last = len(grid)
    if names:
        formats.append((TabRange(source_header + 1, source_last, 2, 1 + len(names)), PERCENT))

    grid.append([])
    grid.append(["By month of lead (cohorts): share of that month's leads reaching each stage"])
    month_header = len(grid) + 1
    grid.append(["Month", "Leads", *(s.header for s in stages)])
    for month, figures in months.items():
        grid.append([month, figures.leads, *(_fraction(s.share) for s in figures.stages)])
    month_last = len(grid)
    if months:
        formats.append((TabRange(month_header + 1, month_last, 3, 2 + len(stages)), PERCENT))

    width = max(len(row) for row in grid)
    charts_at = width + 2
    charts = [
        TabChart(
            title=FUNNEL_CHART,
            chart_type="BAR",
            domain=TabRange(stage_header, stage_last, 1, 1),
            series=(TabRange(stage_header, stage_last, 2, 2),),
            anchor_row=1,
            anchor_column=charts_at,
        ),
        TabChart(
            title=SOURCE_CHART,
            chart_type="COLUMN",
            domain=TabRange(source_header, source_last, 1, 1),
            series=tuple(
                TabRange(source_header, source_last, c, c) for c in range(2, 2 + len(names))
            ),
            anchor_row=20,
            anchor_column=charts_at,
        ),
        TabChart(
            title=COHORT_CHART,
            chart_type="LINE",
            domain=TabRange(month_header, month_last, 1, 1),
            series=tuple(
                TabRange(month_header, month_last, c, c) for c in range(3, 3 + len(stages))
            ),
            anchor_row=39,
            anchor_column=charts_at,
        ),
    ]
    return grid, formats, charts


def plan_funnel_tab(
    workflow: Workflow,
    leads: Iterable[Lead],
    today: date | None,
    previous: TabMemory | None,
    *,
    title: str = DEFAULT_TITLE,
    reached_on: ReachedOn | None = None,
) -> FunnelTabPlan | None:
    """What to write on the Funnel tab, or ``None`` when nothing changed since
    ``previous`` (the memory stored after the last write)."""
    grid, formats, charts = tab_tables(workflow, leads, today, reached_on)
    rows, columns = len(grid), max(len(row) for row in grid)
    fingerprint = hashlib.sha256(repr((title, grid, formats, charts)).encode()).hexdigest()
    if previous is not None and previous.fingerprint == fingerprint:
        return None
    # Every cell of the block (and of the larger block written last time) is written,
    # blanks as clears: the block is journey-sync's, and a shrunk table leaves nothing.
    clear_rows = max(rows, previous.rows if previous else 0)
    clear_columns = max(columns, previous.columns if previous else 0)
    values: list[CellWrite] = []
    for r in range(1, clear_rows + 1):
        row = grid[r - 1] if r <= rows else []
        for c in range(1, clear_columns + 1):
            value = row[c - 1] if c <= len(row) else None
            values.append(CellWrite(r, c, value))
    writes = TabWrites(
        title=title,
        values=tuple(values),
        number_formats=tuple(formats),
        charts=tuple(charts),
    )
    return FunnelTabPlan(writes=writes, memory=TabMemory(fingerprint, rows, columns))
