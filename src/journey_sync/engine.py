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

import difflib
import gc
import itertools
import json
import logging
import os
import secrets
import sqlite3
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta

from .actions import (
    AssignId,
    ClearMark,
    CreateTask,
    MoveTaskAction,
    PlaceNote,
    ReopenTaskAction,
    SheetAction,
    TaskAction,
    UpdateTaskAction,
    WriteMark,
)
from .changes import Fold, Folded, find_project, project_by_markers
from .dates import today_in
from .footer import FooterPlan, footer_cells
from .funnel import Funnel
from .funnel_tab import CHART_TITLES, TabMemory
from .plan import DEFAULT_MISSING_GRACE, Plan, PlanMemo, plan_cycle
from .ports import (
    MAX_COMMANDS_PER_REQUEST,
    NOT_ACKNOWLEDGED,
    AddProject,
    AddTask,
    CellValue,
    CellWrite,
    CommandResult,
    FormulaWrite,
    SheetGateway,
    SheetSnapshot,
    SheetWrites,
    Task,
    TaskChanges,
    TaskCommand,
    TaskGateway,
)
from .records import HAND_DECLINED, LEAVE_DECLINED, Memory
from .sheet import (
    FOOTER_MARK,
    Lead,
    RowMemo,
    SheetModel,
    cells_to_check,
    find_layout,
    read_sheet,
    row_identity,
)
from .state import PendingCommand, StateStore
from .timing import newly_reached
from .workflow import Workflow

log = logging.getLogger("journey_sync.engine")

# How far back completed tasks are looked up when the state is rebuilt from scratch: a
# journey is 12 months, plus margin for late completions.
REBUILD_HISTORY = timedelta(days=400)
# How far back a recurring task's completion is looked for (at least since the last good
# cycle): a tick a week old is still found.
RECURRING_LOOKBACK = timedelta(days=7)

_ID_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: people may read them out


# Each random byte names one letter (32 letters: every byte value maps to one of them
# equally often). One getrandom call per id instead of eight (10,000 new leads).
_ID_LETTERS = bytes(ord(_ID_ALPHABET[b % len(_ID_ALPHABET)]) for b in range(256))
assert 256 % len(_ID_ALPHABET) == 0


def new_lead_id() -> str:
    return "L-" + secrets.token_bytes(8).translate(_ID_LETTERS).decode("ascii")


# Command uuids, cheaply: onboarding 10,000 leads needs 240,000 (a uuid and a temp id per
# task), and ``uuid4`` costs ~0.5 s for them. Each is a version-4 UUID whose last 48 bits
# count up from a random uuid4 drawn once per process (and again in a forked child): its
# 74 random bits tell processes and restarts apart, the counter tells this process's
# commands apart. Todoist only asks that a command's uuid be unique.
_uuid_prefix = ""
_uuid_count = itertools.count()


def _new_uuid_prefix() -> None:
    global _uuid_prefix, _uuid_count
    _uuid_prefix = str(uuid.uuid4())[:24]  # "xxxxxxxx-xxxx-4xxx-yxxx-"
    _uuid_count = itertools.count()


_new_uuid_prefix()
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_new_uuid_prefix)


