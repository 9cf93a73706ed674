"""The Sheets emulator's behaviour beyond the recordings: what journey-sync relies on."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from journey_sync_sandbox.server import Sandbox
from journey_sync_sandbox.sheets import Colour, Spreadsheet

RED = {"red": 0.96, "green": 0.8, "blue": 0.8}
GREEN = {"red": 0.85, "green": 0.92, "blue": 0.83}


@pytest.fixture
def book(sandbox: Sandbox) -> Spreadsheet:
    book = sandbox.create_spreadsheet("Leads book", spreadsheet_id="1leads", first_sheet="Leads")
    book.worksheet("Leads").set_values(
        "A1",
        [
            ["Client name", "Date of lead", "Paid", "Reason for discontinue"],
            ["Ann", "2026-01-05", 1, ""],
            ["Bob", "2026-01-09", "", "Moved away"],
            ["Cat", "2026-02-01", 1, "Injury"],
        ],
    )
    return book


def _values(google: httpx.Client, rng: str, **params: str) -> dict[str, Any]:
    answer = google.get(f"/v4/spreadsheets/1leads/values/{rng}", params=params)
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def _batch(google: httpx.Client, *requests: dict[str, Any]) -> httpx.Response:
    return google.post("/v4/spreadsheets/1leads:batchUpdate", json={"requests": list(requests)})


def _put(google: httpx.Client, rng: str, values: list[list[Any]], option: str) -> httpx.Response:
    return google.put(
        f"/v4/spreadsheets/1leads/values/{rng}",
        params={"valueInputOption": option},
        json={"values": values},
    )


# ------------------------------------------------------------------- input


def test_raw_keeps_text_while_user_entered_parses_it(
    book: Spreadsheet, google: httpx.Client
) -> None:
    typed = [["=1+1", "0042", "2026-03-01", "TRUE", "'=2"]]
    assert _put(google, "Leads!F2", typed, "RAW").status_code == 200
    assert _put(google, "Leads!F3", typed, "USER_ENTERED").status_code == 200
    rows = _values(google, "Leads!F2:J3", valueRenderOption="UNFORMATTED_VALUE")["values"]
    assert rows[0] == ["=1+1", "0042", "2026-03-01", "TRUE", "'=2"]  # RAW: all text
    assert rows[1] == [2, 42, 46082, True, "=2"]  # typed: formula, number, date, bool, text
    formulas = _values(google, "Leads!F2:F3", valueRenderOption="FORMULA")["values"]
    assert formulas == [["=1+1"], ["=1+1"]]
    assert book.worksheet("Leads").formula(2, 6) is None  # the RAW one is text, not a formula
    shown = _values(google, "Leads!H3")["values"]
    assert shown == [["2026-03-01"]]  # the date keeps the format Sheets inferred


def test_dates_render_as_serials_or_text(book: Spreadsheet, google: httpx.Client) -> None:
    serial = _values(google, "Leads!B2", valueRenderOption="UNFORMATTED_VALUE")
    text = _values(
        google,
        "Leads!B2",
        valueRenderOption="UNFORMATTED_VALUE",
        dateTimeRenderOption="FORMATTED_STRING",
    )
    assert serial["values"] == [[46027]]
    assert text["values"] == [["2026-01-05"]]


def test_columns_major_dimension(book: Spreadsheet, google: httpx.Client) -> None:
    body = _values(google, "Leads!A1:B3", majorDimension="COLUMNS")
    assert body["majorDimension"] == "COLUMNS"
    assert body["values"] == [
        ["Client name", "Ann", "Bob"],
        ["Date of lead", "2026-01-05", "2026-01-09"],
    ]


def test_values_batch_update_user_entered_and_totals(
    book: Spreadsheet, google: httpx.Client
) -> None:
    answer = google.post(
        "/v4/spreadsheets/1leads/values:batchUpdate",
        json={
            "valueInputOption": "USER_ENTERED",
            "data": [
                {"range": "'Leads'!E2", "values": [["=C2*10"]]},
                {"range": "Leads!E3:F3", "values": [[5, "x"]]},
            ],
        },
    )
    body = answer.json()
    assert answer.status_code == 200
    assert {k: body[k] for k in body if k.startswith("total")} == {
        "totalUpdatedRows": 2,
        "totalUpdatedColumns": 2,
        "totalUpdatedCells": 3,
        "totalUpdatedSheets": 1,
    }
    assert [r["updatedRange"] for r in body["responses"]] == ["Leads!E2", "Leads!E3:F3"]
    assert book.worksheet("Leads").value(2, 5) == 10.0


def test_batch_get_keeps_request_order(book: Spreadsheet, google: httpx.Client) -> None:
    answer = google.get(
        "/v4/spreadsheets/1leads/values:batchGet",
        params=[
            ("ranges", "Leads!D1:D4"),
            ("ranges", "Leads!A2"),
            ("valueRenderOption", "FORMULA"),
        ],
    )
    ranges = [r["range"] for r in answer.json()["valueRanges"]]
    assert ranges == ["Leads!D1:D4", "Leads!A2"]


# ---------------------------------------------------------------- formulas


def test_formulas_evaluate_on_read_and_move_with_inserted_rows(
    book: Spreadsheet, google: httpx.Client
) -> None:
    _put(google, "Leads!A6", [["Total"]], "RAW")
    _put(
        google,
        "Leads!C6:D6",
        [['=COUNTIFS($A$2:$A$4,"<>",C$2:C$4,1)', '=IFERROR(C6/COUNTA($A$2:$A$4)*100,"")']],
        "USER_ENTERED",
    )
    first = _values(google, "Leads!C6:D6", valueRenderOption="UNFORMATTED_VALUE")["values"]
    assert first[0][0] == 2
    assert first[0][1] == pytest.approx(66.6666666667)
    # A lead typed in a new row among the others: the footer's ranges grow with it.
    answer = _batch(
        google,
        {
            "insertDimension": {
                "range": {"sheetId": 0, "dimension": "ROWS", "startIndex": 3, "endIndex": 4},
                "inheritFromBefore": True,
            }
        },
    )
    assert answer.json() == {"spreadsheetId": "1leads", "replies": [{}]}
    _put(google, "Leads!A4:C4", [["Dee", "2026-01-20", 1]], "USER_ENTERED")
    moved = _values(google, "Leads!C7:D7", valueRenderOption="FORMULA")["values"]
    assert moved == [
        ['=COUNTIFS($A$2:$A$5,"<>",C$2:C$5,1)', '=IFERROR(C7/COUNTA($A$2:$A$5)*100,"")']
    ]
    assert _values(google, "Leads!C7:D7", valueRenderOption="UNFORMATTED_VALUE")["values"] == [
        [3, 75]
    ]


def test_deleted_rows_shrink_ranges_and_break_direct_references(
    book: Spreadsheet, google: httpx.Client
) -> None:
    _put(google, "Leads!F1:G1", [["=SUM(C2:C4)", "=C3"]], "USER_ENTERED")
    _batch(
        google,
        {
            "deleteDimension": {
                "range": {"sheetId": 0, "dimension": "ROWS", "startIndex": 2, "endIndex": 3}
            }
        },
    )
    assert _values(google, "Leads!F1:G1", valueRenderOption="FORMULA")["values"] == [
        ["=SUM(C2:C3)", "=#REF!"]
    ]
    assert _values(google, "Leads!F1:G1", valueRenderOption="UNFORMATTED_VALUE")["values"] == [
        [2, "#REF!"]
    ]


def test_division_by_zero_is_an_error_value_iferror_catches(
    book: Spreadsheet, google: httpx.Client
) -> None:
    _put(google, "Leads!F2:G2", [["=1/0", '=IFERROR(1/0,"none")']], "USER_ENTERED")
    for option in ("UNFORMATTED_VALUE", "FORMATTED_VALUE"):
        assert _values(google, "Leads!F2:G2", valueRenderOption=option)["values"] == [
            ["#DIV/0!", "none"]
        ]


# ---------------------------------------------------------- formats, notes


def test_update_cells_writes_text_as_text_and_notes(
    book: Spreadsheet, google: httpx.Client
) -> None:
    answer = _batch(
        google,
        {
            "updateCells": {
                "start": {"sheetId": 0, "rowIndex": 1, "columnIndex": 4},
                "rows": [
                    {
                        "values": [
                            {"userEnteredValue": {"stringValue": "=HACK()"}, "note": "from a lead"},
                            {"userEnteredValue": {"formulaValue": "=C2+1"}},
                            {"userEnteredValue": {"numberValue": 7}},
                            {"userEnteredValue": {"boolValue": True}},
                        ]
                    }
                ],
                "fields": "userEnteredValue,note",
            }
        },
        {
            "repeatCell": {
                "range": {
                    "sheetId": 0,
                    "startRowIndex": 1,
                    "endRowIndex": 4,
                    "startColumnIndex": 1,
                    "endColumnIndex": 2,
                },
                "cell": {
                    "userEnteredFormat": {"numberFormat": {"type": "DATE", "pattern": "dd/mm/yyyy"}}
                },
                "fields": "userEnteredFormat.numberFormat",
            }
        },
    )
    assert answer.json()["replies"] == [{}, {}]
    assert _values(google, "Leads!E2:H2", valueRenderOption="UNFORMATTED_VALUE")["values"] == [
        ["=HACK()", 2, 7, True]
    ]
    assert book.worksheet("Leads").note(2, 5) == "from a lead"
    assert _values(google, "Leads!B2:B4")["values"] == [
        ["05/01/2026"],
        ["09/01/2026"],
        ["01/02/2026"],
    ]
    notes = google.get(
        "/v4/spreadsheets/1leads",
        params={"ranges": "Leads!E2", "fields": "sheets/data/rowData/values/note"},
    ).json()
    assert notes == {"sheets": [{"data": [{"rowData": [{"values": [{"note": "from a lead"}]}]}]}]}


# ------------------------------------------------------- conditional formats


def _rule(formula: str, colour: dict[str, float]) -> dict[str, Any]:
    return {
        "ranges": [{"sheetId": 0, "startRowIndex": 1, "startColumnIndex": 0, "endColumnIndex": 4}],
        "booleanRule": {
            "condition": {"type": "CUSTOM_FORMULA", "values": [{"userEnteredValue": formula}]},
            "format": {"backgroundColor": colour},
        },
    }


def test_conditional_format_rules_colour_rows_first_match_wins(
    book: Spreadsheet, google: httpx.Client
) -> None:
    answer = _batch(
        google,
        {"addConditionalFormatRule": {"rule": _rule('=$D2<>""', RED), "index": 0}},
        {"addConditionalFormatRule": {"rule": _rule("=$C2=1", GREEN), "index": 1}},
    )
    assert answer.status_code == 200
    sheet = book.worksheet("Leads")
    assert sheet.row_colour(2) == Colour(**GREEN)  # paid
    assert sheet.row_colour(3) == Colour(**RED)  # left
    assert sheet.row_colour(4) == Colour(**RED)  # paid but left: red wins
    assert sheet.row_colour(1) is None  # the header is outside the rules' range
    assert sheet.row_colour(9) is None
    meta = google.get(
        "/v4/spreadsheets/1leads",
        params={"fields": "sheets(properties(sheetId,title),conditionalFormats)"},
    ).json()
    rules = meta["sheets"][0]["conditionalFormats"]
    assert meta["sheets"][0]["properties"] == {"sheetId": 0, "title": "Leads"}
    assert [r["booleanRule"]["condition"]["values"][0]["userEnteredValue"] for r in rules] == [
        '=$D2<>""',
        "=$C2=1",
    ]
    assert rules[0]["booleanRule"]["format"]["backgroundColorStyle"] == {"rgbColor": RED}
    # Rows inserted above the rules' range move it and its formula, as in Sheets.
    _batch(
        google,
        {
            "insertDimension": {
                "range": {"sheetId": 0, "dimension": "ROWS", "startIndex": 0, "endIndex": 1},
                "inheritFromBefore": False,
            }
        },
    )
    assert sheet.conditional_formats[1]["ranges"][0]["startRowIndex"] == 2
    assert sheet.conditional_formats[1]["booleanRule"]["condition"]["values"][0] == {
        "userEnteredValue": "=$C3=1"
    }
    assert sheet.row_colours() == {3: Colour(**GREEN), 4: Colour(**RED), 5: Colour(**RED)}
    deleted = _batch(google, {"deleteConditionalFormatRule": {"sheetId": 0, "index": 0}}).json()
    assert deleted["replies"][0]["deleteConditionalFormatRule"]["rule"]["booleanRule"]["condition"][
        "values"
    ] == [{"userEnteredValue": '=$D3<>""'}]
    assert sheet.row_colours() == {3: Colour(**GREEN), 5: Colour(**GREEN)}


def test_metadata_without_rules_has_no_conditional_formats_key(
    book: Spreadsheet, google: httpx.Client
) -> None:
    meta = google.get("/v4/spreadsheets/1leads", params={"includeGridData": "false"}).json()
    assert set(meta) == {"spreadsheetId", "properties", "sheets", "spreadsheetUrl"}
    assert set(meta["sheets"][0]) == {"properties"}


# ------------------------------------------------------------------ errors


def test_batch_update_is_atomic(book: Spreadsheet, google: httpx.Client) -> None:
    answer = _batch(
        google,
        {
            "insertDimension": {
                "range": {"sheetId": 0, "dimension": "ROWS", "startIndex": 1, "endIndex": 3}
            }
        },
        {
            "deleteDimension": {
                "range": {"sheetId": 7, "dimension": "ROWS", "startIndex": 1, "endIndex": 2}
            }
        },
    )
    assert answer.status_code == 400
    assert answer.json()["error"]["message"].startswith("Invalid requests[1].deleteDimension: ")
    assert book.worksheet("Leads").row_count == 1000  # the insert was rolled back too
    assert book.worksheet("Leads").value(2, 1) == "Ann"


@pytest.mark.parametrize(
    ("request_body", "message"),
    [
        ({"requests": []}, "Must specify at least one request."),
        (
            {"requests": [{"sortRangeFancy": {}}]},
            "Invalid JSON payload received. Unknown name \"sortRangeFancy\" at 'requests[0]': "
            "Cannot find field.",
        ),
    ],
)
def test_bad_batch_update_payloads(
    book: Spreadsheet, google: httpx.Client, request_body: dict[str, Any], message: str
) -> None:
    answer = google.post("/v4/spreadsheets/1leads:batchUpdate", json=request_body)
    assert answer.status_code == 400
    assert answer.json() == {
        "error": {"code": 400, "message": message, "status": "INVALID_ARGUMENT"}
    }


def test_unknown_sheet_title_and_grid_limits(book: Spreadsheet, google: httpx.Client) -> None:
    unknown = google.get("/v4/spreadsheets/1leads/values/Nope!A1")
    assert unknown.status_code == 400
    assert unknown.json()["error"]["message"] == "Unable to parse range: Nope!A1"
    beyond = _put(google, "Leads!A1001", [["x"]], "RAW")
    assert beyond.status_code == 400
    assert beyond.json()["error"]["message"] == (
        "Range (Leads!A1001) exceeds grid limits. Max rows: 1000, max columns: 26"
    )
    outside = _put(google, "Leads!A1:B2", [["a"], ["b"], ["c"]], "RAW")
    assert outside.status_code == 400
    assert outside.json()["error"]["message"] == (
        "Requested writing within range [Leads!A1:B2], but tried writing to row [3]"
    )
    missing_option = google.put("/v4/spreadsheets/1leads/values/Leads!A1", json={"values": [["x"]]})
    assert missing_option.json()["error"]["message"] == (
        "'valueInputOption' is required but not specified"
    )


def test_auth_and_sharing_errors(sandbox: Sandbox, book: Spreadsheet) -> None:
    url = f"{sandbox.url}/v4/spreadsheets/1leads"
    anonymous = httpx.get(url)
    assert anonymous.status_code == 401
    assert anonymous.json()["error"]["status"] == "UNAUTHENTICATED"
    assert "missing required authentication credential" in anonymous.json()["error"]["message"]
    forged = httpx.get(url, headers={"Authorization": "Bearer ya29.forged"})
    assert forged.status_code == 401
    token = {"Authorization": f"Bearer {sandbox.access_token()}"}
    assert httpx.get(f"{sandbox.url}/v4/spreadsheets/nope", headers=token).status_code == 404
    book.unshare(sandbox.service_account.client_email)
    denied = httpx.get(url, headers=token)
    assert denied.status_code == 403
    assert denied.json() == {
        "error": {
            "code": 403,
            "message": "The caller does not have permission",
            "status": "PERMISSION_DENIED",
        }
    }
    stranger = sandbox.oauth.issue("someone@else.iam.gserviceaccount.com")
    book.share(sandbox.service_account.client_email)
    assert httpx.get(url, headers={"Authorization": f"Bearer {stranger}"}).status_code == 403
    assert httpx.get(url, headers=token).status_code == 200


# -------------------------------------------------------------- Python API


def test_python_api_reads_like_the_api(book: Spreadsheet) -> None:
    sheet = book.worksheet("Leads")
    sheet.set_formula(6, 3, "=SUM(C2:C4)")
    sheet.set_note(2, 1, "VIP")
    rows = sheet.evaluated_rows()
    assert rows[1] == ["Ann", 46027, 1]  # trailing empty cells dropped
    assert rows[4] == []  # an empty row inside the used range
    assert rows[5] == ["", "", 2]
    assert sheet.get_grid()[5] == ["", "", "=SUM(C2:C4)"]
    assert sheet.header_column("reason for  DISCONTINUE") == 4
    assert sheet.note(2, 1) == "VIP"
    assert book.evaluated_rows("Leads") == rows


def test_a_formula_read_again_sees_every_change_since_the_last_read(
    book: Spreadsheet, google: httpx.Client
) -> None:
    """The sheet keeps its last evaluation while nothing changed; any change is seen."""
    sheet = book.worksheet("Leads")
    sheet.set_cell(6, 1, "=COUNTIFS(C2:C5,1)")
    assert sheet.value(6, 1) == 2
    assert sheet.reader() is sheet.reader()  # nothing changed: the same evaluation

    sheet.set_cell(3, 3, 1)  # Bob paid after all (the Python API)
    assert sheet.value(6, 1) == 3
    _put(google, "Leads!C2", [[""]], "RAW")  # Ann's mark removed (the HTTP API)
    assert _values(google, "Leads!A6")["values"] == [["2"]]
    sheet.insert_rows(2)  # the formula moves to A7 and its range with it
    assert sheet.value(7, 1) == 2
    sheet.set_cell(3, 3, 1)  # Ann, now in row 3, paid again
    assert sheet.value(7, 1) == 3

    # A batch that fails is rolled back: the evaluation is of the sheet as it was.
    before = sheet.reader()
    answer = _batch(
        google,
        {
            "updateCells": {
                "rows": [{"values": [{"userEnteredValue": {"numberValue": 1}}]}],
                "start": {"sheetId": 0, "rowIndex": 3, "columnIndex": 2},
                "fields": "userEnteredValue",
            }
        },
        {
            "deleteDimension": {
                "range": {"sheetId": 7, "dimension": "ROWS", "startIndex": 1, "endIndex": 2}
            }
        },
    )
    assert answer.status_code == 400
    assert sheet.reader() is not before
    assert sheet.value(7, 1) == 3
