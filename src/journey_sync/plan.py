"""Planning a cycle: from what the sheet shows and what journey-sync remembers, decide
everything to do, as a tuple of typed actions (``actions.py``). Pure: no I/O, no clock,
no randomness (ids come from ``new_id``).

``plan_cycle`` is a short pipeline of per-concern functions, one per kind of decision:
identities (``identity.py``), notes, marks from tasks, hand marks, the coach, departures,
tasks (create, move), rows gone from the sheet, and the footer. Each looks at one lead
(or the whole sheet) and returns actions; nothing else decides anything.

The decisions are level-triggered: they compare the sheet with the remembered state of
each task, rather than replaying events, so a cycle that crashed half-way is simply
planned again and does only what is still missing.
"""

from __future__ import annotations

import itertools
import logging
import re
from collections.abc import Callable, Container, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from functools import lru_cache
from typing import Any, TypeVar

from .actions import (
    Action,
    AllowMark,
    AssignId,
    ClearFooterFigures,
    ClearLeftOn,
    ClearMark,
    CloseTaskAction,
    CreateTask,
    DeleteTaskAction,
    DropNote,
    ForgetLeftOn,
    ForgetMark,
    LeadCopied,
    LeadMissing,
    MoveTaskAction,
    PlaceNote,
    RememberLead,
    ReopenTaskAction,
    SheetAction,
    TaskAction,
    UpdateTaskAction,
    UpdateTaskRecord,
    WriteCoach,
    WriteLeftOn,
    WriteMark,
)
from .dates import due_day, due_for
from .footer import FooterPlan, plan_footer
from .funnel import Funnel, Tally, funnel
from .funnel_tab import FunnelTabPlan, TabMemory, plan_funnel_tab
from .identity import Held, Identities, Placed, identify
from .ports import CellWrite, ColourRule, Due, SheetWrites
from .records import (
    HAND,
    HAND_DECLINED,
    LEAVE,
    LEAVE_DECLINED,
    MISSING,
    PAST,
    Memory,
    NoteKey,
    TaskRecord,
    due_text,
    parse_marker,
    task_marker,
    with_closed_note,
    with_note_of,
    without_closed_note,
)
from .sheet import FOOTER_MARK, Lead, RowProblem, SheetModel, changed_positions, column_letter
from .template import _orphans, _versions, hold_template_changes, plan_template_changes
from .timing import ReachedOn
from .workflow import Step, Workflow

__all__ = [
    "GREEN",
    "RED",
    "Memory",
    "Plan",
    "TaskRecord",
    "parse_marker",
    "plan_cycle",
    "task_marker",
]

log = logging.getLogger("journey_sync.plan")

A = TypeVar("A", bound=Action)

# Lead dates outside these bounds are typos or placeholders (31/12/9999, a year typed as
# the number 2026, which Sheets reads as a day in 1905): the row is flagged, never planned.
EARLIEST_LEAD_DATE = date(2000, 1, 1)
LATEST_LEAD_DATE_AHEAD = timedelta(days=366)

# How long a lead's row may be missing from the sheet before its open tasks are removed.
DEFAULT_MISSING_GRACE = timedelta(days=1)
# More leads than this share vanishing at once is read as a sheet emptied by mistake or a
# partial read, not as people deleting rows: nothing is removed.
VANISH_SHARE_LIMIT = 1 / 3

# A task closed by journey-sync for one of these reasons is not a person's completion.
_NOT_A_COMPLETION = {HAND, LEAVE, MISSING, PAST}
# A task journey-sync removed for one of these reasons comes back when the reason goes.
_REMOVED_FOR_A_REASON = {LEAVE, MISSING, PAST}


@dataclass(frozen=True)
class Plan:
    actions: tuple[Action, ...]
    footer: FooterPlan | None
    colour_rules: tuple[ColourRule, ...]
    figures: Funnel
    problems: tuple[RowProblem, ...]
    leads: tuple[Lead, ...]
    warnings: tuple[str, ...] = ()
    funnel_tab: FunnelTabPlan | None = None  # None: the tab reads right (or there is none)
    # The actions of each kind asked for, found once: a cycle asks ``of`` a dozen times,
    # and onboarding 10,000 leads plans 130,000 actions.
    _of: dict[type, tuple[Action, ...]] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )
    _classes: dict[type, list[Action]] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    def of(self, kind: type[A]) -> list[A]:
        found = self._of.get(kind)
        if found is None:
            classes = self._classes
            if not classes:
                # The actions by their own class, in one pass: ``of`` is asked a dozen
                # times a cycle, and onboarding plans 130,000 actions.
                for action in self.actions:
                    classes.setdefault(type(action), []).append(action)
            matching = [c for c in classes if issubclass(c, kind)]
            if len(matching) <= 1:
                found = tuple(classes[matching[0]]) if matching else ()
            else:  # several classes: in the plan's order
                found = tuple(a for a in self.actions if isinstance(a, kind))
            self._of[kind] = found
        return list(found)  # type: ignore[arg-type]  # each one a ``kind``

    def is_empty(self) -> bool:
        """Nothing to write, send or remember but bookkeeping."""
        return (
            self.footer is None
            and self.funnel_tab is None
            and all(a.bookkeeping for a in self.actions)
        )

    def sheet_writes(self, actions: Iterator[SheetAction] | None = None) -> SheetWrites:
        """The sheet writes of these row actions (all of them by default) and the footer."""
        chosen = list(actions) if actions is not None else self.of(SheetAction)
        values: list[CellWrite] = [c for a in chosen for c in a.cells()]
        footer = self.footer
        if footer is not None:
            values.extend(footer.values)
        return SheetWrites(
            inserts=footer.inserts if footer else (),
            values=tuple(values),
            formulas=footer.formulas if footer else (),
            notes=tuple(n for a in chosen for n in a.notes()),
            colour_rules=self.colour_rules,
            tabs=(self.funnel_tab.writes,) if self.funnel_tab is not None else (),
        )

    def lines(self) -> list[tuple[str, list[str]]]:
        """The plan as a dry run prints it: each heading with its actions' descriptions."""
        grouped: dict[str, list[str]] = {}
        for action in self.actions:
            if action.heading:
                grouped.setdefault(action.heading, []).append(action.describe())
        if self.footer is not None:
            grouped.setdefault("write footer", []).append(f"from row {self.footer.start}")
        if self.funnel_tab is not None:
            tab = self.funnel_tab.writes
            grouped.setdefault("write funnel tab", []).append(
                f"{tab.title!r}: its tables and {len(tab.charts)} charts"
            )
        return list(grouped.items())

    # The counts a cycle reports (and the daemon logs).
    @property
    def new_leads(self) -> list[AssignId]:
        return [a for a in self.of(AssignId) if not a.restored]

    @property
    def creates(self) -> list[CreateTask]:
        return self.of(CreateTask)

    @property
    def closes(self) -> list[CloseTaskAction]:
        return self.of(CloseTaskAction)

    @property
    def deletes(self) -> list[DeleteTaskAction]:
        return self.of(DeleteTaskAction)


# Soft green and red, as people colour rows by hand.
GREEN = (0.851, 0.918, 0.827)
RED = (0.957, 0.800, 0.800)


