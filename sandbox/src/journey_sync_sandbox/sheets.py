"""In-memory spreadsheets: worksheets of cells, notes, formats and conditional formats.

This is the state behind the Sheets v4 emulator (``sheets_api``) and the Python API
tests and the demo use to seed a sheet, read it back as the API would, and see the
colour the sheet's conditional-format rules give each row.

Cells hold what was entered: a literal (number, text, boolean) or a formula, a note
and a ``userEnteredFormat``. Formulas are evaluated on every read, as Sheets shows
them, so footer totals are never stale. Row and column numbers in the Python API are
1-based, as a person reads them; the grid itself is 0-based like the API's indexes.

Reads render like the recordings show: trailing empty cells and rows are dropped,
numbers come back as text under FORMATTED_VALUE, dates as serial numbers under
UNFORMATTED_VALUE + SERIAL_NUMBER, formulas as their text under FORMULA.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from typing import Any, Literal

from journey_sync.sheet import column_letter

from . import formulas
from .a1 import A1Error, Bounds, Box, parse_cells, quote_title
from .a1 import split_range as _split_range
from .fields import Mask
from .formulas import BaseGrid, FormulaError, Scalar, evaluate
from .values import (
    Entry,
    date_to_serial,
    datetime_to_serial,
    format_number,
    is_date_format,
    parse_user_entered,
)

DEFAULT_ROWS = 1000  # a new sheet's grid (recordings: 1000 x 26)
DEFAULT_COLUMNS = 26

ValueRender = Literal["FORMATTED_VALUE", "UNFORMATTED_VALUE", "FORMULA"]
DateRender = Literal["SERIAL_NUMBER", "FORMATTED_STRING"]
InputOption = Literal["RAW", "USER_ENTERED"]
Dimension = Literal["ROWS", "COLUMNS"]


class SheetError(Exception):
    """A request the API refuses with 400 INVALID_ARGUMENT; ``str`` is Google's message."""


class RangeError(SheetError):
    """``Unable to parse range: ...`` (also for a sheet title that does not exist)."""

    def __init__(self, text: str) -> None:
        super().__init__(f"Unable to parse range: {text}")


@dataclass(frozen=True)
class Cell:
    value: float | str | bool | None = None  # a literal, when ``formula`` is None
    formula: str | None = None
    note: str | None = None
    format: Mapping[str, Any] | None = None  # userEnteredFormat, as the API spells it
    validation: Mapping[str, Any] | None = None  # dataValidation (a checkbox: BOOLEAN)

    @property
    def has_content(self) -> bool:
        return self.value is not None or self.formula is not None

    @property
    def is_blank(self) -> bool:
        return (
            not self.has_content
            and self.note is None
            and not self.format
            and self.validation is None
        )

    @property
    def number_format(self) -> Mapping[str, Any] | None:
        fmt = (self.format or {}).get("numberFormat")
        return fmt if isinstance(fmt, Mapping) else None


@dataclass(frozen=True)
class Colour:
    """An RGB colour, components 0..1 (Sheets omits zero components in JSON)."""

    red: float = 0.0
    green: float = 0.0
    blue: float = 0.0

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Colour:
        return cls(
            float(data.get("red", 0)), float(data.get("green", 0)), float(data.get("blue", 0))
        )


def json_number(number: float) -> int | float:
    """Integral numbers go out as JSON integers (43831, not 43831.0), like Google's."""
    if number == int(number) and abs(number) < 2**53:
        return int(number)
    return number


def without_zero_components(colour: Mapping[str, Any]) -> dict[str, Any]:
    # gsheets_batchUpdate_repeatCell_format.json: {green: 1, blue: 1}, red: 0 dropped.
    return {k: v for k, v in colour.items() if v not in (0, 0.0)}


# --------------------------------------------------------------------- reader


