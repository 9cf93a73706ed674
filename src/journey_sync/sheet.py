"""Reading a worksheet snapshot into leads. Pure: no I/O.

Columns are found by header text (case and surrounding spaces forgiven). A row is a lead
when its name and lead-date cells are both non-empty; the footer's rows carry a marker in
the lead-id column (a column only journey-sync writes), so they are recognised wherever
people move them and are never leads, unless a person types a lead over one. A footer
whose markers went with the Lead ID column (deleted and added back, or cleared) is
still recognised by its labels, as a whole block in its order.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from functools import cached_property

from .dates import parse_text_date, serial_to_date
from .errors import SheetLayoutError
from .ports import CellValue, SheetSnapshot
from .workflow import Workflow

FOOTER_MARK = "#footer:"

# The footer's rows, in order, and the label in the name column of each (footer.py writes
# them). The last row's name cell is a formula reading "Leads: 12 · still in journey: ...".
FOOTER_LABELS = {
    "total": "Total reached",
    "share": "Share of leads",
    "not-due": "Not yet due",
    "drop-off": "Drop-off among due leads",
    "left": "Left at this stage",
}
FOOTER_JOURNEY_TEXT = "Leads: "


def footer_kinds(layout: Layout) -> tuple[str, ...]:
    """The footer's rows, in order: "left" only with a reason-left column."""
    kinds = ["total", "share", "not-due", "drop-off"]
    if "reason_left" in layout.roles:
        kinds.append("left")
    kinds.append("journey")
    return tuple(kinds)


@dataclass(frozen=True)
class Layout:
    """Where each role and stage sits in this sheet (1-based columns)."""

    header_row: int
    roles: dict[str, int]  # role -> column
    stages: dict[str, int]  # stage key -> column, funnel order
    last_column: int
    # A mapped header found in more than one column: which one is used, for the log.
    warnings: tuple[str, ...] = ()

    def column(self, role: str) -> int | None:
        return self.roles.get(role)


@dataclass(frozen=True)
class RowProblem:
    row: int
    column: int
    message: str
    lead_id: str | None = None


@dataclass(frozen=True)
class Lead:
    row: int
    name: str
    raw_date: CellValue
    lead_date: date | None  # None when the cell cannot be read as a date
    lead_id: str | None
    marks: frozenset[str]  # stages reached: the cell holds 1 or a ticked checkbox
    filled: frozenset[str]  # stages whose cell holds anything (never written over)
    reason_left: str | None
    left_on: CellValue | None
    coach: str | None
    source: str | None
    facts: dict[str, str] = field(default_factory=dict)  # role -> text, for step templates
    over_footer: bool = False  # typed into a footer row
    # Stage cells holding something that is not a mark (x, yes, a text '1, a date): never
    # counted, never written over, and flagged with a note asking for a 1.
    odd: frozenset[str] = frozenset()
    # Over a footer row: stage columns still showing the old footer's figures (ours to clear).
    footer_leftovers: frozenset[str] = frozenset()
    unticked: frozenset[str] = frozenset()  # stage cells that are unticked checkboxes
    # The lead date is a formula's result (a person's "Total" row with =COUNTA(...)): the
    # row is not a lead journey-sync acts on (the footer's formulas still count it).
    computed_date: bool = False

    @property
    def departed(self) -> bool:
        return self.reason_left is not None

    def fingerprint(self) -> tuple[str, str]:
        # Asked several times per lead and cycle, and a lead read from an unchanged row is
        # the same object from cycle to cycle (``RowMemo``): worked out once per object.
        found: tuple[str, str] | None = self.__dict__.get("_fingerprint")
        if found is None:
            found = (name_key(self.name), _text(self.raw_date))
            object.__setattr__(self, "_fingerprint", found)
        return found


@dataclass(frozen=True)
class FooterRow:
    row: int
    kind: str  # what follows FOOTER_MARK


