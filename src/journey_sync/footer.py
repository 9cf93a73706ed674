"""The footer: totals, shares, drop-off and departures below the last lead, as formulas.

Why formulas rather than numbers: the sheet is edited by people between cycles and the
service may be stopped for days. Formulas over the lead rows stay right through all of
that (Sheets widens their ranges when rows are inserted among the leads), so the footer
is only (re)written when it is missing, in the wrong place, or reads differently from
the figures journey-sync computes itself, which it checks every cycle at no extra cost
because the snapshot it reads carries the formulas' results.

Each footer row carries a marker in the lead-id column (``#footer:<kind>``) so it is
found again wherever people move it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from .dates import date_to_serial
from .funnel import Funnel, number_text
from .ports import CellValue, CellWrite, FormulaWrite, RowInsert
from .sheet import (
    FOOTER_LABELS,
    FOOTER_MARK,
    Layout,
    SheetModel,
    column_letter,
    footer_kinds,
)
from .workflow import Workflow

TOTAL, SHARE, NOT_DUE, DROP, LEFT, JOURNEY = (
    "total",
    "share",
    "not-due",
    "drop-off",
    "left",
    "journey",
)

LABELS = FOOTER_LABELS

#: One number format per footer row (Sheets number-format patterns).
COUNT_FORMAT, PERCENT_FORMAT = "0", "0.0%"
ROW_FORMATS = {
    TOTAL: COUNT_FORMAT,
    SHARE: PERCENT_FORMAT,
    NOT_DUE: COUNT_FORMAT,
    DROP: PERCENT_FORMAT,
    LEFT: COUNT_FORMAT,
}


@dataclass(frozen=True)
class FooterCell:
    row: int
    column: int
    formula: str | None = None  # entered as a formula
    text: str | None = None  # written RAW
    number_format: str | None = None  # a Sheets number-format pattern for a formula


def reached_count(conditions: str, column_range: str) -> str:
    """How many rows meeting ``conditions`` hold 1 or TRUE (a ticked checkbox) in the range.

    Counted as |1| + |TRUE| - |1 and TRUE|, which is right whether or not Sheets lets the
    criterion 1 match TRUE (or TRUE match 1): no reading of Sheets' criteria can count a
    cell twice or miss one.
    """
    prefix = f"{conditions}," if conditions else ""
    return (
        f"(COUNTIFS({prefix}{column_range},1)+COUNTIFS({prefix}{column_range},TRUE)"
        f"-COUNTIFS({prefix}{column_range},1,{column_range},TRUE))"
    )


def reached_array(column_range: str) -> str:
    """1 where a row holds 1 or TRUE, else 0, as an array (inside SUMPRODUCT).

    ``(x=1)+(x=TRUE)>0`` is right whether Sheets compares TRUE equal to 1 or not.
    """
    return f"(({column_range}=1)+({column_range}=TRUE)>0)"


def footer_cells(
    workflow: Workflow, layout: Layout, start: int, figures: Funnel | None = None
) -> list[FooterCell]:
    """Every cell of a footer whose first row is ``start``; data rows are above it.

    ``figures`` carry, per stage, the latest lead date for which the stage is due (judged
    on ``figures.today``); without them every stage counts as due for every lead.
    """
    # Ranges start at the header row, not the first lead: Sheets widens a range when rows
    # are inserted inside it but not above it, and people often insert new leads right
    # under the header. The header row is no lead (its stage cells are not 1, its reason
    # cell is not empty, its date cell is text), except for the plain lead count, which
    # subtracts it.
    first, last = layout.header_row, max(start - 1, layout.header_row + 1)
    roles = layout.roles

    def rng(column: int) -> str:
        letter = column_letter(column)
        return f"${letter}${first}:${letter}${last}"

    is_lead = f'{rng(roles["name"])},"<>",{rng(roles["lead_date"])},"<>"'
    leads = f"(COUNTIFS({is_lead})-1)"
    through = {s.key: s.due_through for s in figures.stages} if figures else {}

    def due(key: str) -> str:
        """COUNTIFS conditions: a lead for whom stage ``key`` is due."""
        day = through.get(key)
        if day is None:
            return is_lead
        return f'{is_lead},{rng(roles["lead_date"])},"<{date_to_serial(day) + 1}"'

    def due_leads(key: str) -> str:
        return leads if through.get(key) is None else f"COUNTIFS({due(key)})"

    kinds = footer_kinds(layout)
    row_of = {kind: start + index for index, kind in enumerate(kinds)}
    cells: list[FooterCell] = []
    for kind, row in row_of.items():
        cells.append(FooterCell(row, roles["lead_id"], text=FOOTER_MARK + kind))
        if kind in LABELS:
            cells.append(FooterCell(row, roles["name"], text=LABELS[kind]))

    def formula(kind: str, column: int, text: str) -> None:
        cells.append(
            FooterCell(row_of[kind], column, formula=text, number_format=ROW_FORMATS[kind])
        )

    stage_columns = list(layout.stages.values())
    total_row = row_of[TOTAL]
    for index, (key, column) in enumerate(layout.stages.items()):
        here = f"{column_letter(column)}{total_row}"
        formula(TOTAL, column, "=" + reached_count(is_lead, rng(column)))
        formula(SHARE, column, f'=IF({leads}=0,"",ROUND({here}/{leads},3))')
        formula(NOT_DUE, column, f"={leads}-{due_leads(key)}")
        if index == 0:
            before = due_leads(key)
        else:
            before = reached_count(due(key), rng(stage_columns[index - 1]))
        after = reached_count(due(key), rng(column))
        formula(DROP, column, f'=IF({before}=0,"",ROUND(({before}-{after})/({before}),3))')
        if LEFT in row_of:
            later = "".join(f"*(1-{reached_array(rng(c))})" for c in stage_columns[index + 1 :])
            formula(
                LEFT,
                column,
                f'=SUMPRODUCT(({rng(roles["name"])}<>"")*({rng(roles["lead_date"])}<>"")'
                f'*({rng(roles["reason_left"])}<>"")*{reached_array(rng(column))}{later})',
            )
    if "reason_left" in roles:
        staying = f'COUNTIFS({is_lead},{rng(roles["reason_left"])},"")'
    else:
        staying = leads
    cells.append(
        FooterCell(
            row_of[JOURNEY],
            roles["name"],
            formula=f'="Leads: "&{leads}&" · still in journey: "&IF({leads}=0,0,ROUND(100*{staying}/{leads},1))&"%"',
        )
    )
    return cells


def expected_values(
    layout: Layout, figures: Funnel, start: int
) -> dict[tuple[int, int], CellValue | None]:
    """What the footer's cells should read (formula results) for these figures.

    Percentages read as fractions (the cells carry a percent format); ``None`` is a blank
    cell (a drop-off with nobody at the previous stage).
    """
    kinds = footer_kinds(layout)
    row_of = {kind: start + index for index, kind in enumerate(kinds)}
    values: dict[tuple[int, int], CellValue | None] = {}
    roles = layout.roles
    for kind, row in row_of.items():
        values[(row, roles["lead_id"])] = FOOTER_MARK + kind
        if kind in LABELS:
            values[(row, roles["name"])] = LABELS[kind]
    for stage in figures.stages:
        column = layout.stages[stage.key]
        values[(row_of[TOTAL], column)] = stage.reached
        values[(row_of[SHARE], column)] = stage.share / 100 if figures.leads else None
        values[(row_of[NOT_DUE], column)] = stage.not_yet_due
        values[(row_of[DROP], column)] = None if stage.drop_off is None else stage.drop_off / 100
        if LEFT in row_of:
            values[(row_of[LEFT], column)] = stage.left_here
        # Empty: a sort over the footer can leave another row's formula here.
        values[(row_of[JOURNEY], column)] = None
    values[(row_of[JOURNEY], roles["name"])] = (
        f"Leads: {figures.leads} · still in journey: {number_text(figures.still_share)}%"
    )
    return values


def _same(a: CellValue | None, b: CellValue | None) -> bool:
    if b is None:
        return a is None or a == ""
    if isinstance(b, int | float) and isinstance(a, int | float) and not isinstance(a, bool):
        return abs(float(a) - float(b)) < 1e-9
    return a == b


def footer_differences(
    model: SheetModel, figures: Funnel
) -> list[tuple[int, int, CellValue | None, CellValue | None]]:
    """Cells of the footer found in ``model`` that do not read what ``figures`` say:
    (row, column, found, expected). Empty when the footer is right (or absent)."""
    if not model.footer:
        return []
    start = model.footer[0].row
    return [
        (row, column, model.snapshot.cell(row, column), value)
        for (row, column), value in expected_values(model.layout, figures, start).items()
        if not _same(model.snapshot.cell(row, column), value)
    ]


@dataclass(frozen=True)
class FooterPlan:
    start: int
    inserts: tuple[RowInsert, ...]
    formulas: tuple[FormulaWrite, ...]
    values: tuple[CellWrite, ...]


def plan_footer(
    workflow: Workflow, model: SheetModel, figures: Funnel, today: date | None = None
) -> FooterPlan | None:
    """``None`` when the footer is where it should be and reads right; else how to fix it.

    ``figures`` must be ``funnel(workflow, leads, today)`` for the same ``today``: which
    leads a stage is due for is part of the formulas (a lead-date criterion), so the
    footer is rewritten on the days that criterion moves.
    """
    if today is not None and figures.today != today:
        raise ValueError(f"figures judged on {figures.today}, footer planned for {today}")
    layout = model.layout
    kinds = footer_kinds(layout)
    found = model.footer
    if found:
        start = found[0].row
        in_place = (
            start > model.last_data_row
            and [f.kind for f in found] == list(kinds)
            and [f.row for f in found] == list(range(start, start + len(kinds)))
            and not model.over_footer
        )
        if in_place:
            differences = footer_differences(model, figures)
            if not differences:
                return None
            # In place (no lead in or under it), only some figures read differently (the
            # due date moved on, a lead typed into the rows its ranges cover, a person
            # edited a footer cell): write the formulas again, and the texts that
            # changed, where they are. One batchUpdate, nothing moved.
            cells = footer_cells(workflow, layout, start, figures)
            wrong = {(row, column) for row, column, _, _ in differences}
            written = {(c.row, c.column) for c in cells}
            return FooterPlan(
                start=start,
                inserts=(),
                formulas=tuple(
                    FormulaWrite(c.row, c.column, c.formula, number_format=c.number_format)
                    for c in cells
                    if c.formula
                ),
                values=tuple(
                    CellWrite(c.row, c.column, c.text)
                    for c in cells
                    if c.text is not None and (c.row, c.column) in wrong
                )
                # A cell of the footer that should be empty (a formula a sort left there).
                + tuple(CellWrite(r, c, None) for r, c in sorted(wrong - written)),
            )
    start = model.last_data_row + 2
    height = len(kinds)
    old_rows = {f.row for f in found}
    # Never write over anything a person put below the leads: make room instead.
    occupied = [
        row
        for row in range(start, start + height)
        if row not in old_rows and any(v != "" for v in _row(model, row))
    ]
    inserts: tuple[RowInsert, ...] = ()
    shift = 0
    if occupied:
        inserts = (RowInsert(before_row=start, count=height),)
        shift = height
    new_cells = footer_cells(workflow, layout, start, figures)
    written = {(c.row, c.column) for c in new_cells}
    formulas = tuple(
        FormulaWrite(c.row, c.column, c.formula, number_format=c.number_format)
        for c in new_cells
        if c.formula
    )
    values = [CellWrite(c.row, c.column, c.text) for c in new_cells if c.text is not None]
    # Clear what the old footer left behind. A lead typed over a footer row is not
    # touched here: its leftover figures are cleared by a row action (plan.py's
    # ``ClearFooterFigures``), checked like every write into a lead's row.
    own_columns = [layout.roles["lead_id"], layout.roles["name"], *layout.stages.values()]
    over = {lead.row for lead in model.over_footer}
    for row in sorted(old_rows - over):
        moved = row + shift if row >= start else row
        for column in own_columns:
            if (moved, column) in written:
                continue
            if model.snapshot.cell(row, column) is not None:
                values.append(CellWrite(moved, column, None))
    return FooterPlan(start=start, inserts=inserts, formulas=formulas, values=tuple(values))


def _row(model: SheetModel, row: int) -> tuple[CellValue, ...]:
    rows = model.snapshot.rows
    return rows[row - 1] if row <= len(rows) else ()