class SheetReader(BaseGrid):
    """One consistent evaluation of a worksheet: formulas are memoised per read."""

    def __init__(self, sheet: Worksheet) -> None:
        self.sheet = sheet
        self._memo: dict[tuple[int, int], Scalar] = {}
        self._busy: set[tuple[int, int]] = set()
        self._areas: dict[tuple[int, int, int, int], formulas.Area] = {}
        self.criteria_cache: dict[Any, tuple[formulas.Area, int]] = {}  # for COUNTIFS

    def size(self) -> tuple[int, int]:
        return self.sheet.row_count, self.sheet.column_count

    def value(self, row: int, col: int) -> Scalar:
        cell = self.sheet.cells.get((row, col))
        if cell is None:
            return None
        if cell.formula is None:
            return cell.value
        key = (row, col)
        if key in self._memo:
            return self._memo[key]
        if key in self._busy:
            return formulas.REF  # Sheets: "#REF! Circular dependency detected"
        self._busy.add(key)
        try:
            result = evaluate(cell.formula, self)
        finally:
            self._busy.discard(key)
        self._memo[key] = result
        return result

    def area(self, top: int, bottom: int, left: int, right: int) -> formulas.Area:
        key = (top, bottom, left, right)
        found = self._areas.get(key)
        if found is None:
            cells = self.sheet.cells
            found = []
            for r in range(top, bottom + 1):
                row: list[Scalar] = []
                for c in range(left, right + 1):
                    cell = cells.get((r, c))
                    if cell is None:
                        row.append(None)
                    elif cell.formula is None:
                        row.append(cell.value)
                    else:
                        row.append(self.value(r, c))
                found.append(row)
            self._areas[key] = found
        return found

    def render(self, row: int, col: int, value_option: ValueRender, date_option: DateRender) -> Any:
        """The cell as values.get returns it; ``None`` or ``""`` is an empty cell."""
        cell = self.sheet.cells.get((row, col))
        if cell is None or not cell.has_content:
            return None
        if value_option == "FORMULA" and cell.formula is not None:
            return cell.formula
        result = self.value(row, col)
        if result is None:
            return ""
        if isinstance(result, FormulaError):
            return result.code  # UNFORMATTED_VALUE gives the error text, e.g. "#DIV/0!"
        if isinstance(result, bool):
            if value_option == "FORMATTED_VALUE":
                return "TRUE" if result else "FALSE"
            return result
        if isinstance(result, str):
            return result
        number_format = cell.number_format
        if value_option == "FORMATTED_VALUE":
            return format_number(result, number_format)
        if date_option == "FORMATTED_STRING" and is_date_format(number_format):
            return format_number(result, number_format)
        return json_number(result)


def trim(rows: list[list[Any]]) -> list[list[Any]]:
    """Drop trailing empty cells of each row and trailing empty rows (recordings)."""
    out: list[list[Any]] = []
    for row in rows:
        end = len(row)
        while end and (row[end - 1] is None or row[end - 1] == ""):
            end -= 1
        out.append(["" if v is None else v for v in row[:end]])
    while out and not out[-1]:
        out.pop()
    return out


# ------------------------------------------------------------------ worksheet


@dataclass
class _SheetState:
    props: dict[str, Any]
    cells: dict[tuple[int, int], Cell]
    rules: list[dict[str, Any]]


