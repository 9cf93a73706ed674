"""A1 notation: column letters, range parsing and the echoed range form.

Behaviour follows the recorded Sheets v4 traffic in ``tests/recordings``
(``gsheets_values_get_range_normalization.json``): a reversed range ``D4:A1`` is
echoed as ``A1:D4``, open ranges (``A1:C``, ``A1:1``, ``A:A``) are clipped to the
grid, a 1x1 range is echoed as a single cell (``Sheet1!B1``) and a sheet title is
quoted only when it has to be (``'D3'!A1:D4``, but ``Sheet1!A1:D4``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from journey_sync.sheet import column_letter

_CELLS = re.compile(
    r"^(?P<c1>\$?[A-Za-z]+)?(?P<r1>\$?[0-9]+)?(?::(?P<c2>\$?[A-Za-z]+)?(?P<r2>\$?[0-9]+)?)?$"
)
_PLAIN_TITLE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_LOOKS_LIKE_A1 = re.compile(r"^[A-Za-z]{1,3}[0-9]+$")
_LOOKS_LIKE_R1C1 = re.compile(r"^[Rr][0-9]*[Cc][0-9]*$")


class A1Error(ValueError):
    """The text is not a range Sheets can parse."""


def column_index(letters: str) -> int:
    """Letters -> 0-based column index (A -> 0)."""
    value = 0
    for char in letters.upper():
        if not "A" <= char <= "Z":
            raise ValueError(f"{letters!r} is not a column")
        value = value * 26 + (ord(char) - ord("A") + 1)
    return value - 1


@dataclass(frozen=True)
class Bounds:
    """A block of cells, 0-based and inclusive; ``None`` is an open side."""

    row_start: int | None
    row_end: int | None
    col_start: int | None
    col_end: int | None

    def clip(self, rows: int, columns: int) -> Box:
        """Close the open sides at the grid's edges."""
        return Box(
            0 if self.row_start is None else self.row_start,
            rows - 1 if self.row_end is None else self.row_end,
            0 if self.col_start is None else self.col_start,
            columns - 1 if self.col_end is None else self.col_end,
        )


@dataclass(frozen=True)
class Box:
    """A closed block of cells, 0-based and inclusive."""

    row_start: int
    row_end: int
    col_start: int
    col_end: int

    @property
    def rows(self) -> int:
        return self.row_end - self.row_start + 1

    @property
    def columns(self) -> int:
        return self.col_end - self.col_start + 1

    def a1(self) -> str:
        first = f"{column_letter(self.col_start + 1)}{self.row_start + 1}"
        if self.rows == 1 and self.columns == 1:
            return first  # the recordings echo "Sheet1!B1", never "B1:B1"
        return f"{first}:{column_letter(self.col_end + 1)}{self.row_end + 1}"


def parse_cells(text: str) -> Bounds:
    """Parse the part after ``!``: ``A1``, ``A1:D4``, ``D4:A1``, ``A:A``, ``A1:C``, ``1:1``."""
    match = _CELLS.match(text.strip())
    if not match or not text.strip():
        raise A1Error(text)
    c1, r1, c2, r2 = (match.group(k) for k in ("c1", "r1", "c2", "r2"))
    has_second = ":" in text
    if not has_second:
        if c1 is None or r1 is None:
            raise A1Error(text)  # "A" or "1" alone is not a range
        c2, r2 = c1, r1
    if (c1 is None and r1 is None) or (c2 is None and r2 is None):
        raise A1Error(text)
    cols = [None if c is None else column_index(c.lstrip("$")) for c in (c1, c2)]
    rows = [None if r is None else int(r.lstrip("$")) - 1 for r in (r1, r2)]
    if any(r is not None and r < 0 for r in rows):
        raise A1Error(text)
    # "A:A" and "1:1" are whole columns/rows; "A1:C" leaves the end row open.
    row_start, row_end = _ordered(rows[0], rows[1])
    col_start, col_end = _ordered(cols[0], cols[1])
    if c1 is None and c2 is None:
        col_start = col_end = None
    if r1 is None and r2 is None:
        row_start = row_end = None
    return Bounds(row_start, row_end, col_start, col_end)


def _ordered(a: int | None, b: int | None) -> tuple[int | None, int | None]:
    if a is None:
        return None, b
    if b is None:
        return a, None
    return (a, b) if a <= b else (b, a)


def split_range(text: str) -> tuple[str | None, str | None]:
    """Split ``'My sheet'!A1:B2`` into (title, cells); either may be ``None``.

    An unquoted text without ``!`` is returned as (text, None): it may be a sheet
    title or a bare A1 range, which only the spreadsheet can tell apart.
    """
    text = text.strip()
    if text.startswith("'"):
        title, index = _read_quoted(text)
        rest = text[index:]
        if not rest:
            return title, None
        if not rest.startswith("!"):
            raise A1Error(text)
        return title, rest[1:] or None
    if "!" in text:
        title, _, cells = text.rpartition("!")
        return title, cells or None
    return text, None


def _read_quoted(text: str) -> tuple[str, int]:
    out: list[str] = []
    i = 1
    while i < len(text):
        char = text[i]
        if char == "'":
            if i + 1 < len(text) and text[i + 1] == "'":
                out.append("'")
                i += 2
                continue
            return "".join(out), i + 1
        out.append(char)
        i += 1
    raise A1Error(text)


def quote_title(title: str) -> str:
    """The title as the API echoes it: bare when unambiguous, else in single quotes."""
    if (
        _PLAIN_TITLE.match(title)
        and not _LOOKS_LIKE_A1.match(title)
        and not _LOOKS_LIKE_R1C1.match(title)
    ):
        return title
    return "'" + title.replace("'", "''") + "'"