def colour_rules(workflow: Workflow, model: SheetModel) -> tuple[ColourRule, ...]:
    """Red for departed, then green for paid: Sheets applies the first rule that matches."""
    layout = model.layout
    first = layout.header_row + 1

    def ref(column: int) -> str:
        return f"${column_letter(column)}{first}"

    # A lead row has a name and a lead date; footer rows never have a lead date.
    lead = f'{ref(layout.roles["name"])}<>"",{ref(layout.roles["lead_date"])}<>""'
    rules: list[ColourRule] = []
    if "reason_left" in layout.roles:
        rules.append(
            ColourRule(
                "departed",
                f'=AND({lead},{ref(layout.roles["reason_left"])}<>"")',
                first,
                layout.last_column,
                *RED,
            )
        )
    if workflow.paid_stage is not None:
        paid = ref(layout.stages[workflow.paid_stage])
        rules.append(
            ColourRule(
                "paid",
                # A ticked checkbox is reached too. OR() of both comparisons is right
                # whether or not Sheets equates TRUE with 1.
                f"=AND({lead},OR({paid}=1,{paid}=TRUE))",
                first,
                layout.last_column,
                *GREEN,
            )
        )
    return tuple(rules)


_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")


def render(template: str, lead: Lead, facts: Mapping[str, str] | None = None) -> str:
    """``template`` with each ``{fact}`` replaced by the lead's fact (``render_facts``,
    which a caller rendering many templates for one lead passes in)."""
    parts = _template_parts(template)
    if len(parts) == 1:
        return template.strip()
    if facts is None:
        facts = render_facts(lead)
    if any(not facts.get(parts[i], "").strip() for i in range(1, len(parts), 2)):
        # "Contact Ann (lead from {source})" with no source: the bracket goes, not "( )".
        template = _EMPTY_GROUP.sub(lambda m: _group_or_nothing(m, facts), template)
        parts = _template_parts(template)
    return "".join(
        [part if i % 2 == 0 else facts.get(part, "").strip() for i, part in enumerate(parts)]
    ).strip()


_EMPTY_GROUP = re.compile(r"\s*\(([^()]*)\)")


def _group_or_nothing(match: re.Match[str], facts: Mapping[str, str]) -> str:
    """A bracketed part of a template, left out when it has placeholders and every one of
    them is empty for this lead."""
    keys = _PLACEHOLDER.findall(match.group(1))
    if keys and all(not facts.get(key, "").strip() for key in keys):
        return ""
    return match.group(0)


def render_facts(lead: Lead) -> dict[str, str]:
    return {**lead.facts, "name": lead.name.strip()}


@lru_cache(maxsize=1024)
def _template_parts(template: str) -> tuple[str, ...]:
    """The template split at its placeholders: text, key, text, key, ..., text (parsed once
    per template, not once per task: onboarding 10,000 leads renders 240,000)."""
    return tuple(_PLACEHOLDER.split(template))


# ------------------------------------------------------------------ the pipeline


@dataclass(frozen=True)
class _Context:
    workflow: Workflow
    model: SheetModel
    memory: Memory
    today: date
    now: datetime
    steps_marking: Mapping[str, tuple[Step, ...]]
    stage_order: Mapping[str, int]
    # Stage columns of checkboxes (some lead's cell holds TRUE or FALSE): a mark there is
    # written as TRUE, which ticks the box (1 would show as an invalid value).
    checkbox_stages: frozenset[str] = frozenset()
    # (step key, lead date) -> the step's day and its planned due text (``planned``).
    dues: dict[tuple[str, date], tuple[date, str | None]] = field(default_factory=dict)
    # (step key, day) -> the step's ``Due`` on that day (immutable, so shared by the tasks
    # created with it: onboarding 10,000 leads creates 120,000 on a few hundred days).
    due_objects: dict[tuple[str, date], Due] = field(default_factory=dict)
    # Step key -> the step's version (``step_version``, hashed once per workflow).
    versions: Mapping[str, str] = field(default_factory=dict)
    # Leads with a mark journey-sync wrote or a person declined: any other lead's marks
    # are decided by its completed tasks alone (``plan_marks``).
    marked_leads: frozenset[str] = frozenset()
    # Stage columns where none of the marks journey-sync wrote is left (two or more): the
    # column deleted and added back empty, not each mark removed by a person.
    wiped_stages: frozenset[str] = frozenset()
    # (lead, step) whose task a person reopened in Todoist since the last read.
    reopened: frozenset[tuple[str, str]] = frozenset()

    def planned(self, step: Step, lead_date: date) -> tuple[date, str | None]:
        """``due_day`` and the due text it plans, once per step and lead date: leads share
        a few hundred dates, and a full plan of 10,000 leads asked 250,000 times."""
        key = (step.key, lead_date)
        found = self.dues.get(key)
        if found is None:
            raw_day = due_day(step, lead_date)
            found = self.dues[key] = (raw_day, due_text(self.due_on(step, raw_day)))
        return found

    def due_on(self, step: Step, day: date) -> Due:
        """``due_for`` once per step and day (keyed by the step's key: hashing the step
        itself, a pydantic model, costs more than the due)."""
        key = (step.key, day)
        found = self.due_objects.get(key)
        if found is None:
            found = self.due_objects[key] = due_for(step, day, self.workflow.zone)
        return found


@dataclass
class _Lead:
    """One placed lead, as the per-concern functions see it."""

    placed: Placed
    tasks: dict[str, TaskRecord | None]
    usable_date: date | None
    date_problem: str | None = None
    notes: dict[NoteKey, tuple[int, str]] = field(default_factory=dict)  # key -> (column, text)
    # The lead's row is copied (a held copy exists), or was and the copy is resolved:
    # a mark we wrote that its row lacks was written into the other row, not removed by
    # a person, and is written again (the row people keep may be the copy).
    copied: bool = False
    copy_resolved: bool = False

    @property
    def lead(self) -> Lead:
        return self.placed.lead

    @property
    def lead_id(self) -> str:
        return self.placed.lead_id

    def at(self, kind: type[SheetAction], **fields: object) -> SheetAction:
        lead = self.lead
        return kind(
            row=lead.row,
            name=lead.name.strip(),
            fingerprint=lead.fingerprint(),
            lead_id=self.lead_id,
            **fields,
        )


_Marks = frozenset[tuple[str, str]]  # (lead id, stage key)


@dataclass(frozen=True)
class _LastPass:
    """What the last plan's pass over the leads was made of (``PlanMemo.leads_to_replan``)."""

    identities: Identities
    model: SheetModel
    epoch: object
    copied: frozenset[str]
    copied_now: frozenset[str]
    top: int  # the highest stamp it saw
    stamped: int  # how many leads had a stamp
    unkept: frozenset[str]  # leads planned but not kept in ``PlanMemo.leads``
    noted: Mapping[str, tuple[int, Placed]]  # kept leads with notes: where, their rows


