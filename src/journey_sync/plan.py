"""Planning a cycle: from what the sheet shows and what journey-sync remembers, decide
everything to do. Pure: no I/O, no clock, no randomness (ids come from ``new_id``).

The decisions are level-triggered: they compare the sheet with the remembered state of
each task, rather than replaying events, so a cycle that crashed half-way is simply
planned again and does only what is still missing.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Literal

from .dates import date_to_serial, due_day, due_for
from .footer import FooterPlan, plan_footer
from .funnel import Funnel, funnel
from .ports import CellNote, CellWrite, ColourRule, Due, SheetWrites
from .sheet import Lead, RowProblem, SheetModel, column_letter
from .workflow import Step, Workflow

TaskStatus = Literal["open", "completed", "deleted"]

# The line journey-sync adds to every task's description: it is how a task is found again
# when the state database is lost (DESIGN: "the mapping can be rebuilt").
_MARKER = re.compile(r"journey-sync: lead (\S+) · step ([a-z][a-z0-9_]*)")


def task_marker(lead_id: str, step_key: str) -> str:
    return f"journey-sync: lead {lead_id} · step {step_key}"


def parse_marker(description: str) -> tuple[str, str] | None:
    match = _MARKER.search(description)
    return (match.group(1), match.group(2)) if match else None


@dataclass(frozen=True)
class TaskRecord:
    lead_id: str
    step_key: str
    task_id: str | None
    status: TaskStatus
    responsible_uid: str | None = None


@dataclass(frozen=True)
class Memory:
    """What the state store remembers of one workflow, as planning needs it."""

    leads: Mapping[str, tuple[str, str]] = field(default_factory=dict)  # id -> fingerprint
    tasks: Mapping[tuple[str, str], TaskRecord] = field(default_factory=dict)
    marks_written: frozenset[tuple[str, str]] = frozenset()  # (lead id, stage key)
    # Marks we wrote that a person then removed: not written again for the same completion.
    marks_removed: frozenset[tuple[str, str]] = frozenset()
    left_on_written: frozenset[str] = frozenset()
    coach_written: frozenset[str] = frozenset()
    flagged: Mapping[str, str] = field(default_factory=dict)  # lead id -> note text
    collaborators: Mapping[str, str] = field(default_factory=dict)  # uid -> name


@dataclass(frozen=True)
class NewTask:
    lead_id: str
    step_key: str
    content: str
    description: str
    due: Due
    priority: int
    labels: tuple[str, ...]


@dataclass(frozen=True)
class TaskAction:
    lead_id: str
    step_key: str
    task_id: str
    why: str


@dataclass(frozen=True)
class Plan:
    sheet: SheetWrites
    new_leads: tuple[tuple[str, tuple[str, str]], ...]  # (id, fingerprint) written this cycle
    lead_fingerprints: tuple[tuple[str, tuple[str, str]], ...]  # every lead now in the sheet
    marks_written: tuple[tuple[str, str], ...]
    marks_cleared: tuple[tuple[str, str], ...]
    marks_forgotten: tuple[tuple[str, str], ...]  # ours, but a person removed them
    marks_unremoved: tuple[tuple[str, str], ...]  # removed by a person, task since reopened
    marks_declined: tuple[tuple[str, str], ...]  # ours, removed by a person just now
    left_on_written: tuple[str, ...]
    coach_written: tuple[str, ...]
    flagged: tuple[tuple[str, str], ...]
    unflagged: tuple[str, ...]
    creates: tuple[NewTask, ...]
    closes: tuple[TaskAction, ...]
    deletes: tuple[TaskAction, ...]
    footer: FooterPlan | None
    figures: Funnel
    problems: tuple[RowProblem, ...]
    leads: tuple[Lead, ...]

    def is_empty(self) -> bool:
        return not (
            self.sheet.has_cell_changes()
            or self.creates
            or self.closes
            or self.deletes
            or self.marks_forgotten
            or self.marks_unremoved
            or self.new_leads
        )


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
        rules.append(
            ColourRule(
                "paid",
                f"=AND({lead},{ref(layout.stages[workflow.paid_stage])}=1)",
                first,
                layout.last_column,
                *GREEN,
            )
        )
    return tuple(rules)


_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")


def render(template: str, lead: Lead) -> str:
    facts = {**lead.facts, "name": lead.name.strip()}
    return _PLACEHOLDER.sub(lambda m: facts.get(m.group(1), "").strip(), template).strip()


def _assign_ids(
    model: SheetModel, memory: Memory, new_id: Callable[[], str]
) -> tuple[list[tuple[Lead, str]], list[tuple[str, tuple[str, str]]]]:
    """Each lead row's id. A row without one gets a new id; of rows sharing an id (a copied
    row), the one matching what we remember keeps it and the others become new leads."""
    by_id: dict[str, list[Lead]] = {}
    for lead in model.leads:
        if lead.lead_id is not None:
            by_id.setdefault(lead.lead_id, []).append(lead)
    keeper: dict[str, Lead] = {}
    for lead_id, rows in by_id.items():
        remembered = memory.leads.get(lead_id)
        match = [r for r in rows if remembered is not None and r.fingerprint() == remembered]
        keeper[lead_id] = (match or rows)[0]
    assigned: list[tuple[Lead, str]] = []
    fresh: list[tuple[str, tuple[str, str]]] = []
    for lead in model.leads:
        if lead.lead_id is not None and keeper[lead.lead_id] is lead:
            assigned.append((lead, lead.lead_id))
        else:
            lead_id = new_id()
            assigned.append((lead, lead_id))
            fresh.append((lead_id, lead.fingerprint()))
    return assigned, fresh


def plan_cycle(
    workflow: Workflow,
    model: SheetModel,
    memory: Memory,
    today: date,
    new_id: Callable[[], str],
) -> Plan:
    layout = model.layout
    roles = layout.roles
    values: list[CellWrite] = []
    notes: list[CellNote] = []
    marks_written: list[tuple[str, str]] = []
    marks_cleared: list[tuple[str, str]] = []
    marks_forgotten: list[tuple[str, str]] = []
    marks_unremoved: list[tuple[str, str]] = []
    marks_declined: list[tuple[str, str]] = []
    left_on_written: list[str] = []
    coach_written: list[str] = []
    flagged: list[tuple[str, str]] = []
    unflagged: list[str] = []
    creates: list[NewTask] = []
    closes: list[TaskAction] = []
    deletes: list[TaskAction] = []

    assigned, fresh = _assign_ids(model, memory, new_id)
    fresh_ids = {lead_id for lead_id, _ in fresh}
    problem_rows = {p.row: p for p in model.problems}
    steps_marking: dict[str, list[Step]] = {}
    for step in workflow.steps:
        if step.marks:
            steps_marking.setdefault(step.marks, []).append(step)

    for lead, lead_id in assigned:
        if lead_id in fresh_ids:
            values.append(CellWrite(lead.row, roles["lead_id"], lead_id))
        tasks = {s.key: memory.tasks.get((lead_id, s.key)) for s in workflow.steps}

        # Problems: a note on the cell, once; removed once the problem is fixed.
        problem = problem_rows.get(lead.row)
        if problem is not None and memory.flagged.get(lead_id) != problem.message:
            notes.append(CellNote(problem.row, problem.column, problem.message))
            flagged.append((lead_id, problem.message))
        elif problem is None and lead_id in memory.flagged:
            notes.append(CellNote(lead.row, roles["lead_date"], ""))
            unflagged.append(lead_id)

        # Stage marks from tasks: write 1 when a marking task is completed, clear our own 1
        # when it was reopened; never touch a cell a person filled.
        for stage_key, column in layout.stages.items():
            records = [tasks[s.key] for s in steps_marking.get(stage_key, ())]
            completed = any(r is not None and r.status == "completed" for r in records)
            reopened = any(r is not None and r.status == "open" for r in records)
            ours = (lead_id, stage_key) in memory.marks_written
            removed = (lead_id, stage_key) in memory.marks_removed
            if removed:
                if not completed:
                    marks_unremoved.append((lead_id, stage_key))  # a later completion counts again
                continue
            if completed and not ours and stage_key not in lead.filled:
                values.append(CellWrite(lead.row, column, 1))
                marks_written.append((lead_id, stage_key))
            elif ours and not completed and reopened:
                if stage_key in lead.marks:
                    values.append(CellWrite(lead.row, column, None))
                    marks_cleared.append((lead_id, stage_key))
                else:
                    marks_forgotten.append((lead_id, stage_key))
            elif ours and stage_key not in lead.filled:
                # A person removed our mark: theirs to decide. We forget it was ours and do
                # not write it again for this completion.
                marks_forgotten.append((lead_id, stage_key))
                marks_declined.append((lead_id, stage_key))

        # A mark typed by hand closes the open task that would have reminded someone.
        if not lead.departed:
            for stage_key in lead.marks:
                if (lead_id, stage_key) in memory.marks_written:
                    continue
                for step in steps_marking.get(stage_key, ()):
                    record = tasks[step.key]
                    if record is not None and record.status == "open" and record.task_id:
                        closes.append(
                            TaskAction(lead_id, step.key, record.task_id, "marked by hand")
                        )

        # The coach's name from whoever a task of this lead is assigned to.
        if "coach" in roles and lead.coach is None and lead_id not in memory.coach_written:
            for step in workflow.steps:
                record = tasks[step.key]
                name = memory.collaborators.get(record.responsible_uid or "") if record else None
                if name:
                    values.append(CellWrite(lead.row, roles["coach"], name))
                    coach_written.append(lead_id)
                    break

        if lead.departed:
            if (
                "left_on" in roles
                and lead.left_on is None
                and lead_id not in memory.left_on_written
            ):
                values.append(
                    CellWrite(lead.row, roles["left_on"], date_to_serial(today), as_date=True)
                )
                left_on_written.append(lead_id)
            if workflow.on_leave != "keep":
                for step in workflow.steps:
                    record = tasks[step.key]
                    if record is None or record.status != "open" or not record.task_id:
                        continue
                    action = TaskAction(lead_id, step.key, record.task_id, "lead left the journey")
                    (deletes if workflow.on_leave == "delete" else closes).append(action)
            continue

        if lead.lead_date is None:
            continue
        for step in workflow.steps:
            if tasks[step.key] is not None:
                continue
            if step.marks is not None and step.marks in lead.filled:
                continue  # stage already reached: no reminder for it
            day = due_day(step, lead.lead_date)
            if day < today:
                if step.marks is None:
                    continue  # a past touch-base is pointless
                day = today  # an overdue stage step is due now
            creates.append(
                NewTask(
                    lead_id=lead_id,
                    step_key=step.key,
                    content=render(step.content, lead),
                    description="\n\n".join(
                        part
                        for part in (render(step.description, lead), task_marker(lead_id, step.key))
                        if part
                    ),
                    due=due_for(step, day, workflow.zone),
                    priority=step.priority,
                    labels=step.labels,
                )
            )

    leads_with_ids = tuple(lead for lead, _ in assigned)
    figures = funnel(workflow, leads_with_ids)
    footer = plan_footer(workflow, model, figures)
    if footer is not None:
        values.extend(footer.values)
    writes = SheetWrites(
        inserts=footer.inserts if footer else (),
        values=tuple(values),
        formulas=footer.formulas if footer else (),
        notes=tuple(notes),
        colour_rules=colour_rules(workflow, model),
    )
    return Plan(
        sheet=writes,
        new_leads=tuple(fresh),
        lead_fingerprints=tuple((lead_id, lead.fingerprint()) for lead, lead_id in assigned),
        marks_written=tuple(marks_written),
        marks_cleared=tuple(marks_cleared),
        marks_forgotten=tuple(marks_forgotten),
        marks_unremoved=tuple(marks_unremoved),
        marks_declined=tuple(marks_declined),
        left_on_written=tuple(left_on_written),
        coach_written=tuple(coach_written),
        flagged=tuple(flagged),
        unflagged=tuple(unflagged),
        creates=tuple(creates),
        closes=tuple(_unique(closes)),
        deletes=tuple(deletes),
        footer=footer,
        figures=figures,
        problems=model.problems,
        leads=leads_with_ids,
    )


def _unique(actions: list[TaskAction]) -> list[TaskAction]:
    seen: set[str] = set()
    out: list[TaskAction] = []
    for action in actions:
        if action.task_id not in seen:
            seen.add(action.task_id)
            out.append(action)
    return out