class Worksheet:
    """One tab of a spreadsheet."""

    def __init__(
        self,
        lock: threading.RLock,
        sheet_id: int,
        title: str,
        index: int,
        *,
        rows: int = DEFAULT_ROWS,
        columns: int = DEFAULT_COLUMNS,
        hidden: bool = False,
    ) -> None:
        self._lock = lock
        self.sheet_id = sheet_id
        self.title = title
        self.index = index
        self.hidden = hidden
        self.row_count = rows
        self.column_count = columns
        self.frozen_row_count = 0
        self.frozen_column_count = 0
        self._cells: dict[tuple[int, int], Cell] = {}
        self._revision = 0  # moved on by every change of a cell (see ``reader``)
        self._reader: tuple[tuple[int, int, int], SheetReader] | None = None
        self.conditional_formats: list[dict[str, Any]] = []
        # Embedded charts (EmbeddedChart JSON), replaced never mutated: part of _PROPS.
        self.charts: tuple[dict[str, Any], ...] = ()

    def __repr__(self) -> str:
        return (
            f"Worksheet({self.title!r}, id={self.sheet_id}, {self.row_count}x{self.column_count})"
        )

    # ------------------------------------------------------------ atomicity

    _PROPS = (
        "title",
        "index",
        "hidden",
        "row_count",
        "column_count",
        "frozen_row_count",
        "frozen_column_count",
        "charts",
    )

    def checkpoint(self) -> _SheetState:
        # Cells are immutable, so a shallow copy of the dict is a full snapshot.
        return _SheetState(
            {name: getattr(self, name) for name in self._PROPS},
            dict(self.cells),
            copy.deepcopy(self.conditional_formats),
        )

    def rollback(self, state: _SheetState) -> None:
        for name, value in state.props.items():
            setattr(self, name, value)
        self.cells = state.cells
        self.conditional_formats = state.rules

    # ------------------------------------------------------------ metadata

    def properties(self) -> dict[str, Any]:
        grid: dict[str, Any] = {"rowCount": self.row_count, "columnCount": self.column_count}
        # gsheets_spreadsheets_get_frozen_rows_cols.json: frozen counts only when non-zero.
        if self.frozen_row_count:
            grid["frozenRowCount"] = self.frozen_row_count
        if self.frozen_column_count:
            grid["frozenColumnCount"] = self.frozen_column_count
        props: dict[str, Any] = {
            "sheetId": self.sheet_id,
            "title": self.title,
            "index": self.index,
            "sheetType": "GRID",
            "gridProperties": grid,
        }
        if self.hidden:
            props["hidden"] = True  # absent, not false, when visible (recording)
        return props

    def conditional_formats_json(self) -> list[dict[str, Any]]:
        return [rule_out(rule) for rule in self.conditional_formats]

    # ------------------------------------------------------------- ranges

    def box(self, bounds: Bounds | None) -> Box:
        """Close a parsed A1 range on this grid, refusing one that leaves it."""
        bounds = bounds or Bounds(None, None, None, None)
        for limit, count in (
            (bounds.row_start, self.row_count),
            (bounds.row_end, self.row_count),
        ):
            if limit is not None and limit >= count:
                raise self.grid_limit(bounds)
        for limit, count in (
            (bounds.col_start, self.column_count),
            (bounds.col_end, self.column_count),
        ):
            if limit is not None and limit >= count:
                raise self.grid_limit(bounds)
        return bounds.clip(self.row_count, self.column_count)

    def grid_limit(self, bounds: Bounds | Box) -> SheetError:
        # Google's words, e.g. "Range (Sheet1!A1001) exceeds grid limits. Max rows: 1000,
        # max columns: 26".
        return SheetError(
            f"Range ({quote_title(self.title)}!{_bounds_a1(bounds)}) exceeds grid limits. "
            f"Max rows: {self.row_count}, max columns: {self.column_count}"
        )

    def a1(self, box: Box) -> str:
        return f"{quote_title(self.title)}!{box.a1()}"

    # ---------------------------------------------------------------- read

    @property
    def cells(self) -> dict[tuple[int, int], Cell]:
        return self._cells

    @cells.setter
    def cells(self, cells: dict[tuple[int, int], Cell]) -> None:
        self._cells = cells
        self._revision += 1

    def reader(self) -> SheetReader:
        """The evaluation of the sheet as it is now.

        Formulas here read no other tab and nothing volatile (no TODAY()), so while no
        cell and no dimension changed the last evaluation still holds: the demo and the
        end-to-end tests read the same sheet many times between two writes, and the footer's
        COUNTIFS and SUMPRODUCT were most of their time. Cells are only changed through
        ``put`` or by replacing ``cells``, both of which move the revision on.
        """
        key = (self._revision, self.row_count, self.column_count)
        if self._reader is None or self._reader[0] != key:
            self._reader = (key, SheetReader(self))
        return self._reader[1]

    def render_box(
        self,
        box: Box,
        value_option: ValueRender = "FORMATTED_VALUE",
        date_option: DateRender = "SERIAL_NUMBER",
        *,
        reader: SheetReader | None = None,
    ) -> list[list[Any]]:
        reader = reader or self.reader()
        cells = self.cells
        rows: list[list[Any]] = []
        # Only rows that hold something are rendered cell by cell; a 1000-row grid with
        # 20 leads costs 20 rows of work, not 1000.
        occupied = {r for (r, c) in cells if box.row_start <= r <= box.row_end}
        last = max(occupied, default=box.row_start - 1)
        for r in range(box.row_start, last + 1):
            if r not in occupied:
                rows.append([])
                continue
            rows.append(
                [
                    reader.render(r, c, value_option, date_option)
                    for c in range(box.col_start, box.col_end + 1)
                ]
            )
        return trim(rows)

    # --------------------------------------------------------------- write

    def put(self, row: int, col: int, cell: Cell) -> None:
        self._revision += 1
        if cell.is_blank:
            self.cells.pop((row, col), None)
        else:
            self.cells[(row, col)] = cell

    def cell(self, row: int, col: int) -> Cell:
        return self.cells.get((row, col)) or Cell()

    def enter(self, row: int, col: int, raw: Any, option: InputOption) -> None:
        """Write one value as values.update does (``None`` leaves the cell alone)."""
        if raw is None:
            return
        current = self.cell(row, col)
        if raw == "":
            self.put(row, col, replace(current, value=None, formula=None))
            return
        entry = _entry(raw, option)
        fmt = current.format
        if entry.number_format is not None:
            existing = current.number_format
            # A cell people already formatted keeps its format (a date typed into a
            # dd/mm/yyyy cell stays dd/mm/yyyy); otherwise Sheets suggests one.
            if existing is None or existing.get("type") != entry.number_format.get("type"):
                fmt = {**(fmt or {}), "numberFormat": dict(entry.number_format)}
        self.put(row, col, replace(current, value=entry.value, formula=entry.formula, format=fmt))

    def write_rows(
        self, top: int, left: int, rows: Sequence[Sequence[Any]], option: InputOption
    ) -> None:
        for i, row in enumerate(rows):
            for j, raw in enumerate(row):
                self.enter(top + i, left + j, raw, option)

    def clear_box(self, box: Box) -> None:
        for key in [k for k in self.cells if _inside(k, box)]:
            cell = self.cells[key]
            self.put(*key, replace(cell, value=None, formula=None))

    # ---------------------------------------------------------- dimensions

    def insert_dimension(
        self, dimension: Dimension, start: int, end: int, inherit_from_before: bool = False
    ) -> None:
        count = end - start
        size = self.row_count if dimension == "ROWS" else self.column_count
        if count <= 0 or start < 0 or start > size:
            raise SheetError(f"Invalid dimension range: startIndex {start}, endIndex {end}")
        if inherit_from_before and start == 0:
            raise SheetError("Cannot inherit properties from before the first row or column.")
        axis = 0 if dimension == "ROWS" else 1
        moved: dict[tuple[int, int], Cell] = {}
        for key, cell in self.cells.items():
            new_key = _moved(key, axis, start, count)
            if cell.formula is not None:
                cell = replace(
                    cell,
                    formula=formulas.shift_formula(
                        cell.formula, start + 1, count, dimension=dimension
                    ),
                )
            moved[new_key] = cell
        # New rows take their formatting (not values or notes) from a neighbour, like
        # Sheets does: the one before when inheritFromBefore, else the one after.
        source = start - 1 if inherit_from_before else start + count
        if dimension == "ROWS":
            self.row_count += count
        else:
            self.column_count += count
        for key, cell in list(moved.items()):
            if key[axis] == source and cell.format:
                for offset in range(count):
                    target = (start + offset, key[1]) if axis == 0 else (key[0], start + offset)
                    moved[target] = Cell(format=cell.format)
        self.cells = moved
        self.conditional_formats = _rules_after_insert(
            self.conditional_formats, dimension, start, count
        )

    def delete_dimension(self, dimension: Dimension, start: int, end: int) -> None:
        count = end - start
        size = self.row_count if dimension == "ROWS" else self.column_count
        if count <= 0 or start < 0 or end > size:
            raise SheetError(f"Invalid dimension range: startIndex {start}, endIndex {end}")
        if count >= size:
            noun = "rows" if dimension == "ROWS" else "columns"
            raise SheetError(f"You can't delete all the {noun} on the sheet.")
        axis = 0 if dimension == "ROWS" else 1
        kept: dict[tuple[int, int], Cell] = {}
        for key, cell in self.cells.items():
            if start <= key[axis] < end:
                continue
            new_key = _moved(key, axis, end, -count)
            if cell.formula is not None:
                cell = replace(
                    cell,
                    formula=formulas.shift_formula_for_delete(
                        cell.formula, start + 1, count, dimension=dimension
                    ),
                )
            kept[new_key] = cell
        self.cells = kept
        if dimension == "ROWS":
            self.row_count -= count
        else:
            self.column_count -= count
        self.conditional_formats = _rules_after_delete(
            self.conditional_formats, dimension, start, count
        )

    def resize(self, rows: int | None = None, columns: int | None = None) -> None:
        if rows is not None:
            self.row_count = rows
        if columns is not None:
            self.column_count = columns
        self.cells = {
            k: v
            for k, v in self.cells.items()
            if k[0] < self.row_count and k[1] < self.column_count
        }

    # -------------------------------------------------- updateCells/repeatCell

    def update_cell(self, row: int, col: int, data: Mapping[str, Any], fields: Mask | None) -> None:
        """Apply one CellData under a field mask (``None``: every field)."""
        self.put(row, col, _apply_cell_data(self.cell(row, col), data, fields))

    # --------------------------------------------------- conditional formats

    def add_rule(self, rule: Mapping[str, Any], index: int = 0) -> None:
        if not 0 <= index <= len(self.conditional_formats):
            raise SheetError(f"Invalid index: {index}")
        self.conditional_formats.insert(index, copy.deepcopy(dict(rule)))

    def delete_rule(self, index: int) -> dict[str, Any]:
        if not 0 <= index < len(self.conditional_formats):
            raise SheetError(f"No conditional format on sheet: {self.sheet_id} at index: {index}")
        return self.conditional_formats.pop(index)

    def colour_of(self, row: int, reader: SheetReader | None = None) -> Colour | None:
        """The background the custom-formula rules give a 0-based row (first match wins)."""
        reader = reader or self.reader()
        for rule in self.conditional_formats:
            boolean = rule.get("booleanRule")
            if not isinstance(boolean, Mapping):
                continue
            condition = boolean.get("condition", {})
            if condition.get("type") != "CUSTOM_FORMULA":
                continue
            values = condition.get("values") or [{}]
            formula = str(values[0].get("userEnteredValue", ""))
            ranges = rule.get("ranges") or []
            if not ranges or not _covers_row(ranges, row):
                continue
            origin = ranges[0]
            offset = (
                row - int(origin.get("startRowIndex", 0)),
                0,  # evaluated in the range's first column: a row colour
            )
            result = evaluate(formula, reader, offset=offset)
            if formulas.to_bool(result) is True:
                fmt = boolean.get("format", {})
                colour = fmt.get("backgroundColor") or fmt.get("backgroundColorStyle", {}).get(
                    "rgbColor"
                )
                if isinstance(colour, Mapping):
                    return Colour.from_json(colour)
        return None

    # ------------------------------------------------------------ Python API

    @contextmanager
    def _locked(self) -> Iterator[None]:
        with self._lock:
            yield

    def set_values(
        self,
        start: str | tuple[int, int],
        rows: Sequence[Sequence[Any]],
        *,
        raw: bool = False,
        date_pattern: str = "yyyy-mm-dd",
    ) -> None:
        """Write rows from ``start`` ("A2" or 1-based (row, col)), growing the grid.

        Strings are parsed as typed by a person unless ``raw``; ``date`` and
        ``datetime`` values become serial numbers with a date format.
        """
        with self._locked():
            top, left = _start(start)
            self._grow(top + len(rows), left + max((len(r) for r in rows), default=0))
            for i, row in enumerate(rows):
                for j, value in enumerate(row):
                    self._set(top + i, left + j, value, raw=raw, date_pattern=date_pattern)

    def set_cell(self, row: int, col: int, value: Any, *, raw: bool = False) -> None:
        self.set_values((row, col), [[value]], raw=raw)

    def set_formula(self, row: int, col: int, formula: str) -> None:
        with self._locked():
            self._grow(row, col)
            current = self.cell(row - 1, col - 1)
            self.put(row - 1, col - 1, replace(current, value=None, formula=formula))

    def set_note(self, row: int, col: int, text: str | None) -> None:
        with self._locked():
            current = self.cell(row - 1, col - 1)
            self.put(row - 1, col - 1, replace(current, note=text or None))

    def note(self, row: int, col: int) -> str | None:
        with self._locked():
            return self.cell(row - 1, col - 1).note

    def formula(self, row: int, col: int) -> str | None:
        with self._locked():
            return self.cell(row - 1, col - 1).formula

    def number_format(self, row: int, col: int) -> Mapping[str, Any] | None:
        with self._locked():
            return self.cell(row - 1, col - 1).number_format

    def value(self, row: int, col: int) -> Scalar:
        """The evaluated value at 1-based (row, col): literal or formula result."""
        with self._locked():
            return self.reader().value(row - 1, col - 1)

    def get_grid(self, render: ValueRender = "FORMULA") -> list[list[Any]]:
        """The used grid as values.get returns it (default: formulas as text)."""
        with self._locked():
            return self.render_box(self._whole(), render)

    def evaluated_rows(self) -> list[list[Any]]:
        """What journey-sync reads: UNFORMATTED_VALUE with SERIAL_NUMBER dates."""
        with self._locked():
            return self.render_box(self._whole(), "UNFORMATTED_VALUE", "SERIAL_NUMBER")

    def formatted_rows(self) -> list[list[Any]]:
        """What a person sees (FORMATTED_VALUE)."""
        with self._locked():
            return self.render_box(self._whole(), "FORMATTED_VALUE")

    def row_colour(self, row: int) -> Colour | None:
        with self._locked():
            return self.colour_of(row - 1)

    def row_colours(self) -> dict[int, Colour]:
        """Every coloured row that holds something (1-based row -> colour)."""
        with self._locked():
            reader = self.reader()
            rows = sorted({r for (r, _c), cell in self.cells.items() if cell.has_content})
            found = {r + 1: self.colour_of(r, reader) for r in rows}
            return {r: c for r, c in found.items() if c is not None}

    def insert_rows(self, before_row: int, count: int = 1) -> None:
        with self._locked():
            self.insert_dimension("ROWS", before_row - 1, before_row - 1 + count)

    def delete_rows(self, first_row: int, count: int = 1) -> None:
        with self._locked():
            self.delete_dimension("ROWS", first_row - 1, first_row - 1 + count)

    def header_column(self, header: str, header_row: int = 1) -> int:
        """The 1-based column whose header cell reads ``header`` (case/space-insensitive)."""
        wanted = " ".join(header.split()).casefold()
        with self._locked():
            for (r, c), cell in sorted(self.cells.items()):
                text = cell.value if isinstance(cell.value, str) else None
                if r == header_row - 1 and text and " ".join(text.split()).casefold() == wanted:
                    return c + 1
        raise KeyError(header)

    def _whole(self) -> Box:
        return Box(0, self.row_count - 1, 0, self.column_count - 1)

    def _grow(self, rows: int, columns: int) -> None:
        self.row_count = max(self.row_count, rows)
        self.column_count = max(self.column_count, columns)

    def _set(self, row: int, col: int, value: Any, *, raw: bool, date_pattern: str) -> None:
        r, c = row - 1, col - 1
        if isinstance(value, datetime | date):
            serial = (
                datetime_to_serial(value)
                if isinstance(value, datetime)
                else float(date_to_serial(value))
            )
            kind = "DATE_TIME" if isinstance(value, datetime) else "DATE"
            current = self.cell(r, c)
            fmt = {
                **(current.format or {}),
                "numberFormat": {"type": kind, "pattern": date_pattern},
            }
            self.put(r, c, replace(current, value=serial, formula=None, format=fmt))
            return
        self.enter(r, c, value, "RAW" if raw else "USER_ENTERED")