@dataclass(frozen=True)
class SheetModel:
    snapshot: SheetSnapshot
    layout: Layout
    leads: tuple[Lead, ...]
    problems: tuple[RowProblem, ...]
    footer: tuple[FooterRow, ...]
    last_data_row: int  # the last row with a name or a lead date (not the footer)

    # Facts of the whole sheet asked every cycle that is not quiet, worked out once per
    # model (a task ticked on a settled sheet plans with the settled sheet's model again).

    @cached_property
    def over_footer(self) -> tuple[Lead, ...]:
        """The leads typed over the footer's rows."""
        return tuple(lead for lead in self.leads if lead.over_footer)

    @cached_property
    def lead_ids(self) -> frozenset[str]:
        """The ids in the rows' Lead ID cells."""
        return frozenset(lead.lead_id for lead in self.leads if lead.lead_id)

    @cached_property
    def marked(self) -> tuple[tuple[str, str], ...]:
        """(lead id, stage key) of every stage marked in a row with an id."""
        return tuple(
            (lead.lead_id, stage) for lead in self.leads if lead.lead_id for stage in lead.marks
        )

    @cached_property
    def checkbox_stages(self) -> frozenset[str]:
        """Stage columns of checkboxes: some lead's cell there holds TRUE or FALSE (a
        boolean cell is a mark, unticked or, over the footer, a leftover formula's result:
        only those cells are looked at)."""
        found: set[str] = set()
        for lead in self.leads:
            found |= self._boolean_stages(lead)
            if len(found) == len(self.layout.stages):
                break
        return frozenset(found)

    def _boolean_stages(self, lead: Lead) -> set[str]:
        """The stages whose cell in this lead's row holds TRUE or FALSE."""
        stages = self.layout.stages
        return {
            key
            for key in lead.marks | lead.unticked | lead.footer_leftovers
            if isinstance(self.snapshot.cell(lead.row, stages[key]), bool)
        }

    def carry_facts(self, before: SheetModel) -> None:
        """Take the sheet-wide facts already worked out for ``before``, a read of the same
        layout whose leads are these but at a few positions, where those rows cannot have
        changed them (a mark written: the cycle after a change reads the rows that change
        wrote). Each fact is still worked out from scratch when asked otherwise."""
        changed = changed_positions(before.leads, self.leads)
        if changed is None:
            return
        known, facts = before.__dict__, self.__dict__
        was = [before.leads[i] for i in changed]
        now = [self.leads[i] for i in changed]
        if "lead_ids" in known and all(
            a.lead_id == b.lead_id for a, b in zip(was, now, strict=True)
        ):
            facts["lead_ids"] = known["lead_ids"]
        if "over_footer" in known and not any(lead.over_footer for lead in (*was, *now)):
            facts["over_footer"] = known["over_footer"]  # the very same leads over the footer
        if "checkbox_stages" in known:
            lost: set[str] = set().union(*(before._boolean_stages(lead) for lead in was))
            gained: set[str] = set().union(*(self._boolean_stages(lead) for lead in now))
            if lost <= gained:  # no column lost a boolean these rows alone may have held
                facts["checkbox_stages"] = known["checkbox_stages"] | gained


# More rows changed than this share of the sheet: worked out again from scratch (what was
# kept would hold two reads' leads at once).
_FEW_CHANGED = 8


