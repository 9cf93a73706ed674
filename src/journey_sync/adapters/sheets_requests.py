"""The Sheets API request bodies journey-sync sends, and the metadata it reads: pure functions.

Nothing here does I/O: the gateway (``google_sheets``) fetches and sends, the transport
(``sheets_transport``) retries and maps errors. These build the ``spreadsheets.batchUpdate``
requests (inserts, grid growth, formulas, notes, date formats, colour rules), the
``values.batchUpdate`` body, and read the field-masked metadata and the echoed grid range.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from gspread.utils import absolute_range_name, rowcol_to_a1

from ..ports import CellNote, CellWrite, ColourRule, FormulaWrite, RowInsert, SheetWrites

# Only what the gateway needs: without a mask spreadsheets.get returns the spreadsheet's
# whole theme and default format (see the recorded metadata), 10-20 kB per call.
METADATA_FIELDS = (
    "sheets(properties(sheetId,title,gridProperties(rowCount,columnCount)),conditionalFormats)"
)
# Dates as serial numbers and numbers as numbers: the core never guesses a text format.
READ_PARAMS: dict[str, str] = {
    "valueRenderOption": "UNFORMATTED_VALUE",
    "dateTimeRenderOption": "SERIAL_NUMBER",
    "majorDimension": "ROWS",
}
DATE_NUMBER_FORMAT = {"type": "DATE", "pattern": "yyyy-mm-dd"}
_A1_GRID = re.compile(r"!?\$?([A-Z]+)\$?(\d+):\$?([A-Z]+)\$?(\d+)$")


# ------------------------------------------------------------------------- metadata


@dataclass
class SheetMeta:
    """What the gateway caches about its worksheet."""

    sheet_id: int
    title: str
    # One entry per conditional-format rule on the sheet, in priority order: the custom
    # formula (stripped) of a CUSTOM_FORMULA rule, None for any other kind of rule.
    rule_formulas: list[str | None] = field(default_factory=list)
    row_count: int | None = None
    column_count: int | None = None


def parse_metadata(
    body: object, worksheet: str, known_id: int | None = None
) -> tuple[SheetMeta | None, list[str]]:
    """The worksheet titled ``worksheet``; failing that, the one whose sheet id is
    ``known_id`` (the tab journey-sync used before: a person renamed it, and a rename keeps
    the id). A tab that now has the configured title wins over the renamed one. Also every
    title, for the error that names them."""
    sheets = body.get("sheets", []) if isinstance(body, dict) else []
    titles: list[str] = []
    found: SheetMeta | None = None
    renamed: SheetMeta | None = None
    for sheet in sheets if isinstance(sheets, list) else []:
        props = sheet.get("properties", {}) if isinstance(sheet, dict) else {}
        title = props.get("title")
        if not isinstance(title, str):
            continue
        titles.append(title)
        # proto3 JSON may omit a zero sheetId; the first sheet's id is 0.
        sheet_id = props.get("sheetId", 0)
        if title == worksheet and found is None:
            found = _meta(sheet, props, title)
        elif known_id is not None and sheet_id == known_id and renamed is None:
            renamed = _meta(sheet, props, title)
    return (found if found is not None else renamed), titles


def _meta(sheet: dict[str, Any], props: dict[str, Any], title: str) -> SheetMeta:
    grid = props.get("gridProperties", {})
    return SheetMeta(
        sheet_id=int(props.get("sheetId", 0)),
        title=title,
        rule_formulas=[_rule_formula(rule) for rule in sheet.get("conditionalFormats", [])],
        row_count=_int_or_none(grid.get("rowCount")),
        column_count=_int_or_none(grid.get("columnCount")),
    )


def _rule_formula(rule: object) -> str | None:
    if not isinstance(rule, dict):
        return None
    condition = rule.get("booleanRule", {}).get("condition", {})
    if condition.get("type") != "CUSTOM_FORMULA":
        return None
    values = condition.get("values") or [{}]
    formula = values[0].get("userEnteredValue")
    return formula.strip() if isinstance(formula, str) else None


def _int_or_none(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _column_number(letters: str) -> int:
    number = 0
    for letter in letters:
        number = number * 26 + (ord(letter) - ord("A") + 1)
    return number


def grid_from_echo(echoed: object) -> tuple[int, int] | None:
    """(rows, columns) of the grid, from the range ``values.get`` echoes, or None.

    Google echoes the requested range clipped to the grid ("Leads!A1:Z1000"), not the
    data extent, so this follows rows people add or delete between cycles.
    """
    if not isinstance(echoed, str):
        return None
    match = _A1_GRID.search(echoed)
    if match is None or match.group(1) != "A" or match.group(2) != "1":
        return None
    return int(match.group(4)), _column_number(match.group(3))


@dataclass(frozen=True)
class BatchRequests:
    """A ``spreadsheets.batchUpdate``'s requests, the rules they add and the grid growth."""

    requests: list[dict[str, Any]]
    added_rules: list[tuple[int, ColourRule]]  # (index, rule), in the order they are added
    removed_rules: list[int]  # indexes of outdated rules of ours, deleted first (highest first)
    grown_rows: int
    grown_columns: int