def _start(start: str | tuple[int, int]) -> tuple[int, int]:
    if isinstance(start, tuple):
        return start
    bounds = parse_cells(start)
    if bounds.row_start is None or bounds.col_start is None:
        raise ValueError(f"{start!r} is not a cell")
    return bounds.row_start + 1, bounds.col_start + 1


def _entry(raw: Any, option: InputOption) -> Entry:
    if isinstance(raw, bool):
        return Entry(value=raw)
    if isinstance(raw, int | float):
        return Entry(value=float(raw))
    text = str(raw)
    return parse_user_entered(text) if option == "USER_ENTERED" else Entry(value=text)


def _inside(key: tuple[int, int], box: Box) -> bool:
    return box.row_start <= key[0] <= box.row_end and box.col_start <= key[1] <= box.col_end


def _moved(key: tuple[int, int], axis: int, at: int, by: int) -> tuple[int, int]:
    if key[axis] < at:
        return key
    return (key[0] + by, key[1]) if axis == 0 else (key[0], key[1] + by)


def _bounds_a1(bounds: Bounds | Box) -> str:
    if isinstance(bounds, Box):
        return bounds.a1()

    def part(col: int | None, row: int | None) -> str:
        return (column_letter(col + 1) if col is not None else "") + (
            str(row + 1) if row is not None else ""
        )

    first = part(bounds.col_start, bounds.row_start)
    last = part(bounds.col_end, bounds.row_end)
    return first if first == last else f"{first}:{last}"