class PlanMemo:
    """Each lead's decisions in the last plan, with everything they were made from.

    Planning a lead (template changes, marks, hand marks, coach, departure, tasks) is a
    pure function of its row, its remembered records and a few sheet-wide facts; at
    10,000 leads it is most of a cycle's CPU, though a cycle usually changes a handful of
    leads. A lead is planned again unless every input is the same as last time: the very
    same ``Lead`` object (``sheet.RowMemo`` hands back the same object only for a row whose
    values, their types and its row number are unchanged), equal task records of every
    step (the state store keeps unchanged records as the same objects), its marks
    written and declined, its coach and left-on writes, its row problem and copy state;
    and the same workflow object, layout, day, checkbox columns and collaborators (else
    nothing is reused). A fresh process starts with an empty memo: everything is planned.
    """

    def __init__(self) -> None:
        self.context: tuple[object, ...] | None = None
        self.leads: dict[
            str, tuple[tuple[object, ...], tuple[Action, ...], dict[NoteKey, tuple[int, str]]]
        ] = {}
        # The last identities and funnel figures, with the lead objects (and remembered
        # fingerprints, workflow, day) they were worked out from: a cycle whose rows all
        # read as before (a task ticked in Todoist, say) reuses them, and one in which a
        # few rows changed updates them for those rows (a mark written, a cell typed).
        self.identities: tuple[tuple[Lead, ...], Mapping[str, tuple[str, str]], Identities] | None
        self.identities = None
        self.figures: tuple[tuple[Lead, ...], Workflow, date, Tally] | None = None
        # The last plan's pass over the leads (``plan_cycle``), for the next one to replan
        # only the leads whose stamp moved on since (see ``leads_to_replan``).
        self.last: _LastPass | None = None
        # The open tasks of remembered leads out of the sheet, with the stamps they were
        # found under (``plan_missing``).
        self.absent_open: tuple[object, dict[str, list[TaskRecord]]] | None = None
        # Sheet-wide facts, with what they were worked out from (see their methods).
        self._marked: tuple[_Marks, _Marks, frozenset[str]] | None = None
        self._wiped: tuple[Identities, _Marks, frozenset[str]] | None = None
        self._ids: (
            tuple[Identities, Mapping[str, tuple[str, str]], int, tuple[Action, ...]] | None
        ) = None
        self._last_changed: tuple[Sequence[Lead], Sequence[Lead], tuple[int, ...]] | None = None
        # Identities ``identify`` made from the kept ones by taking in a few changed rows:
        # (the new, the kept ones), for ``leads_to_replan``.
        self._derived: tuple[Identities, Identities] | None = None

    def _changed(self, a: Sequence[Lead], b: Sequence[Lead]) -> list[int] | None:
        """``sheet.changed_positions``, asked of the same two reads by the identities, the
        figures and ``keep_only`` in one cycle: the last answer, when it was a few rows, is
        kept with the very objects it compared (holding the other read's leads only then:
        they are mostly this read's)."""
        last = self._last_changed
        if last is not None and last[0] is a and last[1] is b:
            return list(last[2])
        found = changed_positions(a, b)
        self._last_changed = (a, b, tuple(found)) if found is not None else None
        return found

    def marked_leads(self, memory: Memory) -> frozenset[str]:
        """``_marked_leads``, or its last result for equal marks written and declined (a
        sheet's marks number tens of thousands after a year; comparing sets is cheap)."""
        kept = self._marked
        if kept is not None and kept[0] == memory.marks_written and kept[1] == memory.marks_removed:
            return kept[2]
        found = _marked_leads(memory)
        self._marked = (memory.marks_written, memory.marks_removed, found)
        return found

    def wiped_stages(self, memory: Memory, identities: Identities) -> frozenset[str]:
        """``_wiped_stages``, or its last result for the very same identities (the rows'
        marks) and equal marks written."""
        kept = self._wiped
        if kept is not None and kept[0] is identities and kept[1] == memory.marks_written:
            return kept[2]
        found = _wiped_stages(memory, identities)
        self._wiped = (identities, memory.marks_written, found)
        return found

    def ids(self, identities: Identities, memory: Memory, id_column: int) -> tuple[Action, ...]:
        """``plan_ids``, or its last result for the very same identities, remembered
        fingerprints and id column (it reads nothing else)."""
        kept = self._ids
        if (
            kept is not None
            and kept[0] is identities
            and kept[2] == id_column
            and (kept[1] is memory.leads or kept[1] == memory.leads)
        ):
            return kept[3]
        found = tuple(plan_ids(identities, memory, id_column))
        self._ids = (identities, memory.leads, id_column, found)
        return found

    def leads_to_replan(
        self,
        identities: Identities,
        model: SheetModel,
        memory: Memory,
        copied_now: frozenset[str],
    ) -> set[str] | None:
        """The leads a plan must look at again, when it plans the very identities (so the
        same rows, ids and problems) of the very sheet model the last plan did, with the
        same state epoch and copies: those whose stamp moved on since (any write about a
        lead moves it, past every stamp the last plan saw) and those the last plan did not
        keep. None: every lead (asked of each, as the memo's per-lead check does).
        A task ticked in Todoist then costs a plan of its lead, not a pass over 10,000."""
        last = self.last
        if (
            last is None
            or memory.epoch is None
            or last.epoch is not memory.epoch
            or last.copied != memory.copied
            or last.copied_now != copied_now
            or len(memory.stamps) < last.stamped
        ):
            return None
        top = last.top
        redo = {lead_id for lead_id, stamp in memory.stamps.items() if stamp > top}
        redo |= last.unkept
        if last.identities is not identities or last.model is not model:
            # A read in which a few rows changed (the marks the last cycle wrote, a cell
            # typed), whose identities ``identify`` made from the last ones by taking in
            # those rows: every other lead is the same ``Lead`` in the same ``Placed``, with
            # the same row problem, so its plan is too; the changed rows' leads are planned.
            changed = self._changed(last.model.leads, model.leads)
            if changed is None:
                return None
            if last.identities is identities:
                if changed:
                    return None
            elif not (
                self._derived is not None
                and self._derived[0] is identities
                and self._derived[1] is last.identities
            ):
                return None
            rows = {last.model.leads[i].row for i in changed}
            rows |= {model.leads[i].row for i in changed}
            for placed in itertools.chain(last.identities.placed, identities.placed):
                if placed.lead.row in rows:
                    redo.add(placed.lead_id)
        return redo

    def identify(self, model: SheetModel, memory: Memory, new_id: Callable[[], str]) -> Identities:
        """``identify``, or its last result when every row is the same lead object, or
        differs from it only in what identities do not read (marks, coach, departure: not
        its row, id, name, lead date or whether that is computed), and the remembered
        fingerprints are equal. Only a result that writes no id and claims no lead is
        kept: then nothing but the rows and fingerprints decided it (the remembered tasks
        decide only rows held for a lead gone from the sheet)."""
        kept = self.identities
        if kept is not None and (kept[1] is memory.leads or kept[1] == memory.leads):
            changed = self._changed(kept[0], model.leads)
            if changed is not None and all(
                _same_identity(kept[0][i], model.leads[i]) for i in changed
            ):
                found = kept[2]
                if changed:
                    found = _with_leads(
                        found, {model.leads[i].row: model.leads[i] for i in changed}
                    )
                    self.identities = (tuple(model.leads), kept[1], found)
                    self._derived = (found, kept[2])
                    ids = self._ids
                    if ids is not None and ids[0] is kept[2]:
                        # ``plan_ids`` reads each row's number, id, name and fingerprint
                        # (the same, as checked above) and what identify decided of it
                        # (kept): its ids and fingerprints to write are the same.
                        self._ids = (found, *ids[1:])
                return found
        found = identify(model, memory, new_id)
        self._derived = None
        # Held rows (a copy, twins) are decided by the rows and fingerprints too; a held
        # row that claims a lead was decided by its open tasks as well: not kept.
        if not found.claimed and not any(p.id_written for p in found.placed):
            self.identities = (tuple(model.leads), memory.leads, found)
        else:
            self.identities = None
        return found

    def keep_only(self, leads: Sequence[Lead], last: _LastPass | None = None) -> None:
        """Let go of kept identities and figures worked out from rows mostly not this
        cycle's, before Todoist's answer is read: they would hold the last read's leads in
        memory beside this read's, at the cycle's peak (a few changed rows cost nothing).
        ``last``: the last plan's pass, set aside while these rows were read, kept again
        if they are its rows but a few (``leads_to_replan``)."""
        if last is not None and self._changed(last.model.leads, leads) is not None:
            self.last = last
        if self.identities is not None:
            changed = self._changed(self.identities[0], leads)
            if changed is None:
                self.identities = None
                self._ids = self._wiped = None  # of identities not planned again
            elif changed:
                self._wiped = None  # of the changed rows' marks (``identify`` keeps ``_ids``)
        else:
            self._ids = self._wiped = None
        if self.figures is not None and self._changed(self.figures[0], leads) is None:
            self.figures = None

    def funnel(self, workflow: Workflow, leads: Sequence[Lead], today: date) -> Funnel:
        kept = self.figures
        if kept is not None and kept[1] is workflow and kept[2] == today:
            changed = self._changed(kept[0], leads)
            if changed is not None:
                tally = kept[3]
                if changed:
                    for i in changed:
                        tally.add(kept[0][i], -1)
                        tally.add(leads[i], 1)
                    self.figures = (tuple(leads), workflow, today, tally)
                return tally.figures()
        tally = Tally(workflow, today)
        for lead in leads:
            tally.add(lead, 1)
        self.figures = (tuple(leads), workflow, today, tally)
        return tally.figures()


