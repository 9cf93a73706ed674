"""SUMPRODUCT and element-wise operators over ranges, as the footer's "left at this
stage" row uses them, and the "reached" count that holds whether or not Sheets lets
1 match TRUE."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from journey_sync_sandbox.formulas import VALUE, BaseGrid, Scalar, _binary, _fast_binary, evaluate


class DictGrid(BaseGrid):
    def __init__(self, cells: dict[tuple[int, int], Scalar], *, cache: bool = False):
        self.cells = cells
        if cache:
            self.criteria_cache: dict[Any, Any] = {}

    def value(self, row: int, col: int) -> Scalar:
        return self.cells.get((row, col))

    def size(self) -> tuple[int, int]:
        return 20, 5


# Column A: a name or blank; B: the stage cell; C: the next stage's cell.
ROWS: list[tuple[Scalar, Scalar, Scalar]] = [
    ("Ann", 1, None),
    ("Bo", True, None),
    ("Cy", 1, True),  # went on: not "furthest here"
    ("Dee", False, None),
    ("Eve", "1", None),  # text "1" is not the number 1
    (None, 1, None),  # no name: not a lead
    ("Fay", 2, 1),
]


def grid(cache: bool = False) -> DictGrid:
    cells: dict[tuple[int, int], Scalar] = {}
    for row, values in enumerate(ROWS):
        for col, value in enumerate(values):
            if value is not None:
                cells[(row, col)] = value
    return DictGrid(cells, cache=cache)


REACHED_HERE = '=SUMPRODUCT(($A$1:$A$7<>"")*(($B$1:$B$7=1)+($B$1:$B$7=TRUE)>0))'
FURTHEST_HERE = (
    '=SUMPRODUCT(($A$1:$A$7<>"")*(($B$1:$B$7=1)+($B$1:$B$7=TRUE)>0)'
    "*(1-(($C$1:$C$7=1)+($C$1:$C$7=TRUE)>0)))"
)


def test_sumproduct_counts_rows_holding_one_or_true() -> None:
    for cached in (False, True):
        g = grid(cached)
        assert evaluate(REACHED_HERE, g) == 3.0  # Ann, Bo, Cy
        assert evaluate(FURTHEST_HERE, g) == 2.0  # Ann, Bo (Cy went on)
        assert evaluate(FURTHEST_HERE, g) == 2.0  # the cached arrays give the same answer


def test_reached_by_inclusion_exclusion_equals_sumproduct() -> None:
    countifs = (
        '=COUNTIFS($A$1:$A$7,"<>",$B$1:$B$7,1)+COUNTIFS($A$1:$A$7,"<>",$B$1:$B$7,TRUE)'
        '-COUNTIFS($A$1:$A$7,"<>",$B$1:$B$7,1,$B$1:$B$7,TRUE)'
    )
    assert evaluate(countifs, grid()) == evaluate(REACHED_HERE, grid()) == 3.0


def test_sumproduct_of_several_arrays_and_non_numbers() -> None:
    g = DictGrid({(0, 0): 2, (1, 0): 3, (2, 0): "x", (0, 1): 4, (1, 1): 5, (2, 1): 6})
    assert evaluate("=SUMPRODUCT(A1:A3,B1:B3)", g) == 2 * 4 + 3 * 5  # text counts as 0
    assert evaluate("=SUMPRODUCT(A1:A2*2)", g) == 10.0
    assert evaluate("=SUMPRODUCT(A1:A2,B1:B3)", g) == VALUE  # sizes differ


SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 3),
    st.sampled_from([0.0, 1.0, 2.5, -1.0]),
    st.sampled_from(["", "1", "x", "TRUE"]),
)


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from(["+", "-", "*", "=", "<>", "<", ">", "<=", ">="]),
    st.lists(SCALARS, min_size=1, max_size=6),
    st.one_of(SCALARS, st.lists(SCALARS, min_size=6, max_size=6)),
)
def test_the_fast_element_wise_path_agrees_with_the_general_one(
    op: str, left: list[Scalar], right: list[Scalar] | Scalar
) -> None:
    if isinstance(right, list):
        right = right[: len(left)]
    fast = _fast_binary(op, left, right)
    if fast is None:
        return  # the general path decides
    rights = right if isinstance(right, list) else [right] * len(left)
    general = [_binary(op, a, b) for a, b in zip(left, rights, strict=True)]
    assert [float(x) if not isinstance(x, str) else x for x in fast] == [  # type: ignore[arg-type]
        float(x) if not isinstance(x, str) else x  # type: ignore[arg-type]
        for x in general
    ]
