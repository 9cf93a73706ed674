"""``POST /v4/spreadsheets/{id}:batchUpdate``: the structural and formatting requests.

Atomic, like the real API (gsheets_error_400_batchUpdate_cannot_hide_all_sheets.json:
a failing request produces no replies and changes nothing); a failure names the
request as Google does: ``Invalid requests[0].updateSheetProperties: ...``. Requests
with no output reply ``{}``, one per request (gsheets_batchUpdate_*.json).
"""

from __future__ import annotations

import copy
import random
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

from .a1 import Bounds, Box
from .fields import MaskError, parse_mask
from .sheets import Cell, Dimension, SheetError, Spreadsheet, Worksheet, rule_out

Reply = dict[str, Any]
Handler = Callable[[Spreadsheet, Mapping[str, Any]], Reply]


def batch_update(book: Spreadsheet, body: Any) -> dict[str, Any]:
    """Apply every request or none; raise ``SheetError`` with Google's message."""
    if not isinstance(body, Mapping):
        raise SheetError("Invalid JSON payload received. Expected an object.")
    requests = body.get("requests")
    if requests is None or requests == []:
        raise SheetError("Must specify at least one request.")
    if not isinstance(requests, list):
        raise SheetError(
            "Invalid JSON payload received. Invalid value at 'requests' "
            f"(type.googleapis.com/google.apps.sheets.v4.Request), {requests!r}"
        )
    state = book.checkpoint()
    replies: list[Reply] = []
    try:
        for index, request in enumerate(requests):
            if not isinstance(request, Mapping) or len(request) != 1:
                raise SheetError(f"Invalid requests[{index}]: exactly one kind of request is set")
            kind, args = next(iter(request.items()))
            handler = HANDLERS.get(kind)
            if handler is None:
                raise SheetError(
                    f'Invalid JSON payload received. Unknown name "{kind}" at '
                    f"'requests[{index}]': Cannot find field."
                )
            if not isinstance(args, Mapping):
                raise SheetError(f"Invalid requests[{index}].{kind}: expected an object")
            try:
                replies.append(handler(book, args))
            except SheetError as exc:
                raise SheetError(f"Invalid requests[{index}].{kind}: {exc}") from None
            except (KeyError, TypeError, ValueError) as exc:
                raise SheetError(f"Invalid requests[{index}].{kind}: {exc}") from None
    except BaseException:
        book.rollback(state)
        raise
    return {"spreadsheetId": book.id, "replies": replies}


# ------------------------------------------------------------------ helpers


def _sheet(book: Spreadsheet, data: Mapping[str, Any]) -> Worksheet:
    return book.by_id(int(data.get("sheetId", 0)))


def _dimension(value: Any) -> Dimension:
    if value == "ROWS":
        return "ROWS"
    if value == "COLUMNS":
        return "COLUMNS"
    raise SheetError(f"Invalid dimension: {value!r}")


def grid_box(sheet: Worksheet, grid_range: Mapping[str, Any]) -> Box:
    """A GridRange (end-exclusive, open sides allowed) as a closed box on the grid."""

    def end(key: str) -> int | None:
        value = grid_range.get(key)
        return None if value is None else int(value) - 1

    bounds = Bounds(
        grid_range.get("startRowIndex"),
        end("endRowIndex"),
        grid_range.get("startColumnIndex"),
        end("endColumnIndex"),
    )
    for low, high in (("startRowIndex", "endRowIndex"), ("startColumnIndex", "endColumnIndex")):
        if low in grid_range and high in grid_range and grid_range[high] <= grid_range[low]:
            raise SheetError(f"Invalid range: {low} must be less than {high}")
    return sheet.box(bounds)


def _mask(fields: Any) -> Any:
    if not isinstance(fields, str) or not fields.strip():
        raise SheetError("At least one field must be specified in 'fields'.")
    try:
        return parse_mask(fields)
    except MaskError:
        raise SheetError(f"Invalid field mask: {fields}") from None


# ----------------------------------------------------------------- requests


def _insert_dimension(book: Spreadsheet, args: Mapping[str, Any]) -> Reply:
    rng = args["range"]
    _sheet(book, rng).insert_dimension(
        _dimension(rng.get("dimension")),
        int(rng["startIndex"]),
        int(rng["endIndex"]),
        bool(args.get("inheritFromBefore", False)),
    )
    return {}


def _delete_dimension(book: Spreadsheet, args: Mapping[str, Any]) -> Reply:
    rng = args["range"]
    _sheet(book, rng).delete_dimension(
        _dimension(rng.get("dimension")), int(rng["startIndex"]), int(rng["endIndex"])
    )
    return {}


