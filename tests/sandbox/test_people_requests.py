"""The batchUpdate requests people's own tools send (Data > Sort range, copy and paste,
cut and paste, Insert > Checkbox), as the Sheets API documents them: the end-to-end
tests of what staff do go through these."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from journey_sync_sandbox.server import Sandbox
from journey_sync_sandbox.sheets import Spreadsheet

BOOK = "1peoplebook"


@pytest.fixture
def book(sandbox: Sandbox) -> Spreadsheet:
    book = sandbox.create_spreadsheet("Studio", spreadsheet_id=BOOK, first_sheet="Leads")
    book.worksheet("Leads").set_values(
        "A1",
        [
            ["Client name", "Date of lead", "Client contacted"],
            ["bo", 46000, 1],
            ["Ann", 46001, ""],
            ["", 46002, ""],
            ["Cy", 45999, True],
        ],
        raw=True,
    )
    return book


def batch(google: httpx.Client, *requests: dict[str, Any]) -> httpx.Response:
    return google.post(f"/v4/spreadsheets/{BOOK}:batchUpdate", json={"requests": list(requests)})


def grid(book: Spreadsheet) -> list[list[Any]]:
    return book.worksheet("Leads").evaluated_rows()


def rows(first: int, last: int, columns: int = 3) -> dict[str, int]:
    """A GridRange of sheet rows first..last (1-based, inclusive)."""
    return {
        "sheetId": 0,
        "startRowIndex": first - 1,
        "endRowIndex": last,
        "startColumnIndex": 0,
        "endColumnIndex": columns,
    }


def test_sort_range_orders_rows_text_case_aside_and_blanks_last(
    book: Spreadsheet, google: httpx.Client
) -> None:
    spec = {"dimensionIndex": 0, "sortOrder": "ASCENDING"}
    answer = batch(google, {"sortRange": {"range": rows(2, 5), "sortSpecs": [spec]}})
    assert answer.status_code == 200, answer.text
    assert answer.json()["replies"] == [{}]
    assert [r[0] for r in grid(book)[1:5]] == ["Ann", "bo", "Cy", ""]
    assert grid(book)[3] == ["Cy", 45999, True]  # whole rows move
    down = {"dimensionIndex": 0, "sortOrder": "DESCENDING"}
    assert batch(google, {"sortRange": {"range": rows(2, 5), "sortSpecs": [down]}}).is_success
    assert [r[0] for r in grid(book)[1:5]] == ["Cy", "bo", "Ann", ""]  # blanks still last


def test_sort_range_by_a_number_column(book: Spreadsheet, google: httpx.Client) -> None:
    spec = {"dimensionIndex": 1, "sortOrder": "ASCENDING"}
    assert batch(google, {"sortRange": {"range": rows(2, 5), "sortSpecs": [spec]}}).is_success
    assert [r[1] for r in grid(book)[1:5]] == [45999, 46000, 46001, 46002]


def test_copy_paste_and_cut_paste_move_a_row(book: Spreadsheet, google: httpx.Client) -> None:
    copy = {"source": rows(2, 2), "destination": rows(7, 7), "pasteType": "PASTE_NORMAL"}
    assert batch(google, {"copyPaste": copy}).is_success
    assert grid(book)[6] == grid(book)[1] == ["bo", 46000, 1]
    cut = {
        "source": rows(7, 7),
        "destination": {"sheetId": 0, "rowIndex": 9, "columnIndex": 0},
        "pasteType": "PASTE_NORMAL",
    }
    assert batch(google, {"cutPaste": cut}).is_success
    assert grid(book)[9] == ["bo", 46000, 1]
    assert len(grid(book)) == 10 and not any(grid(book)[6])


def test_checkboxes_are_a_validation_rule_and_false_values(
    book: Spreadsheet, google: httpx.Client
) -> None:
    column = {
        "sheetId": 0,
        "startRowIndex": 1,
        "endRowIndex": 5,
        "startColumnIndex": 2,
        "endColumnIndex": 3,
    }
    rule = {"condition": {"type": "BOOLEAN"}, "strict": True}
    assert batch(google, {"setDataValidation": {"range": column, "rule": rule}}).is_success
    assert [[*r, "", "", ""][2] for r in grid(book)[1:5]] == [1, "", "", True]  # left alone
    got = google.get(
        f"/v4/spreadsheets/{BOOK}",
        params={"ranges": "Leads!C3", "includeGridData": "true"},
    ).json()
    cell = got["sheets"][0]["data"][0]["rowData"][0]["values"][0]
    assert cell["dataValidation"] == rule
    assert batch(google, {"setDataValidation": {"range": column}}).is_success  # removed
    bad = batch(google, {"setDataValidation": {"range": column, "rule": {"strict": True}}})
    assert bad.status_code == 400 and "condition" in bad.text