def batch_requests(writes: SheetWrites, meta: SheetMeta) -> BatchRequests:
    """The spreadsheets.batchUpdate requests for ``writes`` (empty: send none at all)."""
    sid = meta.sheet_id
    requests_: list[dict[str, Any]] = []

    # Grow the grid first when a write falls outside it: Google refuses such writes
    # ("Range ('Leads'!A1001) exceeds grid limits. Max rows: 1000").
    inserted = sum(i.count for i in writes.inserts)
    append_rows = append_columns = 0
    if meta.row_count is not None:
        needed_before = max((i.before_row for i in writes.inserts), default=0)
        needed_after = max((c.row for c in _cells(writes)), default=0)
        append_rows = max(0, needed_before - meta.row_count)
        append_rows = max(append_rows, needed_after - (meta.row_count + inserted))
    if meta.column_count is not None:
        needed_columns = max(
            (
                *(c.column for c in _cells(writes)),
                *(r.last_column for r in writes.colour_rules),
            ),
            default=0,
        )
        append_columns = max(0, needed_columns - meta.column_count)
    for dimension, length in (("ROWS", append_rows), ("COLUMNS", append_columns)):
        if length:
            requests_.append(
                {"appendDimension": {"sheetId": sid, "dimension": dimension, "length": length}}
            )

    requests_.extend(_insert_request(sid, i) for i in writes.inserts)
    requests_.extend(_formula_request(sid, f) for f in writes.formulas)
    requests_.extend(_note_request(sid, n) for n in writes.notes)
    requests_.extend(_date_format_request(sid, v) for v in writes.values if v.as_date)
    if writes.values_with_inserts:
        requests_.extend(_value_request(sid, v) for v in writes.values)

    removed = outdated_rules(writes, meta.rule_formulas)
    requests_.extend(
        {"deleteConditionalFormatRule": {"sheetId": sid, "index": index}} for index in removed
    )
    kept = [f for index, f in enumerate(meta.rule_formulas) if index not in removed]
    added = missing_rules(writes.colour_rules, kept)
    requests_.extend(_rule_request(sid, rule, index) for index, rule in added)
    return BatchRequests(requests_, added, removed, inserted + append_rows, append_columns)


def outdated_rules(writes: SheetWrites, existing: Sequence[str | None]) -> list[int]:
    """Indexes (highest first) of rules on the sheet whose formula is one journey-sync
    wrote and no longer wants (``SheetWrites.retired_rules``: the green rule of a
    ``paid_stage`` changed or removed would colour rows by the old column for ever), or a
    wanted one moved to another first row: a row inserted right under the header makes
    Sheets move the rules down (``$A2`` becomes ``$A3``, the new row left uncoloured); the
    moved pair goes, the wanted one is added, instead of a second pair beside it."""
    wanted = {rule.formula.strip() for rule in writes.colour_rules}
    retired = {formula.strip() for formula in writes.retired_rules} - wanted
    moved = {_rows_blanked(formula) for formula in wanted}
    broken = [_broken_shape(formula) for formula in wanted]
    return sorted(
        (
            index
            for index, formula in enumerate(existing)
            if formula is not None
            and formula not in wanted
            and (
                formula in retired
                or _rows_blanked(formula) in moved
                # A row or column deleted under one of its references: Sheets writes
                # #REF! in its place, and the rule colours nothing any more.
                or ("#REF!" in formula and any(shape.fullmatch(formula) for shape in broken))
            )
        ),
        reverse=True,
    )


_ROW_OF_REF = re.compile(r"(\$[A-Z]+)\d+")


def _rows_blanked(formula: str) -> str:
    """A rule's formula with the row of each ``$A2``-like reference left out."""
    return _ROW_OF_REF.sub(r"\1#", formula.strip())


def _broken_shape(formula: str) -> re.Pattern[str]:
    """A wanted rule's formula as a pattern where any reference may also be ``#REF!``."""
    parts = re.split(r"\$[A-Z]+\d+", formula.strip())
    return re.compile(r"(?:\$[A-Z]+\d+|#REF!)".join(re.escape(p) for p in parts))


def values_body(title: str, writes: SheetWrites) -> dict[str, Any]:
    """The ``values.batchUpdate`` body: one range per cell, RAW."""
    return {
        "valueInputOption": "RAW",
        "data": [
            {
                "range": absolute_range_name(title, rowcol_to_a1(w.row, w.column)),
                # RAW: text is stored as typed, "=1+1" stays text; "" clears.
                "values": [["" if w.value is None else w.value]],
            }
            for w in writes.values
        ],
    }


# ------------------------------------------------------------------ request builders


def _cell_range(sheet_id: int, row: int, column: int) -> dict[str, int]:
    return {
        "sheetId": sheet_id,
        "startRowIndex": row - 1,
        "endRowIndex": row,
        "startColumnIndex": column - 1,
        "endColumnIndex": column,
    }


