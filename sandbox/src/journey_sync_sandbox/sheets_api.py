"""Google Sheets API v4 over HTTP: the routes journey-sync (via gspread) uses.

Routes, answers and errors follow the LIVE gspread cassettes in
``tests/recordings/gsheets_*.json``; each handler names the recording its
shape comes from. Checks run in Google's order: credentials (401), the spreadsheet
exists (404), it is shared with the caller (403), then the request itself (400).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any, cast

from journey_sync.sheet import column_letter

from .a1 import Bounds, Box
from .errors import google_error
from .fields import MaskError, apply_mask, parse_mask
from .sheets import (
    DateRender,
    InputOption,
    SheetError,
    SheetReader,
    SheetsService,
    Spreadsheet,
    ValueRender,
    Worksheet,
    cell_data,
    trim,
)
from .sheets_batch import batch_update
from .web import BadBody, Request, Response

# Who the bearer token belongs to (a service account e-mail), or None when invalid.
Authenticator = Callable[[str], str | None]

_VALUE_RENDER = ("FORMATTED_VALUE", "UNFORMATTED_VALUE", "FORMULA")
_DATE_RENDER = ("SERIAL_NUMBER", "FORMATTED_STRING")
_INPUT = ("RAW", "USER_ENTERED")
_MAJOR = ("ROWS", "COLUMNS")

# Spreadsheet properties as a new spreadsheet has them (recordings: en_US, Etc/GMT).
_DEFAULT_FORMAT: dict[str, Any] = {
    "backgroundColor": {"red": 1, "green": 1, "blue": 1},
    "padding": {"top": 2, "right": 3, "bottom": 2, "left": 3},
    "verticalAlignment": "BOTTOM",
    "wrapStrategy": "OVERFLOW_CELL",
    "textFormat": {
        "foregroundColor": {},
        "fontFamily": "arial,sans,sans-serif",
        "fontSize": 10,
        "bold": False,
        "italic": False,
        "strikethrough": False,
        "underline": False,
        "foregroundColorStyle": {"rgbColor": {}},
    },
    "backgroundColorStyle": {"rgbColor": {"red": 1, "green": 1, "blue": 1}},
}
_THEME: dict[str, Any] = {
    "primaryFontFamily": "Arial",
    "themeColors": [
        {"colorType": "TEXT", "color": {"rgbColor": {}}},
        {"colorType": "BACKGROUND", "color": {"rgbColor": {"red": 1, "green": 1, "blue": 1}}},
        {
            "colorType": "ACCENT1",
            "color": {"rgbColor": {"red": 0.25882354, "green": 0.52156866, "blue": 0.95686275}},
        },
        {
            "colorType": "ACCENT2",
            "color": {"rgbColor": {"red": 0.91764706, "green": 0.2627451, "blue": 0.20784314}},
        },
        {
            "colorType": "ACCENT3",
            "color": {"rgbColor": {"red": 0.9843137, "green": 0.7372549, "blue": 0.015686275}},
        },
        {
            "colorType": "ACCENT4",
            "color": {"rgbColor": {"red": 0.20392157, "green": 0.65882355, "blue": 0.3254902}},
        },
        {
            "colorType": "ACCENT5",
            "color": {"rgbColor": {"red": 1, "green": 0.42745098, "blue": 0.003921569}},
        },
        {
            "colorType": "ACCENT6",
            "color": {"rgbColor": {"red": 0.27450982, "green": 0.7411765, "blue": 0.7764706}},
        },
        {
            "colorType": "LINK",
            "color": {"rgbColor": {"red": 0.06666667, "green": 0.33333334, "blue": 0.8}},
        },
    ],
}


class _Refusal(Exception):
    def __init__(self, response: Response) -> None:
        self.response = response


def _bad(message: str, *, details: list[dict[str, Any]] | None = None) -> _Refusal:
    return _Refusal(google_error(400, message, details=details))


def _enum(request: Request, name: str, wire_name: str, allowed: Sequence[str], default: str) -> str:
    value = request.param(name, default) or default
    if value not in allowed:
        # Google's wording for a bad enum in a query parameter.
        raise _bad(
            f"Invalid value at '{wire_name}' "
            f'(type.googleapis.com/google.apps.sheets.v4.{_proto(name)}), "{value}"'
        )
    return value


def _proto(name: str) -> str:
    return name[0].upper() + name[1:]


def _is_true(value: str | None) -> bool:
    # gspread sends includeGridData=false and includeValuesInResponse=False (Python bools).
    return (value or "").strip().lower() == "true"


class SheetsApi:
    """Request -> Response for everything under ``/v4/spreadsheets``."""

    def __init__(self, service: SheetsService, authenticate: Authenticator) -> None:
        self.service = service
        self.authenticate = authenticate

    @staticmethod
    def is_read(request: Request) -> bool:
        """Reads and writes have separate quotas (60/min/user each)."""
        return request.method == "GET"

    def handle(self, request: Request) -> Response:
        token = request.bearer()
        if token is None:
            return google_error(
                401,
                "Request is missing required authentication credential. Expected OAuth 2 "
                "access token, login cookie or other valid authentication credential. See "
                "https://developers.google.com/identity/sign-in/web/devconsole-project.",
            )
        caller = self.authenticate(token)
        if caller is None:
            return google_error(401)
        segments = request.segments()
        if len(segments) < 3 or segments[:2] != ["v4", "spreadsheets"]:
            return google_error(404)
        spreadsheet_id, _, method = segments[2].partition(":")
        with self.service.lock:
            book = self.service.get(spreadsheet_id)
            if book is None:
                return google_error(404)
            if caller not in book.shared_with:
                return google_error(403)
            try:
                return self._route(request, book, segments[3:], method)
            except _Refusal as refusal:
                return refusal.response
            except SheetError as exc:
                return google_error(400, str(exc))
            except BadBody as exc:
                return google_error(400, f"Invalid JSON payload received. {exc}")

    def _route(self, request: Request, book: Spreadsheet, rest: list[str], method: str) -> Response:
        verb = request.method
        if not rest:
            if method == "batchUpdate" and verb == "POST":
                return Response.json(200, batch_update(book, request.json()))
            if not method and verb == "GET":
                return self._metadata(request, book)
            return google_error(404)
        if rest == ["values:batchGet"] and verb == "GET":
            return self._batch_get(request, book)
        if rest == ["values:batchUpdate"] and verb == "POST":
            return self._values_batch_update(request, book)
        if rest == ["values:batchClear"] and verb == "POST":
            return self._batch_clear(request, book)
        if len(rest) == 2 and rest[0] == "values":
            range_text, action = _split_action(rest[1])
            if action is None and verb == "GET":
                return Response.json(200, self._value_range(request, book, range_text))
            if action is None and verb == "PUT":
                return self._update(request, book, range_text)
            if action == "append" and verb == "POST":
                return self._append(request, book, range_text)
            if action == "clear" and verb == "POST":
                return self._clear(book, range_text)
        return google_error(404)

    # ------------------------------------------------------------------ reads

    def _value_range(
        self,
        request: Request,
        book: Spreadsheet,
        range_text: str,
        reader_cache: dict[int, SheetReader] | None = None,
    ) -> dict[str, Any]:
        """A ValueRange: echoed normalised range, majorDimension, values only if any
        (gsheets_values_get_sparse_trailing_cells_and_rows_omitted.json)."""
        value_option = cast(
            ValueRender,
            _enum(
                request,
                "valueRenderOption",
                "value_render_option",
                _VALUE_RENDER,
                "FORMATTED_VALUE",
            ),
        )
        date_option = cast(
            DateRender,
            _enum(
                request,
                "dateTimeRenderOption",
                "date_time_render_option",
                _DATE_RENDER,
                "SERIAL_NUMBER",
            ),
        )
        major = _enum(request, "majorDimension", "major_dimension", _MAJOR, "ROWS")
        sheet, bounds = book.resolve(range_text)
        box = sheet.box(bounds)
        reader = None
        if reader_cache is not None:
            reader = reader_cache.setdefault(id(sheet), sheet.reader())
        rows = sheet.render_box(box, value_option, date_option, reader=reader)
        if major == "COLUMNS":
            rows = _transpose(rows)
        out: dict[str, Any] = {"range": sheet.a1(box), "majorDimension": major}
        if rows:
            out["values"] = rows
        return out

    def _batch_get(self, request: Request, book: Spreadsheet) -> Response:
        """gsheets_values_batchGet.json: valueRanges in the order of the ranges params."""
        readers: dict[int, SheetReader] = {}
        ranges = [self._value_range(request, book, r, readers) for r in request.params("ranges")]
        out: dict[str, Any] = {"spreadsheetId": book.id}
        if ranges:
            out["valueRanges"] = ranges
        return Response.json(200, out)

    def _metadata(self, request: Request, book: Spreadsheet) -> Response:
        """spreadsheets.get (gsheets_spreadsheets_get_*.json); ``fields`` selects parts."""
        try:
            mask = parse_mask(request.param("fields", "") or "")
        except MaskError:
            raise _bad(f"Invalid field selection {request.param('fields')}") from None
        wants_data = _is_true(request.param("includeGridData")) or _mask_wants_data(mask)
        selected: dict[int, list[Bounds | None]] = {}
        for text in request.params("ranges"):
            sheet, bounds = book.resolve(text)
            sheet.box(bounds)  # a range off the grid is refused even without grid data
            selected.setdefault(id(sheet), []).append(bounds)
        sheets = [s for s in book.sheets if not selected or id(s) in selected]
        body: dict[str, Any] = {
            "spreadsheetId": book.id,
            "properties": {
                "title": book.title,
                "locale": "en_US",
                "autoRecalc": "ON_CHANGE",
                "timeZone": "Etc/GMT",
                "defaultFormat": _DEFAULT_FORMAT,
                "spreadsheetTheme": _THEME,
            },
            "sheets": [
                self._sheet_json(s, selected.get(id(s), [None]), wants_data) for s in sheets
            ],
            "spreadsheetUrl": f"https://docs.google.com/spreadsheets/d/{book.id}/edit",
        }
        return Response.json(200, _prune_row_data(apply_mask(body, mask)))

    def _sheet_json(
        self, sheet: Worksheet, ranges: list[Bounds | None], with_data: bool
    ) -> dict[str, Any]:
        out: dict[str, Any] = {"properties": sheet.properties()}
        if sheet.conditional_formats:
            out["conditionalFormats"] = sheet.conditional_formats_json()
        if sheet.charts:
            out["charts"] = copy.deepcopy(list(sheet.charts))
        if with_data:
            reader = sheet.reader()
            out["data"] = [_grid_data(reader, sheet.box(b)) for b in ranges]
        return out

    # ----------------------------------------------------------------- writes

    def _input_option(self, value: Any) -> InputOption:
        if value is None or value == "":
            raise _bad("'valueInputOption' is required but not specified")
        if value not in _INPUT:
            raise _bad(
                "Invalid value at 'value_input_option' "
                f'(type.googleapis.com/google.apps.sheets.v4.ValueInputOption), "{value}"'
            )
        return "RAW" if value == "RAW" else "USER_ENTERED"

    def _update(self, request: Request, book: Spreadsheet, range_text: str) -> Response:
        option = self._input_option(request.param("valueInputOption"))
        body = request.json()
        if not isinstance(body, Mapping):
            raise _bad("Invalid JSON payload received. Expected a ValueRange object.")
        rows = _values(body, "data")
        state = book.checkpoint()
        try:
            result, _written, _sheet = _write(book, range_text, rows, option)
        except BaseException:
            book.rollback(state)
            raise
        return Response.json(200, {"spreadsheetId": book.id, **result})

    def _values_batch_update(self, request: Request, book: Spreadsheet) -> Response:
        """gsheets_values_batchUpdate_RAW.json: per-range responses and distinct totals."""
        body = request.json()
        if not isinstance(body, Mapping):
            raise _bad("Invalid JSON payload received. Expected an object.")
        option = self._input_option(body.get("valueInputOption"))
        data = body.get("data") or []
        if not isinstance(data, list):
            raise _bad(
                "Invalid value at 'data' (type.googleapis.com/google.apps.sheets.v4.ValueRange)"
            )
        state = book.checkpoint()
        responses: list[dict[str, Any]] = []
        rows_seen: set[tuple[str, int]] = set()
        cols_seen: set[tuple[str, int]] = set()
        sheets_seen: set[str] = set()
        total_cells = 0
        try:
            for index, item in enumerate(data):
                if not isinstance(item, Mapping) or not isinstance(item.get("range"), str):
                    raise _bad(f"Invalid data[{index}]: a range is required")
                rows = _values(item, f"data[{index}]")
                result, box, title = _write(book, item["range"], rows, option)
                responses.append({"spreadsheetId": book.id, **result})
                if box is not None:
                    sheets_seen.add(title)
                    rows_seen.update((title, r) for r in range(box.row_start, box.row_end + 1))
                    cols_seen.update((title, c) for c in range(box.col_start, box.col_end + 1))
                    total_cells += int(result.get("updatedCells", 0))
        except BaseException:
            book.rollback(state)
            raise
        out: dict[str, Any] = {"spreadsheetId": book.id}
        if responses:
            out.update(
                totalUpdatedRows=len(rows_seen),
                totalUpdatedColumns=len(cols_seen),
                totalUpdatedCells=total_cells,
                totalUpdatedSheets=len(sheets_seen),
                responses=responses,
            )
        return Response.json(200, out)

    def _append(self, request: Request, book: Spreadsheet, range_text: str) -> Response:
        """gsheets_values_append.json: the table found at the range, data written below."""
        option = self._input_option(request.param("valueInputOption"))
        insert = request.param("insertDataOption", "OVERWRITE") or "OVERWRITE"
        if insert not in ("OVERWRITE", "INSERT_ROWS"):
            raise _bad(
                "Invalid value at 'insert_data_option' "
                f'(type.googleapis.com/google.apps.sheets.v4.InsertDataOption), "{insert}"'
            )
        body = request.json()
        if not isinstance(body, Mapping):
            raise _bad("Invalid JSON payload received. Expected a ValueRange object.")
        rows = _values(body, "data")
        sheet, bounds = book.resolve(range_text)
        box = sheet.box(bounds)
        whole_rows = (
            bounds is None
            or bounds.col_start is None
            or (bounds.row_start == bounds.row_end and bounds.col_start == bounds.col_end)
        )
        columns = range(box.col_start, box.col_end + 1)
        table_end = box.row_start - 1
        used: set[int] = set()
        r = box.row_start
        while r < sheet.row_count:
            found = [
                c
                for c in (range(sheet.column_count) if whole_rows else columns)
                if sheet.cell(r, c).has_content
            ]
            if not found:
                break
            used.update(found)
            table_end = r
            r += 1
        out: dict[str, Any] = {"spreadsheetId": book.id}
        if table_end >= box.row_start:
            if bounds is None or bounds.col_start is None:
                table = Box(box.row_start, table_end, min(used), max(used))
            else:
                table = Box(box.row_start, table_end, box.col_start, box.col_end)
            out["tableRange"] = sheet.a1(table)  # absent when the range starts empty
        height = len(rows)
        width = max((len(row) for row in rows), default=0)
        top, left = table_end + 1, box.col_start
        state = book.checkpoint()
        try:
            if insert == "INSERT_ROWS" and height:
                sheet.insert_dimension("ROWS", top, top + height)
            # Appending grows the grid (values.update refuses to).
            sheet.row_count = max(sheet.row_count, top + height)
            sheet.column_count = max(sheet.column_count, left + width)
            sheet.write_rows(top, left, rows, option)
        except BaseException:
            book.rollback(state)
            raise
        updates: dict[str, Any] = {"spreadsheetId": book.id}
        if height and width:
            written = Box(top, top + height - 1, left, left + width - 1)
            updates.update(
                updatedRange=sheet.a1(written),
                updatedRows=height,
                updatedColumns=width,
                updatedCells=sum(len(row) for row in rows),
            )
        out["updates"] = updates
        return Response.json(200, out)

    def _clear(self, book: Spreadsheet, range_text: str) -> Response:
        """values.clear: ``{spreadsheetId, clearedRange}`` (gsheets_values_batchUpdate_RAW.json)."""
        sheet, bounds = book.resolve(range_text)
        box = sheet.box(bounds)
        sheet.clear_box(box)
        return Response.json(200, {"spreadsheetId": book.id, "clearedRange": sheet.a1(box)})

    def _batch_clear(self, request: Request, book: Spreadsheet) -> Response:
        body = request.json() or {}
        cleared = []
        for text in body.get("ranges", []) if isinstance(body, Mapping) else []:
            sheet, bounds = book.resolve(str(text))
            box = sheet.box(bounds)
            sheet.clear_box(box)
            cleared.append(sheet.a1(box))
        return Response.json(200, {"spreadsheetId": book.id, "clearedRanges": cleared})


# ---------------------------------------------------------------- helpers


def _split_action(segment: str) -> tuple[str, str | None]:
    for action in ("append", "clear"):
        if segment.endswith(":" + action):
            return segment[: -len(action) - 1], action
    return segment, None


def _transpose(rows: list[list[Any]]) -> list[list[Any]]:
    width = max((len(r) for r in rows), default=0)
    padded = [r + [None] * (width - len(r)) for r in rows]
    return trim([[row[c] for row in padded] for c in range(width)])


def _values(body: Mapping[str, Any], where: str) -> list[list[Any]]:
    """The ``values`` of a ValueRange, refused like gsheets_error_400_invalid_values_payload.json."""
    values = body.get("values", [])
    if values is None:
        values = []
    if not isinstance(values, list):
        raise _invalid_value(f"{where}.values", "google.protobuf.ListValue", values)
    for index, row in enumerate(values):
        if not isinstance(row, list):
            raise _invalid_value(f"{where}.values[{index}]", "google.protobuf.ListValue", row)
        for column, cell in enumerate(row):
            if isinstance(cell, dict | list):
                raise _bad(f"Invalid values[{index}][{column}]: {json.dumps(cell)}")
    major = body.get("majorDimension") or "ROWS"
    if major not in _MAJOR:
        raise _invalid_value(f"{where}.major_dimension", "google.apps.sheets.v4.Dimension", major)
    if major == "COLUMNS":
        width = max((len(r) for r in values), default=0)
        values = [[col[i] if i < len(col) else None for col in values] for i in range(width)]
    return values


def _invalid_value(field: str, proto: str, value: Any) -> _Refusal:
    message = f"Invalid value at '{field}' (type.googleapis.com/{proto}), {json.dumps(value)}"
    details = [
        {
            "@type": "type.googleapis.com/google.rpc.BadRequest",
            "fieldViolations": [{"field": field, "description": message}],
        }
    ]
    return _bad(message, details=details)


def _write(
    book: Spreadsheet, range_text: str, rows: list[list[Any]], option: InputOption
) -> tuple[dict[str, Any], Box | None, str]:
    """values.update semantics shared by PUT and values:batchUpdate.

    A single-cell range is only where writing starts (the recordings write a 4x4 block
    to ``'Sheet1'!A1``); a larger range bounds the write. Writes never grow the grid.
    """
    sheet, bounds = book.resolve(range_text)
    bounds = bounds or Bounds(None, None, None, None)
    top, left = bounds.row_start or 0, bounds.col_start or 0
    height = len(rows)
    width = max((len(row) for row in rows), default=0)
    sheet.box(Bounds(top, top, left, left))  # the start itself must be on the grid
    if not height or not width:
        return {"updatedRange": sheet.a1(Box(top, top, left, left))}, None, sheet.title
    written = Box(top, top + height - 1, left, left + width - 1)
    single = bounds.row_start == bounds.row_end and bounds.col_start == bounds.col_end
    if not single and bounds.row_start is not None:
        if bounds.row_end is not None and written.row_end > bounds.row_end:
            raise _bad(
                f"Requested writing within range [{range_text}], but tried writing to row "
                f"[{written.row_end + 1}]"
            )
        if bounds.col_end is not None and written.col_end > bounds.col_end:
            raise _bad(
                f"Requested writing within range [{range_text}], but tried writing to column "
                f"[{column_letter(written.col_end + 1)}]"
            )
    if written.row_end >= sheet.row_count or written.col_end >= sheet.column_count:
        raise sheet.grid_limit(written)
    sheet.write_rows(top, left, rows, option)
    result = {
        "updatedRange": sheet.a1(written),
        "updatedRows": height,
        "updatedColumns": width,
        "updatedCells": sum(len(row) for row in rows),
    }
    return result, written, sheet.title


def _grid_data(reader: SheetReader, box: Box) -> dict[str, Any]:
    rows: list[dict[str, Any]] = []
    for r in range(box.row_start, box.row_end + 1):
        values = [cell_data(reader, r, c) for c in range(box.col_start, box.col_end + 1)]
        while values and not values[-1]:
            values.pop()
        rows.append({"values": values} if values else {})
    while rows and not rows[-1]:
        rows.pop()
    out: dict[str, Any] = {}
    if box.row_start:
        out["startRow"] = box.row_start
    if box.col_start:
        out["startColumn"] = box.col_start
    if rows:
        out["rowData"] = rows
    return out


def _mask_wants_data(mask: Any) -> bool:
    # Grid data only when asked for by name: ``fields=sheets`` alone does not include it.
    sheets = mask.get("sheets", {}) if isinstance(mask, dict) else None
    return isinstance(sheets, dict) and "data" in sheets


def _prune_row_data(body: Any) -> Any:
    """After a mask, cells and rows left empty are dropped, and so is an empty
    ``rowData`` (gsheets_batchUpdate_updateCells_notes.json: ``{"data": [{}]}``)."""
    for sheet in body.get("sheets", []) if isinstance(body, dict) else []:
        for data in sheet.get("data", []) if isinstance(sheet, dict) else []:
            rows = data.get("rowData")
            if not isinstance(rows, list):
                continue
            for row in rows:
                values = row.get("values")
                if isinstance(values, list):
                    while values and not values[-1]:
                        values.pop()
                    if not values:
                        row.pop("values")
            while rows and not rows[-1]:
                rows.pop()
            if not rows:
                data.pop("rowData")
    return body