def _append_dimension(book: Spreadsheet, args: Mapping[str, Any]) -> Reply:
    sheet = _sheet(book, args)
    dimension = _dimension(args.get("dimension"))
    length = int(args["length"])
    if dimension == "ROWS":
        sheet.row_count += length
    else:
        sheet.column_count += length
    return {}


def _update_cells(book: Spreadsheet, args: Mapping[str, Any]) -> Reply:
    mask = _mask(args.get("fields"))
    rows = args.get("rows") or []
    if "start" in args:
        start = args["start"]
        sheet = _sheet(book, start)
        top, left = int(start.get("rowIndex", 0)), int(start.get("columnIndex", 0))
        height = len(rows)
        width = max((len(r.get("values", [])) for r in rows), default=0)
        if height and width:
            sheet.box(Bounds(top, top + height - 1, left, left + width - 1))
        for i, row in enumerate(rows):
            for j, data in enumerate(row.get("values", [])):
                sheet.update_cell(top + i, left + j, data or {}, mask)
        return {}
    if "range" not in args:
        raise SheetError("Either start or range must be set.")
    sheet = _sheet(book, args["range"])
    box = grid_box(sheet, args["range"])
    # Cells of the range that ``rows`` do not cover are cleared for the masked fields.
    for r in range(box.row_start, box.row_end + 1):
        i = r - box.row_start
        values = rows[i].get("values", []) if i < len(rows) else []
        for c in range(box.col_start, box.col_end + 1):
            j = c - box.col_start
            sheet.update_cell(r, c, (values[j] or {}) if j < len(values) else {}, mask)
    return {}


def _repeat_cell(book: Spreadsheet, args: Mapping[str, Any]) -> Reply:
    mask = _mask(args.get("fields"))
    sheet = _sheet(book, args["range"])
    box = grid_box(sheet, args["range"])
    data = args.get("cell") or {}
    for r in range(box.row_start, box.row_end + 1):
        for c in range(box.col_start, box.col_end + 1):
            sheet.update_cell(r, c, data, mask)
    return {}


def _rule_sheet(book: Spreadsheet, rule: Mapping[str, Any]) -> Worksheet:
    ranges = rule.get("ranges")
    if not isinstance(ranges, list) or not ranges:
        raise SheetError("A conditional format rule needs at least one range.")
    ids = {int(r.get("sheetId", 0)) for r in ranges}
    if len(ids) != 1:
        raise SheetError("All ranges of a conditional format rule must be on the same sheet.")
    sheet = book.by_id(ids.pop())
    for grid_range in ranges:
        grid_box(sheet, grid_range)
    boolean = rule.get("booleanRule")
    if boolean is None and rule.get("gradientRule") is None:
        raise SheetError("A conditional format rule needs a booleanRule or a gradientRule.")
    if isinstance(boolean, Mapping):
        condition = boolean.get("condition") or {}
        if condition.get("type") == "CUSTOM_FORMULA":
            values = condition.get("values") or []
            text = values[0].get("userEnteredValue") if values else None
            if not isinstance(text, str) or not text.startswith("="):
                raise SheetError(
                    "Invalid ConditionValue.userEnteredValue: formula must start with ="
                )
    return sheet


def _add_conditional_format_rule(book: Spreadsheet, args: Mapping[str, Any]) -> Reply:
    rule = args["rule"]
    _rule_sheet(book, rule).add_rule(rule, int(args.get("index", 0)))
    return {}


def _delete_conditional_format_rule(book: Spreadsheet, args: Mapping[str, Any]) -> Reply:
    rule = _sheet(book, args).delete_rule(int(args.get("index", 0)))
    return {"deleteConditionalFormatRule": {"rule": rule_out(rule)}}


def _update_conditional_format_rule(book: Spreadsheet, args: Mapping[str, Any]) -> Reply:
    index = int(args.get("index", 0))
    if "rule" in args:
        new_rule = args["rule"]
        sheet = _rule_sheet(book, new_rule)
        old = sheet.delete_rule(index)
        sheet.add_rule(new_rule, index)
        return {
            "updateConditionalFormatRule": {
                "newRule": rule_out(new_rule),
                "newIndex": index,
                "oldRule": rule_out(old),
                "oldIndex": index,
            }
        }
    sheet = _sheet(book, args)
    new_index = int(args["newIndex"])
    old = sheet.delete_rule(index)
    sheet.add_rule(old, new_index)
    return {
        "updateConditionalFormatRule": {
            "newRule": rule_out(old),
            "newIndex": new_index,
            "oldIndex": index,
        }
    }


