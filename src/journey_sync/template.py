"""Journeys that change: a workflow edit reaches the tasks already in Todoist. Pure.

Every task remembers the version of the step it came from and what journey-sync sent
(``TaskRecord.sent``), and what Todoist last reported (``TaskRecord.seen``). After an edit
of a step (offset, time, content, description, priority, labels) the open tasks of that
step are updated field by field, leaving alone each field a person changed in Todoist
(people win) and the due of a task a person rescheduled. A step that left the workflow
has its open tasks removed or kept (``on_step_removed``); ``renamed_from`` keeps a step's
tasks under its new key. Departed leads are never touched.

The same per-task update also assigns a ``for: coach`` task to the lead's coach
(``coaches.py``), so one task gets at most one ``item_update`` per cycle.

An edit that would update or remove more than ``max_template_changes`` tasks is held until
``journey-sync apply-template`` confirms that template (``template_hash``), and every cycle
says that it is waiting.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import replace
from functools import lru_cache
from typing import TYPE_CHECKING

from .actions import (
    Action,
    DeleteTaskAction,
    MoveTaskAction,
    RekeyTask,
    TemplateDeleteAction,
    TemplateSummary,
    UpdateTaskAction,
    UpdateTaskRecord,
)
from .coaches import assign_to, find_coach
from .dates import due_for
from .records import PAST, STEP_REMOVED, Memory, TaskRecord, parse_marker, task_marker
from .workflow import Step, Workflow

if TYPE_CHECKING:
    from .plan import _Context, _Lead
    from .state import StateStore

DEFAULT_MAX_TEMPLATE_CHANGES = 500


@lru_cache(maxsize=4096)
def step_version(step: Step) -> str:
    """A short hash of what a step puts into a task (not its key, stage or coach flag)."""
    shown = {
        "content": step.content,
        "description": step.description,
        "due": str(step.due),
        "time": step.time.isoformat() if step.time else None,
        "priority": step.priority,
        "labels": list(step.labels),
        "weekend": step.weekend,
    }
    return hashlib.sha256(json.dumps(shown, sort_keys=True).encode()).hexdigest()[:12]


def template_hash(workflow: Workflow) -> str:
    """The whole journey's version: what ``journey-sync apply-template`` confirms."""
    shown = [(s.key, step_version(s), s.renamed_from) for s in workflow.steps]
    text = json.dumps([shown, workflow.on_step_removed])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


_VERSIONS: list[tuple[Workflow, dict[str, str]]] = []


def _versions(workflow: Workflow) -> Mapping[str, str]:
    """Each step's version, computed once per workflow (planning asks per lead)."""
    for known, found in _VERSIONS:
        if known is workflow:
            return found
    versions = {s.key: step_version(s) for s in workflow.steps}
    _VERSIONS[:] = [(workflow, versions)]
    return versions


_VERSION_MARKS: list[tuple[Workflow, dict[str, str]]] = []


def _version_marks(workflow: Workflow) -> Mapping[str, str]:
    """Each step's version as it reads in a record's ``sent`` text (``"v":"..."``), built
    once per workflow, not once per open task of every lead planned."""
    for known, found in _VERSION_MARKS:
        if known is workflow:
            return found
    marks = {key: f'"v":"{version}"' for key, version in _versions(workflow).items()}
    _VERSION_MARKS[:] = [(workflow, marks)]
    return marks


_ORPHANS: list[tuple[Memory, Workflow, dict[str, list[TaskRecord]]]] = []


def _orphans(memory: Memory, workflow: Workflow) -> Mapping[str, list[TaskRecord]]:
    """Open task records of steps no longer in the workflow, by lead (computed once per
    memory and workflow, not once per lead)."""
    for known_memory, known_workflow, found in _ORPHANS:
        if known_memory is memory and known_workflow is workflow:
            return found
    keys = {s.key for s in workflow.steps} | {
        s.renamed_from for s in workflow.steps if s.renamed_from
    }
    out: dict[str, list[TaskRecord]] = {}
    for record in memory.tasks.values():
        if record.step_key not in keys and record.status == "open" and record.task_id:
            out.setdefault(record.lead_id, []).append(record)
    _ORPHANS[:] = [(memory, workflow, out)]
    return out


