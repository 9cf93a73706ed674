"""A row that differs from the remembered read only by a lead id typed into its empty id
cell is read from the remembered lead (issue 13: the cycle after onboarding reads 10,000
such rows), and must read exactly as a full read of the row does, whatever the row holds
and whatever was typed."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import journey_sync.sheet as sheet_module
from journey_sync.ports import SheetSnapshot
from journey_sync.sheet import RowMemo, read_sheet
from journey_sync.workflow import Workflow
from support.world import HEADERS

ID_AT = HEADERS.index("Lead ID")
CELLS = st.one_of(
    st.just(""),
    st.sampled_from(["Ann", " ", "x", "2026-03-04", "#footer:total", "1"]),
    st.sampled_from([1, 2, 46083, 46084.5, 0.5, True, False]),
)
IDS = st.one_of(
    st.sampled_from(["L-ABCD", " L-EFGH ", "", "  ", "#footer:x", "L-ABCD", "1"]),
    st.sampled_from([7, 7.0, True]),
)


@st.composite
def rows(draw: st.DrawFn) -> list[Any]:
    row: list[Any] = draw(st.lists(CELLS, max_size=len(HEADERS)))
    if draw(st.booleans()):  # most leads: a name and a date
        row = row + [""] * (2 - len(row)) if len(row) < 2 else row
        row[0], row[1] = (
            draw(st.sampled_from(["Ann", "Bo Ng"])),
            draw(st.sampled_from([46083, "2026-03-04", "soon"])),
        )
    if len(row) > ID_AT and draw(st.booleans()):
        row[ID_AT] = draw(st.sampled_from(["", " "]))
    return row


def snap(body: list[list[Any]]) -> SheetSnapshot:
    return SheetSnapshot("Leads", tuple(tuple(r) for r in [HEADERS, *body]))


@settings(max_examples=300, deadline=None)
@given(st.lists(rows(), min_size=1, max_size=6), st.data())
def test_a_row_given_its_id_reads_as_a_full_read(
    workflow: Workflow, body: list[list[Any]], data: st.DataObject
) -> None:
    memo = RowMemo()
    first = read_sheet(workflow, snap(body), memo=memo)
    typed = [list(r) for r in body]
    for row in typed:
        if data.draw(st.booleans()):
            row.extend([""] * (ID_AT + 1 - len(row)))
            row[ID_AT] = data.draw(IDS)
            if data.draw(st.booleans()):  # trailing empty cells omitted, as the API does
                while row and row[-1] == "":
                    row.pop()
    again = read_sheet(workflow, snap(typed), memo=memo)
    scratch = read_sheet(workflow, snap(typed))
    assert again == scratch
    for ours, theirs in zip(again.leads, scratch.leads, strict=True):
        assert list(ours.facts.items()) == list(theirs.facts.items())
        assert ours.fingerprint() == theirs.fingerprint()
    assert len(first.leads) <= len(again.leads) + len(body)


def test_the_cycle_after_onboarding_reads_no_row_again(
    workflow: Workflow, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The shape of onboarding's echo: each lead row got its id; every lead is made from
    # the remembered one (no full read of its row), with its id.
    body = [["Ann", 46083, "", "", 1], ["Bo Ng", 46084]]
    memo = RowMemo()
    read_sheet(workflow, snap(body), memo=memo)
    typed = [r + [""] * (ID_AT + 1 - len(r)) for r in body]
    typed[0][ID_AT], typed[1][ID_AT] = "L-AAAA", "L-BBBB"
    full_reads: list[int] = []
    real = sheet_module._read_row

    def counted(*args: Any) -> Any:
        full_reads.append(args[-1])
        return real(*args)

    monkeypatch.setattr(sheet_module, "_read_row", counted)
    again = read_sheet(workflow, snap(typed), memo=memo)
    assert full_reads == []
    monkeypatch.undo()
    assert again == read_sheet(workflow, snap(typed))
    assert [lead.lead_id for lead in again.leads] == ["L-AAAA", "L-BBBB"]