# ----------------------------------------------------------------- cell data


def _apply_cell_data(cell: Cell, data: Mapping[str, Any], fields: Mask | None) -> Cell:
    everything = fields is None or "*" in fields
    wanted = fields or {}
    if everything or "userEnteredValue" in wanted:
        value, formula = _user_entered_value(data.get("userEnteredValue"))
        cell = replace(cell, value=value, formula=formula)
    if everything or "note" in wanted:
        note = data.get("note")
        cell = replace(cell, note=str(note) if note else None)  # "" clears (recording)
    if everything or "userEnteredFormat" in wanted:
        sub = None if everything else wanted.get("userEnteredFormat")
        given = data.get("userEnteredFormat") or {}
        if sub is None or "*" in sub:
            fmt: dict[str, Any] | None = dict(given) or None
        else:
            fmt = dict(cell.format or {})
            for key in sub:
                if key in given:
                    fmt[key] = copy.deepcopy(given[key])
                else:
                    fmt.pop(key, None)
        cell = replace(cell, format=fmt or None)
    return cell


def _user_entered_value(data: Any) -> tuple[float | str | bool | None, str | None]:
    if not isinstance(data, Mapping) or not data:
        return None, None
    if "formulaValue" in data:
        formula = str(data["formulaValue"])
        if not formula.startswith("="):
            raise SheetError(f"Invalid formulaValue: {formula!r} does not start with '='")
        return None, formula
    if "stringValue" in data:
        return str(data["stringValue"]), None  # text even when it starts with "="
    if "numberValue" in data:
        return float(data["numberValue"]), None
    if "boolValue" in data:
        return bool(data["boolValue"]), None
    raise SheetError(f"Invalid userEnteredValue: {data}")


