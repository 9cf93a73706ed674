"""The two ports the core talks through: a sheet gateway and a task gateway.

Everything here is plain data. The core never sees gspread, httpx or the Todoist SDK;
adapters (``journey_sync.adapters``) and in-memory fakes (``tests/fakes.py``) implement
these protocols, and both pass the same contract tests.

Rows and columns are 1-based, as a person reads them in the sheet (row 1 is the top row,
column 1 is column A). Adapters convert to the API's 0-based grid indexes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Literal, Protocol

# A cell as the Sheets API returns it with valueRenderOption=UNFORMATTED_VALUE and
# dateTimeRenderOption=SERIAL_NUMBER: text, a number (dates are serial numbers) or a boolean.
CellValue = str | int | float | bool

# Todoist accepts at most this many commands in one /api/v1/sync request.
MAX_COMMANDS_PER_REQUEST = 100


# ---------------------------------------------------------------- sheet side


@dataclass(frozen=True)
class SheetSnapshot:
    """One read of the worksheet's used range.

    ``rows[0]`` is sheet row 1. Rows are ragged and trailing empty cells and rows are
    omitted, exactly as ``values.get`` returns them; formulas arrive as their results.
    """

    title: str
    rows: tuple[tuple[CellValue, ...], ...]

    def cell(self, row: int, column: int) -> CellValue | None:
        """The value at 1-based (row, column), or None when the cell is empty."""
        if row < 1 or column < 1 or row > len(self.rows):
            return None
        cells = self.rows[row - 1]
        if column > len(cells):
            return None
        value = cells[column - 1]
        return None if value == "" else value


@dataclass(frozen=True)
class CellWrite:
    """A value written RAW (never parsed: a string stays text, never becomes a formula).

    ``value=None`` clears the cell. ``as_date`` asks the gateway to give the cell a date
    number format, because a serial number written RAW would otherwise show as 46349.
    """

    row: int
    column: int
    value: CellValue | None
    as_date: bool = False


@dataclass(frozen=True)
class FormulaWrite:
    """A formula of journey-sync's own (the footer), entered as a formula."""

    row: int
    column: int
    formula: str  # starts with "="
    # A Sheets number-format pattern for the cell ("0.0%", "0"), set with the formula;
    # None leaves the cell's format alone.
    number_format: str | None = None


@dataclass(frozen=True)
class CellNote:
    """A note on a cell; an empty ``text`` removes the note."""

    row: int
    column: int
    text: str


@dataclass(frozen=True)
class ColourRule:
    """A conditional-format rule that colours a whole lead row.

    ``formula`` is a custom formula written for ``first_row`` (e.g. ``=AND($S2<>"",$K2=1)``)
    and applied from ``first_row`` down to the end of the sheet, columns 1..``last_column``.
    Rules come in priority order: the first that matches wins (red before green).
    """

    name: Literal["departed", "paid"]
    formula: str
    first_row: int
    last_column: int
    red: float
    green: float
    blue: float


@dataclass(frozen=True)
class RowInsert:
    """Insert ``count`` empty rows above ``before_row`` (used to move the footer down)."""

    before_row: int
    count: int


@dataclass(frozen=True)
class TabRange:
    """A block of cells on a tab: 1-based rows and columns, both ends included."""

    first_row: int
    last_row: int
    first_column: int
    last_column: int


@dataclass(frozen=True)
class TabChart:
    """A native chart journey-sync keeps on its own tab (Sheets API ``BasicChartSpec``).

    Found again by its ``title`` on that tab: the gateway adds it when no chart of that
    title is there and updates its spec when it differs, so it is never duplicated.
    ``domain`` is one column of labels and each of ``series`` one column of numbers;
    both start with a header row (``headerCount`` 1).
    """

    title: str
    chart_type: Literal["BAR", "COLUMN", "LINE"]
    domain: TabRange
    series: tuple[TabRange, ...]
    anchor_row: int  # the chart's top-left cell (1-based)
    anchor_column: int
    stacked: bool = False
    width: int = 600  # pixels
    height: int = 371


