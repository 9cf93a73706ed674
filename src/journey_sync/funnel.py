"""Funnel figures: how many leads reached each stage, the share, the drop-off, who left where.

Drop-off is honest about time: a stage is *due* for a lead once the first step that marks
it is due (lead date + offset, weekend moves included); a stage no step marks is due at
once. Drop-off into a stage is counted among the leads for whom that stage is due only,
so leads that simply have not had the time yet are not read as lost ("Not yet due").

Pure. The footer's formulas (``footer.py``) compute exactly these numbers inside the sheet,
and ``journey-sync report`` prints them; a test holds the two equal.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal

from .dates import date_to_serial, due_day
from .sheet import Lead
from .workflow import Step, Workflow


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
    reached: int  # leads whose stage cell holds 1 (or a ticked checkbox)
    share: float  # % of all leads
    # % lost since the previous stage ("lead" for the first), counted among the leads for
    # whom this stage is due only; None when no such lead reached the previous stage.
    drop_off: float | None
    left_here: int  # departed leads whose furthest marked stage is this one
    not_yet_due: int = 0  # leads for whom this stage is not due yet
    # The latest lead date for which the stage is due today; None: due for every lead.
    due_through: date | None = None


@dataclass(frozen=True)
class Funnel:
    leads: int
    still_in_journey: int
    still_share: float
    left_before_any_stage: int
    stages: tuple[StageFigures, ...]
    today: date | None = None  # the day "due" was judged on; None: every stage due


def latest_due_lead_date(step: Step, today: date) -> date:
    """The latest lead date whose ``step`` is due on or before ``today``.

    ``due_day`` never decreases as the lead date grows (months clamp, weekend moves keep
    order), so the leads for whom a step is due are exactly those up to one date: the
    footer's formulas count them with one ``COUNTIFS`` criterion on the lead date.
    """
    span = {"d": 1, "w": 7, "m": 31}[step.due.unit] * step.due.amount
    low, high = today - timedelta(days=span + 7), today + timedelta(days=3)
    assert due_day(step, low) <= today < due_day(step, high)
    while (high - low).days > 1:
        middle = low + (high - low) / 2
        if due_day(step, middle) <= today:
            low = middle
        else:
            high = middle
    return low


def due_through(workflow: Workflow, today: date | None) -> dict[str, date | None]:
    """Per stage, the latest lead date for which it is due (``None``: due for everyone).

    A stage is due once the first step that marks it is due; a stage no step marks is
    due at once.
    """
    out: dict[str, date | None] = {}
    for stage in workflow.stages:
        steps = [s for s in workflow.steps if s.marks == stage.key]
        if today is None or not steps:
            out[stage.key] = None
        else:
            out[stage.key] = max(latest_due_lead_date(s, today) for s in steps)
    return out


def funnel(workflow: Workflow, leads: Iterable[Lead], today: date | None = None) -> Funnel:
    """The figures for these leads; ``today`` decides which stages are due for whom."""
    tally = Tally(workflow, today)
    for lead in leads:
        tally.add(lead, 1)
    return tally.figures()


class Tally:
    """The counts behind the funnel figures, lead by lead: each lead adds to them (and
    can be taken out again), so a cycle in which a few rows changed updates the counts
    of those rows instead of counting 10,000 leads again (``plan.PlanMemo``)."""

    def __init__(self, workflow: Workflow, today: date | None) -> None:
        self.workflow, self.today = workflow, today
        self.keys = [s.key for s in workflow.stages]
        self.through = due_through(workflow, today)
        # What the footer's criterion counts as due: a date cell (a serial number) before
        # cutoff + 1. A date typed as text is never due (numeric criteria never match text).
        self.limits = [
            None if (day := self.through[key]) is None else date_to_serial(day) + 1
            for key in self.keys
        ]
        n = len(self.keys)
        self.total = 0
        self.departed = 0
        self.furthest: dict[str | None, int] = {}
        self.reached = [0] * n
        self.due = [0] * n
        self.before = [0] * n  # due, and the previous stage reached (all, for the first)
        self.here = [0] * n  # due, and this stage reached

    def add(self, lead: Lead, sign: int) -> None:
        """Count ``lead`` in (``sign`` 1) or out (-1)."""
        # A lead row whose name or date a person cleared is kept by its id, but the
        # footer's formulas count rows with both (and so do these figures, to agree).
        if lead.name == "" or lead.raw_date == "":
            return
        self.total += sign
        marks = lead.marks
        if lead.departed:
            self.departed += sign
            marked = [k for k in self.keys if k in marks]
            key = marked[-1] if marked else None
            self.furthest[key] = self.furthest.get(key, 0) + sign
        raw = lead.raw_date
        serial = float(raw) if isinstance(raw, int | float) and not isinstance(raw, bool) else None
        previous: str | None = None
        for i, key in enumerate(self.keys):
            reached = key in marks
            if reached:
                self.reached[i] += sign
            limit = self.limits[i]
            if limit is None or (serial is not None and serial < limit):
                self.due[i] += sign
                if previous is None or previous in marks:
                    self.before[i] += sign
                if reached:
                    self.here[i] += sign
            previous = key

    def figures(self) -> Funnel:
        total = self.total
        stages = []
        for i, stage in enumerate(self.workflow.stages):
            before, here = self.before[i], self.here[i]
            stages.append(
                StageFigures(
                    key=stage.key,
                    header=stage.header,
                    reached=self.reached[i],
                    share=percent(self.reached[i], total),
                    drop_off=percent(before - here, before) if before else None,
                    left_here=self.furthest.get(stage.key, 0),
                    not_yet_due=total - self.due[i],
                    due_through=self.through[stage.key],
                )
            )
        still = total - self.departed
        return Funnel(
            leads=total,
            still_in_journey=still,
            still_share=percent(still, total),
            left_before_any_stage=self.furthest.get(None, 0),
            stages=tuple(stages),
            today=self.today,
        )


def breakdown(
    workflow: Workflow,
    leads: Iterable[Lead],
    key: Callable[[Lead], str],
    today: date | None = None,
) -> dict[str, Funnel]:
    groups: dict[str, list[Lead]] = {}
    for lead in leads:
        groups.setdefault(key(lead), []).append(lead)
    return {name: funnel(workflow, members, today) for name, members in sorted(groups.items())}


def by_source(lead: Lead) -> str:
    return lead.source or "(no source)"


def by_month(lead: Lead) -> str:
    return lead.lead_date.strftime("%Y-%m") if lead.lead_date else "(unreadable date)"


def number_text(value: float) -> str:
    """A number as Sheets' ``&`` turns it into text: 75 not 75.0, 66.7 as is."""
    if float(value).is_integer():
        return str(int(value))
    return f"{value:.10g}"
