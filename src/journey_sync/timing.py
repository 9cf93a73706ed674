"""Time between stages: days from the lead date to the day each stage was reached.

Pure. The state store records, per (lead id, stage key), the day the stage was reached:
the completion day of the task that marked it, or, for a mark typed by hand, the day
journey-sync first saw it. These figures are the median and the 80th percentile of those
day counts, overall and by source of lead.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime

from .sheet import Lead
from .workflow import Workflow

# lead id -> stage key -> the day the stage was reached
ReachedOn = Mapping[str, Mapping[str, date]]


def newly_reached(
    workflow: Workflow,
    marked: Iterable[tuple[str, str]],
    known: Mapping[str, Mapping[str, date]],
    completions: Mapping[tuple[str, str], datetime],
    today: date,
) -> list[tuple[str, str, date]]:
    """The (lead id, stage key, day) to record for stages marked now (``marked``: in the
    sheet or written this cycle) whose day is not known yet: the completion day, in the
    workflow's time zone, of the earliest completed task that marks the stage, else
    today (a mark typed by hand is reached the day it is first seen)."""
    zone = workflow.zone
    steps_of: dict[str, list[str]] = {}
    for step in workflow.steps:
        if step.marks:
            steps_of.setdefault(step.marks, []).append(step.key)
    out: list[tuple[str, str, date]] = []
    empty: Mapping[str, date] = {}
    # The known ones left out before sorting: every mark of the sheet is asked about each
    # cycle, and nearly all of them were reached long ago.
    for lead_id, stage in sorted({m for m in marked if m[1] not in known.get(m[0], empty)}):
        days = [
            completions[(lead_id, step)].astimezone(zone).date()
            for step in steps_of.get(stage, ())
            if (lead_id, step) in completions
        ]
        out.append((lead_id, stage, min(days) if days else today))
    return out


@dataclass(frozen=True)
class StageTiming:
    key: str
    header: str
    leads: int  # leads counted (reached, with a known lead date and day reached)
    median_days: float | None
    p80_days: float | None


def percentile(values: list[int], fraction: float) -> float | None:
    """The ``fraction`` percentile with linear interpolation between closest ranks, as
    Sheets' PERCENTILE (PERCENTILE.INC) computes it; ``None`` for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = fraction * (len(ordered) - 1)
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    exact = ordered[low] + (ordered[high] - ordered[low]) * (rank - low)
    return round(exact, 1)


def stage_timings(
    workflow: Workflow, leads: Iterable[Lead], reached_on: ReachedOn
) -> tuple[StageTiming, ...]:
    """Median and 80th percentile of days from lead date to each stage.

    A lead counts for a stage when the stage is marked in the sheet now, its lead date is
    readable and the day it was reached is known. A day before the lead date (a typo in
    the date) counts as 0 days rather than a negative time.
    """
    leads = list(leads)
    out: list[StageTiming] = []
    for stage in workflow.stages:
        days: list[int] = []
        for lead in leads:
            if lead.lead_id is None or lead.lead_date is None or stage.key not in lead.marks:
                continue
            day = reached_on.get(lead.lead_id, {}).get(stage.key)
            if day is not None:
                days.append(max(0, (day - lead.lead_date).days))
        out.append(
            StageTiming(
                key=stage.key,
                header=stage.header,
                leads=len(days),
                median_days=percentile(days, 0.5),
                p80_days=percentile(days, 0.8),
            )
        )
    return tuple(out)


def timings_by(
    workflow: Workflow,
    leads: Iterable[Lead],
    reached_on: ReachedOn,
    key: Callable[[Lead], str],
) -> dict[str, tuple[StageTiming, ...]]:
    groups: dict[str, list[Lead]] = {}
    for lead in leads:
        groups.setdefault(key(lead), []).append(lead)
    return {
        name: stage_timings(workflow, members, reached_on)
        for name, members in sorted(groups.items())
    }
