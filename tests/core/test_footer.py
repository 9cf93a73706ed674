"""The footer's formulas evaluate to exactly the figures journey-sync computes in Python
(and prints in `journey-sync report`), for any sheet."""

from __future__ import annotations

from datetime import date

from hypothesis import given, settings
from hypothesis import strategies as st

from journey_sync.dates import date_to_serial
from journey_sync.footer import expected_values, plan_footer
from journey_sync.funnel import funnel, percent
from journey_sync.ports import SheetWrites
from journey_sync.sheet import read_sheet
from journey_sync.workflow import Workflow, load_workflows
from support.fakes import FakeSheet
from support.world import HEADERS, ROOT

WORKFLOW: Workflow = load_workflows(ROOT / "workflows.yaml").workflows[0]
STAGES = [s.header for s in WORKFLOW.stages]

lead_rows = st.lists(
    st.tuples(
        st.sampled_from(["Ann", "Bo", " ", "Cy Dunn"]),
        st.one_of(
            st.just(date_to_serial(date(2026, 3, 2))), st.just("2026-04-01"), st.just("someday")
        ),
        st.lists(
            st.sampled_from([None, 1, 1, 1, "x", 0, 2]), min_size=len(STAGES), max_size=len(STAGES)
        ),
        st.sampled_from([None, None, "Moved away", "Price"]),
        st.booleans(),  # an empty row instead
    ),
    max_size=25,
)


def build(rows: list[tuple]) -> FakeSheet:  # type: ignore[type-arg]
    grid: list[list[object]] = [HEADERS]
    for name, day, marks, reason, empty in rows:
        if empty:
            grid.append([])
            continue
        row: list[object] = [""] * len(HEADERS)
        row[0], row[1] = name, day
        for header, mark in zip(STAGES, marks, strict=True):
            row[HEADERS.index(header)] = "" if mark is None else mark
        row[HEADERS.index("Reason for discontinue")] = reason or ""
        grid.append(row)
    return FakeSheet(grid)


@settings(max_examples=60, deadline=None)
@given(lead_rows)
def test_footer_formulas_evaluate_to_the_python_figures(rows: list[tuple]) -> None:  # type: ignore[type-arg]
    sheet = build(rows)
    model = read_sheet(WORKFLOW, sheet.read())
    figures = funnel(WORKFLOW, model.leads)
    footer = plan_footer(WORKFLOW, model, figures)
    assert footer is not None
    sheet.apply(SheetWrites(inserts=footer.inserts, values=footer.values, formulas=footer.formulas))
    after = read_sheet(WORKFLOW, sheet.read())
    expected = expected_values(after.layout, figures, footer.start)
    snapshot = sheet.read()
    for (row, column), value in expected.items():
        got = snapshot.cell(row, column)
        if isinstance(value, float):
            assert got is not None and abs(float(got) - value) < 1e-9, (row, column, got, value)  # type: ignore[arg-type]
        else:
            assert got == value, (row, column, got, value)
    # A footer that reads right is left alone.
    assert plan_footer(WORKFLOW, after, funnel(WORKFLOW, after.leads)) is None


def test_percent_rounds_half_away_from_zero_like_sheets() -> None:
    assert percent(1, 8) == 12.5
    assert percent(49, 400) == 12.3  # 12.25 -> 12.3 (Python's round() would say 12.2)
    assert percent(3, 0) == 0.0


def test_figures_by_hand() -> None:
    sheet = build(
        [
            ("Ann", 46083, [1, 1, 1, None, None, 1, None, None, None, None, None], None, False),
            (
                "Bo",
                46083,
                [1, 1, None, None, None, None, None, None, None, None, None],
                "Price",
                False,
            ),
            (
                "Cy",
                46083,
                [1, None, None, None, None, None, None, None, None, None, None],
                None,
                False,
            ),
            ("Dee", 46083, [None] * 11, "Moved", False),
        ]
    )
    figures = funnel(WORKFLOW, read_sheet(WORKFLOW, sheet.read()).leads)
    contacted, booked, had = figures.stages[:3]
    assert (figures.leads, figures.still_in_journey, figures.still_share) == (4, 2, 50.0)
    assert (contacted.reached, contacted.share, contacted.drop_off) == (3, 75.0, 25.0)
    assert (booked.reached, booked.drop_off, booked.left_here) == (2, 33.3, 1)
    assert (had.reached, had.drop_off) == (1, 50.0)
    assert figures.left_before_any_stage == 1
