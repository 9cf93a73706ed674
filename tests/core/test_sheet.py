"""Reading a snapshot as the Sheets API returns it into leads."""

from __future__ import annotations

import json
from datetime import date

import pytest

from journey_sync.errors import SheetLayoutError
from journey_sync.ports import SheetSnapshot
from journey_sync.sheet import column_letter, read_sheet
from journey_sync.workflow import Workflow
from support.recordings import RECORDINGS
from support.world import HEADERS


def snap(*rows: tuple[object, ...] | list[object]) -> SheetSnapshot:
    return SheetSnapshot("Leads", tuple(tuple(r) for r in rows))  # type: ignore[misc]


def test_ragged_rows_serial_dates_and_trailing_cells_omitted(workflow: Workflow) -> None:
    model = read_sheet(
        workflow,
        snap(
            HEADERS,
            ["Ann", 46083, "Friend", "Instagram", 1],  # the rest of the row omitted
            [],  # an empty row in between comes back as []
            ["Bob", 46084.5],  # a date with a time of day
        ),
    )
    ann, bob = model.leads
    assert (ann.row, ann.lead_date, ann.marks, ann.source) == (
        2,
        date(2026, 3, 2),
        {"contacted"},
        "Instagram",
    )
    assert (bob.row, bob.lead_date, bob.marks) == (4, date(2026, 3, 3), frozenset())
    assert ann.lead_id is None and not ann.departed


def test_headers_match_forgivingly_and_in_any_order(workflow: Workflow) -> None:
    shuffled = list(reversed(HEADERS))
    shuffled[shuffled.index("Client name")] = "  client NAME "
    row: list[object] = [""] * len(shuffled)
    row[shuffled.index("  client NAME ")] = "Cy"
    row[shuffled.index("Date of lead")] = "2026-03-04"
    model = read_sheet(workflow, snap(shuffled, row))
    assert model.leads[0].name == "Cy" and model.leads[0].lead_date == date(2026, 3, 4)


def test_missing_column_names_what_it_wanted_and_what_it_found(workflow: Workflow) -> None:
    headers = [h for h in HEADERS if h != "Referred to coach"]
    with pytest.raises(SheetLayoutError) as info:
        read_sheet(workflow, snap(headers))
    message = str(info.value)
    assert "'Referred to coach'" in message
    assert "Headers found: 'Client name', 'Date of lead'" in message


def test_a_missing_lead_id_column_says_what_adding_it_back_does(workflow: Workflow) -> None:
    headers = [h for h in HEADERS if h != "Lead ID"]
    with pytest.raises(SheetLayoutError) as info:
        read_sheet(workflow, snap(headers))
    message = str(info.value)
    assert "add it back with that header (empty is fine)" in message
    assert "gets its id back from its name and lead date, and no new tasks" in message


def test_empty_sheet_says_no_headers(workflow: Workflow) -> None:
    with pytest.raises(SheetLayoutError, match="none"):
        read_sheet(workflow, snap())


def test_unreadable_date_is_a_problem_of_that_row_only(workflow: Workflow) -> None:
    model = read_sheet(
        workflow, snap(HEADERS, ["Ann", "next tuesday"], ["Bob", "31/03/2026"], ["Cy", True])
    )
    assert [lead.lead_date for lead in model.leads] == [None, date(2026, 3, 31), None]
    assert [p.row for p in model.problems] == [2, 4]
    assert "next tuesday" in model.problems[0].message
    assert model.problems[0].column == HEADERS.index("Date of lead") + 1


def test_a_row_is_a_lead_only_with_name_and_date(workflow: Workflow) -> None:
    model = read_sheet(workflow, snap(HEADERS, ["Ann"], ["", 46082], ["Bob", 46082]))
    assert [lead.name for lead in model.leads] == ["Bob"]
    assert model.last_data_row == 4


