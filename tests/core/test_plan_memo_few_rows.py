"""A cycle in which a few rows changed (a mark written, a cell typed) updates the last
identities and funnel figures for those rows (``PlanMemo``) instead of working them out
for every lead, and gets exactly what working them out from scratch gives."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

from hypothesis import given, settings
from hypothesis import strategies as st

import journey_sync.plan as plan_module
from journey_sync.funnel import funnel
from journey_sync.identity import identify
from journey_sync.plan import PlanMemo
from journey_sync.ports import SheetSnapshot
from journey_sync.records import Memory
from journey_sync.sheet import Lead, SheetModel, find_layout
from journey_sync.workflow import Workflow
from support.world import HEADERS

TODAY = date(2026, 3, 2)
NAMES = ["Ann Lee", "Bo Ng", "", "Ann  lee", "Cy Oh"]
DAYS = [46000, 46080, 46083, "3/1/2026", "", 46100.5]


def _leads(workflow: Workflow) -> st.SearchStrategy[list[Lead]]:
    keys = [s.key for s in workflow.stages]

    @st.composite
    def one(draw: st.DrawFn, row: int) -> Lead:
        return Lead(
            row=row,
            name=draw(st.sampled_from(NAMES)),
            raw_date=draw(st.sampled_from(DAYS)),
            lead_date=None,
            lead_id=draw(st.sampled_from(["L1", "L2", "L3", "L4", "L9"])),
            marks=frozenset(draw(st.lists(st.sampled_from(keys), max_size=4))),
            filled=frozenset(),
            reason_left=draw(st.sampled_from([None, "moved away"])),
            left_on=None,
            coach=None,
            source=None,
            computed_date=draw(st.booleans()),
        )

    return st.integers(1, 8).flatmap(
        lambda n: st.tuples(*[one(row) for row in range(2, 2 + n)]).map(list)
    )


def _model(workflow: Workflow, leads: list[Lead]) -> SheetModel:
    snapshot = SheetSnapshot("Leads", (tuple(HEADERS),))
    return SheetModel(
        snapshot=snapshot,
        layout=find_layout(workflow, snapshot),
        leads=tuple(leads),
        problems=(),
        footer=(),
        last_data_row=1 + len(leads),
    )


@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_few_changed_rows_give_the_figures_and_identities_from_scratch(
    workflow: Workflow, data: st.DataObject
) -> None:  # type: ignore[no-untyped-def]
    first = data.draw(_leads(workflow))
    second = list(first)
    for i in data.draw(st.sets(st.integers(0, len(first) - 1), max_size=3)):
        kind = data.draw(st.sampled_from(["marks", "left", "name", "id"]))
        lead = first[i]
        if kind == "marks":
            keys = [s.key for s in workflow.stages]
            second[i] = replace(lead, marks=lead.marks ^ {data.draw(st.sampled_from(keys))})
        elif kind == "left":
            second[i] = replace(lead, reason_left=None if lead.reason_left else "gone")
        elif kind == "name":
            second[i] = replace(lead, name=data.draw(st.sampled_from(NAMES)))
        else:
            second[i] = replace(lead, lead_id=data.draw(st.sampled_from(["L1", "L2", "L9"])))
    # Every row has an id (a row without one gets a new id, and such identities are not
    # kept); some the state remembers, one (L9) it does not (a lost state file).
    memory = Memory(
        leads={"L1": ("ann lee", "46000"), "L2": ("bo ng", "46080"), "L3": ("", "46083")}
    )

    def ids() -> str:
        raise AssertionError("the kept identities write no id")

    memo = PlanMemo()
    for leads in (first, second):
        assert memo.funnel(workflow, leads, TODAY) == funnel(workflow, leads, TODAY)
        numbered = iter(f"N{i}" for i in range(100)).__next__
        scratch = identify(_model(workflow, leads), memory, numbered)
        if any(p.id_written for p in scratch.placed) or scratch.claimed:
            return  # not kept: worked out again each cycle
        assert memo.identify(_model(workflow, leads), memory, ids) == scratch
        assert memo.identities is not None


def test_a_mark_written_updates_the_kept_figures_and_identities(
    workflow: Workflow, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    keys = [s.key for s in workflow.stages]
    leads = [
        Lead(
            row,
            f"Client {row}",
            46000 + row,
            None,
            f"L{row}",
            frozenset(),
            frozenset(),
            None,
            None,
            None,
            None,
        )
        for row in range(2, 40)
    ]
    memory = Memory(leads={f"L{row}": (f"client {row}", str(46000 + row)) for row in range(2, 40)})
    memo = PlanMemo()
    memo.identify(_model(workflow, leads), memory, lambda: "unused")
    memo.funnel(workflow, leads, TODAY)
    worked_out: list[str] = []
    monkeypatch.setattr(plan_module, "identify", lambda *a: worked_out.append("identify"))
    monkeypatch.setattr(plan_module, "Tally", lambda *a: worked_out.append("tally"))
    changed = list(leads)
    changed[5] = replace(leads[5], marks=frozenset({keys[0]}))
    found = memo.identify(_model(workflow, changed), memory, lambda: "unused")
    figures = memo.funnel(workflow, changed, TODAY)
    assert worked_out == []
    assert figures == funnel(workflow, changed, TODAY)
    assert figures.stages[0].reached == 1
    assert [p.lead for p in found.placed] == changed
    assert found.placed[5].lead is changed[5]


@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_the_ids_to_write_are_kept_through_a_few_changed_rows_and_equal_a_fresh_pass(
    workflow: Workflow, data: st.DataObject
) -> None:  # type: ignore[no-untyped-def]
    first = data.draw(_leads(workflow))
    memory = Memory(
        leads={"L1": ("ann lee", "46000"), "L2": ("bo ng", "46080"), "L3": ("", "46083")}
    )
    memo = PlanMemo()
    model = _model(workflow, first)
    memo.keep_only(model.leads)
    kept = memo.identify(model, memory, lambda: "unused")
    if memo.identities is None:
        return  # not kept (an id to write): worked out again each cycle
    memo.ids(kept, memory, 19)
    second = list(first)
    i = data.draw(st.integers(0, len(first) - 1))
    keys = [s.key for s in workflow.stages]
    second[i] = replace(first[i], marks=first[i].marks ^ {data.draw(st.sampled_from(keys))})
    again = _model(workflow, second)
    memo.keep_only(again.leads)  # as the engine does between the read and the plan
    found = memo.identify(again, memory, lambda: "unused")
    passes: list[int] = []
    real = plan_module.plan_ids

    def counted(*a):  # type: ignore[no-untyped-def]
        passes.append(1)
        return real(*a)

    plan_module.plan_ids = counted  # type: ignore[assignment]
    try:
        ids = memo.ids(found, memory, 19)
    finally:
        plan_module.plan_ids = real
    assert passes == []  # kept, not worked out again
    assert list(ids) == list(real(found, memory, 19))