def _update_sheet_properties(book: Spreadsheet, args: Mapping[str, Any]) -> Reply:
    props = args["properties"]
    mask = _mask(args.get("fields"))
    sheet = _sheet(book, props)
    names = set() if mask is None else set(mask)
    grid_mask = (mask or {}).get("gridProperties")
    grid = props.get("gridProperties", {})

    def wants(name: str, grid_field: bool = False) -> bool:
        if mask is None or "*" in (mask or {}):
            return True
        if grid_field:
            return "gridProperties" in names and (grid_mask is None or name in grid_mask)
        return name in names

    if wants("hidden"):
        hidden = bool(props.get("hidden", False))
        if hidden and all(s.hidden or s is sheet for s in book.sheets):
            raise SheetError("You can't hide all the sheets in a document.")
        sheet.hidden = hidden
    if wants("title") and "title" in props:
        title = str(props["title"])
        if any(s is not sheet and s.title.casefold() == title.casefold() for s in book.sheets):
            raise SheetError(
                f'A sheet with the name "{title}" already exists. Please enter another name.'
            )
        sheet.title = title
    if wants("index") and "index" in props:
        book.move_sheet(sheet, int(props["index"]))
    if wants("rowCount", True) or wants("columnCount", True):
        sheet.resize(
            int(grid["rowCount"]) if wants("rowCount", True) and "rowCount" in grid else None,
            int(grid["columnCount"])
            if wants("columnCount", True) and "columnCount" in grid
            else None,
        )
    if wants("frozenRowCount", True):
        sheet.frozen_row_count = int(grid.get("frozenRowCount", 0))
    if wants("frozenColumnCount", True):
        sheet.frozen_column_count = int(grid.get("frozenColumnCount", 0))
    return {}


def _add_sheet(book: Spreadsheet, args: Mapping[str, Any]) -> Reply:
    props = args.get("properties") or {}
    grid = props.get("gridProperties") or {}
    title = props.get("title") or f"Sheet{len(book.sheets) + 1}"
    # Real sheet ids are random positive int32s (recordings: 1613166149, 755875121).
    sheet_id = props.get("sheetId")
    if sheet_id is None:
        sheet_id = random.Random(f"{book.id}:{title}").randrange(1, 2**31 - 1)
    sheet = book.add_worksheet(
        str(title),
        rows=int(grid.get("rowCount", 1000)),
        columns=int(grid.get("columnCount", 26)),
        index=props.get("index"),
        hidden=bool(props.get("hidden", False)),
        sheet_id=int(sheet_id),
    )
    return {"addSheet": {"properties": sheet.properties()}}


def _delete_sheet(book: Spreadsheet, args: Mapping[str, Any]) -> Reply:
    sheet = _sheet(book, args)
    if len(book.sheets) == 1:
        raise SheetError("You can't remove all the sheets in a document.")
    book.sheets.remove(sheet)
    book.move_sheet(book.sheets[0], 0)  # re-number the remaining indexes
    return {}


def _update_spreadsheet_properties(book: Spreadsheet, args: Mapping[str, Any]) -> Reply:
    props = args.get("properties") or {}
    mask = _mask(args.get("fields"))
    if (mask is None or "title" in mask) and "title" in props:
        book.title = str(props["title"])
    return {}


# ------------------------------------------------------------------- charts
#
# addChart / updateChartSpec as the Sheets API reference documents them (no recording
# of chart traffic exists): the chart's sheet is the one of its anchor cell; a chart
# reads back in spreadsheets.get under that sheet's ``charts`` as an EmbeddedChart
# ({chartId, spec, position}).

_CHART_TYPES = {"BAR", "LINE", "AREA", "COLUMN", "SCATTER", "COMBO", "STEPPED_AREA"}


def _all_charts(book: Spreadsheet) -> list[tuple[Worksheet, dict[str, Any]]]:
    return [(sheet, chart) for sheet in book.sheets for chart in sheet.charts]


def _check_spec(book: Spreadsheet, spec: Any) -> dict[str, Any]:
    if not isinstance(spec, Mapping):
        raise SheetError("The chart spec is required.")
    basic = spec.get("basicChart")
    if basic is not None:
        if basic.get("chartType") not in _CHART_TYPES:
            raise SheetError(f"Invalid chartType: {basic.get('chartType')!r}")
        sources = [
            source
            for part in (*basic.get("domains", []), *basic.get("series", []))
            for key in ("domain", "series")
            if key in part
            for source in part[key].get("sourceRange", {}).get("sources", [])
        ]
        for source in sources:
            book.by_id(int(source.get("sheetId", 0)))  # an unknown sheet is an error
    return copy.deepcopy(dict(spec))


