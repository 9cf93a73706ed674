"""In-memory gateways: real fakes of the two ports, not mocks.

``FakeSheet`` keeps a grid of entered values and formulas and evaluates the formulas on
read with the sandbox's evaluator, so the footer's formulas are checked for what they
compute. ``FakeTodoist`` keeps tasks, a change log for incremental syncs, and the set of
executed command uuids, so resends after a simulated crash behave as Todoist documents.
"""

from __future__ import annotations

import calendar
import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime

from journey_sync.ports import (
    MAX_COMMANDS_PER_REQUEST,
    AddProject,
    AddTask,
    CellValue,
    CloseTask,
    ColourRule,
    CommandResult,
    DeleteTask,
    MoveTask,
    Project,
    ReopenTask,
    SheetSnapshot,
    SheetWrites,
    TabChart,
    TabWrites,
    Task,
    TaskChanges,
    TaskCommand,
    UpdateTask,
)
from journey_sync_sandbox import formulas


def handed_over(changes: TaskChanges, take: Callable[[Task], None] | None) -> TaskChanges:
    """``changes`` as ``TaskGateway.changes`` returns it for ``take``: its tasks handed to
    ``take`` (when given) and left out."""
    if take is None:
        return changes
    for task in changes.tasks:
        take(task)
    return replace(changes, tasks=())


@dataclass
class Formula:
    text: str


