"""``journey-sync report``: the funnel as text, JSON or CSV.

The text starts with the compact grid the owner reads first (each stage's share of
leads, by source of lead), then the full tables: overall, by source, by month of lead.
``--json`` and ``--csv`` give every figure for other tools; they are the same figures as
the sheet's footer and Funnel tab.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import asdict
from datetime import date
from typing import Any

from .funnel import Funnel, breakdown, by_month, by_source, funnel, number_text
from .sheet import Lead
from .timing import ReachedOn, StageTiming, stage_timings, timings_by
from .workflow import Workflow


def plural(count: int, noun: str) -> str:
    """``1 lead``, ``2 leads``, ``0 leads``."""
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def share_text(value: float | None, blank: str = "") -> str:
    """A percentage with one decimal, as the sheet's "0.0%" format shows it: 100.0%."""
    return blank if value is None else f"{value:.1f}%"


def source_grid(workflow: Workflow, leads: list[Lead], today: date | None = None) -> str:
    """Stages down, sources across: the share of each source's leads that reached each stage."""
    overall = funnel(workflow, leads, today)
    groups = {"All": overall, **breakdown(workflow, leads, by_source, today)}
    names = list(groups)
    width = max(len(s.header) for s in workflow.stages) + 2
    columns = [max(len(name), len(plural(groups[name].leads, "lead")), 6) + 2 for name in names]
    lines = [
        f"{workflow.name}: share of leads reaching each stage, by source of lead",
        " " * width + "".join(f"{name:>{w}}" for name, w in zip(names, columns, strict=True)),
        " " * width
        + "".join(
            f"{plural(groups[name].leads, 'lead'):>{w}}"
            for name, w in zip(names, columns, strict=True)
        ),
    ]
    for index, stage in enumerate(workflow.stages):
        cells = "".join(
            f"{share_text(groups[name].stages[index].share) if groups[name].leads else '':>{w}}"
            for name, w in zip(names, columns, strict=True)
        )
        lines.append(f"{stage.header:<{width}}{cells}")
    return "\n".join(lines)


def funnel_table(
    workflow: Workflow,
    figures: Funnel,
    title: str,
    timings: tuple[StageTiming, ...] | None = None,
) -> str:
    width = max(len(s.header) for s in workflow.stages) + 2
    head = (
        f"{title}: {plural(figures.leads, 'lead')}, {figures.still_in_journey} still in journey "
        f"({number_text(figures.still_share)}%)"
    )
    if figures.left_before_any_stage:
        head += f", {figures.left_before_any_stage} left before any stage"
    columns = f"  {'stage':<{width}}{'reached':>8}{'share':>8}{'not due':>9}{'drop-off':>10}"
    columns += f"{'left here':>11}"
    if timings is not None:
        columns += f"{'median d':>10}{'p80 d':>8}"
    lines = [head, columns]
    for index, stage in enumerate(figures.stages):
        line = (
            f"  {stage.header:<{width}}{stage.reached:>8}{share_text(stage.share):>8}"
            f"{stage.not_yet_due:>9}{share_text(stage.drop_off, '-'):>10}{stage.left_here:>11}"
        )
        if timings is not None:
            timing = timings[index]
            line += f"{_days(timing.median_days):>10}{_days(timing.p80_days):>8}"
        lines.append(line)
    if figures.today is not None:
        lines.append(
            f"  (drop-off counts only leads for whom the stage is due on {figures.today}; "
            "'not due' leads have not had the time yet)"
        )
    return "\n".join(lines)


def _days(value: float | None) -> str:
    return "" if value is None else number_text(value)


def _funnel_json(figures: Funnel, timings: tuple[StageTiming, ...] | None) -> dict[str, Any]:
    data = asdict(figures)
    data["today"] = figures.today.isoformat() if figures.today else None
    for index, stage in enumerate(data["stages"]):
        through = figures.stages[index].due_through
        stage["due_through"] = through.isoformat() if through else None
        if timings is not None:
            stage["median_days"] = timings[index].median_days
            stage["p80_days"] = timings[index].p80_days
            stage["timed_leads"] = timings[index].leads
    return data


def report_data(
    workflow: Workflow,
    leads: list[Lead],
    today: date | None = None,
    reached_on: ReachedOn | None = None,
) -> dict[str, Any]:
    """Every figure: overall, by source, by month (JSON-ready)."""
    source_timings = (
        timings_by(workflow, leads, reached_on, by_source) if reached_on is not None else {}
    )
    return {
        "workflow": workflow.name,
        "today": today.isoformat() if today else None,
        "overall": _funnel_json(
            funnel(workflow, leads, today),
            stage_timings(workflow, leads, reached_on) if reached_on is not None else None,
        ),
        "by_source": {
            k: _funnel_json(v, source_timings.get(k))
            for k, v in breakdown(workflow, leads, by_source, today).items()
        },
        "by_month": {
            k: _funnel_json(v, None) for k, v in breakdown(workflow, leads, by_month, today).items()
        },
    }


CSV_COLUMNS = (
    "group",
    "name",
    "leads",
    "stage_key",
    "stage",
    "reached",
    "share",
    "not_yet_due",
    "drop_off",
    "left_here",
    "due_through",
    "median_days",
    "p80_days",
)


def report_csv(data: dict[str, Any]) -> str:
    """One row per (group, stage): group is overall, source or month."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    groups = [("overall", "all", data["overall"])]
    groups += [("source", k, v) for k, v in data["by_source"].items()]
    groups += [("month", k, v) for k, v in data["by_month"].items()]
    for group, name, figures in groups:
        for stage in figures["stages"]:
            row = {
                "group": group,
                "name": name,
                "leads": figures["leads"],
                "stage_key": stage["key"],
                "stage": stage["header"],
                **stage,
            }
            writer.writerow(["" if row.get(c) is None else row.get(c) for c in CSV_COLUMNS])
    return out.getvalue()


def render_report(
    workflow: Workflow,
    leads: list[Lead],
    *,
    as_json: bool = False,
    as_csv: bool = False,
    today: date | None = None,
    reached_on: ReachedOn | None = None,
) -> str:
    if as_json:
        return json.dumps(report_data(workflow, leads, today, reached_on), indent=2)
    if as_csv:
        return report_csv(report_data(workflow, leads, today, reached_on))
    overall_timings = stage_timings(workflow, leads, reached_on) if reached_on is not None else None
    source_timings = (
        timings_by(workflow, leads, reached_on, by_source) if reached_on is not None else {}
    )
    parts = [
        source_grid(workflow, leads, today),
        funnel_table(
            workflow, funnel(workflow, leads, today), f"{workflow.name}, all leads", overall_timings
        ),
    ]
    for name, figures in breakdown(workflow, leads, by_source, today).items():
        parts.append(funnel_table(workflow, figures, f"source {name}", source_timings.get(name)))
    for name, figures in breakdown(workflow, leads, by_month, today).items():
        parts.append(funnel_table(workflow, figures, f"month {name}"))
    return "\n\n".join(parts)
