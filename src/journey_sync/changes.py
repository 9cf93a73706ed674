"""Folding Todoist's changes into what journey-sync remembers. Pure: no I/O.

The engine reads Todoist's changes since the stored sync token (and, after a full sync,
the completed history), then calls ``fold_changes``; the result is a new ``Memory`` to plan
with and the records to store. A dry run plans with the folded memory and stores nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime

from .errors import UserError
from .ports import Due, Task, TaskChanges
from .records import (
    Memory,
    TaskRecord,
    TaskStatus,
    due_text,
    fields_text,
    parse_marker,
    seen_is,
)

log = logging.getLogger("journey_sync.changes")

# A full sync that no longer lists more than this share of the open tasks journey-sync
# knows (and Todoist's completed history does not explain) is not read as "a person deleted
# them all": it stops the cycle. Fewer than ``VANISHED_TASKS_FLOOR`` is ordinary tidying.
VANISHED_TASKS_SHARE = 1 / 3
VANISHED_TASKS_FLOOR = 5


class TasksVanished(UserError):
    """Todoist suddenly lists far fewer of our tasks than we know: refuse to forget them."""


@dataclass(frozen=True)
class Folded:
    memory: Memory
    records: tuple[TaskRecord, ...]  # changed or new task records, to store
    adopted: frozenset[tuple[str, str]]  # (lead, step) whose task Todoist listed
    collaborators: Mapping[str, str]
    project_id: str | None
    # When Todoist says each completed task was completed, by (lead, step): the day a
    # stage was reached, for the timing figures.
    completions: Mapping[tuple[str, str], datetime] = field(default_factory=dict)


def find_project(memory: Memory, changes: TaskChanges, project_name: str) -> str | None:
    """The workflow's project id: remembered, or found by name in this answer."""
    project_id = memory.project_id
    for project in changes.projects:
        if project.id == project_id and (project.is_deleted or project.is_archived):
            raise UserError(
                f"the Todoist project {project_name!r} was "
                f"{'deleted' if project.is_deleted else 'archived'}: restore it in Todoist "
                "(or rename another project to that name and delete the state file) and "
                "journey-sync carries on at the next cycle."
            )
        if (
            project_id is None
            and project.name == project_name
            and not (project.is_deleted or project.is_archived)
        ):
            project_id = project.id
    if (
        changes.full
        and memory.project_id is not None
        and changes.projects
        and not any(p.id == memory.project_id for p in changes.projects)
    ):
        raise UserError(
            f"the Todoist project {project_name!r} (id {memory.project_id}) no longer "
            "exists: restore it from Todoist, or delete the state file to start a new project."
        )
    return project_id