@dataclass(frozen=True)
class TabWrites:
    """What journey-sync writes on its own tab (the Funnel tab), created when missing.

    ``values`` are written RAW, cell by cell (``None`` clears), only inside the tab's
    own block; anything a person put elsewhere on the tab is left alone.
    ``number_formats`` give blocks of cells a Sheets number-format pattern ("0.0%").
    """

    title: str
    values: tuple[CellWrite, ...] = ()
    number_formats: tuple[tuple[TabRange, str], ...] = ()
    charts: tuple[TabChart, ...] = ()


@dataclass(frozen=True)
class SheetWrites:
    """Everything one cycle writes into the sheet.

    Applied in this order: inserts, then formulas, notes and colour rules (one
    ``spreadsheets.batchUpdate``), then values (one ``values.batchUpdate``, RAW). Row
    numbers of formulas, notes and values are those *after* the inserts.

    ``colour_rules`` are the rules the sheet should have; the gateway adds the ones that
    are missing and never duplicates one, so passing them every cycle costs nothing.
    """

    inserts: tuple[RowInsert, ...] = ()
    values: tuple[CellWrite, ...] = ()
    formulas: tuple[FormulaWrite, ...] = ()
    notes: tuple[CellNote, ...] = ()
    colour_rules: tuple[ColourRule, ...] = ()
    # Formulas of rules journey-sync added that are not wanted any more (``paid_stage``
    # changed or removed): a rule on the sheet with exactly such a formula is deleted. A
    # person's own rule, whatever it looks like, is never among them.
    retired_rules: tuple[str, ...] = ()
    # journey-sync's own tabs (the Funnel tab) to write, created if missing.
    tabs: tuple[TabWrites, ...] = ()
    # The values go in the same batchUpdate as the inserts (one atomic request), not in a
    # values.batchUpdate after it: rows inserted for new leads (the intake) are written
    # before a person's edit can move another row into them.
    values_with_inserts: bool = False

    def has_cell_changes(self) -> bool:
        return bool(self.inserts or self.values or self.formulas or self.notes)


class SheetGateway(Protocol):
    """The worksheet a workflow syncs with."""

    def read(self) -> SheetSnapshot:
        """Read the whole used range (one request in steady state)."""
        ...

    def apply(self, writes: SheetWrites) -> None:
        """Write exactly the cells named (at most one request per kind of write)."""
        ...

    def formula_cells(self, rows: Sequence[int], last_column: int) -> frozenset[tuple[int, int]]:
        """The cells of these rows (columns 1..``last_column``) that hold a formula.

        Only asked for the rare rows whose values alone are ambiguous (a lead typed over
        the footer, a lead date that is a small number): one extra read, in those cycles.
        """
        ...

    def tab_chart_titles(self, title: str) -> frozenset[str] | None:
        """The titles of the charts on the tab ``title`` of the spreadsheet (None: there
        is no such tab): one read, asked once a day when the workflow has a Funnel tab."""
        ...


# ----------------------------------------------------------------- task side


@dataclass(frozen=True)
class Due:
    """When a task is due: a whole day, or a moment in the business's time zone."""

    day: date
    at: datetime | None = None  # timezone-aware when set
    timezone: str | None = None  # IANA name, sent with a timed due
    # Set by a person in Todoist ("every month"): ticking it moves it to its next date and
    # it stays open; the completion is in the completed history only.
    recurring: bool = False


@dataclass(frozen=True)
class Task:
    """A Todoist task (a sync ``item``) as journey-sync needs to see it."""

    id: str
    project_id: str
    content: str
    description: str
    checked: bool = False
    is_deleted: bool = False
    due: Due | None = None
    responsible_uid: str | None = None
    completed_at: datetime | None = None
    priority: int = 1
    labels: tuple[str, ...] = ()


@dataclass(frozen=True)
class Project:
    id: str
    name: str
    is_deleted: bool = False
    is_archived: bool = False