def plan_template_changes(ctx: _Context, view: _Lead) -> Iterator[Action]:
    """Renamed steps re-keyed (first, so every later decision of this cycle sees them),
    then each open task brought to its step's current version and coach."""
    from .plan import render

    memory, workflow, lead, lead_id = ctx.memory, ctx.workflow, view.lead, view.lead_id
    for step in workflow.steps:
        old_key = step.renamed_from
        if old_key is None or view.tasks.get(step.key) is not None:
            continue
        old = memory.tasks.get((lead_id, old_key))
        if old is not None:
            new = replace(old, step_key=step.key)
            view.tasks[step.key] = new
            yield RekeyTask(old, new)
    if lead.departed:
        return
    coach = None
    if "coach" in ctx.model.layout.roles and any(s.for_ == "coach" for s in workflow.steps):
        coach = find_coach(workflow, lead.coach, memory.collaborators, memory.collaborator_emails)
        if coach is not None and coach.note is not None:
            view.notes[(lead_id, "coach")] = (ctx.model.layout.roles["coach"], coach.note)
    name = lead.name.strip()
    versions = _versions(workflow)
    version_marks = _version_marks(workflow)
    # The client's name retyped in the sheet (not only its case or spacing): the open
    # tasks' titles follow, unless a person reworded them in Todoist.
    known = memory.leads.get(lead_id)
    renamed = known is not None and known[0] != lead.fingerprint()[0]
    for step in workflow.steps:
        record = view.tasks.get(step.key)
        if record is None or record.status != "open" or not record.task_id:
            continue
        version = versions[step.key]
        changes: dict[str, object] = {}
        template = False
        kept: list[str] = []
        sent_text = record.sent  # through its descriptor: read once
        if sent_text and version_marks[step.key] not in sent_text:
            template = True
            sent, seen = record.sent_fields, record.seen_fields
            marker = parse_marker(str(sent.get("description", "")))
            marker_key = marker[1] if marker else step.key
            wanted = {
                "content": render(step.content, lead),
                "description": "\n\n".join(
                    part
                    for part in (render(step.description, lead), task_marker(lead_id, marker_key))
                    if part
                ),
                "priority": step.priority,
                "labels": sorted(step.labels),
            }
            for field, value in wanted.items():
                if value == sent.get(field):
                    continue
                if field in seen and seen[field] != sent.get(field):
                    kept.append(field)  # a person changed it in Todoist: theirs
                    continue
                changes[field] = tuple(step.labels) if field == "labels" else value
        elif renamed and sent_text:
            sent, seen = record.sent_fields, record.seen_fields
            marker = parse_marker(str(sent.get("description", "")))
            retitled = {
                "content": render(step.content, lead),
                "description": "\n\n".join(
                    part
                    for part in (
                        render(step.description, lead),
                        task_marker(lead_id, marker[1] if marker else step.key),
                    )
                    if part
                ),
            }
            for field, value in retitled.items():
                if value == sent.get(field) or field not in sent:
                    continue
                if field in seen and seen[field] != sent.get(field):
                    kept.append(field)  # a person reworded it in Todoist: theirs
                    continue
                changes[field] = value
        if (
            view.usable_date is not None
            and record.planned is not None
            and ctx.planned(step, view.usable_date)[1] != record.planned
        ):
            due_changes, past = _due_change(ctx, view, step, record)
        else:  # the planned due did not move (as ``_due_change`` finds first, cheaply)
            due_changes, past = {}, False
        if past and template:
            yield TemplateDeleteAction(
                lead_id=lead_id,
                step_key=step.key,
                name=name,
                existing_task_id=record.task_id,
                why="the new offset puts this reminder in the past",
                closed_by=PAST,
                due_from_template=True,
            )
            continue
        if step.for_ == "coach" and coach is not None:
            uid = assign_to(record, coach)
            if uid is not None:
                changes["responsible_uid"] = uid
                changes["coach"] = coach.name
        if template or changes:
            # Merged into this one update (else plan_tasks moves it on its own).
            changes.update(due_changes)
        if changes:
            why = (
                "journey changed"
                if template
                else "coach"
                if "coach" in changes
                else "the client's name changed"
                if "content" in changes or "description" in changes
                else ""
            )
            if "due" in changes and not template:
                why = "the lead date changed"
            if kept:
                why += f"; kept as a person changed it: {', '.join(kept)}"
            yield UpdateTaskAction(
                lead_id=lead_id,
                step_key=step.key,
                name=name,
                existing_task_id=record.task_id,
                why=why,
                version=version if template else None,
                template=template and any(k != "responsible_uid" for k in changes),
                due_from_template=template and "due" in changes,
                **changes,  # type: ignore[arg-type]
            )
        elif template:
            sent = {**record.sent_fields, "v": version}
            yield UpdateTaskRecord(
                replace(record, sent=json.dumps(sent, sort_keys=True, separators=(",", ":"))),
                "journey changed; nothing to send"
                + (f" (kept as a person changed it: {', '.join(kept)})" if kept else ""),
            )
    if workflow.on_step_removed == "delete":
        for record in _orphans(memory, workflow).get(lead_id, ()):
            assert record.task_id is not None
            yield TemplateDeleteAction(
                lead_id=lead_id,
                step_key=record.step_key,
                name=name,
                existing_task_id=record.task_id,
                why="its step was removed from the workflow",
                closed_by=STEP_REMOVED,
            )


