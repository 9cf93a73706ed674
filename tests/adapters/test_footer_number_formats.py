"""The footer's one number format per row reaches the sheet: the real gateway sends
FormulaWrite.number_format with the formula, in the same updateCells request."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from journey_sync.adapters.google_sheets import GoogleSheetsGateway
from journey_sync.ports import FormulaWrite, SheetWrites
from journey_sync_sandbox.server import Sandbox

NOW = datetime(2026, 3, 2, 12, tzinfo=UTC)


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(clock=lambda: NOW) as running:
        yield running


def test_percent_and_count_formats_are_set_with_the_formulas(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    book = sandbox.create_spreadsheet("formats", first_sheet="Leads")
    book.sheets[0].set_values("A1", [["Client name", "Date of lead"], ["Ann", 46083]], raw=True)
    key = sandbox.service_account.write_key_file(
        tmp_path / "key.json", token_uri=f"{sandbox.url}/token"
    )
    gateway = GoogleSheetsGateway(
        spreadsheet=book.id, worksheet="Leads", credentials_file=key, base_url=sandbox.url
    )
    gateway.apply(
        SheetWrites(
            formulas=(
                FormulaWrite(4, 1, "=ROUND(2/3,3)", number_format="0.0%"),
                FormulaWrite(5, 1, "=2", number_format="0"),
                FormulaWrite(6, 1, "=3"),  # no format asked: left alone
            )
        )
    )
    headers = {"Authorization": f"Bearer {sandbox.access_token()}"}
    with httpx.Client(base_url=sandbox.url, headers=headers, timeout=10) as google:
        answer = google.get(
            f"/v4/spreadsheets/{book.id}",
            params={
                "ranges": "Leads!A4:A6",
                "fields": "sheets.data.rowData.values(userEnteredFormat,formattedValue)",
            },
        )
    assert answer.status_code == 200, answer.text
    rows = answer.json()["sheets"][0]["data"][0]["rowData"]
    formats = [row["values"][0].get("userEnteredFormat", {}).get("numberFormat") for row in rows]
    assert formats == [
        {"type": "PERCENT", "pattern": "0.0%"},
        {"type": "NUMBER", "pattern": "0"},
        None,
    ]
    assert gateway.read().cell(4, 1) == 0.667  # the value itself stays a fraction