def cell_data(reader: SheetReader, row: int, col: int) -> dict[str, Any]:
    """A CellData object for spreadsheets.get with grid data."""
    cell = reader.sheet.cells.get((row, col))
    if cell is None:
        return {}
    out: dict[str, Any] = {}
    if cell.formula is not None:
        out["userEnteredValue"] = {"formulaValue": cell.formula}
    elif cell.value is not None:
        out["userEnteredValue"] = _typed(cell.value)
    if cell.has_content:
        result = reader.value(row, col)
        if isinstance(result, FormulaError):
            out["effectiveValue"] = {"errorValue": {"type": "ERROR", "message": result.code}}
        elif result is not None:
            out["effectiveValue"] = _typed(result)
        formatted = reader.render(row, col, "FORMATTED_VALUE", "FORMATTED_STRING")
        if formatted not in (None, ""):
            out["formattedValue"] = formatted
    if cell.format:
        out["userEnteredFormat"] = format_out(cell.format)
    if cell.note is not None:
        out["note"] = cell.note
    if cell.validation is not None:
        out["dataValidation"] = copy.deepcopy(dict(cell.validation))
    return out


def _typed(value: float | str | bool) -> dict[str, Any]:
    if isinstance(value, bool):
        return {"boolValue": value}
    if isinstance(value, str):
        return {"stringValue": value}
    return {"numberValue": json_number(value)}


