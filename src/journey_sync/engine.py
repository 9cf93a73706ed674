"""One sync cycle of one workflow: read both sides, plan, then apply through the ports.

Order matters for "exactly once" (DESIGN invariant 1):

1. Read the sheet, then Todoist's changes since the stored sync token, and fold those
   changes into the state store together with the new token, in one transaction.
2. Plan (pure).
3. Write the sheet first: new lead ids, marks, left-on dates, the footer. A lead gets
   tasks only once its id is in the sheet, so a crash can never orphan tasks under an id
   the sheet does not hold.
4. Send Todoist commands in batches of 100. Each command's uuid is stored *before* its
   batch is sent; after a crash the same (lead, step) is re-planned with the same uuid,
   and Todoist does not execute a uuid twice. Tasks created by a batch whose answer was
   lost are found again by the marker in their description, from the next incremental
   sync (whose token predates the batch).
"""

from __future__ import annotations

import logging
import secrets
import sqlite3
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta

from .dates import today_in
from .errors import UserError
from .funnel import Funnel
from .plan import Memory, Plan, TaskRecord, TaskStatus, parse_marker, plan_cycle
from .ports import (
    MAX_COMMANDS_PER_REQUEST,
    NOT_ACKNOWLEDGED,
    AddProject,
    AddTask,
    CloseTask,
    CommandResult,
    DeleteTask,
    SheetGateway,
    SheetSnapshot,
    Task,
    TaskChanges,
    TaskCommand,
    TaskGateway,
)
from .sheet import SheetModel, read_sheet
from .state import PendingCommand, StateStore
from .workflow import Workflow

log = logging.getLogger("journey_sync.engine")

# How far back completed tasks are looked up when the state is rebuilt from scratch: a
# journey is 12 months, plus margin for late completions.
REBUILD_HISTORY = timedelta(days=400)

_ID_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: people may read them out


def new_lead_id() -> str:
    return "L-" + "".join(secrets.choice(_ID_ALPHABET) for _ in range(8))


@dataclass
class CycleReport:
    workflow: str
    leads: int = 0
    new_leads: int = 0
    tasks_created: int = 0
    marks_written: int = 0
    marks_cleared: int = 0
    tasks_closed: int = 0
    tasks_removed: int = 0
    rows_flagged: int = 0
    footer_written: bool = False
    failed_commands: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    dry_run: bool = False
    duration: float = 0.0
    # The funnel figures the cycle planned with (for the daemon's /metrics); None until
    # a plan exists.
    figures: Funnel | None = None

    def summary(self) -> str:
        what = (
            f"{self.leads} leads ({self.new_leads} new), {self.tasks_created} tasks created, "
            f"{self.marks_written} marks written, {self.marks_cleared} cleared, "
            f"{self.tasks_closed} tasks closed, {self.tasks_removed} removed"
        )
        if self.footer_written:
            what += ", footer rewritten"
        if self.rows_flagged:
            what += f", {self.rows_flagged} rows flagged"
        if self.failed_commands:
            what += f", {len(self.failed_commands)} Todoist commands failed"
        return ("[dry run] would do: " if self.dry_run else "") + what


@dataclass(frozen=True)
class _Settled:
    """The inputs of a cycle that found nothing to do, and what it reported.

    A cycle is a pure function of the sheet, Todoist's changes, the state store and today's
    date (``plan_cycle``). When the sheet reads the same, Todoist reports no change, the day
    is the same and the state store was not written since, the plan is the same empty plan,
    so it is not computed again: the quiet cycle of a 10,000-lead sheet then costs its two
    requests and a comparison, not a reload of 120,000 task records and a replan.
    (The state file has one writer: the daemon holds its lock.)
    """

    snapshot: SheetSnapshot
    today: date
    leads: int
    figures: Funnel | None
    problems: tuple[str, ...]