def _add_chart(book: Spreadsheet, args: Mapping[str, Any]) -> Reply:
    chart = args.get("chart")
    if not isinstance(chart, Mapping):
        raise SheetError("The chart is required.")
    spec = _check_spec(book, chart.get("spec"))
    position = chart.get("position") or {}
    overlay = position.get("overlayPosition")
    if overlay is not None:
        anchor = overlay.get("anchorCell") or {}
        sheet = book.by_id(int(anchor.get("sheetId", 0)))
        out_position: dict[str, Any] = {
            "overlayPosition": {
                "anchorCell": {
                    "sheetId": sheet.sheet_id,
                    "rowIndex": int(anchor.get("rowIndex", 0)),
                    "columnIndex": int(anchor.get("columnIndex", 0)),
                },
                "offsetXPixels": int(overlay.get("offsetXPixels", 0)),
                "offsetYPixels": int(overlay.get("offsetYPixels", 0)),
                "widthPixels": int(overlay.get("widthPixels", 600)),
                "heightPixels": int(overlay.get("heightPixels", 371)),
            }
        }
    elif "sheetId" in position:
        sheet = book.by_id(int(position["sheetId"]))
        out_position = {"sheetId": sheet.sheet_id}
    else:
        raise SheetError("The chart position is required.")
    used = {c.get("chartId") for _, c in _all_charts(book)}
    chart_id = chart.get("chartId")
    if chart_id is not None and chart_id in used:
        raise SheetError(f"An embedded object with id {chart_id} already exists.")
    if chart_id is None:
        rng = random.Random(f"{book.id}:chart:{len(used)}")
        chart_id = rng.randrange(1, 2**31 - 1)
        while chart_id in used:
            chart_id = rng.randrange(1, 2**31 - 1)
    stored = {"chartId": int(chart_id), "spec": spec, "position": out_position}
    sheet.charts = (*sheet.charts, stored)
    return {"addChart": {"chart": copy.deepcopy(stored)}}


def _update_chart_spec(book: Spreadsheet, args: Mapping[str, Any]) -> Reply:
    chart_id = args.get("chartId")
    spec = _check_spec(book, args.get("spec"))
    for sheet, chart in _all_charts(book):
        if chart.get("chartId") == chart_id:
            updated = {**chart, "spec": spec}
            sheet.charts = tuple(updated if c is chart else c for c in sheet.charts)
            return {}
    raise SheetError(f"No chart with id: {chart_id}")


def _sort_key(value: Any, descending: bool) -> tuple[int, Any]:
    """Sheets' order: numbers, then text (case aside), then booleans; blanks last
    whichever the direction (descending reverses the others, not the blanks)."""
    if value is None or value == "":
        return (1, 0)
    key: int | float | str
    if isinstance(value, bool):
        rank, key = 2, int(value)
    elif isinstance(value, int | float):
        rank, key = 0, value
    else:
        rank, key = 1, str(value).casefold()
    return (0, _Reversed((rank, key)) if descending else (rank, key))


class _Reversed:
    """Inverts the order of a comparable (for a descending key inside a tuple)."""

    def __init__(self, value: Any) -> None:
        self.value = value

    def __lt__(self, other: _Reversed) -> bool:
        return bool(other.value < self.value)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Reversed) and self.value == other.value


def _sort_range(book: Spreadsheet, args: Mapping[str, Any]) -> Reply:
    """Data > Sort range: the rows of the range reordered by the specs' columns; only the
    range's cells move (formulas keep their text)."""
    sheet = _sheet(book, args["range"])
    box = grid_box(sheet, args["range"])
    specs = args.get("sortSpecs")
    if not isinstance(specs, list) or not specs:
        raise SheetError("At least one sort spec is required.")
    order: list[tuple[int, bool]] = []
    for spec in specs:
        column = int(spec["dimensionIndex"])
        if not box.col_start <= column <= box.col_end:
            raise SheetError(f"Sort column {column} is outside the range.")
        direction = spec.get("sortOrder", "ASCENDING")
        if direction not in ("ASCENDING", "DESCENDING"):
            raise SheetError(f"Invalid sortOrder: {direction!r}")
        order.append((column, direction == "DESCENDING"))
    reader = sheet.reader()
    rows = list(range(box.row_start, box.row_end + 1))
    ranked = sorted(
        rows,
        key=lambda r: tuple(_sort_key(reader.value(r, c), down) for c, down in order),
    )
    columns = range(box.col_start, box.col_end + 1)
    moved = {
        (new, c): sheet.cell(old, c) for new, old in zip(rows, ranked, strict=True) for c in columns
    }
    for (r, c), cell in moved.items():
        sheet.put(r, c, cell)
    return {}


