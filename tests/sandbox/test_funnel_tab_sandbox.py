"""The Funnel tab through the Sheets emulator, as the gateway would write it: addSheet,
addChart with its documented spec, charts read back in spreadsheets.get; charts never
duplicated across restarts; a person's own chart and notes on the tab kept."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta
from typing import Any

import httpx
import pytest

from journey_sync.adapters.tab_requests import add_sheet_request, tab_requests, tab_value_ranges
from journey_sync.dates import date_to_serial
from journey_sync.funnel_tab import FUNNEL_CHART, plan_funnel_tab
from journey_sync.ports import TabWrites
from journey_sync.sheet import Lead, read_sheet
from journey_sync.workflow import Workflow, load_workflows
from journey_sync_sandbox.server import Sandbox
from journey_sync_sandbox.sheets import Spreadsheet
from support.fakes import FakeSheet
from support.world import HEADERS, ROOT

BOOK = "1funnelbook"
TODAY = date(2026, 3, 2)


@pytest.fixture
def book(sandbox: Sandbox) -> Spreadsheet:
    return sandbox.create_spreadsheet("Studio", spreadsheet_id=BOOK, first_sheet="Leads")


WORKFLOW: Workflow = load_workflows(ROOT / "workflows.yaml").workflows[0]


def leads() -> list[Lead]:
    """Two leads of last year: both contacted, Ann booked a meeting."""
    old = date_to_serial(TODAY - timedelta(days=400))
    grid: list[list[object]] = [HEADERS]
    for name, marks in (
        ("Ann", ["Client contacted", "Client meeting booked"]),
        ("Bo", ["Client contacted"]),
    ):
        row: list[object] = [""] * len(HEADERS)
        row[0], row[1] = name, old
        for header in marks:
            row[HEADERS.index(header)] = 1
        grid.append(row)
    found = read_sheet(WORKFLOW, FakeSheet(grid).read()).leads
    return [replace(lead, source="Referral") for lead in found]


def sheets(google: httpx.Client) -> list[dict[str, Any]]:
    answer = google.get(f"/v4/spreadsheets/{BOOK}", params={"fields": "sheets(properties,charts)"})
    assert answer.status_code == 200, answer.text
    return list(answer.json()["sheets"])


def write_tab(google: httpx.Client, writes: TabWrites) -> None:
    """What the gateway does with SheetWrites.tabs."""
    found = [s for s in sheets(google) if s["properties"]["title"] == writes.title]
    if found:
        sheet_id, charts = found[0]["properties"]["sheetId"], found[0].get("charts", [])
    else:
        answer = google.post(
            f"/v4/spreadsheets/{BOOK}:batchUpdate",
            json={"requests": [add_sheet_request(writes.title)]},
        )
        assert answer.status_code == 200, answer.text
        sheet_id, charts = answer.json()["replies"][0]["addSheet"]["properties"]["sheetId"], []
    requests = tab_requests(writes, sheet_id, charts)
    if requests:
        answer = google.post(f"/v4/spreadsheets/{BOOK}:batchUpdate", json={"requests": requests})
        assert answer.status_code == 200, answer.text
    answer = google.post(
        f"/v4/spreadsheets/{BOOK}/values:batchUpdate",
        json={"valueInputOption": "RAW", "data": tab_value_ranges(writes)},
    )
    assert answer.status_code == 200, answer.text


def funnel_sheet(google: httpx.Client) -> dict[str, Any]:
    return next(s for s in sheets(google) if s["properties"]["title"] == "Funnel")


def test_tab_and_charts_created_once_and_kept_with_a_persons_own(
    book: Spreadsheet, google: httpx.Client
) -> None:
    first = plan_funnel_tab(WORKFLOW, leads(), TODAY, None)
    assert first is not None
    write_tab(google, first.writes)
    tab = funnel_sheet(google)
    charts = tab["charts"]
    assert [c["spec"]["title"] for c in charts] == [c.title for c in first.writes.charts]
    bar = charts[0]
    assert bar["spec"]["basicChart"]["chartType"] == "BAR"
    assert (
        bar["spec"]["basicChart"]["domains"][0]["domain"]["sourceRange"]["sources"][0]["sheetId"]
        == tab["properties"]["sheetId"]
    )
    anchor = bar["position"]["overlayPosition"]["anchorCell"]
    assert anchor["columnIndex"] == first.writes.charts[0].anchor_column - 1
    assert isinstance(bar["chartId"], int)

    # A person adds their own chart and a note on the tab, outside journey-sync's block.
    sheet_id = tab["properties"]["sheetId"]
    own = {
        "title": "My own chart",
        "basicChart": {
            "chartType": "COLUMN",
            "domains": [],
            "series": [],
        },
    }
    answer = google.post(
        f"/v4/spreadsheets/{BOOK}:batchUpdate",
        json={
            "requests": [
                {
                    "addChart": {
                        "chart": {
                            "spec": own,
                            "position": {
                                "overlayPosition": {
                                    "anchorCell": {"sheetId": sheet_id, "rowIndex": 60}
                                }
                            },
                        }
                    }
                }
            ]
        },
    )
    assert answer.status_code == 200, answer.text
    book.worksheet("Funnel").set_values("A80", [["Owner's note: call Bo"]])

    # A mark changes: the tab is rewritten; a restart that lost its memory writes again.
    changed = [replace(lead, marks=lead.marks | {"meeting_booked"}) for lead in leads()]
    second = plan_funnel_tab(WORKFLOW, changed, TODAY, first.memory)
    assert second is not None
    write_tab(google, second.writes)
    after_restart = plan_funnel_tab(WORKFLOW, changed, TODAY, None)
    assert after_restart is not None
    write_tab(google, after_restart.writes)

    titles = [c["spec"]["title"] for c in funnel_sheet(google)["charts"]]
    assert sorted(titles) == sorted([c.title for c in first.writes.charts] + ["My own chart"])
    assert titles.count(FUNNEL_CHART) == 1
    values = google.get(f"/v4/spreadsheets/{BOOK}/values/Funnel!A80").json()
    assert values["values"] == [["Owner's note: call Bo"]]
    # The stage table reads the new figures: both leads booked a meeting now.
    table = google.get(
        f"/v4/spreadsheets/{BOOK}/values/Funnel!A1:B8",
        params={"valueRenderOption": "UNFORMATTED_VALUE"},
    ).json()["values"]
    booked = next(row for row in table if row and row[0] == "Client meeting booked")
    assert booked[1] == 2


def test_update_chart_spec_and_bad_charts(book: Spreadsheet, google: httpx.Client) -> None:
    plan = plan_funnel_tab(WORKFLOW, leads(), TODAY, None)
    assert plan is not None
    write_tab(google, plan.writes)
    chart = funnel_sheet(google)["charts"][0]
    spec = {**chart["spec"], "basicChart": {**chart["spec"]["basicChart"], "chartType": "COLUMN"}}
    answer = google.post(
        f"/v4/spreadsheets/{BOOK}:batchUpdate",
        json={"requests": [{"updateChartSpec": {"chartId": chart["chartId"], "spec": spec}}]},
    )
    assert answer.status_code == 200, answer.text
    assert funnel_sheet(google)["charts"][0]["spec"]["basicChart"]["chartType"] == "COLUMN"
    # The builder puts ours back as planned, in place (no second chart).
    sheet_id = funnel_sheet(google)["properties"]["sheetId"]
    requests = tab_requests(plan.writes, sheet_id, funnel_sheet(google)["charts"])
    assert [next(iter(r)) for r in requests if "repeatCell" not in r] == ["updateChartSpec"]
    bad = {"title": "x", "basicChart": {"chartType": "PIE_OF_SOMETHING"}}
    answer = google.post(
        f"/v4/spreadsheets/{BOOK}:batchUpdate",
        json={
            "requests": [
                {
                    "addChart": {
                        "chart": {
                            "spec": bad,
                            "position": {"overlayPosition": {"anchorCell": {"sheetId": sheet_id}}},
                        }
                    }
                }
            ]
        },
    )
    assert answer.status_code == 400
    assert "requests[0].addChart" in answer.text