def _due_change(
    ctx: _Context, view: _Lead, step: Step, record: TaskRecord
) -> tuple[dict[str, object], bool]:
    """The new due of an open task whose planned due moved (as ``plan_tasks`` would move
    it), and whether the new due is a touch-base in the past (to remove)."""
    lead_date = view.usable_date
    if lead_date is None or record.planned is None or record.rescheduled_by_person:
        return {}, False
    zone = ctx.workflow.zone
    raw_day, planned = ctx.planned(step, lead_date)
    if planned == record.planned:
        return {}, False
    if raw_day >= ctx.today:
        return {"due": due_for(step, raw_day, zone), "planned": planned}, False
    if step.marks is not None:
        return {"due": due_for(step, ctx.today, zone), "planned": planned}, False
    return {}, True


def hold_template_changes(
    ctx: _Context, actions: Sequence[Action], warnings: Sequence[str]
) -> tuple[list[Action], list[str]]:
    """Count the template's changes per step; hold them all when there are more than
    ``max_template_changes`` and this template was not confirmed."""
    workflow, memory = ctx.workflow, ctx.memory
    changing = [
        a
        for a in actions
        if (isinstance(a, UpdateTaskAction) and a.template) or isinstance(a, TemplateDeleteAction)
    ]
    out_warnings = list(warnings)
    if not changing:
        return list(actions), out_warnings
    digest = template_hash(workflow)
    held = len(changing) > workflow.max_template_changes and memory.template_confirmed != digest
    counts: dict[str, Counter[str]] = {}
    for change in changing:
        what = "removed" if isinstance(change, DeleteTaskAction) else "updated"
        counts.setdefault(change.step_key, Counter())[what] += 1
    summaries: list[Action] = [
        TemplateSummary(step, tuple(sorted(counter.items())), held)
        for step, counter in counts.items()
    ]
    if not held:
        return [*summaries, *actions], out_warnings
    out_warnings.append(
        f"the workflow's steps changed: {len(changing)} open tasks would be updated or "
        f"removed, more than max_template_changes ({workflow.max_template_changes}). "
        "Nothing is changed until you confirm: check `journey-sync run --once --dry-run`, "
        "then run `journey-sync apply-template`."
    )
    due_held = {a.task_id for a in changing if getattr(a, "due_from_template", False)}
    kept: list[Action] = list(summaries)
    for action in actions:
        if isinstance(action, TemplateDeleteAction):
            continue
        if isinstance(action, UpdateTaskAction) and action.template:
            if action.responsible_uid is None:
                continue
            # Keep the coach's assignment; hold the template's fields.
            action = replace(
                action,
                content=None,
                description=None,
                priority=None,
                labels=None,
                due=None,
                planned=None,
                version=None,
                template=False,
                due_from_template=False,
                why="coach",
            )
        elif isinstance(action, MoveTaskAction | DeleteTaskAction) and action.task_id in due_held:
            continue  # plan_tasks's move of a due the held template changed
        kept.append(action)
    return kept, out_warnings


def confirm_template(state: StateStore, workflow: Workflow) -> str:
    """``journey-sync apply-template``: let the current template's held changes go out
    (the one function here that writes: the confirmed hash, into the state's meta)."""
    digest = template_hash(workflow)
    with state.transaction() as db:
        state.put(db, workflow.name, "template_confirmed", digest)
    return digest