class FakeSheet:
    def __init__(self, rows: Sequence[Sequence[CellValue]], title: str = "Leads"):
        self.title = title
        self.header_row = 1  # where the test's helpers look for headers (a person may move them)
        self.cells: dict[tuple[int, int], CellValue | Formula] = {}
        for r, row in enumerate(rows, start=1):
            for c, value in enumerate(row, start=1):
                if value not in ("", None):
                    self.cells[(r, c)] = value
        self.notes: dict[tuple[int, int], str] = {}
        self.rules: list[ColourRule] = []
        self.date_cells: set[tuple[int, int]] = set()
        self.reads = 0
        self.write_requests = 0
        self.applied: list[SheetWrites] = []
        self.fail_next_apply: Exception | None = None
        self.before_next_apply: Callable[[], None] | None = None
        # journey-sync's own tabs (the Funnel tab): cells, and charts found by title.
        self.tabs: dict[str, dict[tuple[int, int], CellValue]] = {}
        self.tab_charts: dict[str, list[TabChart]] = {}

    # ---------------------------------------------------------------- port
    def read(self) -> SheetSnapshot:
        self.reads += 1
        return SheetSnapshot(self.title, self.evaluated_rows())

    def formula_cells(self, rows: Sequence[int], last_column: int) -> frozenset[tuple[int, int]]:
        self.reads += 1
        wanted = set(rows)
        return frozenset(
            (r, c)
            for (r, c), v in self.cells.items()
            if r in wanted and c <= last_column and isinstance(v, Formula)
        )

    def apply(self, writes: SheetWrites) -> None:
        if self.before_next_apply is not None:
            # A person acting while a cycle runs: between its read and its write.
            person, self.before_next_apply = self.before_next_apply, None
            person()
        if self.fail_next_apply is not None:
            failure, self.fail_next_apply = self.fail_next_apply, None
            raise failure
        self.applied.append(writes)
        wanted = {r.formula for r in writes.colour_rules}
        outdated = [
            r for r in self.rules if r.formula not in wanted and r.formula in writes.retired_rules
        ]
        self.rules = [r for r in self.rules if r not in outdated]
        missing_rules = [
            r for r in writes.colour_rules if r.formula not in {x.formula for x in self.rules}
        ]
        if (
            writes.inserts
            or writes.formulas
            or writes.notes
            or missing_rules
            or outdated
            or any(v.as_date for v in writes.values)
            or writes.tabs
        ):
            self.write_requests += 1
        for insert in writes.inserts:
            self.insert_rows(insert.before_row, insert.count)
        for f in writes.formulas:
            self.cells[(f.row, f.column)] = Formula(f.formula)
        for note in writes.notes:
            if note.text:
                self.notes[(note.row, note.column)] = note.text
            else:
                self.notes.pop((note.row, note.column), None)
        self.rules.extend(missing_rules)
        if writes.values or any(tab.values for tab in writes.tabs):
            self.write_requests += 1
        for tab in writes.tabs:
            self._apply_tab(tab)
        for v in writes.values:
            if v.value is None or v.value == "":
                self.cells.pop((v.row, v.column), None)
            else:
                self.cells[(v.row, v.column)] = v.value
            if v.as_date:
                self.date_cells.add((v.row, v.column))

    def tab_chart_titles(self, title: str) -> frozenset[str] | None:
        self.reads += 1
        if title not in self.tabs:
            return None
        return frozenset(c.title for c in self.tab_charts.get(title, []))

    def _apply_tab(self, tab: TabWrites) -> None:
        """As the gateway does: the tab created when missing, its cells written RAW, a
        chart added when none of its title is there, else its spec replaced."""
        cells = self.tabs.setdefault(tab.title, {})
        for v in tab.values:
            if v.value is None or v.value == "":
                cells.pop((v.row, v.column), None)
            else:
                cells[(v.row, v.column)] = v.value
        charts = self.tab_charts.setdefault(tab.title, [])
        for chart in tab.charts:
            same = [i for i, c in enumerate(charts) if c.title == chart.title]
            if same:
                charts[same[0]] = chart
            else:
                charts.append(chart)

    # ---------------------------------------------------- what people do
    def header_column(self, header: str) -> int:
        for (r, c), v in self.cells.items():
            if (
                r == self.header_row
                and isinstance(v, str)
                and v.strip().casefold() == header.strip().casefold()
            ):
                return c
        raise KeyError(header)

    def get(self, row: int, header: str) -> CellValue | None:
        column = self.header_column(header)
        value = self.cells.get((row, column))
        if isinstance(value, Formula):
            # What the formula shows (rows are trimmed of trailing blanks, as Sheets sends
            # them: a formula showing nothing reads as an empty cell).
            rows = self.evaluated_rows()
            shown = rows[row - 1] if row <= len(rows) else ()
            result = shown[column - 1] if column <= len(shown) else None
            return None if result == "" else result
        return value

    def set(self, row: int, header: str, value: CellValue | None) -> None:
        column = self.header_column(header)
        if value is None or value == "":
            self.cells.pop((row, column), None)
        else:
            self.cells[(row, column)] = value

    def row_of(self, name: str) -> int:
        column = self.header_column("Client name")
        rows = [r for (r, c), v in self.cells.items() if c == column and v == name]
        assert len(rows) == 1, f"{name!r} is on rows {rows}"
        return rows[0]

    def last_row(self) -> int:
        return max((r for r, _ in self.cells), default=0)

    def append_lead(self, values: dict[str, CellValue]) -> int:
        """Type a lead into the first empty row after the last lead-looking row (as a person does:
        directly under the last lead, which may be the footer's blank separator row)."""
        name_col = self.header_column("Client name")
        date_col = self.header_column("Date of lead")
        rows = [
            r
            for (r, c), v in self.cells.items()
            if c in (name_col, date_col) and r > self.header_row and not self._is_footer(r)
        ]
        row = max(rows, default=self.header_row) + 1
        for header, value in values.items():
            self.set(row, header, value)
        return row

    def _is_footer(self, row: int) -> bool:
        """A footer row, unless a person typed a lead over it (it then has a lead date)."""
        if (row, self.header_column("Date of lead")) in self.cells:
            return False
        return any(
            isinstance(v, str) and v.startswith("#footer:")
            for (r, _), v in self.cells.items()
            if r == row
        )

    def insert_rows(self, before_row: int, count: int) -> None:
        moved: dict[tuple[int, int], CellValue | Formula] = {}
        for (r, c), v in self.cells.items():
            if isinstance(v, Formula):
                v = Formula(formulas.shift_formula(v.text, before_row, count))
            moved[(r + count if r >= before_row else r, c)] = v
        self.cells = moved
        self.notes = {
            (r + count if r >= before_row else r, c): t for (r, c), t in self.notes.items()
        }

    def delete_rows(self, first: int, count: int = 1) -> None:
        """Delete rows first..first+count-1; the rows below move up (formulas shrink)."""
        moved: dict[tuple[int, int], CellValue | Formula] = {}
        for (r, c), v in self.cells.items():
            if first <= r < first + count:
                continue
            if isinstance(v, Formula):
                v = Formula(formulas.shift_formula_for_delete(v.text, first, count))
            moved[(r - count if r >= first + count else r, c)] = v
        self.cells = moved
        self.notes = {
            (r - count if r >= first + count else r, c): t
            for (r, c), t in self.notes.items()
            if not first <= r < first + count
        }

    def copy_row(self, source: int, target: int) -> None:
        """Copy a row's values onto another row (Ctrl+C, Ctrl+V), replacing what was there."""
        values = {c: v for (r, c), v in self.cells.items() if r == source}
        for key in [k for k in self.cells if k[0] == target]:
            del self.cells[key]
        for c, v in values.items():
            self.cells[(target, c)] = v

    def insert_column(self, before_column: int) -> None:
        """Insert > Column left: cells move right, formulas follow (as Sheets does)."""
        moved: dict[tuple[int, int], CellValue | Formula] = {}
        for (r, c), v in self.cells.items():
            if isinstance(v, Formula):
                v = Formula(formulas.shift_formula(v.text, before_column, 1, dimension="COLUMNS"))
            moved[(r, c + 1 if c >= before_column else c)] = v
        self.cells = moved
        self.notes = {
            (r, c + 1 if c >= before_column else c): t for (r, c), t in self.notes.items()
        }

    def clear_column(self, header: str) -> None:
        """Empty every cell under a header (or: delete the column and add it back empty)."""
        column = self.header_column(header)
        for key in [k for k in self.cells if k[1] == column and k[0] > 1]:
            del self.cells[key]

    def sort_leads(
        self,
        key_header: str,
        *,
        first: int,
        last: int,
        reverse: bool = False,
        outside: tuple[str, ...] = (),
    ) -> None:
        """Sort rows first..last by a column, as Data > Sort range does (formulas elsewhere
        keep). Columns under ``outside`` were not in the selection: they stay put."""
        column = self.header_column(key_header)
        fixed = {self.header_column(h) for h in outside}
        rows = {
            r: {c: v for (rr, c), v in self.cells.items() if rr == r and c not in fixed}
            for r in range(first, last + 1)
        }
        order = sorted(rows, key=lambda r: str(rows[r].get(column, "")), reverse=reverse)
        for r in range(first, last + 1):
            for c in list(rows[r]):
                self.cells.pop((r, c), None)
        for target, source in zip(range(first, last + 1), order, strict=True):
            for c, v in rows[source].items():
                self.cells[(target, c)] = v

    def evaluated_rows(self) -> tuple[tuple[CellValue, ...], ...]:
        height = self.last_row()
        width = max((c for _, c in self.cells), default=0)
        raw: dict[tuple[int, int], CellValue | Formula] = dict(self.cells)

        cache: dict[tuple[int, int], CellValue | None] = {}

        busy: set[tuple[int, int]] = set()

        def lookup(row: int, column: int) -> CellValue | None:
            if (row, column) in cache:
                return cache[(row, column)]
            value = raw.get((row, column))
            if isinstance(value, Formula):
                if (row, column) in busy:
                    return "#REF!"  # a circular reference, as Sheets reports it
                busy.add((row, column))
                value = _plain(formulas.evaluate(value.text, _Grid(lookup, height, width)))
                busy.discard((row, column))
            cache[(row, column)] = value
            return value

        grid: list[list[CellValue]] = []
        for r in range(1, height + 1):
            row = [lookup(r, c) for c in range(1, width + 1)]
            values: list[CellValue] = ["" if v is None else v for v in row]
            while values and values[-1] == "":
                values.pop()
            grid.append(values)
        while grid and not grid[-1]:
            grid.pop()
        return tuple(tuple(r) for r in grid)

    def row_colour(self, row: int) -> str | None:
        rows = self.evaluated_rows()
        for rule in self.rules:
            if row < rule.first_row:
                continue
            # A rule's formula is written for its first row and applied to the others.
            grid = _Grid(lambda r, c: _cell(rows, r, c), len(rows), max(map(len, rows), default=0))
            if formulas.evaluate(rule.formula, grid, offset=(row - rule.first_row, 0)) is True:
                return rule.name
        return None