def fold_changes(
    memory: Memory,
    changes: TaskChanges,
    *,
    project_id: str | None,
    completed: Sequence[Task] | None = None,
    accept_vanished: bool = False,
) -> Folded:
    """``completed``: Todoist's completed history, read after a full sync (``None`` when
    it was not read); open tasks the full sync no longer lists are completed if there,
    else deleted."""
    # The remembered records, copied only once one changes: the echo of an onboarding
    # (120,000 tasks, none changed) needs no second dict of them.
    tasks: Mapping[tuple[str, str], TaskRecord] = memory.tasks
    copied: dict[tuple[str, str], TaskRecord] | None = None
    due_texts: dict[int, tuple[Due, str | None]] = {}
    by_task_id = {r.task_id: r for r in tasks.values() if r.task_id is not None}
    changed: dict[tuple[str, str], TaskRecord] = {}
    adopted: list[tuple[str, str]] = []  # a frozenset at the end (a set and a copy: 2x)
    completions: dict[tuple[str, str], datetime] = {}

    def put(key: tuple[str, str], record: TaskRecord) -> None:
        nonlocal tasks, copied
        if copied is None:
            tasks = copied = dict(memory.tasks)
        copied[key] = changed[key] = record

    def take(task: Task, *, from_history: bool) -> None:
        status: TaskStatus = (
            "deleted" if task.is_deleted else "completed" if task.checked else "open"
        )
        known = by_task_id.get(task.id)
        if known is not None:
            # Known by its id: its record says whose it is, even when a person edited the
            # description away or the step was renamed since (no marker to parse).
            key: tuple[str, str] | None = (known.lead_id, known.step_key)
        else:
            key = parse_marker(task.description)
        if key is None:
            return
        if task.checked and task.completed_at is not None and not task.is_deleted:
            completions[key] = task.completed_at
        existing = tasks.get(key)
        if (
            existing is not None
            and existing.task_id not in (None, task.id)
            and existing.status == "open"
            and task.checked
            and not task.is_deleted
        ):
            # A person duplicated the step's task in Todoist (its "Duplicate" keeps the
            # description) and completed the copy: the step is done. The copy becomes the
            # step's task, so its completion writes the mark (and reopening it takes the
            # mark back); the original is then the second task, left as the person has it.
            log.info(
                "Todoist: lead %s step %s completed in a copy of its task (%s, not %s)",
                key[0],
                key[1],
                task.id,
                existing.task_id,
            )
            existing = replace(existing, task_id=task.id)
            put(key, existing)
            by_task_id[task.id] = existing
        elif existing is not None and existing.task_id not in (None, task.id):
            if not task.is_deleted:
                log.warning(
                    "Todoist has a second task for lead %s step %s (%s); keeping %s",
                    key[0],
                    key[1],
                    task.id,
                    existing.task_id,
                )
            return
        raw_due = task.due
        if raw_due is None:
            due = None
        else:
            # The gateway hands out one Due object per distinct due (a few hundred among
            # 120,000 tasks): its text is worked out once per object, held while it lives.
            found = due_texts.get(id(raw_due))
            if found is None or found[0] is not raw_due:
                found = due_texts[id(raw_due)] = (raw_due, due_text(raw_due))
            due = found[1]
        seen = fields_text(task.content, task.description, task.priority, task.labels)
        if (
            existing is not None
            and existing.task_id == task.id
            and existing.status == status
            and existing.responsible_uid == task.responsible_uid
            and (existing.due == due or (from_history and due is None))
            and (from_history or seen_is(existing, seen))
        ):
            # Nothing changed (the echo of what journey-sync created: every task of an
            # onboarding comes back once): no new record to build, compare or store.
            adopted.append(key)
            return
        if existing is None:
            record = TaskRecord(
                key[0], key[1], task.id, status, task.responsible_uid, due=due, seen=seen
            )
        else:
            record = replace(
                existing,
                task_id=task.id,
                status=status,
                responsible_uid=task.responsible_uid,
                due=existing.due if from_history and due is None else due,
                seen=existing.seen if from_history else seen,
            )
        if record != existing:
            put(key, record)
            if task.id:
                by_task_id[task.id] = record
        adopted.append(key)

    # The ids listed, needed only to tell what a full sync left out (an incremental one's
    # 120,000 ids would be held for nothing).
    seen: set[str] = set()
    listed = seen.add if completed is not None else None
    for task in changes.tasks:
        if listed is not None:
            listed(task.id)
        take(task, from_history=False)
    if completed is not None:
        missing = [r for r in memory.tasks.values() if r.status == "open" and r.task_id not in seen]
        for task in completed:
            take(task, from_history=True)
        completed_ids = {t.id for t in completed}
        vanished = [r for r in missing if r.task_id not in completed_ids]
        known_open = sum(1 for r in memory.tasks.values() if r.status == "open")
        if (
            not accept_vanished
            and len(vanished) >= VANISHED_TASKS_FLOOR
            and len(vanished) > known_open * VANISHED_TASKS_SHARE
        ):
            raise TasksVanished(
                f"Todoist's full sync lists {known_open - len(vanished)} of the {known_open} "
                "open tasks journey-sync created, and its completed history does not explain "
                f"the other {len(vanished)}. That looks like a partial answer, not a person "
                "deleting them, so this cycle stops without forgetting any. If they really "
                "were deleted in Todoist, run `journey-sync run --once --accept-vanished-tasks` "
                "once."
            )
        for record in vanished:
            put((record.lead_id, record.step_key), replace(record, status="deleted"))
    collaborators = dict(memory.collaborators)
    collaborators.update(changes.collaborators)
    emails = dict(memory.collaborator_emails)
    emails.update(changes.collaborator_emails)
    return Folded(
        memory=replace(
            memory,
            tasks=tasks,
            collaborators=collaborators,
            collaborator_emails=emails,
            project_id=project_id,
        ),
        records=tuple(changed.values()),
        adopted=frozenset(adopted),
        collaborators=changes.collaborators,
        project_id=project_id,
        completions=completions,
    )
