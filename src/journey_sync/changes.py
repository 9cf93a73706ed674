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
    RECURRING_DUE,
    Memory,
    TaskRecord,
    TaskStatus,
    due_text,
    fields_text,
    next_stamp,
    parse_closed_by,
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
    # (lead, step) whose task a person reopened in Todoist since the last read (completed
    # then, open now): their action, which a hand mark in the sheet must not undo.
    reopened: frozenset[tuple[str, str]] = frozenset()


def project_by_markers(
    changes: TaskChanges, marker_projects: Mapping[str, int], project_name: str
) -> str | None:
    """The project holding most tasks with markers of the sheet's leads, when none is
    remembered or named ``project_name`` (renamed in Todoist, and the state file lost):
    without it, a second project would be made and the completed history of the first
    never read (steps done there would get a second task)."""
    live = {p.id: p for p in changes.projects if not (p.is_deleted or p.is_archived)}
    found = [(n, project_id) for project_id, n in marker_projects.items() if project_id in live]
    if not found:
        return None
    _, project_id = max(found)
    log.warning(
        "no Todoist project is named %r; the sheet's leads' tasks are in %r, taken as the "
        "workflow's project (renamed?). Put todoist_project: %r in workflows.yaml to say so.",
        project_name,
        live[project_id].name,
        live[project_id].name,
    )
    return project_id


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
    fold = Fold(memory)
    for task in changes.tasks:
        fold.take(task)
    return fold.finish(
        changes, project_id=project_id, completed=completed, accept_vanished=accept_vanished
    )


# Tasks of an answer looked up by their markers before the records are indexed by task
# id: a cycle's ticked task or two; an answer listing more (the echo of an onboarding)
# has them indexed.
BY_MARKER = 64