def _same_identity(a: Lead, b: Lead) -> bool:
    """Whether ``identify`` reads the two rows alike: it reads a row's number, id, name,
    lead date and whether the date is computed, nothing else."""
    return (
        a.row == b.row
        and a.lead_id == b.lead_id
        and a.name == b.name
        and type(a.raw_date) is type(b.raw_date)
        and a.raw_date == b.raw_date
        and a.computed_date == b.computed_date
        and a.fingerprint() == b.fingerprint()
    )


def _with_leads(found: Identities, leads: Mapping[int, Lead]) -> Identities:
    """``found`` with the lead of each of these rows (by row number) replaced."""
    return replace(
        found,
        placed=tuple(
            replace(p, lead=leads[p.lead.row]) if p.lead.row in leads else p for p in found.placed
        ),
        held=tuple(
            replace(h, lead=leads[h.lead.row]) if h.lead.row in leads else h for h in found.held
        ),
    )


def plan_cycle(
    workflow: Workflow,
    model: SheetModel,
    memory: Memory,
    today: date,
    new_id: Callable[[], str],
    *,
    now: datetime | None = None,
    missing_grace: timedelta = DEFAULT_MISSING_GRACE,
    funnel_tab: TabMemory | None = None,
    reached_on: ReachedOn | None = None,
    memo: PlanMemo | None = None,
    reopened: frozenset[tuple[str, str]] = frozenset(),
) -> Plan:
    """One cycle's decisions. ``funnel_tab``: what was last written on the Funnel tab
    (when the workflow has one); ``reached_on``: the days stages were reached; ``memo``:
    the last plan's per-lead decisions, reused for leads whose inputs are unchanged."""
    now = now or datetime.combine(today, datetime.min.time(), workflow.zone)
    steps_marking: dict[str, tuple[Step, ...]] = {}
    for step in workflow.steps:
        if step.marks:
            steps_marking[step.marks] = (*steps_marking.get(step.marks, ()), step)
    ctx = _Context(
        workflow,
        model,
        memory,
        today,
        now,
        steps_marking,
        {s.key: i for i, s in enumerate(workflow.stages)},
        model.checkbox_stages,
        versions=_versions(workflow),
        marked_leads=(memo.marked_leads(memory) if memo is not None else _marked_leads(memory)),
        reopened=reopened,
    )
    identities = (
        memo.identify(model, memory, new_id)
        if memo is not None
        else identify(model, memory, new_id)
    )
    actions: list[Action] = list(
        memo.ids(identities, memory, model.layout.roles["lead_id"])
        if memo is not None
        else plan_ids(identities, memory, model.layout.roles["lead_id"])
    )
    wanted_notes: dict[NoteKey, tuple[SheetActionFactory, int, str]] = {}
    for held in identities.held:
        wanted_notes[(held.key, "lead_id")] = (
            _held_factory(held),
            model.layout.roles["lead_id"],
            held.reason,
        )
        problem = _date_problem(held.lead, today)
        if problem:
            wanted_notes[(held.key, "lead_date")] = (
                _held_factory(held),
                model.layout.roles["lead_date"],
                problem,
            )
    problems = {p.row: p for p in model.problems}
    present = identities.present_ids
    copied_now = {
        h.lead.lead_id for h in identities.held if h.lead.lead_id and h.lead.lead_id in present
    }
    actions.extend(LeadCopied(i, True) for i in sorted(copied_now - memory.copied))
    if memory.marks_written:
        ctx = replace(
            ctx,
            wiped_stages=(
                memo.wiped_stages(memory, identities)
                if memo is not None
                else _wiped_stages(memory, identities)
            ),
        )
    inputs_of = _lead_inputs(ctx, memo)
    planned_now: dict[str, tuple[tuple[object, ...], tuple[Action, ...], dict[NoteKey, Any]]] = {}
    frozen_copied_now = frozenset(copied_now)
    redo = (
        memo.leads_to_replan(identities, model, memory, frozen_copied_now)
        if memo is not None and inputs_of is not None
        else None
    )
    # The leads to look at, each with its place in ``identities.placed``: their notes are
    # wanted in that order (after the held rows'), whichever leads are looked at.
    to_plan: Iterable[tuple[int, Placed]] = enumerate(identities.placed)
    unkept: set[str] = set()
    noted: dict[str, tuple[int, Placed]] = {}  # kept leads with notes
    carried: dict[str, tuple[int, Placed]] = {}  # of those, the ones not looked at again
    lead_notes: list[tuple[int, SheetActionFactory, Mapping[NoteKey, tuple[int, str]]]] = []
    if redo is not None and memo is not None and memo.last is not None:
        # The same rows as the last plan's: every lead not in ``redo`` is kept as it was
        # (no actions; its notes wanted again). Only those in ``redo`` are looked at.
        planned_now = dict(memo.leads)
        carried = {k: v for k, v in memo.last.noted.items() if k not in redo}
        noted = dict(carried)
        unkept = set(memo.last.unkept - redo)
        for lead_id in redo:
            planned_now.pop(lead_id, None)
        to_plan = (
            [(i, p) for i, p in enumerate(identities.placed) if p.lead_id in redo] if redo else ()
        )
    for index, placed in to_plan:
        row_problem = problems.get(placed.lead.row)
        copied = placed.lead_id in memory.copied or placed.lead_id in copied_now
        copy_resolved = placed.lead_id in memory.copied and placed.lead_id not in copied_now
        if memo is not None and inputs_of is not None:
            inputs = (
                placed.lead,
                placed.fresh,
                placed.restored,
                row_problem,
                copied,
                copy_resolved,
                *inputs_of(placed.lead_id),
            )
            before = memo.leads.get(placed.lead_id)
            if before is not None and before[0][0] is placed.lead and before[0] == inputs:
                planned_now[placed.lead_id] = before
                actions.extend(before[1])
                if before[2]:
                    lead_notes.append((index, _placed_factory(placed), before[2]))
                    noted[placed.lead_id] = (index, placed)
                continue
        view = _view(ctx, placed, row_problem)
        view.copied = copied
        view.copy_resolved = copy_resolved
        planned = True
        try:
            lead_actions = [
                *plan_template_changes(ctx, view),  # first: renamed steps re-keyed
                *plan_marks(ctx, view),
                *plan_hand_marks(ctx, view),
                *plan_coach(ctx, view),
                *plan_departure(ctx, view),
                *plan_tasks(ctx, view),
            ]
        except Exception as exc:  # one row never stops the sheet
            log.warning("row %s could not be planned: %r", placed.lead.row, exc)
            planned = False  # not kept: planned (and logged) again next cycle
            lead_actions = []
            view.notes = {
                (placed.lead_id, "row"): (
                    model.layout.roles["name"],
                    f"journey-sync cannot handle this row ({type(exc).__name__}: "
                    f"{str(exc)[:200]}). Check its cells; every other lead is synced.",
                )
            }
        actions.extend(lead_actions)
        if view.notes:
            lead_notes.append((index, view.at, view.notes))
        if memo is not None and inputs_of is not None and planned and not lead_actions:
            # Only a lead with nothing to do is kept: one with actions changes as they are
            # applied, and onboarding's 120,000 task creations would stay in memory for
            # nothing until the next plan.
            planned_now[placed.lead_id] = (inputs, (), dict(view.notes))
            if view.notes:
                noted[placed.lead_id] = (index, placed)
        else:
            unkept.add(placed.lead_id)
    if carried:
        lead_notes.extend(
            (index, _placed_factory(placed), planned_now[lead_id][2])
            for lead_id, (index, placed) in carried.items()
        )
        lead_notes.sort(key=lambda entry: entry[0])
    for _, at, notes in lead_notes:
        for key, (column, text) in notes.items():
            wanted_notes[key] = (at, column, text)
    if memo is not None:
        memo.leads = planned_now if inputs_of is not None else {}
        memo.last = (
            _LastPass(
                identities,
                model,
                memory.epoch,
                memory.copied,
                frozen_copied_now,
                max(memory.stamps.values(), default=0),
                len(memory.stamps),
                frozenset(unkept),
                noted,
            )
            if inputs_of is not None and memory.epoch is not None
            else None
        )
    actions.extend(plan_notes(ctx, identities, wanted_notes))
    actions.extend(plan_footer_leftovers(model, identities))
    missing_actions, warnings = plan_missing(ctx, identities, missing_grace, memo)
    actions.extend(missing_actions)
    actions, warnings = hold_template_changes(ctx, actions, warnings)
    warnings = [*model.layout.warnings, *warnings]
    figures = (
        memo.funnel(workflow, model.leads, today)
        if memo is not None
        else funnel(workflow, model.leads, today)
    )
    return Plan(
        actions=tuple(_unique_commands(actions)),
        footer=plan_footer(workflow, model, figures, today),
        colour_rules=colour_rules(workflow, model),
        figures=figures,
        problems=model.problems,
        leads=model.leads,
        warnings=tuple(warnings),
        funnel_tab=(
            plan_funnel_tab(
                workflow,
                _with_marks_written(model.leads, actions),
                today,
                funnel_tab,
                title=workflow.sheet.funnel_tab,
                reached_on=reached_on,
            )
            if workflow.sheet.funnel_tab is not None
            else None
        ),
    )