def _paste_box(sheet: Worksheet, top: int, left: int, rows: int, columns: int) -> None:
    if top + rows > sheet.row_count or left + columns > sheet.column_count:
        raise SheetError("The paste would go beyond the grid.")


def _copy_paste(book: Spreadsheet, args: Mapping[str, Any]) -> Reply:
    """Ctrl+C, Ctrl+V: the source block's cells onto the destination's top-left corner
    (PASTE_NORMAL: values, formulas, formats and validation; PASTE_VALUES: values only)."""
    source_sheet = _sheet(book, args["source"])
    source = grid_box(source_sheet, args["source"])
    target_sheet = _sheet(book, args["destination"])
    target = grid_box(target_sheet, args["destination"])
    paste = args.get("pasteType", "PASTE_NORMAL")
    if paste not in ("PASTE_NORMAL", "PASTE_VALUES"):
        raise SheetError(f"pasteType {paste!r} is not emulated by the sandbox")
    _paste_box(target_sheet, target.row_start, target.col_start, source.rows, source.columns)
    reader = source_sheet.reader()
    cells = {
        (r - source.row_start, c - source.col_start): (
            source_sheet.cell(r, c),
            reader.value(r, c),
        )
        for r in range(source.row_start, source.row_end + 1)
        for c in range(source.col_start, source.col_end + 1)
    }
    for (dr, dc), (cell, value) in cells.items():
        at = (target.row_start + dr, target.col_start + dc)
        if paste == "PASTE_VALUES":
            current = target_sheet.cell(*at)
            plain = value if isinstance(value, int | float | str | bool) else None
            target_sheet.put(*at, replace(current, value=plain, formula=None))
        else:
            target_sheet.put(*at, cell)
    return {}


def _cut_paste(book: Spreadsheet, args: Mapping[str, Any]) -> Reply:
    """Ctrl+X, Ctrl+V: the source block moves to the destination coordinate."""
    source_sheet = _sheet(book, args["source"])
    source = grid_box(source_sheet, args["source"])
    where = args["destination"]
    target_sheet = _sheet(book, where)
    top, left = int(where.get("rowIndex", 0)), int(where.get("columnIndex", 0))
    _paste_box(target_sheet, top, left, source.rows, source.columns)
    cells = {
        (r - source.row_start, c - source.col_start): source_sheet.cell(r, c)
        for r in range(source.row_start, source.row_end + 1)
        for c in range(source.col_start, source.col_end + 1)
    }
    for r in range(source.row_start, source.row_end + 1):
        for c in range(source.col_start, source.col_end + 1):
            source_sheet.put(r, c, Cell())
    for (dr, dc), cell in cells.items():
        target_sheet.put(top + dr, left + dc, cell)
    return {}


def _set_data_validation(book: Spreadsheet, args: Mapping[str, Any]) -> Reply:
    """A validation rule on every cell of the range (none: removed). Values are left as
    they are: Insert > Checkbox is this request plus FALSE written into the cells."""
    sheet = _sheet(book, args["range"])
    box = grid_box(sheet, args["range"])
    rule = args.get("rule")
    if rule is not None:
        condition = rule.get("condition") if isinstance(rule, Mapping) else None
        if not isinstance(condition, Mapping) or not condition.get("type"):
            raise SheetError("A data validation rule needs a condition with a type.")
    for r in range(box.row_start, box.row_end + 1):
        for c in range(box.col_start, box.col_end + 1):
            current = sheet.cell(r, c)
            sheet.put(r, c, replace(current, validation=copy.deepcopy(rule) if rule else None))
    return {}


HANDLERS: dict[str, Handler] = {
    "sortRange": _sort_range,
    "copyPaste": _copy_paste,
    "cutPaste": _cut_paste,
    "setDataValidation": _set_data_validation,
    "insertDimension": _insert_dimension,
    "deleteDimension": _delete_dimension,
    "appendDimension": _append_dimension,
    "updateCells": _update_cells,
    "repeatCell": _repeat_cell,
    "addConditionalFormatRule": _add_conditional_format_rule,
    "deleteConditionalFormatRule": _delete_conditional_format_rule,
    "updateConditionalFormatRule": _update_conditional_format_rule,
    "updateSheetProperties": _update_sheet_properties,
    "addSheet": _add_sheet,
    "deleteSheet": _delete_sheet,
    "updateSpreadsheetProperties": _update_spreadsheet_properties,
    "addChart": _add_chart,
    "updateChartSpec": _update_chart_spec,
}