def new_command_uuid() -> str:
    return f"{_uuid_prefix}{next(_uuid_count):012x}"


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
    tasks_moved: int = 0
    tasks_reopened: int = 0
    # Tasks whose fields were updated (a journey edit, a coach, a closing note).
    tasks_updated: int = 0
    ids_restored: int = 0
    writes_misplaced: int = 0
    footer_written: bool = False
    failed_commands: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
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
        if self.tasks_moved:
            what += f", {self.tasks_moved} tasks moved"
        if self.tasks_reopened:
            what += f", {self.tasks_reopened} reopened"
        if self.tasks_updated:
            what += f", {self.tasks_updated} tasks updated"
        if self.ids_restored:
            what += f", {self.ids_restored} lead ids restored"
        if self.rows_flagged:
            what += f", {self.rows_flagged} notes placed"
        if self.writes_misplaced:
            what += f", {self.writes_misplaced} writes taken back (rows moved meanwhile)"
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
    # The sheet as leads, read from ``snapshot``: a cycle whose sheet reads the same but
    # whose Todoist answer lists a change (a task ticked) plans with it as it is, as the
    # quiet cycle would (reading 10,000 rows again cost a one-lead cycle a fifth of it).
    model: SheetModel


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
        new_uuid: Callable[[], str] = new_command_uuid,
        missing_grace: timedelta = DEFAULT_MISSING_GRACE,
        accept_vanished_tasks: bool = False,
    ):
        self.workflow = workflow
        self.sheet = sheet
        self.tasks = tasks
        self.state = state
        self.clock = clock
        self.new_id = new_id
        self.new_uuid = new_uuid
        self.missing_grace = missing_grace
        self.accept_vanished_tasks = accept_vanished_tasks
        self.name = workflow.name
        self._settled: _Settled | None = None
        # The last read's rows and the last plan's per-lead decisions, reused where their
        # inputs are unchanged (a new Engine, as after a restart, plans everything).
        self._rows = RowMemo()
        self._plans = PlanMemo()
        # The last cycle's warnings: one the same as last cycle's is logged at debug level
        # (a lead missing for its day of grace would log 1,440 warnings at one a minute).
        self._warned: frozenset[str] = frozenset()
        self._tab_checked_on: date | None = None  # the day the Funnel tab was last looked at

    # ----------------------------------------------------------------- cycle

    def run_cycle(self, *, dry_run: bool = False) -> CycleReport:
        if dry_run:
            return self.plan_only()[1]
        started = time.monotonic()
        report = CycleReport(self.name)
        now = self.clock()
        today = today_in(self.workflow.zone, now)
        snapshot = self.sheet.read()
        settled, self._settled = self._settled, None
        if settled is not None and (settled.today != today or settled.snapshot != snapshot):
            settled = None
        token = self.state.get(self.name, "sync_token")
        if settled is not None:
            listed: list[Task] = []  # a quiet cycle's answer lists none
            changes = self.tasks.changes(token, listed.append)
            if not listed and _nothing_new(changes):
                with self.state.transaction() as db:
                    self.state.put(db, self.name, "sync_token", changes.sync_token)
                    self.state.put(db, self.name, "last_good_cycle", now.isoformat())
                self._settled = settled
                report.leads, report.figures = settled.leads, settled.figures
                report.problems = list(settled.problems)
                report.duration = time.monotonic() - started
                return report
            model = settled.model
            fold = self._fold(model)
            for task in listed:
                fold.take(task)
            del listed
        else:
            model = self._model(snapshot)
            # The remembered state is loaded before Todoist's answer is read: its objects
            # then sit together, not among the answer's passing ones. Each task of the
            # answer is folded as it arrives (the echo of an onboarding lists 120,000).
            fold = self._fold(model)
            changes = self.tasks.changes(token, fold.take)
        folded = self._finish_fold(fold, changes, model, had_token=token is not None, now=now)
        del fold
        self._store_folded(folded, changes)
        reached_on, reached_now = self._reached(model, folded, today)
        plan = plan_cycle(
            self.workflow,
            model,
            folded.memory,
            today,
            self.new_id,
            now=now,
            missing_grace=self.missing_grace,
            funnel_tab=self._tab_memory(checked_on=today),
            reached_on=reached_on,
            memo=self._plans,
            reopened=folded.reopened,
        )
        self._fill_report(report, plan)
        landed = self._apply_sheet(plan, model, folded.memory, report)
        with self.state.transaction() as db:
            self.state.put_reached(db, self.name, reached_now)
            if plan.funnel_tab is not None:
                self.state.put(db, self.name, "funnel_tab", _dump_tab(plan.funnel_tab.memory))
        self._apply_tasks(plan, landed, folded.memory, report)
        with self.state.transaction() as db:
            self.state.put(db, self.name, "last_good_cycle", now.isoformat())
        if (
            plan.is_empty()
            and not plan.warnings
            and not report.failed_commands
            and not self.state.pending(self.name)
        ):
            self._settled = _Settled(
                snapshot, today, report.leads, report.figures, tuple(report.problems), model
            )
        report.duration = time.monotonic() - started
        return report

    def plan_only(self) -> tuple[Plan, CycleReport]:
        """What a cycle would do, changing nothing (``--dry-run``): no write transaction."""
        report = CycleReport(self.name, dry_run=True)
        now = self.clock()
        model = self._model(self.sheet.read())
        token = self.state.get(self.name, "sync_token")
        fold = self._fold(model)
        changes = self.tasks.changes(token, fold.take)
        folded = self._finish_fold(fold, changes, model, had_token=token is not None, now=now)
        today = today_in(self.workflow.zone, now)
        plan = plan_cycle(
            self.workflow,
            model,
            folded.memory,
            today,
            self.new_id,
            now=now,
            missing_grace=self.missing_grace,
            funnel_tab=self._tab_memory(),
            reached_on=self._reached(model, folded, today)[0],
            reopened=folded.reopened,
        )
        self._fill_report(report, plan)
        return plan, report

    def _tab_memory(self, *, checked_on: date | None = None) -> TabMemory | None:
        """What was last written on the Funnel tab (None: never, or the workflow has none).
        ``checked_on``: once that day (and at start-up), the tab and its charts are looked
        for (one read): a person may have deleted them, and a quiet cycle writes nothing
        to notice it. Missing, the tab is written again, as never written."""
        title = self.workflow.sheet.funnel_tab
        if title is None:
            return None
        text = self.state.get(self.name, "funnel_tab")
        if text is None:
            return None
        if checked_on is not None and checked_on != self._tab_checked_on:
            charts = self.sheet.tab_chart_titles(title)
            self._tab_checked_on = checked_on
            if charts is None or not charts >= CHART_TITLES:
                log.info(
                    "%s: the %r tab or one of its charts is missing: written again",
                    self.name,
                    title,
                )
                return None
        try:
            data = json.loads(text)
            return TabMemory(str(data["fingerprint"]), int(data["rows"]), int(data["columns"]))
        except (ValueError, KeyError, TypeError):
            return None  # unreadable: the tab is simply written again

    def _reached(
        self, model: SheetModel, folded: Folded, today: date
    ) -> tuple[dict[str, dict[str, date]], list[tuple[str, str, date]]]:
        """The days stages were reached (remembered and new), and the new ones to record:
        stages marked in the sheet, or whose marking task Todoist reports completed."""
        known = self.state.reached(self.name)
        marks_of = {s.key: s.marks for s in self.workflow.steps if s.marks}
        tasks = folded.memory.tasks
        # A task journey-sync closed itself (a hand mark, a departure) is no completion;
        # one a person reopened after that (``*-declined``) and completed is.
        completions = {
            key: at
            for key, at in folded.completions.items()
            if key[1] in marks_of
            and (key not in tasks or tasks[key].closed_by in (None, HAND_DECLINED, LEAVE_DECLINED))
        }
        marked = itertools.chain(
            model.marked, ((lead_id, marks_of[step]) for lead_id, step in completions)
        )
        new = newly_reached(self.workflow, marked, known, completions, today)
        for lead_id, stage, day in new:
            known[lead_id] = {**known.get(lead_id, {}), stage: day}  # its old dict is shared
        return known, new

    def _model(self, snapshot: SheetSnapshot) -> SheetModel:
        """The sheet as leads; asks which cells are formulas only for the rare rows whose
        values alone are ambiguous (leads typed over the footer, tiny lead dates)."""
        # The last plan's pass is of the last model: set aside while this one is built,
        # and kept only if few rows changed (else it would hold the last read's leads
        # beside these, at the echo cycle's peak).
        last, self._plans.last = self._plans.last, None
        rows = cells_to_check(self.workflow, snapshot, self._rows)
        if not rows:
            model = read_sheet(self.workflow, snapshot, memo=self._rows)
        else:
            layout = find_layout(self.workflow, snapshot)
            formulas = self.sheet.formula_cells(rows, layout.last_column)
            model = read_sheet(self.workflow, snapshot, formulas, memo=self._rows)
        self._plans.keep_only(model.leads, last)
        return model

    def _fill_report(self, report: CycleReport, plan: Plan) -> None:
        report.leads = len(plan.leads)
        report.new_leads = len(plan.new_leads)
        report.ids_restored = sum(1 for a in plan.of(AssignId) if a.restored)
        report.tasks_created = len(plan.creates)
        report.marks_written = len(plan.of(WriteMark))
        report.marks_cleared = len(plan.of(ClearMark))
        report.tasks_closed = len(plan.closes)
        report.tasks_removed = len(plan.deletes)
        report.tasks_moved = len(plan.of(MoveTaskAction))
        report.tasks_reopened = len(plan.of(ReopenTaskAction))
        report.tasks_updated = len(plan.of(UpdateTaskAction))
        report.rows_flagged = sum(1 for a in plan.of(PlaceNote) if a.text)
        report.footer_written = plan.footer is not None
        report.problems = [f"row {p.row}: {p.message}" for p in plan.problems]
        report.warnings = list(plan.warnings)
        report.figures = plan.figures
        if report.dry_run:
            for warning in plan.warnings:
                log.warning("%s: %s", report.workflow, warning)
            return
        for warning in plan.warnings:
            level = logging.DEBUG if warning in self._warned else logging.WARNING
            log.log(level, "%s: %s", report.workflow, warning)
        self._warned = frozenset(plan.warnings)

    # ---------------------------------------------------------- read Todoist

    def _fold(self, model: SheetModel) -> Fold:
        """A fold of Todoist's answer into the remembered state, taking in only tasks of
        leads this workflow remembers or has in its sheet (another workflow on the same
        account has its own). Without a remembered project (a lost state file), it notes
        which projects hold the sheet's leads' tasks."""
        memory = self.state.memory(self.name)
        in_sheet = model.lead_ids
        owners = in_sheet.union(memory.leads)
        if memory.project_id is not None:
            return Fold(memory, owners=owners)
        return Fold(memory, in_sheet, owners=owners)

    def _finish_fold(
        self,
        fold: Fold,
        changes: TaskChanges,
        model: SheetModel,
        *,
        had_token: bool,
        now: datetime,
    ) -> Folded:
        """The rest of Todoist's answer folded in, once its tasks were taken (pure but for
        the completed history, read after a full sync)."""
        memory = fold.memory
        project_id = find_project(memory, changes, self.workflow.todoist_project)
        if project_id is None and fold.marker_projects:
            project_id = project_by_markers(
                changes, fold.marker_projects, self.workflow.todoist_project
            )
        completed = None
        if (
            changes.full
            and project_id is not None
            and (had_token or memory.tasks or _has_ids(model))
        ):
            # A full sync lists active tasks only. Tasks we knew as open that are not
            # listed were completed or deleted meanwhile; Todoist's completed history
            # tells which (and, after a lost state file, which steps were already done).
            # Every project's history: a person may have moved a task to their Inbox and
            # ticked it there (the history lists it under the project it is in now). Our
            # tasks are told by their markers and ids, wherever they are.
            completed = self.tasks.completed(project_id=None, since=now - REBUILD_HISTORY)
        if fold.recurring_moved:
            # A recurring task whose due moved on was ticked, or rescheduled: only the
            # activity log says which (a sync answer lists it open either way, and the
            # completed history never lists it). One read, in the rare cycles where a
            # person's recurring journey task moved (or after a full sync).
            last = self.state.get(self.name, "last_good_cycle")
            since = now - (REBUILD_HISTORY if changes.full else RECURRING_LOOKBACK)
            if last is not None:
                since = min(since, datetime.fromisoformat(last) - timedelta(hours=1))
            for task_id, at in sorted(
                self.tasks.recurring_completions(since), key=lambda done: done[1]
            ):
                if task_id in fold.recurring_moved:
                    fold.recurring_completed(task_id, at)
        return fold.finish(
            changes,
            project_id=project_id,
            completed=completed,
            accept_vanished=self.accept_vanished_tasks,
        )

    def _store_folded(self, folded: Folded, changes: TaskChanges) -> None:
        state, name = self.state, self.name
        with state.transaction() as db:
            if folded.project_id is not None and folded.project_id != state.get(name, "project_id"):
                state.put(db, name, "project_id", folded.project_id)
            state.put_tasks(db, name, folded.records)
            if folded.adopted:
                stale = [
                    p.uuid
                    for p in state.pending(name)
                    if (p.lead_id, p.step_key) in folded.adopted and p.kind == "add"
                ]
                state.drop_pending(db, name, stale)
            if folded.collaborators:
                state.put_collaborators(
                    db, name, folded.collaborators, folded.memory.collaborator_emails
                )
            state.put(db, name, "sync_token", changes.sync_token)

    # --------------------------------------------------------------- apply

    def _apply_sheet(
        self, plan: Plan, model: SheetModel, memory: Memory, report: CycleReport
    ) -> set[str]:
        """Write the sheet, check that each row's writes landed in that lead's row, take
        back those that did not, and remember the rest. Returns the lead ids whose new id
        is known to sit in their row."""
        row_actions = plan.of(SheetAction)
        writes = plan.sheet_writes()
        # The colour rules journey-sync wanted last time and wants no more (paid_stage
        # changed or removed): deleted by their exact formula, so a person's rule stays.
        kept = self.state.get(self.name, "colour_rules")
        before: list[str] = json.loads(kept) if kept else []
        wanted = [rule.formula.strip() for rule in writes.colour_rules]
        retired = tuple(f for f in before if f not in wanted)
        if retired:
            writes = replace(writes, retired_rules=retired)
        self.sheet.apply(writes)
        if before != wanted:
            self.state.put_now(self.name, "colour_rules", json.dumps(wanted))
        landed = row_actions
        footer = plan.footer
        check_footer = footer is not None
        if row_actions or check_footer:
            # People sort, insert and delete rows while a cycle runs (between its read and
            # its write): a cell addressed by row number may have landed in another lead's
            # row. The Sheets API has no conditional write, so look again.
            after = self.sheet.read()
        if footer is not None and check_footer:
            undo = _footer_take_back(footer, writes, model, after)
            if undo:
                report.writes_misplaced += len(undo)
                log.warning(
                    "%s: rows were inserted or deleted while the cycle ran; %d footer cells "
                    "that landed on other rows are taken back, the footer is rewritten next "
                    "cycle",
                    self.name,
                    len(undo),
                )
                self.sheet.apply(SheetWrites(values=undo))
        if row_actions:
            landed, misplaced = _where_they_landed(row_actions, model, after)
            if misplaced:
                report.writes_misplaced += len(misplaced)
                log.warning(
                    "%s: rows moved while the cycle ran; %d writes landed in other rows and "
                    "are taken back, to be written in the right rows next cycle",
                    self.name,
                    len(misplaced),
                )
                self.sheet.apply(
                    _take_back(misplaced, model, after, self._footer_restorer(plan, model, after))
                )
        with self.state.transaction() as db:
            writer = self.state.writer(db, self.name, memory)
            for action in landed:
                action.remember(writer)
            for other in plan.actions:
                if not isinstance(other, SheetAction | TaskAction):
                    other.remember(writer)
        return {a.lead_id for a in landed if isinstance(a, AssignId) and a.lead_id}

    def _footer_restorer(
        self, plan: Plan, model: SheetModel, after: SheetSnapshot
    ) -> Callable[[int, int], FormulaWrite | CellWrite | None]:
        """What a footer cell of the second read should hold: its formula (or its text),
        as the footer starting where it now starts would have it. A lead's write that
        landed on a footer row is taken back with this, never with the figure the cell
        showed: a number typed over a formula would stop counting."""
        layout = model.layout
        lead_id_column = layout.roles["lead_id"]
        cells: dict[tuple[int, int], FormulaWrite | CellWrite] | None = None

        def restore(row: int, column: int) -> FormulaWrite | CellWrite | None:
            nonlocal cells
            if cells is None:
                start = next(
                    (
                        r
                        for r in range(layout.header_row + 1, len(after.rows) + 1)
                        if str(after.cell(r, lead_id_column) or "").startswith(FOOTER_MARK)
                    ),
                    None,
                )
                cells = {}
                if start is not None:
                    for c in footer_cells(self.workflow, layout, start, plan.figures):
                        if c.formula:
                            cells[(c.row, c.column)] = FormulaWrite(
                                c.row, c.column, c.formula, number_format=c.number_format
                            )
                        else:
                            cells[(c.row, c.column)] = CellWrite(c.row, c.column, c.text)
            return cells.get((row, column))

        return restore

    def _apply_tasks(
        self, plan: Plan, ids_landed: set[str], memory: Memory, report: CycleReport
    ) -> None:
        """Send the plan's Todoist commands in batches of 100, each built when its turn
        comes (onboarding 10,000 leads has 120,000).

        Each batch's uuids are committed before it is sent: those of the next 10 to
        ``RECORD_EVERY`` batches in one transaction, which also records the results of the
        batches answered since the last one (and after the last batch). A commit per batch
        cost a fifth of SQLite's share of an onboarding (1,200 fsyncs). A crash in between
        loses at most results, and their commands stay pending: the tasks they created are
        found by their markers, a resent uuid is not run twice, and a uuid stored but never
        sent is sent with the same uuid by the next cycle that still needs its command (or
        dropped when none does), as any command whose outcome is unknown.
        """
        name, state = self.name, self.state
        pending = state.pending(name)
        reuse = {(p.kind, p.lead_id, p.step_key, p.task_id): p for p in pending}

        def uuid_for(
            kind: str, lead_id: str | None, step_key: str | None, task_id: str | None
        ) -> PendingCommand:
            earlier = reuse.pop((kind, lead_id, step_key, task_id), None)
            if earlier is not None:
                return earlier
            temp_id = self.new_uuid() if kind in ("add", "project") else None
            return PendingCommand(self.new_uuid(), kind, lead_id, step_key, temp_id, task_id)

        actions = [
            a
            for a in plan.of(TaskAction)
            if not (
                isinstance(a, CreateTask) and a.needs_id_written and a.lead_id not in ids_landed
            )
        ]
        project_id = state.get(name, "project_id")
        project_ref = project_id or ""
        head: list[_Entry] = []
        if project_id is None and any(isinstance(a, CreateTask) for a in actions):
            p = uuid_for("project", None, None, None)
            assert p.temp_id is not None
            head.append((None, AddProject(p.uuid, p.temp_id, self.workflow.todoist_project), p))
            project_ref = p.temp_id
        # Creations first, then changes to existing tasks: the order of the old engine,
        # which the crash tests hold to "exactly once".
        actions.sort(key=lambda a: not isinstance(a, CreateTask))
        if reuse:
            needed = {(a.kind, a.lead_id, a.step_key, a.task_id) for a in actions}
            unneeded = [p.uuid for key, p in reuse.items() if key not in needed]
            if unneeded:
                # Commands from an interrupted cycle that nothing needs any more.
                with state.transaction() as db:
                    state.drop_pending(db, name, unneeded)
        # Batches sent whose results are not recorded yet (see RECORD_EVERY).
        batches = -(-(len(actions) + len(head)) // MAX_COMMANDS_PER_REQUEST)
        record_every = min(RECORD_EVERY, max(RECORD_EVERY_LEAST, batches // 10))
        answered: list[tuple[list[_Entry], Sequence[CommandResult]]] = []
        project_unrecorded = False
        # The uuids of the commands stored ahead of sending, in order from ``first``: a
        # transaction stores those of the next ``record_every`` batches at once.
        stored: list[PendingCommand] = []
        first = 0
        try:
            while first < len(actions) or head:
                record = len(answered) >= record_every or project_unrecorded
                batch, head = head, []
                with_project = bool(batch)  # the project's add: recorded before the next
                last = first + MAX_COMMANDS_PER_REQUEST - len(batch)
                if record or batch or len(stored) < min(last, len(actions)) - first:
                    with state.transaction() as db:
                        if record:
                            self._record_results(db, answered, memory, report)
                        ahead = actions[
                            first + len(stored) : last + record_every * MAX_COMMANDS_PER_REQUEST
                        ]
                        more = [uuid_for(a.kind, a.lead_id, a.step_key, a.task_id) for a in ahead]
                        state.add_pending(db, name, [p for _, _, p in batch] + more)
                    stored.extend(more)
                    if record:  # committed
                        answered, project_unrecorded = [], False
                # A temp id is only valid inside the request that created it: later
                # batches name the project by its real id.
                ref = state.get(name, "project_id") or project_ref
                for action, p in zip(actions[first:last], stored, strict=False):
                    batch.append((action, action.command(p.uuid, p.temp_id, ref), p))
                del stored[: last - first]
                project_unrecorded = project_unrecorded or with_project
                first = last
                answered.append((batch, self.tasks.apply([c for _, c, _ in batch])))
                if len(answered) % COLLECT_EVERY == 0:
                    # Each HTTP exchange leaves a reference cycle holding its bodies, and
                    # this loop frees nearly all it allocates, so the collector's young
                    # generation would hardly ever fill: collect it (cheap: it holds
                    # little else) so 1,200 request bodies do not pile up (~85 MB).
                    gc.collect(0)
        finally:
            # Also when a request failed (Todoist rate-limits a long onboarding): what was
            # answered before it is recorded, not left to be found again by its markers.
            if answered:
                with state.transaction() as db:
                    self._record_results(db, answered, memory, report)

    def _record_results(
        self,
        db: sqlite3.Connection,
        answered: Sequence[tuple[Sequence[_Entry], Sequence[CommandResult]]],
        memory: Memory,
        report: CycleReport,
    ) -> None:
        name, state = self.name, self.state
        by_uuid = {r.uuid: r for _, results in answered for r in results}
        settled: list[str] = []
        writer = state.writer(db, name, memory)
        for action, command, p in (entry for batch, _ in answered for entry in batch):
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
            elif action is not None:
                action.remember_result(writer, result)
        state.drop_pending(db, name, settled)


_Entry = tuple[TaskAction | None, TaskCommand, PendingCommand]

# Results are recorded about ten times in a cycle, every 10 to 100 batches, in the
# transaction that stores the uuids of the batches up to the next recording. Each batch's
# uuids are durable before it is sent; a crash before its
# results are recorded leaves its commands pending: the next cycle's read of Todoist's
# changes adopts the tasks they created by their markers (and a command still needed is
# resent with its uuid, which Todoist does not run twice). Fewer, larger transactions
# write the tasks table's index pages (scattered by lead id and task id) fewer times:
# SQLite's share of an onboarding of 10,000 leads, 2.0 s of CPU recording every batch,
# 1.5 s every 100 (the next read takes in every created task anyway).
RECORD_EVERY = 100
RECORD_EVERY_LEAST = 10
# The young generation is collected every this many requests (see ``_apply_tasks``).
COLLECT_EVERY = 10


def _dump_tab(memory: TabMemory) -> str:
    return json.dumps(
        {"fingerprint": memory.fingerprint, "rows": memory.rows, "columns": memory.columns}
    )


def _footer_take_back(
    footer: FooterPlan, writes: SheetWrites, model: SheetModel, after: SheetSnapshot
) -> tuple[CellWrite, ...]:
    """Footer cells that landed on rows which moved under them (rows inserted or deleted
    between the cycle's read and its write), each given back what its row held.

    Rows are matched between the two reads by the cells of columns nothing wrote this
    cycle (an alignment, as ``diff`` aligns lines: inserted and deleted rows are what
    does not match). A footer cell whose row is now another row (a lead, a person's note
    under the footer) gets that row's value back; one that landed on an old footer row
    is cleared, so the next cycle sees the footer incomplete and rewrites it in place.
    """
    before = model.snapshot
    written = {(c.row, c.column) for c in footer.values} | {
        (f.row, f.column) for f in footer.formulas
    }
    touched = {column for _, column in written} | {c.column for c in writes.values}
    width = max(
        max((len(r) for r in before.rows), default=0),
        max((len(r) for r in after.rows), default=0),
    )
    kept = [c for c in range(1, width + 1) if c not in touched]

    def keys(snapshot: SheetSnapshot) -> list[tuple[object, ...]]:
        return [
            tuple(_plain(row[c - 1] if c <= len(row) else None) for c in kept)
            for row in snapshot.rows
        ]

    blank = tuple("" for _ in kept)
    # The sheet as this cycle meant to leave it, row by row: the first read with the
    # footer's own inserted rows (blank; its writes are addressed below them) in place.
    # Each entry: the first read's row number, or None for a row the footer inserted.
    meant: list[int | None] = list(range(1, len(before.rows) + 1))
    for insert in sorted(footer.inserts, key=lambda i: i.before_row, reverse=True):
        at = insert.before_row - 1
        if at <= len(meant):  # below the sheet's end, rows are blank anyway
            meant[at:at] = [None] * insert.count
    first = keys(before)
    was = [blank if r is None else first[r - 1] for r in meant]
    now = keys(after)
    rows_below = max(len(was), len(now)) + max((r for r, _ in written), default=0)
    was += [blank] * (rows_below - len(was))
    now += [blank] * (rows_below - len(now))
    meant += [None] * (rows_below - len(meant))
    if was == now:
        return ()  # no row moved
    origin: dict[int, int] = {}  # row now -> the row it was meant to be
    matcher = difflib.SequenceMatcher(None, was, now, autojunk=False)
    for block in matcher.get_matching_blocks():
        for i in range(block.size):
            origin[block.b + i + 1] = block.a + i + 1
    footer_rows = {f.row for f in model.footer}
    over = {lead.row: lead for lead in model.over_footer}
    undo: list[CellWrite] = []
    for row, column in sorted(written):
        source = origin.get(row)
        if source == row:
            continue  # the row we meant
        if source is None:
            if any(v not in (None, "") for v in now[row - 1]):
                continue  # a row typed meanwhile: not ours to guess
            undo.append(CellWrite(row, column, None))  # a blank row inserted meanwhile
            continue
        was_row = meant[source - 1]  # None: one of the footer's inserted rows, or below
        if was_row is None or was_row in footer_rows:
            undo.append(CellWrite(row, column, None))
        elif was_row in over and _leftover(over[was_row], column, model):
            # A lead typed over a footer row: the old footer's figures and marker in its
            # row are ours to clear (``ClearFooterFigures``), never to put back.
            undo.append(CellWrite(row, column, None))
        else:
            undo.append(CellWrite(row, column, before.cell(was_row, column)))
    return tuple(undo)


def _leftover(lead: Lead, column: int, model: SheetModel) -> bool:
    """Whether this cell of a lead typed over the footer holds the old footer's figure or
    marker (not what a person typed)."""
    layout = model.layout
    if column == layout.roles["lead_id"]:
        return True  # the footer's marker: the lead gets its id there
    return any(layout.stages[key] == column for key in lead.footer_leftovers)


def _plain(value: CellValue | None) -> object:
    return "" if value is None else value


def _where_they_landed(
    actions: Sequence[SheetAction], model: SheetModel, after: SheetSnapshot
) -> tuple[list[SheetAction], list[SheetAction]]:
    """Split row actions into those whose row still holds their lead and the others."""
    layout = model.layout
    landed: list[SheetAction] = []
    misplaced: list[SheetAction] = []
    for action in actions:
        fingerprint, lead_id = row_identity(layout, after, action.row)
        if fingerprint == action.fingerprint and (lead_id or None) == action.lead_id:
            landed.append(action)
        else:
            misplaced.append(action)
    return landed, misplaced


def _take_back(
    misplaced: Sequence[SheetAction],
    model: SheetModel,
    after: SheetSnapshot,
    footer_cell: Callable[[int, int], FormulaWrite | CellWrite | None],
) -> SheetWrites:
    """Give each cell we wrote into the wrong row the value its row's lead had when the
    cycle read the sheet, if it still holds what we wrote (a person's later edit wins).
    A cell of a footer row gets what the footer has there (``footer_cell``): its formula."""
    layout = model.layout
    before = model.snapshot
    where_before: dict[object, int] = {}
    for row in range(layout.header_row + 1, len(before.rows) + 1):
        fingerprint, lead_id = row_identity(layout, before, row)
        if lead_id:
            where_before.setdefault(("id", lead_id), row)
        where_before.setdefault(("fp", fingerprint), row)
    undo: list[CellWrite] = []
    formulas: list[FormulaWrite] = []
    lead_id_column = layout.roles["lead_id"]
    for action in misplaced:
        fingerprint, lead_id = row_identity(layout, after, action.row)
        on_footer = str(after.cell(action.row, lead_id_column) or "").startswith(FOOTER_MARK)
        origin = where_before.get(("id", lead_id)) if lead_id else None
        if origin is None and not on_footer:
            origin = where_before.get(("fp", fingerprint))
        for cell in action.cells():
            if not _same(after.cell(cell.row, cell.column), cell.value):
                continue  # changed since we wrote it: a person's now
            if on_footer:
                restored = footer_cell(cell.row, cell.column)
                if isinstance(restored, FormulaWrite):
                    formulas.append(restored)
                    continue
                undo.append(restored or CellWrite(cell.row, cell.column, None))
                continue
            original: CellValue | None = (
                before.cell(origin, cell.column) if origin is not None else None
            )
            undo.append(CellWrite(cell.row, cell.column, original))
    return SheetWrites(values=tuple(undo), formulas=tuple(formulas))


def _same(shown: CellValue | None, written: CellValue | None) -> bool:
    if written is None or written == "":
        return shown is None or shown == ""
    if isinstance(written, bool) or isinstance(shown, bool):
        return shown is written
    if isinstance(written, int | float) and isinstance(shown, int | float):
        return float(shown) == float(written)
    return shown == written


def _nothing_new(changes: TaskChanges) -> bool:
    return not (changes.full or changes.tasks or changes.projects or changes.collaborators)


def _has_ids(model: SheetModel) -> bool:
    return any(lead.lead_id for lead in model.leads)