def _lead_inputs(
    ctx: _Context, memo: PlanMemo | None
) -> Callable[[str], tuple[object, ...]] | None:
    """What a lead's decisions read of the remembered state, as a function of its id (for
    ``PlanMemo``); None when there is no memo. Resets the memo when a sheet-wide input
    changed."""
    if memo is None:
        return None
    workflow, memory = ctx.workflow, ctx.memory
    context = (
        workflow,
        ctx.model.layout,
        ctx.today,
        ctx.checkbox_stages,
        ctx.wiped_stages,
        dict(memory.collaborators),
        dict(memory.collaborator_emails),
        memory.epoch,
    )
    if memo.context is None or memo.context[0] is not workflow or memo.context != context:
        memo.leads = {}
        memo.last = None
    memo.context = context
    if memory.epoch is not None:
        # The state store says which leads' remembered state changed (their stamps): a
        # lead whose stamp is the one its kept plan saw has the same records, marks,
        # coach and departure day (``Memory.stamps``), without looking them up.
        stamps = memory.stamps

        def stamped(lead_id: str) -> tuple[object, ...]:
            return (stamps.get(lead_id),)

        return stamped
    keys = tuple(
        dict.fromkeys(
            [s.key for s in workflow.steps]
            + [s.renamed_from for s in workflow.steps if s.renamed_from]
        )
    )
    marks: dict[str, set[str]] = {}
    for lead_id, stage in memory.marks_written:
        marks.setdefault(lead_id, set()).add(stage)
    declined: dict[str, set[str]] = {}
    for lead_id, stage in memory.marks_removed:
        declined.setdefault(lead_id, set()).add(stage)
    orphans = _orphans(memory, workflow) if workflow.on_step_removed == "delete" else {}
    tasks, coach, left_on = memory.tasks, memory.coach_written, memory.left_on_written

    def inputs(lead_id: str) -> tuple[object, ...]:
        return (
            tuple([tasks.get((lead_id, key)) for key in keys]),
            marks.get(lead_id),
            declined.get(lead_id),
            lead_id in coach,
            left_on.get(lead_id),
            tuple(orphans.get(lead_id, ())),
        )

    return inputs


def _with_marks_written(leads: Sequence[Lead], actions: Sequence[Action]) -> list[Lead]:
    """The leads as they read once this cycle's marks are written (the Funnel tab shows
    them at once; the footer's formulas follow by themselves)."""
    written: dict[int, set[str]] = {}
    cleared: dict[int, set[str]] = {}
    for action in actions:
        if isinstance(action, WriteMark):
            written.setdefault(action.row, set()).add(action.stage)
        elif isinstance(action, ClearMark):
            cleared.setdefault(action.row, set()).add(action.stage)
    if not written and not cleared:
        return list(leads)
    out = []
    for lead in leads:
        plus, minus = written.get(lead.row, set()), cleared.get(lead.row, set())
        if plus or minus:
            lead = replace(
                lead,
                marks=(lead.marks | plus) - minus,
                filled=(lead.filled | plus) - minus,
                unticked=lead.unticked - plus,
            )
        out.append(lead)
    return out


def _marked_leads(memory: Memory) -> frozenset[str]:
    return frozenset(lead_id for lead_id, _ in (*memory.marks_written, *memory.marks_removed))


def _wiped_stages(memory: Memory, identities: Identities) -> frozenset[str]:
    """Stages whose column holds none of the marks journey-sync wrote (of leads in the
    sheet), when it wrote two or more: a column deleted and added back empty (as the Lead
    ID column's ids are given back then, so are these marks)."""
    leads = identities.lead_of
    ours: dict[str, int] = {}
    kept: dict[str, int] = {}
    for lead_id, stage in memory.marks_written:
        lead = leads.get(lead_id)
        if lead is None:
            continue
        ours[stage] = ours.get(stage, 0) + 1
        if stage in lead.filled:
            kept[stage] = kept.get(stage, 0) + 1
    return frozenset(stage for stage, n in ours.items() if n >= 2 and not kept.get(stage))


def plan_footer_leftovers(model: SheetModel, identities: Identities) -> Iterator[Action]:
    """Clear the old footer's figures from leads typed over footer rows (their names,
    dates and what people typed stay)."""
    if not model.over_footer:
        return
    ids = {p.lead.row: p.lead_id for p in identities.placed}
    id_column = model.layout.roles["lead_id"]
    for lead in model.over_footer:
        columns = tuple(
            column
            for key, column in model.layout.stages.items()
            if key in lead.footer_leftovers and model.snapshot.cell(lead.row, column) is not None
        )
        marker = model.snapshot.cell(lead.row, id_column)
        if lead.row not in ids and isinstance(marker, str) and marker.startswith(FOOTER_MARK):
            # A lead held for a person (no id written) keeps the old footer's marker in
            # its id cell: taken off, or the row would read as the footer's start forever
            # (the footer rewritten every cycle).
            columns += (id_column,)
        if columns:
            yield ClearFooterFigures(
                row=lead.row,
                name=lead.name.strip(),
                fingerprint=lead.fingerprint(),
                lead_id=ids.get(lead.row, lead.lead_id),
                columns=columns,
            )


SheetActionFactory = Callable[..., SheetAction]


def _held_factory(held: Held) -> SheetActionFactory:
    def at(kind: type[SheetAction], **fields: object) -> SheetAction:
        return kind(
            row=held.lead.row,
            name=held.lead.name.strip(),
            fingerprint=held.lead.fingerprint(),
            lead_id=held.lead.lead_id,
            **fields,
        )

    return at