def changed_positions(a: Sequence[Lead], b: Sequence[Lead]) -> list[int] | None:
    """Where ``b`` holds another lead object than ``a``, when they are as long and that is
    a few positions (None otherwise: too many, or rows added or removed). ``RowMemo`` hands
    back an unchanged row's very ``Lead``, so these are the rows that changed."""
    if len(a) != len(b):
        return None
    changed = [i for i, (x, y) in enumerate(zip(a, b, strict=True)) if x is not y]
    return changed if len(changed) <= max(16, len(a) // _FEW_CHANGED) else None


_SETS: dict[frozenset[str], frozenset[str]] = {}
_SETS_MAX = 4096


def _shared(keys: Iterable[str]) -> frozenset[str]:
    """One frozenset object per distinct set of stages. Each lead holds five (its marks,
    filled, unticked and odd cells, footer leftovers), mostly the same few sets: at 10,000
    leads, a new object each (216 bytes even when empty) held 11 MB."""
    found = frozenset(keys)
    if len(_SETS) >= _SETS_MAX:  # a bound, should a sheet hold every combination
        _SETS.clear()
    return _SETS.setdefault(found, found)


def _text(value: CellValue | None) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def normalise_header(text: CellValue | None) -> str:
    return " ".join(_text(text).split()).casefold()


# How far from the workflow's header row the headers are looked for when they are not
# there: a title row typed above them, or a row above them deleted.
HEADER_SEARCH = 10


def _header_positions(headers: Sequence[CellValue | None]) -> dict[str, int]:
    position: dict[str, int] = {}
    for index, cell in enumerate(headers, start=1):
        key = normalise_header(cell)
        if key and key not in position:
            position[key] = index
    return position


def find_layout(workflow: Workflow, snapshot: SheetSnapshot) -> Layout:
    """Locate every mapped header; a missing one names what it wanted and what it found.

    The headers are looked for in the workflow's header row first. A person may insert a
    title row above them (or delete a row above them): then the nearest row within
    ``HEADER_SEARCH`` rows holding every mapped header is the header row, so the sheet is
    not halted by a row added for looks. A row holding only some of them is never taken.
    """
    header_row = workflow.sheet.header_row
    headers = snapshot.rows[header_row - 1] if len(snapshot.rows) >= header_row else ()
    position = _header_positions(headers)
    wanted = dict(workflow.sheet.columns.roles())
    needed = [*wanted.values(), *(s.header for s in workflow.stages)]
    missing = [h for h in needed if normalise_header(h) not in position]
    if missing:
        for distance in range(1, HEADER_SEARCH + 1):
            for row in (header_row + distance, header_row - distance):
                if not 1 <= row <= len(snapshot.rows):
                    continue
                moved = _header_positions(snapshot.rows[row - 1])
                if all(normalise_header(h) in moved for h in needed):
                    header_row, position, missing = row, moved, []
                    break
            if not missing:
                break
    if missing:
        found = [_text(h) for h in headers if _text(h).strip()]
        raise SheetLayoutError(
            f"worksheet {snapshot.title!r} row {header_row} has no column "
            + ", ".join(repr(m) for m in missing)
            + ". Headers found: "
            + (", ".join(repr(f) for f in found) if found else "none (is the header row right?)")
            + ". Add the column, or change its header in the workflow file to match the sheet."
            + (
                f" If {wanted['lead_id']!r} was deleted, add it back with that header (empty is "
                "fine): every lead gets its id back from its name and lead date, and no new "
                "tasks. Nothing is synced until then; nothing is lost."
                if wanted["lead_id"] in missing
                else " Nothing is synced until then; nothing is lost."
            )
        )
    warnings = _pick_duplicated_headers(snapshot, header_row, needed, position)
    roles = {role: position[normalise_header(h)] for role, h in wanted.items()}
    stages = {s.key: position[normalise_header(s.header)] for s in workflow.stages}
    return Layout(
        header_row=header_row,
        roles=roles,
        stages=stages,
        last_column=max([*roles.values(), *stages.values()]),
        warnings=warnings,
    )


def _pick_duplicated_headers(
    snapshot: SheetSnapshot, header_row: int, needed: Sequence[str], position: dict[str, int]
) -> tuple[str, ...]:
    """A mapped header in two columns (a column inserted and its header copied, a column
    pasted twice): the one holding more cells is used (the one journey-sync wrote its
    marks, ids and footer into), not blindly the first, where a new empty column would
    make every mark read as removed. ``position`` is changed in place; one warning per
    such header."""
    headers = snapshot.rows[header_row - 1] if len(snapshot.rows) >= header_row else ()
    columns: dict[str, list[int]] = {}
    for index, cell in enumerate(headers, start=1):
        columns.setdefault(normalise_header(cell), []).append(index)
    warnings: list[str] = []
    for header in dict.fromkeys(needed):
        found = columns.get(normalise_header(header), [])
        if len(found) < 2:
            continue
        below = snapshot.rows[header_row:]
        filled = {
            c: sum(1 for row in below if len(row) >= c and _text(row[c - 1]).strip()) for c in found
        }
        chosen = max(found, key=lambda c: (filled[c], -c))
        position[normalise_header(header)] = chosen
        others = ", ".join(column_letter(c) for c in found if c != chosen)
        warnings.append(
            f"the header {header!r} is in more than one column of row {header_row}: "
            f"journey-sync uses column {column_letter(chosen)} (it holds the most cells) "
            f"and ignores {others}. Rename or delete the other column; marks typed there "
            "are not counted."
        )
    return tuple(warnings)


def _typed_as(declared_format: str | None) -> str:
    """ ", or 31/03/2026": the example date as the workflow's date format writes it."""
    if not declared_format:
        return ""
    try:
        return ", or " + date(2026, 3, 31).strftime(declared_format)
    except ValueError:
        return ""


def read_date(value: CellValue, declared_format: str | None) -> date | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        # Serial numbers of plausible lead dates only (1900..2199); 5 is not a date.
        if 1 <= value < 110_000:
            return serial_to_date(value)
        return None
    return parse_text_date(value, declared_format)


def is_mark(value: CellValue | None) -> bool:
    """A stage is reached when its cell holds the number 1 (what people type and we write)
    or a ticked checkbox (TRUE), which is how a sheet with checkbox columns says the same."""
    if isinstance(value, bool):
        return value
    return isinstance(value, int | float) and value == 1


# Sheets' serial number of 2000-01-01: a smaller number in the lead-date column is not a
# lead date (a year typed as a number, a count), and worth asking whether it is a formula.
SMALL_DATE_SERIAL = 36526


def cells_to_check(
    workflow: Workflow, snapshot: SheetSnapshot, memo: RowMemo | None = None
) -> list[int]:
    """Rows whose meaning depends on which of their cells are formulas (see
    ``SheetGateway.formula_cells``): leads typed over a footer row, and rows whose lead
    date is a small number (a person's own "Total" row with =COUNTA(...)). ``memo``: a row
    that is the very tuple of the last read at the same place is what it was then."""
    layout = find_layout(workflow, snapshot)
    last: tuple[tuple[CellValue, ...], ...] = ()
    checked: frozenset[int] = frozenset()
    if memo is not None and memo.to_check is not None and memo.to_check[0] == layout:
        _, last, checked = memo.to_check
    roles = layout.roles
    # Asked of every row each cycle that is not quiet: the cells are taken from the row
    # directly (``snapshot.cell``'s checks per cell cost 10,000 leads 30 ms).
    name_at, day_at, id_at = roles["name"] - 1, roles["lead_date"] - 1, roles["lead_id"] - 1
    least = max(name_at, day_at) + 1
    rows: list[int] = []
    for index in range(layout.header_row, len(snapshot.rows)):
        cells = snapshot.rows[index]
        if index < len(last) and last[index] is cells:
            if index + 1 in checked:
                rows.append(index + 1)
            continue
        if len(cells) < least:
            continue
        day = cells[day_at]
        if cells[name_at] == "" or day == "":
            continue
        # A number, not a bool (a checkbox) and not text.
        small = (
            isinstance(day, (int, float)) and not isinstance(day, bool) and day < SMALL_DATE_SERIAL
        )
        # The marker is text ("#footer:..."); no number or boolean reads as one.
        marker = cells[id_at] if len(cells) > id_at else None
        if small or (type(marker) is str and marker.startswith(FOOTER_MARK)):
            rows.append(index + 1)
    if memo is not None:
        memo.to_check = (layout, snapshot.rows, frozenset(rows))
    return rows


class RowMemo:
    """The rows of the last read and what each was read as, for ``read_sheet`` to reuse.

    A quiet-but-not-settled cycle of a 10,000-lead sheet reads 10,000 rows that mostly did
    not change. A row is read again unless it holds the same values, of the same types
    (``1 == True`` in Python, not in a sheet), at the same row number, with the same
    workflow, layout and formula cells. The very same row tuple as last time (the Sheets
    gateway hands back an unchanged row's tuple again: ``adapters.sheet_rows``) is that;
    another tuple is compared value by value and type by type. A reused ``Lead`` is the
    very same object, which is how planning knows the row did not change
    (``plan.PlanMemo``).
    """

    def __init__(self) -> None:
        self.context: tuple[object, ...] | None = None
        self.rows: dict[int, tuple[tuple[CellValue, ...], _RowRead]] = {}
        # The last model read (its sheet-wide facts carried over: ``SheetModel.carry_facts``)
        # and the last rows ``cells_to_check`` looked at, with their layout and what it found.
        self.model: SheetModel | None = None
        self.to_check: tuple[Layout, tuple[tuple[CellValue, ...], ...], frozenset[int]] | None
        self.to_check = None


def same_row(a: tuple[CellValue, ...], b: tuple[CellValue, ...]) -> bool:
    """The same values of the same types (``1``, ``1.0`` and ``TRUE`` are equal in Python,
    not in a sheet)."""
    return a is b or (a == b and all(type(x) is type(y) for x, y in zip(a, b, strict=True)))


# What one row is: a footer row, a lead (and its problem, if any), and whether it holds a
# name or a lead date (the last data row).
_RowRead = tuple["FooterRow | None", "Lead | None", "RowProblem | None", bool]


def read_sheet(
    workflow: Workflow,
    snapshot: SheetSnapshot,
    formulas: frozenset[tuple[int, int]] | None = None,
    *,
    memo: RowMemo | None = None,
) -> SheetModel:
    """``formulas``: the cells known to hold formulas (of the rows ``cells_to_check``
    names); without it, a number other than 1 in a lead row over the footer is taken
    for the footer's figure. ``memo``: the previous read's rows, reused where unchanged."""
    layout = find_layout(workflow, snapshot)
    leads: list[Lead] = []
    problems: list[RowProblem] = []
    footer: list[FooterRow] = []
    last_data_row = layout.header_row
    known: dict[int, tuple[tuple[CellValue, ...], _RowRead]] = {}
    if memo is not None:
        context = (workflow, layout, formulas)
        if memo.context is not None and memo.context[0] is workflow and memo.context == context:
            known = memo.rows
        memo.context = context
    rows_now: dict[int, tuple[tuple[CellValue, ...], _RowRead]] = {}
    id_at = layout.roles["lead_id"] - 1
    reads: list[_RowRead] = []
    for row in range(layout.header_row + 1, len(snapshot.rows) + 1):
        if memo is None:
            read = _read_row(workflow, snapshot, layout, formulas, row)
        else:
            values = snapshot.rows[row - 1]
            before = known.get(row)
            if before is not None and same_row(before[0], values):
                read = before[1]
            else:
                read = (before is not None and _with_id_written(before, values, id_at)) or (
                    _read_row(workflow, snapshot, layout, formulas, row)
                )
            rows_now[row] = (values, read)
        reads.append(read)
    _recognise_unmarked_footer(reads, snapshot, layout)
    for row, read in enumerate(reads, start=layout.header_row + 1):
        footer_row, lead, problem, has_data = read
        if lead is not None and footer and _a_note(lead):
            # Under the footer, a row whose "date" is words ("Remember" | "check the
            # invoices") is a person's note, not a lead: no id, not counted, and the
            # footer stays where it is. A lead typed there has a date (a typo in it still
            # has digits, and gets a note as any unreadable date).
            lead, problem, has_data = None, None, False
        if footer_row is not None:
            footer.append(footer_row)
        if has_data:
            last_data_row = row
        if lead is not None:
            leads.append(lead)
        if problem is not None:
            problems.append(problem)
    model = SheetModel(
        snapshot=snapshot,
        layout=layout,
        leads=tuple(leads),
        problems=tuple(problems),
        footer=tuple(footer),
        last_data_row=last_data_row,
    )
    if memo is not None:
        if known and memo.model is not None:
            model.carry_facts(memo.model)
        memo.rows, memo.model = rows_now, model
    return model


def _recognise_unmarked_footer(
    reads: list[_RowRead], snapshot: SheetSnapshot, layout: Layout
) -> None:
    """Footer rows whose markers are gone (the Lead ID column deleted and added back, or
    cleared) read as rows of data: labels without a lead date. A block of them, one row
    after another in the footer's order (a row a person deleted may be missing, but at
    least three are there), is the footer still: else it would stay behind, a second
    footer would be written under it, and a lead typed over its rows would take its
    figures for marks. Changed in place in ``reads`` (row ``header_row + 1`` first). Only
    when no row carries a marker, and only the first such block: a copy of the footer a
    person pasted as values (last month's figures) is theirs, never cleared."""
    if any(read[0] is not None for read in reads):
        return
    kinds = footer_kinds(layout)
    roles = layout.roles
    first = layout.header_row + 1
    index = 0
    while index < len(reads):
        block: list[tuple[int, str]] = []  # (index in reads, kind)
        at, next_kind = index, 0
        while at < len(reads):
            kind = next(
                (
                    k
                    for k in range(next_kind, len(kinds))
                    if _unmarked_footer_row(reads[at], snapshot, roles, first + at, kinds[k])
                ),
                None,
            )
            if kind is None:
                break
            block.append((at, kinds[kind]))
            at, next_kind = at + 1, kind + 1
        if len(block) >= 3:
            for i, kind_name in block:
                reads[i] = (FooterRow(first + i, kind_name), None, None, False)
            return
        index += 1


def _unmarked_footer_row(
    read: _RowRead, snapshot: SheetSnapshot, roles: dict[str, int], row: int, kind: str
) -> bool:
    footer_row, lead, _, has_data = read
    if footer_row is not None or lead is not None or not has_data:
        return False
    if snapshot.cell(row, roles["lead_date"]) is not None:
        return False
    if _text(snapshot.cell(row, roles["lead_id"])).strip():
        return False
    name = snapshot.cell(row, roles["name"])
    if kind == "journey":
        return isinstance(name, str) and name.startswith(FOOTER_JOURNEY_TEXT)
    return name == FOOTER_LABELS[kind]


def _a_note(lead: Lead) -> bool:
    return (
        lead.lead_id is None
        and lead.lead_date is None
        and not lead.over_footer
        and isinstance(lead.raw_date, str)
        and not any(ch.isdigit() for ch in lead.raw_date)
    )


def _with_id_written(
    before: tuple[tuple[CellValue, ...], _RowRead],
    values: tuple[CellValue, ...],
    id_at: int,
) -> _RowRead | None:
    """What ``_read_row`` reads of a row that is the remembered one with only a lead id
    typed into its empty (or blank) id cell, made from the remembered read; None for any
    other change. The cycle after onboarding reads 10,000 such rows (every lead got its
    id): the lead is the remembered one with that id, its problem and footer role the
    same (a row without an id is a lead only with both a name and a date, which it
    keeps). tests/core/test_sheet_id_written.py checks it against a full read."""
    footer_row, lead, problem, has_data = before[1]
    if lead is None or footer_row is not None or lead.lead_id is not None or lead.over_footer:
        return None
    if len(values) <= id_at:
        return None
    raw = values[id_at]
    if type(raw) is not str or not raw.strip() or raw.startswith(FOOTER_MARK):
        return None
    old = before[0]
    width = max(len(old), len(values))
    was = old + ("",) * (width - len(old))
    now = values + ("",) * (width - len(values))
    if not same_row(was[:id_at], now[:id_at]) or not same_row(was[id_at + 1 :], now[id_at + 1 :]):
        return None
    if type(was[id_at]) is not str:  # a blank id cell reads as "" or "  ", never a number
        return None
    read = replace(lead, lead_id=raw.strip(), facts={**lead.facts, "lead_id": raw})
    return None, read, problem, has_data


def _read_row(
    workflow: Workflow,
    snapshot: SheetSnapshot,
    layout: Layout,
    formulas: frozenset[tuple[int, int]] | None,
    row: int,
) -> _RowRead:
    roles = layout.roles
    name_col, date_col, id_col = roles["name"], roles["lead_date"], roles["lead_id"]

    def cell(column: int, r: int = row) -> CellValue | None:
        return snapshot.cell(r, column)

    name, raw_date, raw_id = cell(name_col), cell(date_col), cell(id_col)
    marker = _text(raw_id) if _text(raw_id).startswith(FOOTER_MARK) else None
    # A row with a lead id is still that lead when a person clears its name or date
    # (by mistake, or to retype it): a problem to flag, never a row gone from the sheet.
    has_id = marker is None and bool(_text(raw_id).strip())
    is_lead = (name is not None and raw_date is not None) or (
        has_id and (name is not None or raw_date is not None)
    )
    if marker is not None and not is_lead:
        return FooterRow(row, marker.removeprefix(FOOTER_MARK)), None, None, False
    has_data = name is not None or raw_date is not None
    if not is_lead:
        return None, None, None, has_data
    computed_date = formulas is not None and (row, date_col) in formulas
    lead_date = None if raw_date is None else read_date(raw_date, workflow.sheet.date_format)
    lead_id = None if marker is not None or raw_id is None else _text(raw_id).strip() or None
    stage_cells = {key: cell(column) for key, column in layout.stages.items()}
    leftovers: frozenset[str] = frozenset()
    if marker is not None:
        # A lead pasted over a footer row: what people put there (a 1, a tick, text) is
        # theirs and kept; a number other than 1 is the old footer's figure.
        if formulas is not None:
            leftovers = frozenset(
                k
                for k, v in stage_cells.items()
                if v is not None and (row, layout.stages[k]) in formulas
            )
        else:
            leftovers = frozenset(
                k for k, v in stage_cells.items() if _footer_figure(v) and not is_mark(v)
            )
        stage_cells = {k: None if k in leftovers else v for k, v in stage_cells.items()}
    facts = {role: _text(cell(column)) for role, column in roles.items()}
    if lead_date is not None:
        facts["lead_date"] = lead_date.isoformat()
    reason = _text(cell(roles["reason_left"])) if "reason_left" in roles else ""
    # A reason of only spaces still counts: the footer's formulas and the red colour rule
    # test the cell for "not empty", and the sheet must read one way (plan adds a note).
    reason = reason.strip() or reason
    coach = _text(cell(roles["coach"])).strip() if "coach" in roles else ""
    source = _text(cell(roles["source"])).strip() if "source" in roles else ""
    lead = Lead(
        row=row,
        name=_text(name),
        raw_date="" if raw_date is None else raw_date,
        lead_date=lead_date,
        lead_id=lead_id,
        marks=_shared(k for k, v in stage_cells.items() if is_mark(v)),
        # An unticked checkbox (FALSE) is an empty stage: journey-sync ticks it.
        filled=_shared(k for k, v in stage_cells.items() if v is not None and v is not False),
        unticked=_shared(k for k, v in stage_cells.items() if v is False),
        odd=_shared(
            k for k, v in stage_cells.items() if v is not None and v is not False and not is_mark(v)
        ),
        footer_leftovers=_shared(leftovers),
        computed_date=computed_date,
        reason_left=reason or None,
        left_on=cell(roles["left_on"]) if "left_on" in roles else None,
        coach=coach or None,
        source=source or None,
        facts=facts,
        over_footer=marker is not None,
    )
    problem: RowProblem | None = None
    if name is None:
        problem = RowProblem(
            row,
            name_col,
            f"This row has the Lead ID {_text(raw_id).strip()} but no client name: type "
            "the name back. Its tasks are kept meanwhile; it gets no new ones until then.",
        )
    elif not _text(name).strip():
        # Counted as a lead, as the footer's formulas count it (the cell is not empty),
        # but "Contact  (lead from )" helps nobody.
        problem = RowProblem(
            row,
            name_col,
            "This row's client name is only spaces: type the client's name. It gets no "
            "tasks until then.",
        )
    elif raw_date is None:
        problem = RowProblem(
            row,
            date_col,
            "This lead has no lead date: type it (e.g. 2026-03-31). Its tasks are kept "
            "meanwhile; it gets no new ones until then.",
        )
    elif lead_date is None:
        problem = RowProblem(
            row,
            date_col,
            f"journey-sync cannot read the lead date {_text(raw_date)!r}: type a date "
            f"(e.g. 2026-03-31{_typed_as(workflow.sheet.date_format)}, or 31 March 2026). "
            "This lead gets no tasks until then.",
        )
    return None, lead, problem, has_data


def row_identity(
    layout: Layout, snapshot: SheetSnapshot, row: int
) -> tuple[tuple[str, str], str | None]:
    """Whose row this is: its fingerprint (as ``Lead.fingerprint``) and its lead id."""
    roles = layout.roles
    name = _text(snapshot.cell(row, roles["name"]))
    day = _text(snapshot.cell(row, roles["lead_date"]))
    raw_id = _text(snapshot.cell(row, roles["lead_id"])).strip()
    lead_id = None if not raw_id or raw_id.startswith(FOOTER_MARK) else raw_id
    return (name_key(name), day), lead_id


def name_key(name: str) -> str:
    """A client name as identity compares it: case and runs of spaces are not a new client
    (a name retyped as "ann  lee" is still "Ann Lee")."""
    return " ".join(name.split()).casefold()


def _footer_figure(value: CellValue | None) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def column_letter(column: int) -> str:
    """1 -> A, 27 -> AA."""
    letters = ""
    while column:
        column, rest = divmod(column - 1, 26)
        letters = chr(65 + rest) + letters
    return letters
