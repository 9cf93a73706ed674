"""The cycle after a change reads the rows that change wrote: the sheet-wide facts of the
last read (ids in the sheet, leads over the footer, checkbox columns) are carried over
where the few changed rows cannot have changed them, and ``cells_to_check`` takes a row
that is the very tuple of the last read as it was. Each must equal a read from scratch."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from journey_sync.ports import SheetSnapshot
from journey_sync.sheet import RowMemo, cells_to_check, read_sheet
from journey_sync.workflow import Workflow
from support.world import HEADERS

ID_AT = HEADERS.index("Lead ID")
FIRST_STAGE = HEADERS.index("Client contacted")
MARKS = st.sampled_from(["", 1, True, False, 0, "x", 1.0])
IDS = st.sampled_from(["", "L-1", "L-2", "L-3", "#footer:total", "#footer:share"])


@st.composite
def row(draw: st.DrawFn) -> tuple[Any, ...]:
    cells: list[Any] = [
        draw(st.sampled_from(["Ann", "Bo", "", "Total reached"])),
        draw(st.sampled_from([46083, 46084, "", 5, "soon"])),
        "Friend",
        "Instagram",
    ]
    cells += [draw(MARKS) for _ in range(FIRST_STAGE, ID_AT)]
    cells.append(draw(IDS))
    return tuple(cells)


def snapshot(rows: list[tuple[Any, ...]]) -> SheetSnapshot:
    return SheetSnapshot("Leads", (tuple(HEADERS), *rows))


@settings(max_examples=300, deadline=None)
@given(first=st.lists(row(), min_size=1, max_size=12), data=st.data())
def test_facts_carried_over_equal_a_read_from_scratch(
    workflow: Workflow, first: list[tuple[Any, ...]], data: st.DataObject
) -> None:
    memo = RowMemo()
    before = snapshot(first)
    cells_to_check(workflow, before, memo)
    old = read_sheet(workflow, before, memo=memo)
    # Asked every cycle that is not quiet, so worked out on the last read.
    old.lead_ids, old.over_footer, old.checkbox_stages  # noqa: B018
    second = list(first)  # unchanged rows: the very same tuples, as the gateway hands back
    for i in data.draw(st.sets(st.integers(0, len(first) - 1), max_size=2)):
        cells = list(first[i])
        column = data.draw(st.integers(FIRST_STAGE, ID_AT))
        cells[column] = data.draw(IDS if column == ID_AT else MARKS)
        second[i] = tuple(cells)
    after = snapshot(second)
    assert cells_to_check(workflow, after, memo) == cells_to_check(workflow, after)
    new = read_sheet(workflow, after, memo=memo)
    fresh = read_sheet(workflow, after)
    assert new.lead_ids == fresh.lead_ids
    assert new.over_footer == fresh.over_footer
    assert new.checkbox_stages == fresh.checkbox_stages


def test_a_mark_written_keeps_the_facts_of_the_last_read(workflow: Workflow) -> None:
    rows = [
        ("Ann", 46083, "Friend", "Instagram", False, *[""] * (ID_AT - FIRST_STAGE - 1), "L-1"),
        ("Bo", 46084, "Friend", "Instagram", "", *[""] * (ID_AT - FIRST_STAGE - 1), "L-2"),
    ]
    memo = RowMemo()
    old = read_sheet(workflow, snapshot(rows), memo=memo)
    ids, boxes = old.lead_ids, old.checkbox_stages
    assert boxes == {"contacted"}
    ticked = [(*rows[0][:FIRST_STAGE], True, *rows[0][FIRST_STAGE + 1 :]), rows[1]]
    new = read_sheet(workflow, snapshot(ticked), memo=memo)
    # Carried, not worked out again: the very same objects, before anyone asks.
    assert new.__dict__["lead_ids"] is ids
    assert new.__dict__["checkbox_stages"] == boxes
    assert new.leads[1] is old.leads[1] and new.leads[0].marks == {"contacted"}