def _cell(rows: tuple[tuple[CellValue, ...], ...], r: int, c: int) -> CellValue | None:
    if r < 1 or r > len(rows) or c < 1 or c > len(rows[r - 1]):
        return None
    value = rows[r - 1][c - 1]
    return None if value == "" else value


class _Grid:
    """The sandbox evaluator's view of a grid: 0-based (row, column)."""

    def __init__(self, lookup: Callable[[int, int], CellValue | None], height: int, width: int):
        self._lookup, self._size = lookup, (height, width)

    def value(self, row: int, col: int) -> formulas.Scalar:
        return self._lookup(row + 1, col + 1)

    def size(self) -> tuple[int, int]:
        return self._size


def _plain(value: formulas.Scalar) -> CellValue | None:
    """A result as the Sheets API returns it: whole numbers as ints, errors as their code."""
    if isinstance(value, formulas.FormulaError):
        return str(value)
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


@dataclass
class _Item:
    task: Task
    seq: int
    added_at: datetime


@dataclass
class FakeTodoist:
    """Todoist as the sync API documents it, in memory."""

    clock: object = None
    items: dict[str, _Item] = field(default_factory=dict)
    projects: dict[str, tuple[Project, int]] = field(default_factory=dict)
    collaborators: dict[str, str] = field(default_factory=dict)
    collaborator_emails: dict[str, str] = field(default_factory=dict)
    executed: dict[str, CommandResult] = field(default_factory=dict)
    requests: int = 0
    sync_requests: int = 0
    command_requests: int = 0
    lose_answer_after: int | None = None  # simulate a crash: execute, then "lose" the reply
    # Completions of recurring tasks: in the activity log only (the task stays open).
    occurrences: list[Task] = field(default_factory=list)
    _seq: itertools.count = field(default_factory=lambda: itertools.count(1))
    _ids: itertools.count = field(default_factory=lambda: itertools.count(1000))

    def now(self) -> datetime:
        return self.clock() if callable(self.clock) else datetime(2026, 1, 1, tzinfo=UTC)

    # ---------------------------------------------------------------- port
    def changes(
        self, sync_token: str | None, take: Callable[[Task], None] | None = None
    ) -> TaskChanges:
        return handed_over(self._changes(sync_token), take)

    def _changes(self, sync_token: str | None) -> TaskChanges:
        self.requests += 1
        self.sync_requests += 1
        head = next(self._seq)
        if sync_token is None or sync_token == "*":
            tasks = tuple(
                i.task for i in self.items.values() if not i.task.checked and not i.task.is_deleted
            )
            projects = tuple(p for p, _ in self.projects.values() if not p.is_deleted)
            return TaskChanges(
                f"t{head}",
                True,
                tasks,
                projects,
                dict(self.collaborators),
                dict(self.collaborator_emails),
            )
        since = int(sync_token.removeprefix("t"))
        tasks = tuple(i.task for i in self.items.values() if i.seq > since)
        projects = tuple(p for p, seq in self.projects.values() if seq > since)
        return TaskChanges(
            f"t{head}",
            False,
            tasks,
            projects,
            dict(self.collaborators),
            dict(self.collaborator_emails),
        )

    def completed(self, *, project_id: str | None, since: datetime) -> Sequence[Task]:
        self.requests += 1
        found = [
            i.task
            for i in self.items.values()
            if i.task.checked
            and not i.task.is_deleted
            and project_id in (None, i.task.project_id)
            and i.task.completed_at is not None
            and i.task.completed_at >= since
        ]
        return found  # a recurring task's ticks are not listed here (the activity log)

    def recurring_completions(self, since: datetime) -> Sequence[tuple[str, datetime]]:
        self.requests += 1
        return [
            (t.id, t.completed_at)
            for t in self.occurrences
            if t.completed_at is not None and t.completed_at >= since
        ]

    def apply(self, commands: Sequence[TaskCommand]) -> Sequence[CommandResult]:
        assert len(commands) <= MAX_COMMANDS_PER_REQUEST
        self.requests += 1
        self.command_requests += 1
        temp: dict[str, str] = {}
        results: list[CommandResult] = []
        for command in commands:
            if command.uuid in self.executed:
                results.append(self.executed[command.uuid])
                continue
            result = self._execute(command, temp)
            self.executed[command.uuid] = result
            results.append(result)
        if self.lose_answer_after is not None:
            self.lose_answer_after -= 1
            if self.lose_answer_after < 0:
                self.lose_answer_after = None
                raise ConnectionError("simulated crash: the answer was lost")
        return results

    def _execute(self, command: TaskCommand, temp: dict[str, str]) -> CommandResult:
        if isinstance(command, AddProject):
            pid = f"P{next(self._ids)}"
            self.projects[pid] = (Project(pid, command.name), next(self._seq))
            temp[command.temp_id] = pid
            return CommandResult(command.uuid, True, pid)
        if isinstance(command, AddTask):
            project_id = temp.get(command.project_id, command.project_id)
            if project_id not in self.projects:
                return CommandResult(command.uuid, False, None, "Project not found", 21)
            tid = f"T{next(self._ids)}"
            task = Task(
                tid,
                project_id,
                command.content,
                command.description,
                due=command.due,
                priority=command.priority,
                labels=command.labels,
            )
            self.items[tid] = _Item(task, next(self._seq), self.now())
            temp[command.temp_id] = tid
            return CommandResult(command.uuid, True, tid)
        if isinstance(command, CloseTask | DeleteTask | ReopenTask | MoveTask | UpdateTask):
            item = self.items.get(command.task_id)
            if item is None or item.task.is_deleted:
                return CommandResult(command.uuid, False, None, "Item not found", 22)
            if isinstance(command, CloseTask) and command.for_good:
                self._change(command.task_id, checked=True, completed_at=self.now())
            elif isinstance(command, CloseTask):
                self.complete(command.task_id)  # item_close: a recurring task moves on
            elif isinstance(command, ReopenTask):
                self._change(command.task_id, checked=False, completed_at=None)
            elif isinstance(command, MoveTask):
                self._change(command.task_id, due=command.due)
            elif isinstance(command, UpdateTask):
                fields = {
                    name: value
                    for name in (
                        "content",
                        "description",
                        "priority",
                        "labels",
                        "due",
                        "responsible_uid",
                    )
                    if (value := getattr(command, name)) is not None
                }
                if command.responsible_uid is not None and command.responsible_uid not in (
                    self.collaborators
                ):
                    return CommandResult(command.uuid, False, None, "Invalid argument value", 20)
                self._change(command.task_id, **fields)
            else:
                self._change(command.task_id, is_deleted=True)
            return CommandResult(command.uuid, True)
        raise TypeError(command)

    # ---------------------------------------------------- what people do
    def _change(self, task_id: str, **changes: object) -> None:
        item = self.items[task_id]
        item.task = replace(item.task, **changes)  # type: ignore[arg-type]
        item.seq = next(self._seq)

    def complete(self, task_id: str) -> None:
        due = self.items[task_id].task.due
        if due is not None and due.recurring:
            # Todoist ticks a recurring task by moving it to its next date: it stays open,
            # and only the completed history lists the completion.
            done = replace(self.items[task_id].task, checked=True, completed_at=self.now())
            self.occurrences.append(done)
            self._change(task_id, due=replace(due, day=_next_month(due.day), at=None))
            return
        self._change(task_id, checked=True, completed_at=self.now())

    def make_recurring(self, task_id: str) -> None:
        """A person sets "every month" on a task (its date stays)."""
        due = self.items[task_id].task.due
        assert due is not None
        self._change(task_id, due=replace(due, recurring=True))

    def uncomplete(self, task_id: str) -> None:
        self._change(task_id, checked=False, completed_at=None)

    def delete(self, task_id: str) -> None:
        self._change(task_id, is_deleted=True)

    def assign(self, task_id: str, uid: str) -> None:
        self._change(task_id, responsible_uid=uid)

    def edit(self, task_id: str, **fields: object) -> None:
        """A person changes a task's content, priority, labels or due in Todoist."""
        self._change(task_id, **fields)

    def duplicate(self, task_id: str) -> str:
        """Todoist's "Duplicate" menu item: a new task, same content, description and due."""
        tid = f"T{next(self._ids)}"
        task = replace(self.items[task_id].task, id=tid)
        self.items[tid] = _Item(task, next(self._seq), self.now())
        return tid

    def move_to_inbox(self, task_id: str) -> str:
        """A person moves a task to their Inbox (``item_move``: its ``project_id`` changes;
        Todoist's completed history then lists it under the Inbox)."""
        inbox = next((pid for pid, (p, _) in self.projects.items() if p.name == "Inbox"), None)
        if inbox is None:
            inbox = f"P{next(self._ids)}"
            self.projects[inbox] = (Project(inbox, "Inbox"), next(self._seq))
        self._change(task_id, project_id=inbox)
        return inbox

    def rename_project(self, project_id: str, name: str) -> None:
        project, _ = self.projects[project_id]
        self.projects[project_id] = (replace(project, name=name), next(self._seq))

    def delete_project(self, project_id: str) -> None:
        project, _ = self.projects[project_id]
        self.projects[project_id] = (replace(project, is_deleted=True), next(self._seq))

    def active(self) -> list[Task]:
        return [i.task for i in self.items.values() if not i.task.checked and not i.task.is_deleted]

    def all_tasks(self) -> list[Task]:
        return [i.task for i in self.items.values()]

    def task_for(self, lead_id: str, step_key: str) -> Task:
        found = [
            t
            for t in self.all_tasks()
            if f"lead {lead_id} · step {step_key}" in t.description and not t.is_deleted
        ]
        assert len(found) == 1, f"{len(found)} tasks for {lead_id}/{step_key}"
        return found[0]


def _next_month(day: date) -> date:
    month = day.month % 12 + 1
    year = day.year + (day.month == 12)
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))
