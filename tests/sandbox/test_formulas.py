"""The footer's formula subset, evaluated with Google Sheets semantics."""

from __future__ import annotations

import pytest

from journey_sync_sandbox.formulas import (
    DIV0,
    BaseGrid,
    FormulaError,
    Scalar,
    evaluate,
    shift_formula,
    shift_formula_for_delete,
)


class DictGrid(BaseGrid):
    """A sheet of literal values keyed by A1-ish (row, col), 0-based."""

    def __init__(self, cells: dict[tuple[int, int], Scalar], rows: int = 100, cols: int = 26):
        self.cells = cells
        self.rows, self.cols = rows, cols

    def value(self, row: int, col: int) -> Scalar:
        return self.cells.get((row, col))

    def size(self) -> tuple[int, int]:
        return self.rows, self.cols


def column(
    values: list[Scalar], col: int = 10, first_row: int = 1
) -> dict[tuple[int, int], Scalar]:
    """Values down one column (K by default) from 0-based ``first_row`` (K2)."""
    return {(first_row + i, col): v for i, v in enumerate(values) if v is not None}


@pytest.mark.parametrize(
    ("formula", "expected"),
    [
        ("=1+2*3", 7.0),
        ("=(1+2)*3", 9.0),
        ("=-2+5", 3.0),
        ("=10/4", 2.5),
        ('="a"&"b"&1', "ab1"),
        ("=2^3", 8.0),
        ("=50%", 0.5),
        ('="ABC"="abc"', True),  # text compares case-insensitively
        ('=1<"a"', True),  # numbers sort before text
        ('="z"<TRUE', True),  # text sorts before booleans
        ("=3<>3", False),
        ("=ROUND(2.5)", 3.0),
        ("=ROUND(-2.5)", -3.0),  # half away from zero
        ("=ROUND(2.675, 2)", 2.68),  # on the decimal digits, not the binary float
        ("=ROUND(1234.5, -2)", 1200.0),
        ('=LEN("héllo")', 5.0),
        ("=AND(TRUE, 1, 2>1)", True),
        ("=OR(FALSE, 0)", False),
        ('=IF(1>2, "yes", "no")', "no"),
        ("=IF(FALSE, 1)", False),
        ('=IFERROR(1/0, "none")', "none"),
        ('=IFERROR(4/2, "none")', 2.0),
        ("=1/0", DIV0),
        ('=SUM(1, 2, "3")', 6.0),
        ("=NOSUCH(1)", FormulaError("#NAME?")),
        ("=1+", FormulaError("#ERROR!")),
        ('="say ""hi"""', 'say "hi"'),
    ],
)
def test_scalar_formulas(formula: str, expected: Scalar) -> None:
    assert evaluate(formula, DictGrid({})) == expected


def test_references_absolute_and_relative_read_the_same_cell() -> None:
    grid = DictGrid({(6, 10): 4.0})  # K7
    assert evaluate("=K7", grid) == 4.0
    assert evaluate("=$K$7*2", grid) == 8.0
    assert evaluate("=K$7+$K7", grid) == 8.0


def test_empty_cell_is_zero_in_arithmetic_and_blank_in_comparisons() -> None:
    grid = DictGrid({})
    assert evaluate("=A1+1", grid) == 1.0
    assert evaluate('=A1=""', grid) is True
    assert evaluate("=A1=0", grid) is True
    assert evaluate('=A1<>""', grid) is False


def test_countifs_numeric_criterion_does_not_match_text_one() -> None:
    grid = DictGrid(column([1.0, "1", 1.0, None, 2.0, "x"]))
    assert evaluate("=COUNTIFS(K$2:K$7, 1)", grid) == 2.0
    assert evaluate('=COUNTIF(K$2:K$7, "1")', grid) == 2.0
    assert evaluate('=COUNTIFS(K2:K7, "<>")', grid) == 5.0
    assert evaluate('=COUNTIFS(K2:K7, "")', grid) == 1.0
    # "<>1" counts everything that is not the number 1, blanks included.
    assert evaluate('=COUNTIFS(K2:K7, "<>1")', grid) == 4.0
    assert evaluate('=COUNTIFS(K2:K7, ">=2")', grid) == 1.0
    assert evaluate('=COUNTIF(K2:K7, "X")', grid) == 1.0


def test_countifs_several_criteria_and_open_range() -> None:
    cells = column([1.0, 1.0, None, 1.0]) | column(["r", None, "r", "r"], col=18)
    grid = DictGrid(cells, rows=10)
    assert evaluate('=COUNTIFS(K2:K, 1, S2:S, "<>")', grid) == 2.0
    assert evaluate("=COUNTIFS(K2:K5, 1, S2:S4, 1)", grid) == FormulaError("#VALUE!")


def test_counta_sum_over_ranges() -> None:
    grid = DictGrid(column([1.0, "a", None, 2.5, True]))
    assert evaluate("=COUNTA(K2:K6)", grid) == 4.0
    assert evaluate("=SUM(K2:K6)", grid) == 3.5  # text and booleans in a range are skipped


def test_share_formula_with_iferror_on_zero_leads() -> None:
    grid = DictGrid(column([1.0, None]) | {(0, 0): 0.0})
    assert evaluate('=IFERROR(ROUND(COUNTIFS(K2:K3,1)/A1*100,1),"")', grid) == ""


def test_offset_moves_relative_parts_only() -> None:
    grid = DictGrid({(4, 10): 1.0, (4, 18): "gone", (1, 0): "top"})
    # Written for row 2, applied to row 5 (offset 3 rows).
    assert evaluate('=AND($S2<>"", $K2=1)', grid, offset=(3, 0)) is True
    assert evaluate("=$A$2", grid, offset=(3, 0)) == "top"


def test_shift_formula_on_insert_moves_refs_at_or_after_and_grows_spanning_ranges() -> None:
    formula = "=COUNTIFS(K$2:K$19,1)/COUNTA($A$2:$A$19)+K20-K1"
    assert shift_formula(formula, 5, 2) == "=COUNTIFS(K$2:K$21,1)/COUNTA($A$2:$A$21)+K22-K1"
    # Inserting at the range's first row moves it whole instead of growing it.
    assert shift_formula("=SUM(K2:K5)", 2, 1) == "=SUM(K3:K6)"
    # Inserting right after the range leaves it alone.
    assert shift_formula("=SUM(K2:K5)", 6, 3) == "=SUM(K2:K5)"
    # Text inside strings is never touched; whole-column ranges do not move.
    assert shift_formula('=K3&"K3"&COUNTA(K:K)', 1, 1) == '=K4&"K3"&COUNTA(K:K)'


def test_shift_formula_columns() -> None:
    assert shift_formula("=SUM(B1:D1)+E2", 3, 1, dimension="COLUMNS") == "=SUM(B1:E1)+F2"


def test_shift_formula_for_delete() -> None:
    assert shift_formula_for_delete("=K10+K3", 5, 2) == "=K8+K3"
    assert shift_formula_for_delete("=K5+1", 5, 2) == "=#REF!+1"
    assert shift_formula_for_delete("=SUM(K2:K10)", 5, 2) == "=SUM(K2:K8)"
    assert shift_formula_for_delete("=SUM(K5:K6)", 5, 2) == "=SUM(#REF!)"
    assert shift_formula_for_delete("=SUM(K4:K10)", 3, 3) == "=SUM(K3:K7)"
    assert evaluate("=SUM(#REF!)", DictGrid({})) == FormulaError("#REF!")