class Engine:
    def __init__(
        self,
        workflow: Workflow,
        sheet: SheetGateway,
        tasks: TaskGateway,
        state: StateStore,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        new_id: Callable[[], str] = new_lead_id,
        new_uuid: Callable[[], str] = lambda: str(uuid.uuid4()),
    ):
        self.workflow = workflow
        self.sheet = sheet
        self.tasks = tasks
        self.state = state
        self.clock = clock
        self.new_id = new_id
        self.new_uuid = new_uuid
        self.name = workflow.name
        self._settled: _Settled | None = None

    # ----------------------------------------------------------------- cycle

    def run_cycle(self, *, dry_run: bool = False) -> CycleReport:
        if dry_run:
            return self.plan_only()[1]
        return self._cycle(dry_run=False)

    def _cycle(self, *, dry_run: bool) -> CycleReport:
        started = time.monotonic()
        report = CycleReport(self.name, dry_run=dry_run)
        now = self.clock()
        today = today_in(self.workflow.zone, now)
        snapshot = self.sheet.read()
        settled = None if dry_run else self._settled
        self._settled = None
        if settled is not None and (settled.today != today or settled.snapshot != snapshot):
            settled = None
        model = read_sheet(self.workflow, snapshot) if settled is None else None
        token = self.state.get(self.name, "sync_token")
        changes = self.tasks.changes(token)
        if settled is not None and _nothing_new(changes):
            with self.state.transaction() as db:
                self.state.put(db, self.name, "sync_token", changes.sync_token)
                self.state.put(db, self.name, "last_good_cycle", now.isoformat())
            self._settled = settled
            report.leads, report.figures = settled.leads, settled.figures
            report.problems = list(settled.problems)
            report.duration = time.monotonic() - started
            return report
        if model is None:
            model = read_sheet(self.workflow, snapshot)
        with self.state.transaction() as db:
            self._absorb(db, changes, model, had_token=token is not None, now=now)
            memory = self.state.memory(self.name)
            plan = plan_cycle(self.workflow, model, memory, today, self.new_id)
            if dry_run:
                raise _DryRun(plan)  # leaving the transaction rolls the absorb back
        self._fill_report(report, plan)
        leads_changed = self._apply_sheet(plan, memory)
        self._apply_tasks(plan, report)
        with self.state.transaction() as db:
            self.state.put(db, self.name, "last_good_cycle", now.isoformat())
        if (
            plan.is_empty()
            and not leads_changed
            and not report.failed_commands
            and not self.state.pending(self.name)
        ):
            self._settled = _Settled(
                snapshot, today, report.leads, report.figures, tuple(report.problems)
            )
        report.duration = time.monotonic() - started
        return report

    def plan_only(self) -> tuple[Plan, CycleReport]:
        """What a cycle would do, changing nothing (``--dry-run``)."""
        report = CycleReport(self.name, dry_run=True)
        try:
            self._cycle(dry_run=True)
        except _DryRun as dry:
            self._fill_report(report, dry.plan)
            return dry.plan, report
        raise AssertionError("unreachable")

    @staticmethod
    def _fill_report(report: CycleReport, plan: Plan) -> None:
        report.leads = len(plan.leads)
        report.new_leads = len(plan.new_leads)
        report.tasks_created = len(plan.creates)
        report.marks_written = len(plan.marks_written)
        report.marks_cleared = len(plan.marks_cleared)
        report.tasks_closed = len(plan.closes)
        report.tasks_removed = len(plan.deletes)
        report.rows_flagged = len(plan.flagged)
        report.footer_written = plan.footer is not None
        report.problems = [f"row {p.row}: {p.message}" for p in plan.problems]
        report.figures = plan.figures

    # ---------------------------------------------------------- read Todoist

    def _absorb(
        self,
        db: sqlite3.Connection,
        changes: TaskChanges,
        model: SheetModel,
        *,
        had_token: bool,
        now: datetime,
    ) -> None:
        """Fold Todoist's changes into the state store (inside the caller's transaction)."""
        state, name = self.state, self.name
        project_id = state.get(name, "project_id")
        for project in changes.projects:
            if project.id == project_id and (project.is_deleted or project.is_archived):
                raise UserError(
                    f"the Todoist project {self.workflow.todoist_project!r} was "
                    f"{'deleted' if project.is_deleted else 'archived'}: restore it in Todoist "
                    "(or rename another project to that name and delete the state file) and "
                    "journey-sync carries on at the next cycle."
                )
            if (
                project_id is None
                and project.name == self.workflow.todoist_project
                and not (project.is_deleted or project.is_archived)
            ):
                project_id = project.id
                state.put(db, name, "project_id", project_id)
        if (
            changes.full
            and project_id is not None
            and changes.projects
            and not any(p.id == project_id for p in changes.projects)
        ):
            raise UserError(
                f"the Todoist project {self.workflow.todoist_project!r} (id {project_id}) no longer "
                "exists: restore it from Todoist, or delete the state file to start a new project."
            )
        if not changes.full and not changes.tasks and not changes.collaborators:
            # The common quiet cycle: nothing to fold in but the new token.
            state.put(db, name, "sync_token", changes.sync_token)
            return
        memory = state.memory(name)
        by_task_id = {r.task_id: r for r in memory.tasks.values() if r.task_id is not None}
        seen: set[str] = set()
        adopted: set[tuple[str, str]] = set()
        for task in changes.tasks:
            seen.add(task.id)
            self._record(db, task, memory, by_task_id, adopted)
        if (
            changes.full
            and project_id is not None
            and (had_token or memory.tasks or _has_ids(model))
        ):
            # A full sync lists active tasks only. Tasks we knew as open that are not
            # listed were completed or deleted meanwhile; Todoist's completed history
            # tells which (and, after a lost state file, which steps were already done).
            missing = [
                r for r in memory.tasks.values() if r.status == "open" and r.task_id not in seen
            ]
            since = now - REBUILD_HISTORY
            completed = self.tasks.completed(project_id=project_id, since=since)
            for task in completed:
                seen.add(task.id)
                self._record(db, task, memory, by_task_id, adopted)
            completed_ids = {t.id for t in completed}
            for record in missing:
                if record.task_id not in completed_ids:
                    state.put_task(
                        db,
                        name,
                        TaskRecord(record.lead_id, record.step_key, record.task_id, "deleted"),
                    )
        if adopted:
            stale = [
                p.uuid
                for p in state.pending(name)
                if (p.lead_id, p.step_key) in adopted and p.kind == "add"
            ]
            state.drop_pending(db, name, stale)
        if changes.collaborators:
            state.set_pairs(
                db, "collaborators", name, list(changes.collaborators.items()), present=True
            )
        state.put(db, name, "sync_token", changes.sync_token)

    def _record(
        self,
        db: sqlite3.Connection,
        task: Task,
        memory: Memory,
        by_task_id: dict[str, TaskRecord],
        adopted: set[tuple[str, str]],
    ) -> None:
        status: TaskStatus = (
            "deleted" if task.is_deleted else "completed" if task.checked else "open"
        )
        key = parse_marker(task.description)
        known = by_task_id.get(task.id)
        if key is None and known is not None:
            key = (known.lead_id, known.step_key)  # a person edited the description away
        if key is None:
            return
        existing = memory.tasks.get(key)
        if existing is not None and existing.task_id not in (None, task.id):
            if not task.is_deleted:
                log.warning(
                    "Todoist has a second task for lead %s step %s (%s); keeping %s",
                    key[0],
                    key[1],
                    task.id,
                    existing.task_id,
                )
            return
        self.state.put_task(
            db, self.name, TaskRecord(key[0], key[1], task.id, status, task.responsible_uid)
        )
        adopted.add(key)

    # --------------------------------------------------------------- apply

    def _apply_sheet(self, plan: Plan, memory: Memory) -> bool:
        """Write the sheet, then remember what was written; True if a lead changed."""
        self.sheet.apply(plan.sheet)
        name, state = self.name, self.state
        changed_leads = [(i, fp) for i, fp in plan.lead_fingerprints if memory.leads.get(i) != fp]
        with state.transaction() as db:
            state.put_leads(db, name, changed_leads)
            state.set_pairs(db, "marks", name, plan.marks_written, present=True)
            state.set_pairs(
                db, "marks", name, [*plan.marks_cleared, *plan.marks_forgotten], present=False
            )
            state.set_pairs(db, "marks_removed", name, plan.marks_declined, present=True)
            state.set_pairs(db, "marks_removed", name, plan.marks_unremoved, present=False)
            state.set_pairs(db, "left_on", name, [(i,) for i in plan.left_on_written], present=True)
            state.set_pairs(db, "coach", name, [(i,) for i in plan.coach_written], present=True)
            state.set_pairs(db, "flagged", name, plan.flagged, present=True)
            state.set_pairs(db, "flagged", name, [(i,) for i in plan.unflagged], present=False)
        return bool(changed_leads)

    def _apply_tasks(self, plan: Plan, report: CycleReport) -> None:
        name, state = self.name, self.state
        pending = state.pending(name)
        reuse = {(p.kind, p.lead_id, p.step_key, p.task_id): p for p in pending}
        commands: list[tuple[TaskCommand, PendingCommand]] = []

        def uuid_for(
            kind: str, lead_id: str | None, step_key: str | None, task_id: str | None
        ) -> PendingCommand:
            earlier = reuse.pop((kind, lead_id, step_key, task_id), None)
            if earlier is not None:
                return earlier
            temp_id = self.new_uuid() if kind in ("add", "project") else None
            return PendingCommand(self.new_uuid(), kind, lead_id, step_key, temp_id, task_id)

        project_id = state.get(name, "project_id")
        if project_id is None and plan.creates:
            p = uuid_for("project", None, None, None)
            assert p.temp_id is not None
            commands.append((AddProject(p.uuid, p.temp_id, self.workflow.todoist_project), p))
            project_ref = p.temp_id
        else:
            project_ref = project_id or ""
        for new in plan.creates:
            p = uuid_for("add", new.lead_id, new.step_key, None)
            assert p.temp_id is not None
            commands.append(
                (
                    AddTask(
                        p.uuid,
                        p.temp_id,
                        project_ref,
                        new.content,
                        new.description,
                        new.due,
                        new.priority,
                        new.labels,
                    ),
                    p,
                )
            )
        for action in plan.closes:
            p = uuid_for("close", action.lead_id, action.step_key, action.task_id)
            commands.append((CloseTask(p.uuid, action.task_id), p))
        for action in plan.deletes:
            p = uuid_for("delete", action.lead_id, action.step_key, action.task_id)
            commands.append((DeleteTask(p.uuid, action.task_id), p))
        if reuse:
            # Commands from an interrupted cycle that nothing needs any more.
            with state.transaction() as db:
                state.drop_pending(db, name, [p.uuid for p in reuse.values()])
        for start in range(0, len(commands), MAX_COMMANDS_PER_REQUEST):
            batch = commands[start : start + MAX_COMMANDS_PER_REQUEST]
            created = state.get(name, "project_id")
            if created is not None and created != project_ref:
                # A temp id is only valid inside the request that created it: later batches
                # name the project by its real id.
                batch = [
                    (replace(c, project_id=created), p)
                    if isinstance(c, AddTask) and c.project_id == project_ref
                    else (c, p)
                    for c, p in batch
                ]
            with state.transaction() as db:
                state.add_pending(db, name, [p for _, p in batch])
            results = self.tasks.apply([c for c, _ in batch])
            self._record_results(batch, results, report)

    def _record_results(
        self,
        batch: Sequence[tuple[TaskCommand, PendingCommand]],
        results: Sequence[CommandResult],
        report: CycleReport,
    ) -> None:
        name, state = self.name, self.state
        by_uuid = {r.uuid: r for r in results}
        settled: list[str] = []
        with state.transaction() as db:
            for command, p in batch:
                result = by_uuid.get(command.uuid)
                if result is None or result.error == NOT_ACKNOWLEDGED:
                    continue  # unknown outcome: stays pending, resent with the same uuid
                if result.ok and isinstance(command, AddTask | AddProject) and not result.new_id:
                    # A resent uuid Todoist had already run: "ok", but no id in
                    # temp_id_mapping. The task is found by its marker in the next sync.
                    continue
                settled.append(command.uuid)
                if not result.ok:
                    report.failed_commands.append(
                        f"{type(command).__name__} {p.lead_id}/{p.step_key}: {result.error}"
                    )
                    log.warning(
                        "Todoist refused %s for lead %s step %s: %s",
                        type(command).__name__,
                        p.lead_id,
                        p.step_key,
                        result.error,
                    )
                elif isinstance(command, AddProject):
                    state.put(db, name, "project_id", result.new_id)
                elif isinstance(command, AddTask):
                    assert p.lead_id is not None and p.step_key is not None
                    state.put_task(
                        db, name, TaskRecord(p.lead_id, p.step_key, result.new_id, "open")
                    )
                elif isinstance(command, CloseTask):
                    state.set_status(db, name, command.task_id, "completed")
                elif isinstance(command, DeleteTask):
                    state.set_status(db, name, command.task_id, "deleted")
            state.drop_pending(db, name, settled)


class _DryRun(Exception):
    def __init__(self, plan: Plan):
        self.plan = plan


def _nothing_new(changes: TaskChanges) -> bool:
    return not (changes.full or changes.tasks or changes.projects or changes.collaborators)


def _has_ids(model: SheetModel) -> bool:
    return any(lead.lead_id for lead in model.leads)