def _date_problem(lead: Lead, today: date) -> str | None:
    day = lead.lead_date
    if day is None:
        return None  # the sheet model already says it cannot be read
    if day < EARLIEST_LEAD_DATE or day > today + LATEST_LEAD_DATE_AHEAD:
        return (
            f"journey-sync reads this lead date as {day.isoformat()}, which cannot be right "
            f"(a lead date is after {EARLIEST_LEAD_DATE.year} and at most a year ahead). "
            "Type the real date (e.g. 2026-03-31). This lead gets no tasks until then."
        )
    return None


def _view(ctx: _Context, placed: Placed, problem: RowProblem | None) -> _Lead:
    lead = placed.lead
    tasks = {s.key: ctx.memory.tasks.get((placed.lead_id, s.key)) for s in ctx.workflow.steps}
    view = _Lead(placed, tasks, usable_date=lead.lead_date)
    roles = ctx.model.layout.roles
    trouble = problem.message if problem is not None else _date_problem(lead, ctx.today)
    if trouble is not None:
        view.usable_date = None
        column = problem.column if problem is not None else roles["lead_date"]
        field = "name" if column == roles["name"] else "lead_date"
        view.notes[(placed.lead_id, field)] = (column, trouble)
    if lead.reason_left is not None and not lead.reason_left.strip():
        view.notes[(placed.lead_id, "reason_left")] = (
            roles["reason_left"],
            "This cell holds only spaces, which counts as a reason: the lead has left the "
            "journey (its row is coloured as departed, the footer counts it as left). If the "
            "client has not left, clear the cell.",
        )
    for stage in sorted(lead.odd):
        shown = ctx.model.snapshot.cell(lead.row, ctx.model.layout.stages[stage])
        if isinstance(shown, str) and shown.strip() in ("1", "TRUE", "true"):
            # Typed right, read as text: the cell (or column) is formatted as plain text,
            # and the footer's formulas would not count it either.
            text = (
                f"This cell holds {shown.strip()!r} as text (the cell is formatted as plain "
                "text), which the footer does not count as reached. Select the cell, choose "
                "Format > Number > Automatic, and type 1 again."
            )
        else:
            text = (
                f"journey-sync counts a stage as reached when its cell holds 1 (or a ticked "
                f"checkbox). This cell holds {str(shown)[:40]!r}: type 1 to mark this stage, "
                "or clear the cell."
            )
        view.notes[(placed.lead_id, stage)] = (ctx.model.layout.stages[stage], text)
    return view


def plan_ids(identities: Identities, memory: Memory, id_column: int) -> Iterator[Action]:
    """Ids to write (new leads, ids given back) and fingerprints to remember."""
    for placed in identities.placed:
        lead = placed.lead
        if placed.id_written:
            yield AssignId(
                row=lead.row,
                name=lead.name.strip(),
                fingerprint=lead.fingerprint(),
                lead_id=placed.lead_id,
                column=id_column,
                restored=placed.restored,
            )
        elif memory.leads.get(placed.lead_id) != lead.fingerprint():
            yield RememberLead(placed.lead_id, lead.fingerprint())


def plan_marks(ctx: _Context, view: _Lead) -> Iterator[Action]:
    """Write 1 when a marking task is completed, clear our own 1 when it is reopened;
    never touch a cell a person filled."""
    lead, lead_id, memory = view.lead, view.lead_id, ctx.memory
    missing_after_copy = False
    if lead_id not in ctx.marked_leads and not any(
        r is not None and r.status == "completed" for r in view.tasks.values()
    ):
        # No mark of ours or declined, no completed task: nothing to write, clear or forget
        # in any stage (the common case, asked of every lead of a full plan).
        if view.copy_resolved:
            yield LeadCopied(lead_id, False)
        return
    for stage, column in ctx.model.layout.stages.items():
        records = [
            r for s in ctx.steps_marking.get(stage, ()) if (r := view.tasks[s.key]) is not None
        ]
        completed = any(
            r.status == "completed" and r.closed_by not in _NOT_A_COMPLETION for r in records
        )
        reopened = any(r.status == "open" for r in records)
        ours = (lead_id, stage) in memory.marks_written
        if (lead_id, stage) in memory.marks_removed:
            if not completed:
                yield AllowMark(lead_id, stage)  # a later completion counts again
            continue
        if completed and not ours and stage not in lead.filled:
            value = True if stage in lead.unticked or stage in ctx.checkbox_stages else 1
            yield view.at(WriteMark, stage=stage, column=column, value=value)
        elif ours and not completed and reopened:
            if stage in lead.marks:
                ticked = ctx.model.snapshot.cell(lead.row, column) is True
                yield view.at(
                    ClearMark, stage=stage, column=column, value=False if ticked else None
                )
            else:
                yield ForgetMark(lead_id, stage, declined=False)
        elif (
            ours
            and stage not in lead.filled
            and completed
            and (view.copied or stage in ctx.wiped_stages)
        ):
            # Written into the other row of a copied lead (the row people keep may lack
            # it), or the whole column came back empty: not a person's removal.
            missing_after_copy = True
            value = True if stage in lead.unticked or stage in ctx.checkbox_stages else 1
            yield view.at(WriteMark, stage=stage, column=column, value=value)
        elif ours and stage not in lead.filled:
            # A person removed our mark: theirs to decide. We forget it was ours and do
            # not write it again for this completion.
            yield ForgetMark(lead_id, stage, declined=True)
    if view.copy_resolved and not missing_after_copy:
        yield LeadCopied(lead_id, False)  # one row again, with every mark we wrote


def plan_hand_marks(ctx: _Context, view: _Lead) -> Iterator[Action]:
    """A mark typed by hand closes the open task that would have reminded someone, once.
    When the hand mark is taken away, the task journey-sync closed for it is reopened."""
    lead, lead_id = view.lead, view.lead_id
    if not lead.marks and not any(
        r is not None and r.closed_by == HAND for r in view.tasks.values()
    ):
        return  # no hand mark, and no task closed for one: nothing to close or reopen
    furthest = max((ctx.stage_order[s] for s in lead.marks), default=-1)
    for stage, steps in ctx.steps_marking.items():
        marked_by_hand = stage in lead.marks and (lead_id, stage) not in ctx.memory.marks_written
        for step in steps:
            record = view.tasks[step.key]
            if record is None or not record.task_id:
                continue
            if marked_by_hand and record.status == "open" and not lead.departed:
                if record.closed_by == HAND:
                    yield UpdateTaskRecord(
                        replace(record, closed_by=HAND_DECLINED),
                        "reopened by a person after a hand mark closed it: left open",
                    )
                    yield from _unnote(record, lead_id, lead.name.strip(), "reopened")
                elif (lead_id, step.key) in ctx.reopened:
                    # Completed and reopened in Todoist while the sheet shows a hand
                    # mark: the reopen is a person's, never undone.
                    yield UpdateTaskRecord(
                        replace(record, closed_by=HAND_DECLINED),
                        "reopened by a person in Todoist though marked by hand: left open",
                    )
                elif record.closed_by != HAND_DECLINED:
                    yield from _close(
                        record,
                        CloseTaskAction(
                            lead_id=lead_id,
                            step_key=step.key,
                            name=lead.name.strip(),
                            existing_task_id=record.task_id,
                            why="marked by hand",
                            closed_by=HAND,
                        ),
                        ctx.now,
                    )
            elif record.closed_by == HAND and stage not in lead.marks:
                current = ctx.stage_order[stage] >= furthest
                if record.status == "completed" and current and not lead.departed:
                    yield ReopenTaskAction(
                        lead_id=lead_id,
                        step_key=step.key,
                        name=lead.name.strip(),
                        existing_task_id=record.task_id,
                        why="its hand mark was removed",
                    )
                    yield from _unnote(record, lead_id, lead.name.strip(), "reopened")
                elif record.status == "open":
                    yield UpdateTaskRecord(
                        replace(record, closed_by=None), "hand mark removed, task open"
                    )


