"""The real Sheets gateway writes SheetWrites.tabs against the sandbox: the Funnel tab is
created with its charts in the cycle's one batchUpdate, its cells in the one
values.batchUpdate; rewriting (a changed figure, a restart with lost state) never adds a
chart twice, and what a person put on the tab outside the block stays."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from journey_sync.adapters.google_sheets import GoogleSheetsGateway
from journey_sync.dates import date_to_serial
from journey_sync.funnel_tab import CHART_TITLES, FUNNEL_CHART, plan_funnel_tab
from journey_sync.ports import SheetWrites
from journey_sync.sheet import Lead, read_sheet
from journey_sync.workflow import Workflow, load_workflows
from journey_sync_sandbox.server import Sandbox
from support.fakes import FakeSheet
from support.world import HEADERS, ROOT

NOW = datetime(2026, 3, 2, 12, tzinfo=UTC)
TODAY = NOW.date()
WORKFLOW: Workflow = load_workflows(ROOT / "workflows.yaml").workflows[0]


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(clock=lambda: NOW) as running:
        yield running


def leads(booked: bool) -> list[Lead]:
    old = date_to_serial(TODAY - timedelta(days=400))
    grid: list[list[object]] = [HEADERS]
    for name in ("Ann", "Bo"):
        row: list[object] = [""] * len(HEADERS)
        row[0], row[1] = name, old
        row[HEADERS.index("Client contacted")] = 1
        if booked or name == "Ann":
            row[HEADERS.index("Client meeting booked")] = 1
        grid.append(row)
    return [
        replace(lead, source="Referral")
        for lead in read_sheet(WORKFLOW, FakeSheet(grid).read()).leads
    ]


def test_the_gateway_keeps_the_funnel_tab(sandbox: Sandbox, tmp_path: Path) -> None:
    book = sandbox.create_spreadsheet("studio", first_sheet="Leads")
    book.sheets[0].set_values("A1", [HEADERS], raw=True)
    key = sandbox.service_account.write_key_file(
        tmp_path / "key.json", token_uri=f"{sandbox.url}/token"
    )

    def gateway() -> GoogleSheetsGateway:  # a new process each time
        return GoogleSheetsGateway(
            spreadsheet=book.id, worksheet="Leads", credentials_file=key, base_url=sandbox.url
        )

    first = plan_funnel_tab(WORKFLOW, leads(booked=False), date(2026, 3, 2), None)
    assert first is not None
    gateway().apply(SheetWrites(tabs=(first.writes,)))
    tab = book.worksheet("Funnel")
    assert [c["spec"]["title"] for c in tab.charts] == [c.title for c in first.writes.charts]
    book.worksheet("Funnel").set_values("AA90", [["Owner's note"]])

    second = plan_funnel_tab(WORKFLOW, leads(booked=True), date(2026, 3, 2), first.memory)
    assert second is not None
    gateway().apply(SheetWrites(tabs=(second.writes,)))
    lost_state = plan_funnel_tab(WORKFLOW, leads(booked=True), date(2026, 3, 2), None)
    assert lost_state is not None
    gateway().apply(SheetWrites(tabs=(lost_state.writes,)))

    titles = [c["spec"]["title"] for c in book.worksheet("Funnel").charts]
    assert sorted(titles) == sorted(c.title for c in first.writes.charts)
    # What the daily look at the tab sees (a deleted tab: None).
    assert gateway().tab_chart_titles("Funnel") == CHART_TITLES
    assert gateway().tab_chart_titles("No such tab") is None
    assert titles.count(FUNNEL_CHART) == 1
    headers = {"Authorization": f"Bearer {sandbox.access_token()}"}
    with httpx.Client(base_url=sandbox.url, headers=headers, timeout=10) as google:
        note = google.get(f"/v4/spreadsheets/{book.id}/values/Funnel!AA90").json()
        table = google.get(
            f"/v4/spreadsheets/{book.id}/values/Funnel!A1:E8",
            params={"valueRenderOption": "UNFORMATTED_VALUE"},
        ).json()["values"]
    assert note["values"] == [["Owner's note"]]
    booked = next(row for row in table if row and row[0] == "Client meeting booked")
    assert booked[1:] == [2, 1, 0, 0]  # reached, share (100%), not yet due, drop-off
    assert [s.title for s in book.sheets] == ["Leads", "Funnel"]


def test_a_funnel_tab_too_narrow_for_the_sources_is_widened(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    # 30 sources of lead (free text: every typo is one) need more than the 26 columns a
    # tab is made with: Google refuses a write outside the grid, and with it the whole
    # batchUpdate, the lead sheet's writes included, every cycle.
    book = sandbox.create_spreadsheet("studio", first_sheet="Leads")
    book.sheets[0].set_values("A1", [HEADERS], raw=True)
    key = sandbox.service_account.write_key_file(
        tmp_path / "key.json", token_uri=f"{sandbox.url}/token"
    )
    gateway = GoogleSheetsGateway(
        spreadsheet=book.id, worksheet="Leads", credentials_file=key, base_url=sandbox.url
    )
    first = plan_funnel_tab(WORKFLOW, leads(booked=False), TODAY, None)
    assert first is not None
    gateway.apply(SheetWrites(tabs=(first.writes,)))
    columns = book.worksheet("Funnel").column_count
    many = [
        replace(lead, source=f"Source {i}")
        for i, lead in enumerate(leads(booked=True) * 15, start=1)
    ]
    wide = plan_funnel_tab(WORKFLOW, many, TODAY, first.memory)
    assert wide is not None
    needed = max(w.column for w in wide.writes.values)
    assert needed > columns  # the tab as made is too narrow for this
    gateway.apply(SheetWrites(tabs=(wide.writes,)))
    assert book.worksheet("Funnel").column_count >= needed