def _insert_request(sheet_id: int, insert: RowInsert) -> dict[str, Any]:
    return {
        "insertDimension": {
            "range": {
                "sheetId": sheet_id,
                "dimension": "ROWS",
                "startIndex": insert.before_row - 1,
                "endIndex": insert.before_row - 1 + insert.count,
            },
            # New rows must not copy the lead row's colours or formats above them.
            "inheritFromBefore": False,
        }
    }


def _formula_request(sheet_id: int, write: FormulaWrite) -> dict[str, Any]:
    cell: dict[str, Any] = {"userEnteredValue": {"formulaValue": write.formula}}
    fields = "userEnteredValue"
    if write.number_format is not None:
        # The footer's one format per row ("0.0%", "0"), set in the same request.
        kind = "PERCENT" if "%" in write.number_format else "NUMBER"
        cell["userEnteredFormat"] = {"numberFormat": {"type": kind, "pattern": write.number_format}}
        fields += ",userEnteredFormat.numberFormat"
    return {
        "updateCells": {
            "range": _cell_range(sheet_id, write.row, write.column),
            "rows": [{"values": [cell]}],
            "fields": fields,
        }
    }


def _value_request(sheet_id: int, write: CellWrite) -> dict[str, Any]:
    """A value as ``values_body`` writes it (RAW: a string stays text, "=1" too)."""
    value = write.value
    entered: dict[str, Any]
    if value is None:
        entered = {}
    elif isinstance(value, bool):
        entered = {"boolValue": value}
    elif isinstance(value, int | float):
        entered = {"numberValue": value}
    else:
        entered = {"stringValue": str(value)}
    return {
        "updateCells": {
            "range": _cell_range(sheet_id, write.row, write.column),
            "rows": [{"values": [{"userEnteredValue": entered} if entered else {}]}],
            "fields": "userEnteredValue",
        }
    }


def _note_request(sheet_id: int, note: CellNote) -> dict[str, Any]:
    return {
        "updateCells": {
            "range": _cell_range(sheet_id, note.row, note.column),
            "rows": [{"values": [{"note": note.text}]}],  # "" removes the note
            "fields": "note",
        }
    }


def _date_format_request(sheet_id: int, write: CellWrite) -> dict[str, Any]:
    return {
        "repeatCell": {
            "range": _cell_range(sheet_id, write.row, write.column),
            "cell": {"userEnteredFormat": {"numberFormat": dict(DATE_NUMBER_FORMAT)}},
            "fields": "userEnteredFormat.numberFormat",
        }
    }


def _rule_request(sheet_id: int, rule: ColourRule, index: int) -> dict[str, Any]:
    return {
        "addConditionalFormatRule": {
            "rule": {
                # No endRowIndex: the rule runs to the end of the sheet, so rows people add
                # below are coloured without another write.
                "ranges": [
                    {
                        "sheetId": sheet_id,
                        "startRowIndex": rule.first_row - 1,
                        "startColumnIndex": 0,
                        "endColumnIndex": rule.last_column,
                    }
                ],
                "booleanRule": {
                    "condition": {
                        "type": "CUSTOM_FORMULA",
                        "values": [{"userEnteredValue": rule.formula}],
                    },
                    "format": {
                        "backgroundColor": {
                            "red": rule.red,
                            "green": rule.green,
                            "blue": rule.blue,
                        }
                    },
                },
            },
            "index": index,
        }
    }


def missing_rules(
    wanted: Sequence[ColourRule], existing: Sequence[str | None]
) -> list[tuple[int, ColourRule]]:
    """The rules to add, each with the index that keeps the wanted priority order.

    A rule is present when the sheet has a CUSTOM_FORMULA rule with the same formula. A
    missing rule goes right after the nearest higher-priority wanted rule already on the
    sheet, else right before the nearest lower-priority one, else after every existing rule
    (a person's own rules keep precedence over ours). Indexes are those at the moment each
    request runs, as batchUpdate applies requests in order.
    """
    current = list(existing)
    formulas = [rule.formula.strip() for rule in wanted]
    added: list[tuple[int, ColourRule]] = []
    for position, rule in enumerate(wanted):
        formula = formulas[position]
        if formula in current:
            continue
        index: int | None = None
        for earlier in reversed(formulas[:position]):
            if earlier in current:
                index = current.index(earlier) + 1
                break
        if index is None:
            later = [current.index(f) for f in formulas[position + 1 :] if f in current]
            index = min(later) if later else len(current)
        current.insert(index, formula)
        added.append((index, rule))
    return added


def _cells(writes: SheetWrites) -> tuple[CellWrite | FormulaWrite | CellNote, ...]:
    return (*writes.values, *writes.formulas, *writes.notes)


def check_coordinates(writes: SheetWrites) -> None:
    """Programming errors in the plan must fail before anything is sent."""
    for cell in _cells(writes):
        if cell.row < 1 or cell.column < 1:
            raise ValueError(f"rows and columns are 1-based: {cell!r}")
    for insert in writes.inserts:
        if insert.before_row < 1 or insert.count < 1:
            raise ValueError(f"invalid row insert: {insert!r}")
    for rule in writes.colour_rules:
        if rule.first_row < 1 or rule.last_column < 1:
            raise ValueError(f"invalid colour rule range: {rule.name}")