def _close(record: TaskRecord, close: CloseTaskAction, now: datetime) -> Iterator[Action]:
    """``close``, after noting in the task's description why journey-sync closes it: after
    a lost state database, Todoist's completed history then tells it from a person's
    completion (no mark written for it, and it is reopened when the reason goes away)."""
    description = record.seen_fields.get("description")
    # Noted afresh at every close: the time tells this close from a person's completion
    # after a reopen (``records.parse_closed_by``).
    noted = (
        with_closed_note(description, close.closed_by, now)
        if isinstance(description, str)
        else None
    )
    if noted is not None:
        yield UpdateTaskAction(
            lead_id=close.lead_id,
            step_key=close.step_key,
            name=close.name,
            existing_task_id=close.existing_task_id,
            why=f"noted: closed by journey-sync ({close.why})",
            description=noted,
            closing_note=True,
        )
    yield close


def _unnote(record: TaskRecord, lead_id: str, name: str, why: str) -> Iterator[Action]:
    """The closing note taken off a task that is open again (reopened by a person, or by
    journey-sync as its reason went): a later completion is a person's, also after a lost
    state database."""
    description = record.seen_fields.get("description")
    plain = without_closed_note(description) if isinstance(description, str) else None
    if plain is not None and record.task_id:
        yield UpdateTaskAction(
            lead_id=lead_id,
            step_key=record.step_key,
            name=name,
            existing_task_id=record.task_id,
            why=f"closing note taken off ({why})",
            description=plain,
            closing_note=True,
        )


def plan_coach(ctx: _Context, view: _Lead) -> Iterator[Action]:
    """The coach's name from whoever a task of this lead is assigned to."""
    roles = ctx.model.layout.roles
    lead = view.lead
    if "coach" not in roles or lead.coach is not None or view.lead_id in ctx.memory.coach_written:
        return
    for step in ctx.workflow.steps:
        record = view.tasks[step.key]
        name = ctx.memory.collaborators.get(record.responsible_uid or "") if record else None
        if name:
            yield view.at(WriteCoach, column=roles["coach"], coach=name)
            return


def plan_departure(ctx: _Context, view: _Lead) -> Iterator[Action]:
    """Leaving the journey (a reason typed), and coming back (the reason cleared)."""
    roles, lead, lead_id = ctx.model.layout.roles, view.lead, view.lead_id
    written = ctx.memory.left_on_written.get(lead_id)
    if lead.departed:
        if (
            "left_on" in roles
            and lead.left_on is None
            and lead_id not in ctx.memory.left_on_written
        ):
            yield view.at(WriteLeftOn, column=roles["left_on"], day=ctx.today)
        if ctx.workflow.on_leave == "keep":
            return
        for step in ctx.workflow.steps:
            record = view.tasks[step.key]
            if (
                record is not None
                and record.status == "completed"
                and record.closed_by is None
                and record.task_id
            ):
                # Done before the lead left: should a person reopen it (a last follow-up
                # call), it is theirs, as a task closed for the departure and reopened is.
                yield UpdateTaskRecord(
                    replace(record, closed_by=LEAVE_DECLINED),
                    "completed before the lead left: a reopen would be a person's",
                )
                continue
            if record is None or record.status != "open" or not record.task_id:
                continue
            if record.closed_by == LEAVE:
                # Closed for the departure, reopened by a person since (a last follow-up
                # call): theirs. Closed once, not again every cycle.
                yield UpdateTaskRecord(
                    replace(record, closed_by=LEAVE_DECLINED),
                    "reopened by a person after the lead left: left open",
                )
                yield from _unnote(record, lead_id, lead.name.strip(), "reopened")
                continue
            if record.closed_by == LEAVE_DECLINED:
                continue
            fields = {
                "lead_id": lead_id,
                "step_key": step.key,
                "name": lead.name.strip(),
                "existing_task_id": record.task_id,
                "why": "lead left the journey",
                "closed_by": LEAVE,
            }
            if ctx.workflow.on_leave == "delete":
                yield DeleteTaskAction(**fields)  # type: ignore[arg-type]
            else:
                yield from _close(record, CloseTaskAction(**fields), ctx.now)  # type: ignore[arg-type]
        return
    if written is not None and "left_on" in roles:
        shown = lead.left_on
        if shown is not None and _same_number(shown, written):
            yield view.at(ClearLeftOn, column=roles["left_on"])
        else:
            yield ForgetLeftOn(lead_id)
    if view.usable_date is None:
        return
    for step in ctx.workflow.steps:
        record = view.tasks[step.key]
        if record is None or record.closed_by != LEAVE or record.status != "completed":
            continue
        if ctx.planned(step, view.usable_date)[0] >= ctx.today and record.task_id:
            yield ReopenTaskAction(
                lead_id=lead_id,
                step_key=step.key,
                name=lead.name.strip(),
                existing_task_id=record.task_id,
                why="the lead is back in the journey",
            )
            yield from _unnote(record, lead_id, lead.name.strip(), "reopened")


def plan_tasks(ctx: _Context, view: _Lead) -> Iterator[Action]:
    """New tasks for the steps a lead has none for (the backfill rule for steps already in
    the past), and open tasks moved when the lead date was corrected."""
    lead, lead_id, workflow, today = view.lead, view.lead_id, ctx.workflow, ctx.today
    lead_date = view.usable_date
    if lead.departed or lead_date is None:
        return
    facts: dict[str, str] | None = None
    for step in workflow.steps:
        record = view.tasks[step.key]
        raw_day, planned = ctx.planned(step, lead_date)
        absent = record is None or (
            record.status == "deleted" and record.closed_by in _REMOVED_FOR_A_REASON
        )
        if absent:
            if step.marks is not None and step.marks in lead.filled:
                continue  # stage already reached: no reminder for it
            day = raw_day
            if day < today:
                if step.marks is None:
                    continue  # a past touch-base is pointless
                day = today  # an overdue stage step is due now
            if facts is None:
                facts = render_facts(lead)
            yield CreateTask(
                lead_id=lead_id,
                step_key=step.key,
                name=lead.name.strip(),
                content=render(step.content, lead, facts),
                description="\n\n".join(
                    part
                    for part in (
                        render(step.description, lead, facts),
                        task_marker(lead_id, step.key),
                    )
                    if part
                ),
                due=ctx.due_on(step, day),
                planned=planned,
                priority=step.priority,
                labels=step.labels,
                needs_id_written=view.placed.id_written,
                version=ctx.versions[step.key],
            )
            continue
        assert record is not None
        if (
            record.status != "open"
            or not record.task_id
            or record.planned is None
            or record.planned == planned
            or record.rescheduled_by_person
        ):
            continue
        fields = {
            "lead_id": lead_id,
            "step_key": step.key,
            "name": lead.name.strip(),
            "existing_task_id": record.task_id,
        }
        if raw_day >= today:
            yield MoveTaskAction(
                **fields,
                why="the lead date changed",
                due=due_for(step, raw_day, workflow.zone),
                planned=planned,
            )
        elif step.marks is not None:
            yield MoveTaskAction(
                **fields,
                why="the lead date changed; overdue, so due today",
                due=due_for(step, today, workflow.zone),
                planned=planned,
            )
        else:
            yield DeleteTaskAction(
                **fields,
                why="the corrected lead date puts this reminder in the past",
                closed_by=PAST,
            )