@dataclass(frozen=True)
class TaskChanges:
    """What changed in Todoist since a sync token (everything, when ``full``).

    A full sync lists active tasks only; completed ones arrive through
    ``TaskGateway.completed``. An incremental sync lists every task that changed,
    including ones completed (``checked``) or deleted (``is_deleted``).
    """

    sync_token: str
    full: bool
    # A sequence, not necessarily a tuple: the Todoist gateway builds each ``Task`` of a
    # large answer when it is read (120,000 at once held 150 MB). Empty when they were
    # handed to the caller's ``take`` instead (``TaskGateway.changes``).
    tasks: Sequence[Task] = ()
    projects: tuple[Project, ...] = ()
    collaborators: Mapping[str, str] = field(default_factory=dict)  # user id -> full name
    collaborator_emails: Mapping[str, str] = field(default_factory=dict)  # user id -> e-mail


@dataclass(frozen=True)
class AddTask:
    uuid: str
    temp_id: str
    project_id: str  # a real id, or the temp_id of an AddProject in the same request
    content: str
    description: str
    due: Due
    priority: int = 1  # Todoist's API scale: 1 (normal) .. 4 (urgent)
    labels: tuple[str, ...] = ()


@dataclass(frozen=True)
class AddProject:
    uuid: str
    temp_id: str
    name: str


@dataclass(frozen=True)
class CloseTask:
    uuid: str
    task_id: str
    # ``item_complete``: done for good, a recurring task too (a departed lead's). Else
    # ``item_close``, as a person's tick: a recurring task moves to its next date.
    for_good: bool = False


@dataclass(frozen=True)
class DeleteTask:
    uuid: str
    task_id: str


@dataclass(frozen=True)
class ReopenTask:
    """Un-complete a task (``item_uncomplete``)."""

    uuid: str
    task_id: str


@dataclass(frozen=True)
class MoveTask:
    """Give a task a new due (``item_update`` with a structured due, never parsed text)."""

    uuid: str
    task_id: str
    due: Due


@dataclass(frozen=True)
class UpdateTask:
    """Change some fields of a task (``item_update``); ``None`` leaves a field alone.

    Sent when the journey changed (a template edit) or a coach is assigned
    (``responsible_uid``). The due is structured, never parsed text.
    """

    uuid: str
    task_id: str
    content: str | None = None
    description: str | None = None
    priority: int | None = None
    labels: tuple[str, ...] | None = None
    due: Due | None = None
    responsible_uid: str | None = None


TaskCommand = AddTask | AddProject | CloseTask | DeleteTask | ReopenTask | MoveTask | UpdateTask


# The error text of a CommandResult whose uuid Todoist's answer did not mention: the
# command may or may not have run, so it stays pending and is resent with the same uuid.
NOT_ACKNOWLEDGED = (
    "Todoist's answer has no status for this command; it may not have run: "
    "send it again with the same uuid"
)


@dataclass(frozen=True)
class CommandResult:
    """Todoist's answer to one command: ``sync_status[uuid]`` and, for adds, the new id."""

    uuid: str
    ok: bool
    new_id: str | None = None
    error: str | None = None  # Todoist's error text when not ok
    error_code: int | None = None


class TaskGateway(Protocol):
    """The Todoist account a workflow syncs with."""

    def changes(
        self, sync_token: str | None, take: Callable[[Task], None] | None = None
    ) -> TaskChanges:
        """Items, projects and collaborators changed since ``sync_token`` (``None``: full
        sync). A token Todoist rejects leads to a full sync, never to an error.

        ``take``: when given, each task listed is handed to it as it is read (the cycle
        after onboarding 10,000 leads lists 120,000), and the answer returned lists none.
        """
        ...

    def completed(self, *, project_id: str | None, since: datetime) -> Sequence[Task]:
        """Tasks completed since ``since`` (as far back as Todoist keeps), of one project
        or (``None``) of every project."""
        ...

    def recurring_completions(self, since: datetime) -> Sequence[tuple[str, datetime]]:
        """(task id, when) of each task completion since ``since`` in Todoist's activity
        log: where a recurring task's ticks are (Todoist moves such a task to its next date
        and never lists it as completed)."""
        ...

    def apply(self, commands: Sequence[TaskCommand]) -> Sequence[CommandResult]:
        """Send at most ``MAX_COMMANDS_PER_REQUEST`` commands in one request.

        The caller stores each command's uuid before calling, so a resend after a crash is
        recognised by Todoist and not executed twice.
        """
        ...
