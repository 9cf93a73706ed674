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

from .funnel import Funnel, number_text
from .ports import CellValue, CellWrite, FormulaWrite, RowInsert
from .sheet import FOOTER_MARK, Layout, SheetModel, column_letter
from .workflow import Workflow

TOTAL, SHARE, DROP, LEFT, JOURNEY = "total", "share", "drop-off", "left", "journey"

LABELS = {
    TOTAL: "Total reached",
    SHARE: "Share of leads (%)",
    DROP: "Drop-off from previous stage (%)",
    LEFT: "Left at this stage",
}


def footer_kinds(layout: Layout) -> tuple[str, ...]:
    kinds = [TOTAL, SHARE, DROP]
    if "reason_left" in layout.roles:
        kinds.append(LEFT)
    kinds.append(JOURNEY)
    return tuple(kinds)


@dataclass(frozen=True)
class FooterCell:
    row: int
    column: int
    formula: str | None = None  # entered as a formula
    text: str | None = None  # written RAW


def footer_cells(workflow: Workflow, layout: Layout, start: int) -> list[FooterCell]:
    """Every cell of a footer whose first row is ``start``; data rows are above it."""
    # Ranges start at the header row, not the first lead: Sheets widens a range when rows
    # are inserted inside it but not above it, and people often insert new leads right
    # under the header. The header row is no lead (its stage cells are not 1, its reason
    # cell is not empty), except for the plain lead count, which subtracts it.
    first, last = layout.header_row, max(start - 1, layout.header_row + 1)
    roles = layout.roles

    def rng(column: int) -> str:
        letter = column_letter(column)
        return f"${letter}${first}:${letter}${last}"

    is_lead = f'{rng(roles["name"])},"<>",{rng(roles["lead_date"])},"<>"'
    leads = f"(COUNTIFS({is_lead})-1)"
    kinds = footer_kinds(layout)
    row_of = {kind: start + index for index, kind in enumerate(kinds)}
    cells: list[FooterCell] = []
    for kind, row in row_of.items():
        cells.append(FooterCell(row, roles["lead_id"], text=FOOTER_MARK + kind))
        if kind in LABELS:
            cells.append(FooterCell(row, roles["name"], text=LABELS[kind]))
    stage_columns = list(layout.stages.values())
    total_row = row_of[TOTAL]
    for index, column in enumerate(stage_columns):
        here = f"{column_letter(column)}{total_row}"
        cells.append(FooterCell(total_row, column, formula=f"=COUNTIFS({is_lead},{rng(column)},1)"))
        cells.append(
            FooterCell(
                row_of[SHARE], column, formula=f"=IF({leads}=0,0,ROUND(100*{here}/{leads},1))"
            )
        )
        if index == 0:
            drop = f"=IF({leads}=0,0,ROUND(100*({leads}-{here})/{leads},1))"
        else:
            prev = f"{column_letter(stage_columns[index - 1])}{total_row}"
            drop = f"=IF({prev}=0,0,ROUND(100*({prev}-{here})/{prev},1))"
        cells.append(FooterCell(row_of[DROP], column, formula=drop))
        if LEFT in row_of:
            later = "".join(f',{rng(c)},"<>1"' for c in stage_columns[index + 1 :])
            cells.append(
                FooterCell(
                    row_of[LEFT],
                    column,
                    formula=f'=COUNTIFS({is_lead},{rng(roles["reason_left"])},"<>",{rng(column)},1{later})',
                )
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
) -> dict[tuple[int, int], CellValue]:
    """What the footer's cells should read (formula results) for these figures."""
    kinds = footer_kinds(layout)
    row_of = {kind: start + index for index, kind in enumerate(kinds)}
    values: dict[tuple[int, int], CellValue] = {}
    roles = layout.roles
    for kind, row in row_of.items():
        values[(row, roles["lead_id"])] = FOOTER_MARK + kind
        if kind in LABELS:
            values[(row, roles["name"])] = LABELS[kind]
    for stage in figures.stages:
        column = layout.stages[stage.key]
        values[(row_of[TOTAL], column)] = stage.reached
        values[(row_of[SHARE], column)] = stage.share
        values[(row_of[DROP], column)] = stage.drop_off
        if LEFT in row_of:
            values[(row_of[LEFT], column)] = stage.left_here
    values[(row_of[JOURNEY], roles["name"])] = (
        f"Leads: {figures.leads} · still in journey: {number_text(figures.still_share)}%"
    )
    return values


def _same(a: CellValue | None, b: CellValue) -> bool:
    if isinstance(b, int | float) and isinstance(a, int | float) and not isinstance(a, bool):
        return abs(float(a) - float(b)) < 1e-9
    return a == b


@dataclass(frozen=True)
class FooterPlan:
    start: int
    inserts: tuple[RowInsert, ...]
    formulas: tuple[FormulaWrite, ...]
    values: tuple[CellWrite, ...]


def plan_footer(workflow: Workflow, model: SheetModel, figures: Funnel) -> FooterPlan | None:
    """``None`` when the footer is where it should be and reads right; else how to fix it."""
    layout = model.layout
    kinds = footer_kinds(layout)
    found = model.footer
    if found:
        start = found[0].row
        in_place = (
            start > model.last_data_row
            and [f.kind for f in found] == list(kinds)
            and [f.row for f in found] == list(range(start, start + len(kinds)))
            and not any(lead.over_footer for lead in model.leads)
        )
        if in_place and all(
            _same(model.snapshot.cell(r, c), v)
            for (r, c), v in expected_values(layout, figures, start).items()
        ):
            return None
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
    new_cells = footer_cells(workflow, layout, start)
    written = {(c.row, c.column) for c in new_cells}
    formulas = tuple(FormulaWrite(c.row, c.column, c.formula) for c in new_cells if c.formula)
    values = [CellWrite(c.row, c.column, c.text) for c in new_cells if c.text is not None]
    # Clear what the old footer left behind: its cells are ours (a lead typed over a footer
    # row keeps its name and date, which are the person's).
    own_columns = [layout.roles["lead_id"], layout.roles["name"], *layout.stages.values()]
    over = {lead.row for lead in model.leads if lead.over_footer}
    for row in sorted(old_rows | over):
        moved = row + shift if row >= start else row
        for column in own_columns:
            if (moved, column) in written:
                continue
            if row in over and column == layout.roles["name"]:
                continue
            if row in over and column == layout.roles["lead_id"]:
                continue  # gets the lead's new id
            if model.snapshot.cell(row, column) is not None:
                values.append(CellWrite(moved, column, None))
    return FooterPlan(start=start, inserts=inserts, formulas=formulas, values=tuple(values))


def _row(model: SheetModel, row: int) -> tuple[CellValue, ...]:
    rows = model.snapshot.rows
    return rows[row - 1] if row <= len(rows) else ()
