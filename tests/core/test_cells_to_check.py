"""``cells_to_check`` (rows whose meaning depends on which cells are formulas) reads the
row tuples directly for speed: it must pick exactly the rows the rule names, through
ragged rows, blanks, booleans, numbers and text."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from journey_sync.ports import SheetSnapshot
from journey_sync.sheet import FOOTER_MARK, SMALL_DATE_SERIAL, cells_to_check, find_layout
from journey_sync.workflow import Workflow
from support.world import HEADERS

VALUES = st.one_of(
    st.sampled_from(["", "Ann", f"{FOOTER_MARK}total", "L-1", "#foot", 0, 1, True, False]),
    st.just(f"{FOOTER_MARK}share"),
    st.integers(-5, 50_000),
    st.floats(0, 50_000, allow_nan=False),
)


def _by_the_rule(workflow: Workflow, snapshot: SheetSnapshot) -> list[int]:
    """The rule as its docstring says it, cell by cell: a row with a name and a lead date
    whose id cell holds the footer's marker, or whose lead date is a number below 2000."""
    layout = find_layout(workflow, snapshot)
    roles = layout.roles
    found = []
    for row in range(layout.header_row + 1, len(snapshot.rows) + 1):
        name, day = snapshot.cell(row, roles["name"]), snapshot.cell(row, roles["lead_date"])
        if name is None or day is None:
            continue
        marker = snapshot.cell(row, roles["lead_id"])
        marked = isinstance(marker, str) and marker.startswith(FOOTER_MARK)
        small = isinstance(day, int | float) and not isinstance(day, bool)
        if marked or (small and day < SMALL_DATE_SERIAL):
            found.append(row)
    return found


@st.composite
def _row(draw: st.DrawFn) -> tuple[object, ...]:
    """A row whose name, lead date and id cells hold any of ``VALUES``, cut (ragged) at
    any length, as ``values.get`` returns rows without their trailing empty cells."""
    cells: list[object] = [draw(VALUES) for _ in HEADERS]
    for header in ("Client name", "Date of lead", "Lead ID"):
        cells[HEADERS.index(header)] = draw(VALUES)
    whole = st.just(len(cells))  # often whole: the id cell is the last column
    return tuple(cells[: draw(st.one_of(whole, whole, st.integers(0, len(cells))))])


@settings(max_examples=400, deadline=None)
@given(rows=st.lists(_row(), max_size=12))
def test_the_rows_are_those_the_rule_names(
    workflow: Workflow, rows: list[tuple[object, ...]]
) -> None:
    snapshot = SheetSnapshot("Leads", (tuple(HEADERS), *rows))
    assert cells_to_check(workflow, snapshot) == _by_the_rule(workflow, snapshot)
