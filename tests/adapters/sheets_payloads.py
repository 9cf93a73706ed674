"""Google Sheets API v4 answers, in the shapes of real recorded traffic.

Each payload says where its shape comes from. "recorded" = tests/recordings (vcrpy
cassettes of the live API from burnash/gspread, see SOURCES.md there); "error model" =
Google's documented ``{"error": {code, message, status, details}}`` body, for statuses no
recording covers. Ids and titles are changed where a test needs its own; shapes are not.
"""

from __future__ import annotations

from typing import Any

# A real spreadsheet id from gsheets_values_get_sparse_trailing_cells_and_rows_omitted.json.
SPREADSHEET_ID = "1CE41E_Ixiqessy_IQn0O9XfhLDmQKucskRB3evPVbKI"
SERVICE_ACCOUNT_EMAIL = "journey-sync@studio-123456.iam.gserviceaccount.com"


def sheet(
    title: str,
    sheet_id: int = 0,
    *,
    rows: int = 1000,
    columns: int = 26,
    rules: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """One entry of ``sheets[]`` as spreadsheets.get returns it under our field mask.

    Shape: gsheets_spreadsheets_get_metadata_multi_sheet_hidden.json (properties with
    sheetId, title, gridProperties{rowCount, columnCount}); ``conditionalFormats`` is
    absent when the sheet has none (fields masks omit empty fields, see
    gsheets_batchUpdate_updateCells_notes.json: "When the masked field is empty ...").
    """
    entry: dict[str, Any] = {
        "properties": {
            "sheetId": sheet_id,
            "title": title,
            "gridProperties": {"rowCount": rows, "columnCount": columns},
        }
    }
    if rules:
        entry["conditionalFormats"] = rules
    return entry


def metadata(*sheets: dict[str, Any]) -> dict[str, Any]:
    """spreadsheets.get with a ``fields`` mask: only the masked path, no spreadsheetId
    (gsheets_batchUpdate_repeatCell_format.json, quirk "With a fields mask the response
    contains ONLY the masked path")."""
    return {"sheets": list(sheets)}


def custom_formula_rule(
    formula: str, *, sheet_id: int = 0, first_row: int = 2, last_column: int = 20
) -> dict[str, Any]:
    """A conditionalFormats[] entry (ConditionalFormatRule) as Google returns it.

    Colours omit zero components, as in gsheets_batchUpdate_repeatCell_format.json.
    """
    return {
        "ranges": [
            {
                "sheetId": sheet_id,
                "startRowIndex": first_row - 1,
                "startColumnIndex": 0,
                "endColumnIndex": last_column,
            }
        ],
        "booleanRule": {
            "condition": {"type": "CUSTOM_FORMULA", "values": [{"userEnteredValue": formula}]},
            "format": {"backgroundColor": {"red": 0.96, "green": 0.8, "blue": 0.8}},
        },
    }


def number_rule(sheet_id: int = 0) -> dict[str, Any]:
    """A person's own rule that is not a custom formula."""
    return {
        "ranges": [{"sheetId": sheet_id, "startRowIndex": 1, "endRowIndex": 50}],
        "booleanRule": {
            "condition": {"type": "NUMBER_GREATER", "values": [{"userEnteredValue": "100"}]},
            "format": {"textFormat": {"bold": True}},
        },
    }


# Recorded: gsheets_spreadsheets_get_metadata_multi_sheet_hidden.json, interaction 3
# (sheets[] only; the fields mask drops the theme and defaults).
METADATA_MULTI_SHEET_HIDDEN: dict[str, Any] = {
    "sheets": [
        {
            "properties": {
                "sheetId": 0,
                "title": "Sheet1",
                "index": 0,
                "sheetType": "GRID",
                "gridProperties": {"rowCount": 1000, "columnCount": 26},
            }
        },
        {
            "properties": {
                "sheetId": 1613166149,
                "title": "finances",
                "index": 1,
                "sheetType": "GRID",
                "gridProperties": {"rowCount": 100, "columnCount": 100},
            }
        },
        {
            "properties": {
                "sheetId": 755875121,
                "title": "gacha",
                "index": 2,
                "sheetType": "GRID",
                "gridProperties": {"rowCount": 100, "columnCount": 100},
                "hidden": True,
            }
        },
    ]
}


def value_range(echoed_range: str, values: list[list[Any]] | None) -> dict[str, Any]:
    """values.get: ``range`` is the request clipped to the grid, ``values`` absent when empty
    (gsheets_values_get_sparse_trailing_cells_and_rows_omitted.json)."""
    body: dict[str, Any] = {"range": echoed_range, "majorDimension": "ROWS"}
    if values is not None:
        body["values"] = values
    return body


# Recorded (ibid., whole-sheet read of a 4x4 grid): trailing cells dropped, empty middle
# row [], interior blanks kept as "".
SPARSE_VALUES: list[list[Any]] = [["A1", "B1", "", "D1"], ["", "b2"], [], ["A4", "B4", "", "D4"]]

# Recorded: gsheets_values_update_USER_ENTERED_render_options.json, UNFORMATTED_VALUE +
# SERIAL_NUMBER: numbers as numbers, dates as serials, trailing blank of row 2 dropped.
UNFORMATTED_VALUES: list[list[Any]] = [[2, 43831, "string", 53], [1.5, 0.12, 36162]]


def batch_update_reply(replies: int) -> dict[str, Any]:
    """spreadsheets.batchUpdate: one {} per request (recorded, updateCells notes)."""
    return {"spreadsheetId": SPREADSHEET_ID, "replies": [{} for _ in range(replies)]}


def values_batch_update_reply(updated_ranges: list[str]) -> dict[str, Any]:
    """values.batchUpdate: ranges echoed unquoted in responses[].updatedRange
    (gsheets_values_batchUpdate_RAW.json)."""
    return {
        "spreadsheetId": SPREADSHEET_ID,
        "totalUpdatedRows": len(updated_ranges),
        "totalUpdatedColumns": 1,
        "totalUpdatedCells": len(updated_ranges),
        "totalUpdatedSheets": 1,
        "responses": [
            {
                "spreadsheetId": SPREADSHEET_ID,
                "updatedRange": r,
                "updatedRows": 1,
                "updatedColumns": 1,
                "updatedCells": 1,
            }
            for r in updated_ranges
        ],
    }


# ----------------------------------------------------------------------------- errors

# Recorded: gsheets_error_403_permission_denied.json
ERROR_403: dict[str, Any] = {
    "error": {
        "code": 403,
        "message": "The caller does not have permission",
        "status": "PERMISSION_DENIED",
    }
}

# Recorded: gsheets_error_404_spreadsheet_not_found.json
ERROR_404: dict[str, Any] = {
    "error": {"code": 404, "message": "Requested entity was not found.", "status": "NOT_FOUND"}
}

# Recorded: gsheets_error_400_invalid_values_payload.json
ERROR_400_INVALID_VALUES: dict[str, Any] = {
    "error": {
        "code": 400,
        "message": "Invalid value at 'data.values' (type.googleapis.com/google.protobuf.ListValue), \"X\"",
        "status": "INVALID_ARGUMENT",
        "details": [
            {
                "@type": "type.googleapis.com/google.rpc.BadRequest",
                "fieldViolations": [
                    {
                        "field": "data.values",
                        "description": "Invalid value at 'data.values' (type.googleapis.com/google.protobuf.ListValue), \"X\"",
                    }
                ],
            }
        ],
    }
}

# Recorded: gsheets_error_400_batchUpdate_cannot_hide_all_sheets.json
ERROR_400_BATCH: dict[str, Any] = {
    "error": {
        "code": 400,
        "message": "Invalid requests[0].updateSheetProperties: You can't hide all the sheets in a document.",
        "status": "INVALID_ARGUMENT",
    }
}

# Recorded (2018 capture): gsheets_error_400_unable_to_parse_range_2018_capture.json
ERROR_400_UNABLE_TO_PARSE_RANGE: dict[str, Any] = {
    "error": {
        "code": 400,
        "message": "Unable to parse range: 'Leads'",
        "errors": [
            {
                "message": "Unable to parse range: 'Leads'",
                "domain": "global",
                "reason": "badRequest",
            }
        ],
        "status": "INVALID_ARGUMENT",
    }
}

# Error model (no recording): 401 UNAUTHENTICATED.
ERROR_401: dict[str, Any] = {
    "error": {
        "code": 401,
        "message": "Request had invalid authentication credentials. Expected OAuth 2 access "
        "token, login cookie or other valid authentication credential.",
        "status": "UNAUTHENTICATED",
    }
}

# Error model (no recording): 429 RESOURCE_EXHAUSTED, the per-minute quota.
ERROR_429: dict[str, Any] = {
    "error": {
        "code": 429,
        "message": "Quota exceeded for quota metric 'Read requests' and limit 'Read requests "
        "per minute per user' of service 'sheets.googleapis.com' for consumer "
        "'project_number:123456'.",
        "status": "RESOURCE_EXHAUSTED",
    }
}

# Error model (no recording): 500 / 503.
ERROR_500: dict[str, Any] = {
    "error": {
        "code": 500,
        "message": "Internal error encountered.",
        "status": "INTERNAL",
    }
}
ERROR_503: dict[str, Any] = {
    "error": {
        "code": 503,
        "message": "The service is currently unavailable.",
        "status": "UNAVAILABLE",
    }
}

# Error model (no recording): the API not enabled in the key's project (403 with an
# ErrorInfo detail whose reason is SERVICE_DISABLED).
ERROR_403_SERVICE_DISABLED: dict[str, Any] = {
    "error": {
        "code": 403,
        "message": "Google Sheets API has not been used in project 123456 before or it is "
        "disabled. Enable it by visiting https://console.developers.google.com/apis/api/"
        "sheets.googleapis.com/overview?project=123456 then retry.",
        "status": "PERMISSION_DENIED",
        "details": [
            {
                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                "reason": "SERVICE_DISABLED",
                "domain": "googleapis.com",
                "metadata": {"service": "sheets.googleapis.com", "consumer": "projects/123456"},
            }
        ],
    }
}

# OAuth 2.0 token endpoint (RFC 6749 section 5.1 / 5.2), as google-auth parses it.
TOKEN_OK: dict[str, Any] = {"access_token": "ya29.test", "expires_in": 3600, "token_type": "Bearer"}
TOKEN_INVALID_GRANT: dict[str, Any] = {
    "error": "invalid_grant",
    "error_description": "Invalid JWT Signature.",
}
