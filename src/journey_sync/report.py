"""``journey-sync report``: the funnel as text or JSON, overall and by source and month."""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any

from .funnel import Funnel, breakdown, by_month, by_source, funnel, number_text
from .sheet import Lead
from .workflow import Workflow


def funnel_table(workflow: Workflow, figures: Funnel, title: str) -> str:
    width = max(len(s.header) for s in workflow.stages) + 2
    lines = [
        f"{title}: {figures.leads} leads, {figures.still_in_journey} still in journey "
        f"({number_text(figures.still_share)}%)"
        + (
            f", {figures.left_before_any_stage} left before any stage"
            if figures.left_before_any_stage
            else ""
        ),
        f"  {'stage':<{width}}{'reached':>8}{'share %':>9}{'drop-off %':>12}{'left here':>11}",
    ]
    for stage in figures.stages:
        lines.append(
            f"  {stage.header:<{width}}{stage.reached:>8}{number_text(stage.share):>9}"
            f"{number_text(stage.drop_off):>12}{stage.left_here:>11}"
        )
    return "\n".join(lines)


def report_data(workflow: Workflow, leads: list[Lead]) -> dict[str, Any]:
    return {
        "workflow": workflow.name,
        "overall": asdict(funnel(workflow, leads)),
        "by_source": {k: asdict(v) for k, v in breakdown(workflow, leads, by_source).items()},
        "by_month": {k: asdict(v) for k, v in breakdown(workflow, leads, by_month).items()},
    }


def render_report(workflow: Workflow, leads: list[Lead], *, as_json: bool = False) -> str:
    if as_json:
        return json.dumps(report_data(workflow, leads), indent=2)
    parts = [funnel_table(workflow, funnel(workflow, leads), f"{workflow.name} — all leads")]
    for name, figures in breakdown(workflow, leads, by_source).items():
        parts.append(funnel_table(workflow, figures, f"source {name}"))
    for name, figures in breakdown(workflow, leads, by_month).items():
        parts.append(funnel_table(workflow, figures, f"month {name}"))
    return "\n\n".join(parts)