def format_out(fmt: Mapping[str, Any]) -> dict[str, Any]:
    """A format as Google reads it back: colours without zero parts, plus the derived
    ``*ColorStyle`` objects (gsheets_batchUpdate_repeatCell_format.json)."""
    out = copy.deepcopy(dict(fmt))
    if isinstance(out.get("backgroundColor"), Mapping):
        out["backgroundColor"] = without_zero_components(out["backgroundColor"])
        out["backgroundColorStyle"] = {"rgbColor": dict(out["backgroundColor"])}
    text = out.get("textFormat")
    if isinstance(text, dict) and isinstance(text.get("foregroundColor"), Mapping):
        text["foregroundColor"] = without_zero_components(text["foregroundColor"])
        text["foregroundColorStyle"] = {"rgbColor": dict(text["foregroundColor"])}
    return out


# --------------------------------------------------------- conditional formats

_KEYS = {
    "ROWS": ("startRowIndex", "endRowIndex"),
    "COLUMNS": ("startColumnIndex", "endColumnIndex"),
}


def rule_out(rule: Mapping[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(dict(rule))
    boolean = out.get("booleanRule")
    if isinstance(boolean, dict) and isinstance(boolean.get("format"), Mapping):
        boolean["format"] = format_out(boolean["format"])
    return out


def _covers_row(ranges: Iterable[Mapping[str, Any]], row: int) -> bool:
    for grid_range in ranges:
        start = grid_range.get("startRowIndex", 0)
        end = grid_range.get("endRowIndex")
        if start <= row and (end is None or row < end):
            return True
    return False


def _shift_rule_formula(rule: dict[str, Any], change: Callable[[str], str]) -> None:
    boolean = rule.get("booleanRule")
    if not isinstance(boolean, dict):
        return
    for value in boolean.get("condition", {}).get("values", []) or []:
        text = value.get("userEnteredValue")
        if isinstance(text, str) and text.startswith("="):
            value["userEnteredValue"] = change(text)


def _rules_after_insert(
    rules: list[dict[str, Any]], dimension: Dimension, start: int, count: int
) -> list[dict[str, Any]]:
    low, high = _KEYS[dimension]
    out: list[dict[str, Any]] = []
    for rule in rules:
        rule = copy.deepcopy(rule)
        for grid_range in rule.get("ranges", []):
            # A range grows when rows go inside it and moves when they go above it.
            if low in grid_range and grid_range[low] >= start:
                grid_range[low] += count
            if high in grid_range and grid_range[high] > start:
                grid_range[high] += count
        _shift_rule_formula(
            rule, lambda f: formulas.shift_formula(f, start + 1, count, dimension=dimension)
        )
        out.append(rule)
    return out


def _rules_after_delete(
    rules: list[dict[str, Any]], dimension: Dimension, start: int, count: int
) -> list[dict[str, Any]]:
    low, high = _KEYS[dimension]
    end = start + count
    out: list[dict[str, Any]] = []
    for rule in rules:
        rule = copy.deepcopy(rule)
        kept = []
        for grid_range in rule.get("ranges", []):
            if low in grid_range:
                s = grid_range[low]
                grid_range[low] = s if s < start else (start if s < end else s - count)
            if high in grid_range:
                e = grid_range[high]
                grid_range[high] = e if e <= start else (start if e <= end else e - count)
            if low in grid_range and high in grid_range and grid_range[high] <= grid_range[low]:
                continue  # every row of this range was deleted
            kept.append(grid_range)
        if not kept:
            continue  # a rule without ranges is gone, as in Sheets
        rule["ranges"] = kept
        _shift_rule_formula(
            rule,
            lambda f: formulas.shift_formula_for_delete(f, start + 1, count, dimension=dimension),
        )
        out.append(rule)
    return out


# ---------------------------------------------------------------- spreadsheet


@dataclass
class _BookState:
    title: str
    sheets: list[Worksheet]
    states: list[tuple[Worksheet, _SheetState]] = field(default_factory=list)


class Spreadsheet:
    """A spreadsheet file: worksheets and the accounts it is shared with."""

    def __init__(
        self,
        lock: threading.RLock,
        spreadsheet_id: str,
        title: str,
        shared_with: Iterable[str] = (),
    ) -> None:
        self._lock = lock
        self.id = spreadsheet_id
        self.title = title
        self.sheets: list[Worksheet] = []
        self.shared_with: set[str] = set(shared_with)
        self._next_sheet_id = 0

    def __repr__(self) -> str:
        return f"Spreadsheet({self.id!r}, {self.title!r}, sheets={[s.title for s in self.sheets]})"

    # ------------------------------------------------------------- sharing

    def share(self, email: str) -> None:
        with self._lock:
            self.shared_with.add(email)

    def unshare(self, email: str) -> None:
        with self._lock:
            self.shared_with.discard(email)

    # ------------------------------------------------------------- sheets

    def add_worksheet(
        self,
        title: str,
        *,
        rows: int = DEFAULT_ROWS,
        columns: int = DEFAULT_COLUMNS,
        index: int | None = None,
        hidden: bool = False,
        sheet_id: int | None = None,
    ) -> Worksheet:
        with self._lock:
            if any(s.title.casefold() == title.casefold() for s in self.sheets):
                raise SheetError(
                    f'A sheet with the name "{title}" already exists. Please enter another name.'
                )
            if sheet_id is None:
                sheet_id = self._next_sheet_id
            if any(s.sheet_id == sheet_id for s in self.sheets):
                raise SheetError(f"Duplicate sheet ID: {sheet_id}")
            self._next_sheet_id = max(self._next_sheet_id, sheet_id) + 1
            position = len(self.sheets) if index is None else max(0, min(index, len(self.sheets)))
            sheet = Worksheet(
                self._lock, sheet_id, title, position, rows=rows, columns=columns, hidden=hidden
            )
            self.sheets.insert(position, sheet)
            self._reindex()
            return sheet

    def _reindex(self) -> None:
        for position, sheet in enumerate(self.sheets):
            sheet.index = position

    def move_sheet(self, sheet: Worksheet, index: int) -> None:
        self.sheets.remove(sheet)
        self.sheets.insert(max(0, min(index, len(self.sheets))), sheet)
        self._reindex()

    def worksheet(self, title: str | None = None) -> Worksheet:
        """A worksheet by title (exact, then case-insensitive); the first when ``None``."""
        with self._lock:
            if title is None:
                return self.sheets[0]
            for sheet in self.sheets:
                if sheet.title == title:
                    return sheet
            for sheet in self.sheets:
                if sheet.title.casefold() == title.casefold():
                    return sheet
        raise KeyError(title)

    def by_id(self, sheet_id: int) -> Worksheet:
        for sheet in self.sheets:
            if sheet.sheet_id == sheet_id:
                return sheet
        raise SheetError(f"No grid with id: {sheet_id}")

    def resolve(self, text: str) -> tuple[Worksheet, Bounds | None]:
        """A range in A1 notation -> (worksheet, bounds); ``None`` bounds: the whole sheet."""
        try:
            title, cells = _split_range(text)
        except A1Error:
            raise RangeError(text) from None
        quoted = text.strip().startswith("'")
        if title is not None and cells is None and not quoted:
            try:
                return self.worksheet(title), None
            except KeyError:
                pass
            try:
                return self.sheets[0], parse_cells(title)  # "A1:B2": the first sheet
            except A1Error:
                raise RangeError(text) from None
        try:
            sheet = self.worksheet(title)
        except KeyError:
            raise RangeError(text) from None
        if cells is None:
            return sheet, None
        try:
            return sheet, parse_cells(cells)
        except A1Error:
            raise RangeError(text) from None

    # ------------------------------------------------------------ atomicity

    def checkpoint(self) -> _BookState:
        return _BookState(self.title, list(self.sheets), [(s, s.checkpoint()) for s in self.sheets])

    def rollback(self, state: _BookState) -> None:
        self.title = state.title
        self.sheets = state.sheets
        for sheet, sheet_state in state.states:
            sheet.rollback(sheet_state)

    # ------------------------------------------------------------ Python API

    def set_values(
        self, range_a1: str, rows: Sequence[Sequence[Any]], *, raw: bool = False
    ) -> None:
        """``set_values("Leads!A2", [[...], ...])``: see ``Worksheet.set_values``."""
        with self._lock:
            sheet, bounds = self.resolve(range_a1)
            start = (
                (1, 1)
                if bounds is None
                else ((bounds.row_start or 0) + 1, (bounds.col_start or 0) + 1)
            )
            sheet.set_values(start, rows, raw=raw)

    def get_grid(self, title: str | None = None) -> list[list[Any]]:
        return self.worksheet(title).get_grid()

    def evaluated_rows(self, title: str | None = None) -> list[list[Any]]:
        return self.worksheet(title).evaluated_rows()

    def row_colour(self, row: int, title: str | None = None) -> Colour | None:
        return self.worksheet(title).row_colour(row)


class SheetsService:
    """Every spreadsheet the emulator knows, and who may open each."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.spreadsheets: dict[str, Spreadsheet] = {}

    def create(
        self,
        spreadsheet_id: str,
        title: str,
        *,
        shared_with: Iterable[str] = (),
        first_sheet: str = "Sheet1",
        rows: int = DEFAULT_ROWS,
        columns: int = DEFAULT_COLUMNS,
    ) -> Spreadsheet:
        with self.lock:
            book = Spreadsheet(self.lock, spreadsheet_id, title, shared_with)
            book.add_worksheet(first_sheet, rows=rows, columns=columns, sheet_id=0)
            self.spreadsheets[spreadsheet_id] = book
            return book

    def get(self, spreadsheet_id: str) -> Spreadsheet | None:
        with self.lock:
            return self.spreadsheets.get(spreadsheet_id)