class Fold:
    """Todoist's tasks folded, one at a time as they are read, into a copy of the
    remembered state; ``finish`` adds what the rest of the answer says (and, after a full
    sync, the completed history). The tasks of a large answer are taken while it streams
    in (``TaskGateway.changes``'s ``take``), so none of them is held after its turn."""

    def __init__(
        self,
        memory: Memory,
        sheet_ids: frozenset[str] = frozenset(),
        *,
        owners: frozenset[str] | None = None,
    ) -> None:
        self.memory = memory
        # The leads whose tasks are this workflow's (remembered, or in its sheet): a task
        # with another lead's marker is another workflow's in the same Todoist account (or
        # a stranger's), never taken in (None: every marker, as in tests).
        self._owners = owners
        # Projects holding tasks with markers of leads in the sheet that the state does not
        # know (a lost state file): how many each. The workflow's project is found by its
        # name; renamed in Todoist, it is the one holding the most of them.
        self._sheet_ids = sheet_ids
        self.marker_projects: dict[str, int] = {}
        # The remembered records, copied only once one changes: the echo of an onboarding
        # (120,000 tasks, none changed) needs no second dict of them.
        self._tasks: Mapping[tuple[str, str], TaskRecord] = memory.tasks
        self._copied: dict[tuple[str, str], TaskRecord] | None = None
        self._due_texts: dict[int, tuple[Due, str | None]] = {}
        # The records by task id: those the fold changed (``_ids_changed``) over the
        # remembered ones (``_ids``, built at the first task that needs it: a cycle that
        # lists a ticked task or two finds them by their markers instead of indexing
        # 120,000 records).
        self._ids: dict[str, TaskRecord] | None = None
        self._ids_changed: dict[str, TaskRecord] = {}
        self._by_marker = 0
        self._changed: dict[tuple[str, str], TaskRecord] = {}
        self._adopted: list[tuple[str, str]] = []  # a frozenset at the end (a set and a copy: 2x)
        self._completions: dict[tuple[str, str], datetime] = {}
        self._reopened: set[tuple[str, str]] = set()
        # Ids of open recurring tasks that may have been ticked: Todoist moves a ticked
        # recurring task to its next date and leaves it open, so only its activity log
        # tells (``recurring_completed``). Those whose due moved on (ticked, or
        # rescheduled), and after a full sync every recurring one not known as done.
        self.recurring_moved: set[str] = set()
        # The ids listed: what a full sync left out was completed or deleted. Whether the
        # answer is a full sync may only be known at its end (Todoist answers an old token
        # with one of its own accord), so they are always kept; a known task's id as the
        # record's own string, not the answer's copy of it.
        self._listed: set[str] = set()

    def _put(self, key: tuple[str, str], record: TaskRecord) -> None:
        if self._copied is None:
            self._tasks = self._copied = dict(self.memory.tasks)
        self._copied[key] = self._changed[key] = record

    def _known(self, task_id: str, description: str | None = None) -> TaskRecord | None:
        """The record of this task id: changed in this fold, else remembered."""
        found = self._ids_changed.get(task_id)
        if found is not None:
            return found
        if self._ids is None:
            if description is not None and self._by_marker < BY_MARKER:
                # The task's marker names the record it most likely has: it is that one
                # when the record holds this task id (a task id is one record's).
                self._by_marker += 1
                key = parse_marker(description)
                record = self.memory.tasks.get(key) if key is not None else None
                if record is not None and record.task_id == task_id:
                    return record
            self._ids = {r.task_id: r for r in self.memory.tasks.values() if r.task_id is not None}
        return self._ids.get(task_id)

    def take(self, task: Task) -> None:
        """One task of the answer's list."""
        known = self._known(task.id, task.description)
        self._listed.add(task.id if known is None else known.task_id or task.id)
        self._take(task, known, from_history=False)

    def recurring_completed(self, task_id: str, at: datetime) -> None:
        """A recurring task ticked at ``at`` (Todoist's activity log): its step is done.
        Ticked by journey-sync itself (a hand mark, a departure: its closing note says
        so), it is no person's completion."""
        record = self._known(task_id)
        if record is None or record.status != "open":
            return
        key = (record.lead_id, record.step_key)
        closed_by = record.closed_by
        if closed_by is None:
            description = record.seen_fields.get("description")
            if isinstance(description, str):
                closed_by = parse_closed_by(description, at)
        done = replace(record, status="completed", closed_by=closed_by)
        self._put(key, done)
        self._ids_changed[task_id] = done
        self._completions[key] = at

    def _take(self, task: Task, known: TaskRecord | None, *, from_history: bool) -> None:
        status: TaskStatus = (
            "deleted" if task.is_deleted else "completed" if task.checked else "open"
        )
        if known is not None:
            # Known by its id: its record says whose it is, even when a person edited the
            # description away or the step was renamed since (no marker to parse).
            key: tuple[str, str] | None = (known.lead_id, known.step_key)
        else:
            key = parse_marker(task.description)
            if key is not None and self._owners is not None and key[0] not in self._owners:
                return
            if key is not None and key[0] in self._sheet_ids and not task.is_deleted:
                self.marker_projects[task.project_id] = (
                    self.marker_projects.get(task.project_id, 0) + 1
                )
        if key is None:
            return
        if task.checked and task.completed_at is not None and not task.is_deleted:
            self._completions[key] = task.completed_at
        existing = self._tasks.get(key)
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
            self._put(key, existing)
            self._ids_changed[task.id] = existing
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
            found = self._due_texts.get(id(raw_due))
            if found is None or found[0] is not raw_due:
                found = self._due_texts[id(raw_due)] = (raw_due, due_text(raw_due))
            due = found[1]
        if (
            status == "open"
            and not from_history
            and raw_due is not None
            and raw_due.recurring
            and existing is not None
            and existing.task_id == task.id
        ):
            if existing.status == "completed":
                # Ticked once (its step is done); a recurring task is open again at once,
                # on its next date: no reopen, and the mark stays.
                status = "completed"
            elif existing.due != due:
                self.recurring_moved.add(task.id)
        elif status == "open" and raw_due is not None and raw_due.recurring and existing is None:
            self.recurring_moved.add(task.id)  # a full sync after a lost state file
        elif (
            status == "open"
            and not from_history
            and existing is not None
            and existing.task_id == task.id
            and existing.status == "completed"
            and (existing.due or "").endswith(RECURRING_DUE)
        ):
            # Ticked while it recurred (Todoist never checked it), then made a plain task
            # by a person: still done, no reopen (a recurring task cannot be reopened).
            status = "completed"
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
            self._adopted.append(key)
            return
        if existing is None:
            record = TaskRecord(
                key[0],
                key[1],
                task.id,
                status,
                task.responsible_uid,
                due=due,
                seen=seen,
                # Closed by journey-sync (a hand mark, a departure), as its description
                # notes: no person's completion (after a lost state database).
                closed_by=(
                    parse_closed_by(task.description, task.completed_at)
                    if status == "completed"
                    else None
                ),
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
        if existing is not None and existing.status == "completed" and status == "open":
            self._reopened.add(key)
        if record != existing:
            self._put(key, record)
            if task.id:
                self._ids_changed[task.id] = record
        self._adopted.append(key)

    def finish(
        self,
        changes: TaskChanges,
        *,
        project_id: str | None,
        completed: Sequence[Task] | None = None,
        accept_vanished: bool = False,
    ) -> Folded:
        """The folded state, once every listed task was taken. ``completed``: Todoist's
        completed history, read after a full sync (``None`` when it was not read); open
        tasks the full sync no longer lists are completed if there, else deleted."""
        memory = self.memory
        if completed is not None:
            listed = self._listed
            missing = [
                r for r in memory.tasks.values() if r.status == "open" and r.task_id not in listed
            ]
            for task in completed:
                self._take(task, self._known(task.id), from_history=True)
            completed_ids = {t.id for t in completed}
            vanished = [r for r in missing if r.task_id not in completed_ids]
            known_open = sum(1 for r in memory.tasks.values() if r.status == "open")
            if (
                not accept_vanished
                and len(vanished) >= VANISHED_TASKS_FLOOR
                and len(vanished) > known_open * VANISHED_TASKS_SHARE
            ):
                raise TasksVanished(
                    f"Todoist's full sync lists {known_open - len(vanished)} of the "
                    f"{known_open} open tasks journey-sync created, and its completed history "
                    f"does not explain the other {len(vanished)}. That looks like a partial "
                    "answer, not a person deleting them, so this cycle stops without "
                    "forgetting any. If they really were deleted in Todoist, run "
                    "`journey-sync run --once --accept-vanished-tasks` once."
                )
            for record in vanished:
                self._put((record.lead_id, record.step_key), replace(record, status="deleted"))
        collaborators = dict(memory.collaborators)
        collaborators.update(changes.collaborators)
        emails = dict(memory.collaborator_emails)
        emails.update(changes.collaborator_emails)
        stamps = memory.stamps
        if self._changed:  # their leads are planned again (``plan.PlanMemo``)
            stamps = dict(stamps)
            for lead_id, _ in self._changed:
                stamps[lead_id] = next_stamp()
        return Folded(
            memory=replace(
                memory,
                tasks=self._tasks,
                collaborators=collaborators,
                collaborator_emails=emails,
                project_id=project_id,
                stamps=stamps,
            ),
            records=tuple(self._changed.values()),
            adopted=frozenset(self._adopted),
            collaborators=changes.collaborators,
            project_id=project_id,
            completions=self._completions,
            reopened=frozenset(self._reopened),
        )