def test_footer_rows_are_never_leads_but_a_lead_typed_over_one_is(workflow: Workflow) -> None:
    id_col = HEADERS.index("Lead ID")
    footer = [""] * (id_col + 1)
    footer[0] = "Total reached"
    footer[4] = 3
    footer[id_col] = "#footer:total"
    typed_over = list(footer)
    typed_over[0], typed_over[1] = "Dee", 46090
    typed_over[id_col] = "#footer:share"
    model = read_sheet(workflow, snap(HEADERS, ["Ann", 46082], [], footer, typed_over))
    assert [(f.row, f.kind) for f in model.footer] == [(4, "total")]
    dee = model.leads[1]
    assert dee.name == "Dee" and dee.over_footer and dee.lead_id is None
    assert dee.marks == frozenset()  # the footer's numbers are not marks


def test_reads_the_recorded_sparse_values_shape(workflow: Workflow) -> None:
    # The recorded values.get answer: ragged rows with trailing empties omitted.
    cassette = json.loads(
        (RECORDINGS / "gsheets_values_get_sparse_trailing_cells_and_rows_omitted.json").read_text()
    )
    bodies = [
        i["response"]["body_json"]
        for i in cassette["interactions"]
        if i["request"]["method"] == "GET" and "/values/" in i["request"]["uri"]
    ]
    sparse = next(b for b in bodies if b.get("values") and len({len(r) for r in b["values"]}) > 1)
    rows = [HEADERS, *[["Lead", 46082, *r] for r in sparse["values"]]]
    model = read_sheet(workflow, snap(*rows))
    assert len(model.leads) == len(sparse["values"])


def test_column_letters() -> None:
    assert [column_letter(n) for n in (1, 19, 26, 27, 52, 703)] == [
        "A",
        "S",
        "Z",
        "AA",
        "AZ",
        "AAA",
    ]


def test_leads_with_the_same_stages_share_one_set_object(workflow: Workflow) -> None:
    # Issue 13: each lead holds five stage sets; at 10,000 leads a new (216-byte) object
    # each held 11 MB. Equal sets are one object, so the daemon's memory stays small.
    model = read_sheet(
        workflow,
        snap(
            HEADERS,
            ["Ann", 46083, "Friend", "Instagram", 1],
            ["Bob", 46084, "Friend", "Instagram", 1],
            ["Cy", 46085, "Friend", "Instagram"],
            ["Di", 46086, "Friend", "Instagram"],
        ),
    )
    ann, bob, cy, di = model.leads
    assert ann.marks == {"contacted"} and ann.marks is bob.marks
    assert cy.marks == frozenset() and cy.marks is di.marks
    sets = {id(s) for lead in model.leads for s in (lead.odd, lead.unticked, lead.footer_leftovers)}
    assert len(sets) == 1


def test_the_row_memo_reuses_a_row_read_as_before_and_reads_one_whose_types_changed(
    workflow: Workflow,
) -> None:
    from journey_sync.sheet import RowMemo

    ann = ("Ann", 46083, "Friend", "Instagram", 1)
    bo = ("Bo", 46084, "Friend", "Instagram", 0)
    memo = RowMemo()
    first = read_sheet(workflow, SheetSnapshot("Leads", (tuple(HEADERS), ann, bo)), memo=memo)
    # Ann: the very same tuple (as the Sheets gateway hands an unchanged row back). Bo: his
    # 0 became an unticked checkbox, FALSE: equal in Python (0 == False), not in a sheet.
    bo_box = ("Bo", 46084, "Friend", "Instagram", False)
    second = read_sheet(workflow, SheetSnapshot("Leads", (tuple(HEADERS), ann, bo_box)), memo=memo)
    assert second.leads[0] is first.leads[0]
    assert first.leads[1].odd == {"contacted"} and not first.leads[1].unticked
    assert second.leads[1].unticked == {"contacted"} and not second.leads[1].odd
    # An equal row of equal types in another tuple (a gateway that builds new ones): reused.
    third = read_sheet(
        workflow, SheetSnapshot("Leads", (tuple(HEADERS), tuple(list(ann)), bo_box)), memo=memo
    )
    assert third.leads[0] is first.leads[0] and third.leads[1] is second.leads[1]