def plan_notes(
    ctx: _Context,
    identities: Identities,
    wanted: Mapping[NoteKey, tuple[SheetActionFactory, int, str]],
) -> Iterator[Action]:
    """A note on each cell with a problem, once; removed once the problem is fixed."""
    memory = ctx.memory
    for key, (at, column, text) in wanted.items():
        if memory.notes.get(key) != text:
            yield at(PlaceNote, key=key, column=column, text=text)
    if not memory.notes:
        return
    rows: dict[str, SheetActionFactory] = {}
    # A held row's note ("?name|date") is taken off the row that is now that lead: the
    # one that got its id this cycle if any (a person typed NEW), else any with that name
    # and date (a copy deleted, the other kept).
    for placed in sorted(identities.placed, key=lambda p: not p.id_written):
        rows[placed.lead_id] = _placed_factory(placed)
        name, day = placed.lead.fingerprint()
        rows.setdefault(f"?{name}|{day}", _placed_factory(placed))
    for held in identities.held:
        rows[held.key] = _held_factory(held)
    held_keys = {held.key for held in identities.held}
    layout = ctx.model.layout
    lost: list[tuple[NoteKey, int]] = []  # held rows' notes whose row reads otherwise now
    for key in memory.notes:
        if key in wanted:
            continue
        lead_key, what = key
        at_row = rows.get(lead_key)
        if what in layout.stages:
            column = layout.stages[what]
        else:  # a column's role ("row": the whole row's note, on its name)
            column = layout.roles.get(what, layout.roles["name"])
        if lead_key.startswith("?") and lead_key not in held_keys:
            lost.append((key, column))  # and taken off the row found by name, if any
        if at_row is not None:
            yield at_row(PlaceNote, key=key, column=column, text="")
        else:
            yield DropNote(key)
    # A held row a person resolved by editing it (its name or date retyped) is no longer
    # found by the name and date its note was kept under (that name and date may be the
    # original's row); it got its id this cycle (a new lead, or an id given back). Its note
    # is taken off the rows that did: left there, it would ask for NEW on a row that is a
    # lead already (and NEW would make a second one).
    written = [p for p in identities.placed if p.id_written]
    for key, column in lost:
        for placed in written:
            if not any(
                wanted_key[0] == placed.lead_id and wanted[wanted_key][1] == column
                for wanted_key in wanted
            ):
                yield _placed_factory(placed)(PlaceNote, key=key, column=column, text="")


def _placed_factory(placed: Placed) -> SheetActionFactory:
    def at(kind: type[SheetAction], **fields: object) -> SheetAction:
        lead = placed.lead
        return kind(
            row=lead.row,
            name=lead.name.strip(),
            fingerprint=lead.fingerprint(),
            lead_id=placed.lead_id,
            **fields,
        )

    return at


def _open_tasks(memory: Memory, leads: Container[str]) -> dict[str, list[TaskRecord]]:
    """The open tasks of these leads (a pass over every task record)."""
    open_tasks: dict[str, list[TaskRecord]] = {}
    for record in memory.tasks.values():
        if record.lead_id in leads and record.status == "open" and record.task_id:
            open_tasks.setdefault(record.lead_id, []).append(record)
    return open_tasks


def plan_missing(
    ctx: _Context, identities: Identities, grace: timedelta, memo: PlanMemo | None = None
) -> tuple[list[Action], list[str]]:
    """Leads whose row is gone: logged by name every cycle; after ``grace`` their open
    tasks are removed, unless so many leads vanished at once that the read is suspect."""
    memory = ctx.memory
    present = identities.present_ids | identities.claimed
    actions: list[Action] = []
    warnings: list[str] = []
    for lead_id in memory.missing_since:
        if lead_id in present:
            name = memory.leads.get(lead_id, (lead_id, ""))[0]
            actions.append(LeadMissing(lead_id, name, None))
    absent = memory.leads.keys() - present
    if not absent:
        # No remembered lead is out of the sheet: none vanished, and those missing before
        # are back (without a pass over every task record).
        return actions, warnings
    # Rows deleted long ago stay remembered: their open tasks (none, once removed) are
    # looked for in every task record only when one of them changed since (its stamp).
    seen = (memory.epoch, frozenset((i, memory.stamps.get(i)) for i in absent))
    if memo is not None and memory.epoch is not None and memo.absent_open is not None:
        open_tasks = memo.absent_open[1] if memo.absent_open[0] == seen else None
    else:
        open_tasks = None
    if open_tasks is None:
        open_tasks = _open_tasks(memory, absent)
        if memo is not None:
            memo.absent_open = (seen, open_tasks) if memory.epoch is not None else None
    vanished = sorted(open_tasks)
    if not vanished:
        return actions, warnings
    known = len(_open_tasks(memory, memory.leads.keys())) if len(vanished) >= 2 else 1
    valve = len(vanished) >= 2 and len(vanished) > known * VANISH_SHARE_LIMIT
    if valve:
        warnings.append(
            f"{len(vanished)} of {known} leads with open tasks are not in the sheet any more. "
            "That many at once looks like a sheet emptied by mistake or a partial read, so "
            "journey-sync removes none of their tasks. Restore the rows (File > Version "
            "history in Google Sheets); if they were deleted on purpose, delete their tasks in "
            "Todoist."
        )
    for lead_id in vanished:
        name = memory.leads[lead_id][0]
        since = memory.missing_since.get(lead_id)
        tasks = open_tasks[lead_id]
        if since is None:
            actions.append(LeadMissing(lead_id, name, ctx.now))
            since = ctx.now
        due = since + grace
        if ctx.now >= due and not valve:
            warnings.append(
                f"lead {name!r} ({lead_id}) has been missing from the sheet since "
                f"{since:%Y-%m-%d %H:%M}: its {len(tasks)} open tasks are removed."
            )
            for record in tasks:
                assert record.task_id is not None
                actions.append(
                    DeleteTaskAction(
                        lead_id=lead_id,
                        step_key=record.step_key,
                        name=name,
                        existing_task_id=record.task_id,
                        why="the lead's row is gone from the sheet",
                        closed_by=MISSING,
                    )
                )
        elif not valve:
            warnings.append(
                f"lead {name!r} ({lead_id}) is not in the sheet (since {since:%Y-%m-%d %H:%M}): "
                f"its {len(tasks)} open tasks are removed after {due:%Y-%m-%d %H:%M} unless "
                "its row comes back."
            )
    return actions, warnings


def _same_number(shown: object, written: str) -> bool:
    try:
        return float(shown) == float(written)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return False


def _unique_commands(actions: list[Action]) -> list[Action]:
    """One command per task: a task both hand-marked and departed is closed once."""
    seen: set[tuple[str, bool]] = set()
    updates: dict[str, int] = {}  # task id -> index in ``out`` of its update with a description
    out: list[Action] = []
    for action in actions:
        if isinstance(action, TaskAction) and action.task_id is not None:
            note = isinstance(action, UpdateTaskAction) and action.closing_note
            # The note before a close goes with it (``_close``).
            key = (action.task_id, note)
            if key in seen:
                continue
            seen.add(key)
            if isinstance(action, UpdateTaskAction) and action.description is not None:
                earlier = updates.get(action.task_id)
                if note and earlier is not None:
                    # A new description (a template edit) in the same cycle: the closing
                    # note goes onto it, one update, so neither undoes the other.
                    first = out[earlier]
                    assert isinstance(first, UpdateTaskAction) and first.description is not None
                    out[earlier] = replace(
                        first, description=with_note_of(action.description, first.description)
                    )
                    continue
                updates[action.task_id] = len(out)
        out.append(action)
    return out
