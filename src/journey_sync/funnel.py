"""Funnel figures: how many leads reached each stage, the share, the drop-off, who left where.

Pure. The footer's formulas (``footer.py``) compute exactly these numbers inside the sheet,
and ``journey-sync report`` prints them; a test holds the two equal.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from .sheet import Lead
from .workflow import Workflow


def percent(part: float, whole: float) -> float:
    """``100*part/whole`` rounded to one decimal, half away from zero like Sheets' ROUND.

    Python's round() rounds half to even, which would disagree with the sheet on 12.25.
    """
    if whole == 0:
        return 0.0
    exact = Decimal(str(part)) * 100 / Decimal(str(whole))
    return float(exact.quantize(Decimal("0.1"), rounding=ROUND_HALF_UP))


@dataclass(frozen=True)
class StageFigures:
    key: str
    header: str
    reached: int  # leads whose stage cell holds 1
    share: float  # % of all leads
    drop_off: float  # % lost since the previous stage (since "lead" for the first)
    left_here: int  # departed leads whose furthest marked stage is this one


@dataclass(frozen=True)
class Funnel:
    leads: int
    still_in_journey: int
    still_share: float
    left_before_any_stage: int
    stages: tuple[StageFigures, ...]


def funnel(workflow: Workflow, leads: Iterable[Lead]) -> Funnel:
    leads = list(leads)
    total = len(leads)
    keys = [s.key for s in workflow.stages]
    departed = [lead for lead in leads if lead.departed]
    furthest: dict[str | None, int] = {}
    for lead in departed:
        marked = [k for k in keys if k in lead.marks]
        key = marked[-1] if marked else None
        furthest[key] = furthest.get(key, 0) + 1
    stages: list[StageFigures] = []
    previous = total
    for stage in workflow.stages:
        reached = sum(1 for lead in leads if stage.key in lead.marks)
        stages.append(
            StageFigures(
                key=stage.key,
                header=stage.header,
                reached=reached,
                share=percent(reached, total),
                drop_off=percent(previous - reached, previous),
                left_here=furthest.get(stage.key, 0),
            )
        )
        previous = reached
    still = total - len(departed)
    return Funnel(
        leads=total,
        still_in_journey=still,
        still_share=percent(still, total),
        left_before_any_stage=furthest.get(None, 0),
        stages=tuple(stages),
    )


def breakdown(
    workflow: Workflow, leads: Iterable[Lead], key: Callable[[Lead], str]
) -> dict[str, Funnel]:
    groups: dict[str, list[Lead]] = {}
    for lead in leads:
        groups.setdefault(key(lead), []).append(lead)
    return {name: funnel(workflow, members) for name, members in sorted(groups.items())}


def by_source(lead: Lead) -> str:
    return lead.source or "(no source)"


def by_month(lead: Lead) -> str:
    return lead.lead_date.strftime("%Y-%m") if lead.lead_date else "(unreadable date)"


def number_text(value: float) -> str:
    """A number as Sheets' ``&`` turns it into text: 75 not 75.0, 66.7 as is."""
    if float(value).is_integer():
        return str(int(value))
    return f"{value:.10g}"
