"""Sheets API requests for journey-sync's own tab (the Funnel tab). Pure: no I/O.

The adapter calls these with what it already knows about the spreadsheet (from the
``spreadsheets.get`` it makes for colour rules, asking for ``sheets.charts`` too):

* ``add_sheet_request(title)`` when no sheet has the tab's title (``addSheet``);
* ``tab_requests(writes, sheet_id, existing_charts)`` for one ``spreadsheets.batchUpdate``:
  number formats (``repeatCell``), ``addChart`` for each chart whose title is not on the
  tab yet, ``updateChartSpec`` for ours whose spec differs. A chart is found again by its
  title, so restarts, a lost state database or a rerun never duplicate it; charts people
  added (other titles) are never touched;
* ``tab_value_ranges(writes)`` for ``values.batchUpdate`` (RAW): the block's cells as
  rectangles, blanks as ``""`` (which clears them).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from typing import Any

from ..ports import CellValue, TabChart, TabRange, TabWrites
from ..sheet import column_letter


def grid_range(sheet_id: int, block: TabRange) -> dict[str, int]:
    """A 1-based inclusive block as a GridRange (0-based, end-exclusive)."""
    return {
        "sheetId": sheet_id,
        "startRowIndex": block.first_row - 1,
        "endRowIndex": block.last_row,
        "startColumnIndex": block.first_column - 1,
        "endColumnIndex": block.last_column,
    }


def chart_spec(chart: TabChart, sheet_id: int) -> dict[str, Any]:
    """A ChartSpec with a BasicChartSpec, as documented for addChart/updateChartSpec."""
    horizontal = chart.chart_type == "BAR"
    axis = "BOTTOM_AXIS" if horizontal else "LEFT_AXIS"
    basic: dict[str, Any] = {
        "chartType": chart.chart_type,
        "legendPosition": "BOTTOM_LEGEND",
        "headerCount": 1,
        "domains": [{"domain": {"sourceRange": {"sources": [grid_range(sheet_id, chart.domain)]}}}],
        "series": [
            {
                "series": {"sourceRange": {"sources": [grid_range(sheet_id, block)]}},
                "targetAxis": axis,
            }
            for block in chart.series
        ],
    }
    if chart.chart_type in ("BAR", "COLUMN"):
        basic["stackedType"] = "STACKED" if chart.stacked else "NOT_STACKED"
    return {"title": chart.title, "basicChart": basic}


def add_sheet_request(title: str) -> dict[str, Any]:
    return {"addSheet": {"properties": {"title": title}}}


def _same_spec(found: Mapping[str, Any], wanted: Mapping[str, Any]) -> bool:
    """The parts of a spec journey-sync sets (the API may add defaults around them)."""
    a, b = found.get("basicChart") or {}, wanted.get("basicChart") or {}
    keys = ("chartType", "domains", "series", "headerCount", "stackedType")
    return found.get("title") == wanted.get("title") and all(a.get(k) == b.get(k) for k in keys)


def tab_requests(
    writes: TabWrites, sheet_id: int, existing_charts: Sequence[Mapping[str, Any]]
) -> list[dict[str, Any]]:
    """``spreadsheets.batchUpdate`` requests for the tab (empty when nothing to do)."""
    requests: list[dict[str, Any]] = []
    for block, pattern in writes.number_formats:
        kind = "PERCENT" if "%" in pattern else "NUMBER"
        requests.append(
            {
                "repeatCell": {
                    "range": grid_range(sheet_id, block),
                    "cell": {
                        "userEnteredFormat": {"numberFormat": {"type": kind, "pattern": pattern}}
                    },
                    "fields": "userEnteredFormat.numberFormat",
                }
            }
        )
    by_title: dict[str, Mapping[str, Any]] = {}
    for existing in existing_charts:
        title = (existing.get("spec") or {}).get("title")
        if isinstance(title, str) and title not in by_title:
            by_title[title] = existing
    for chart in writes.charts:
        spec = chart_spec(chart, sheet_id)
        found = by_title.get(chart.title)
        if found is None:
            requests.append(
                {
                    "addChart": {
                        "chart": {
                            "spec": spec,
                            "position": {
                                "overlayPosition": {
                                    "anchorCell": {
                                        "sheetId": sheet_id,
                                        "rowIndex": chart.anchor_row - 1,
                                        "columnIndex": chart.anchor_column - 1,
                                    },
                                    "widthPixels": chart.width,
                                    "heightPixels": chart.height,
                                }
                            },
                        }
                    }
                }
            )
        elif not _same_spec(found.get("spec") or {}, spec):
            requests.append({"updateChartSpec": {"chartId": found["chartId"], "spec": spec}})
    return requests


def _quoted(title: str) -> str:
    return "'" + title.replace("'", "''") + "'"


def tab_value_ranges(writes: TabWrites) -> list[dict[str, Any]]:
    """``values.batchUpdate`` data (RAW): one rectangle covering every cell written."""
    if not writes.values:
        return []
    cells: dict[tuple[int, int], CellValue | None] = {
        (w.row, w.column): w.value for w in writes.values
    }
    top = min(r for r, _ in cells)
    bottom = max(r for r, _ in cells)
    left = min(c for _, c in cells)
    right = max(c for _, c in cells)
    rows: list[list[CellValue]] = []
    for r in range(top, bottom + 1):
        row: list[CellValue] = []
        for c in range(left, right + 1):
            value = cells.get((r, c))
            row.append("" if value is None else value)
        rows.append(row)
    a1 = f"{_quoted(writes.title)}!{column_letter(left)}{top}:{column_letter(right)}{bottom}"
    return [{"range": a1, "majorDimension": "ROWS", "values": rows}]


# What the gateway asks spreadsheets.get for when it writes a tab (only in cycles where
# the tab changed): every sheet's id and title, and the charts on it.
TAB_METADATA_FIELDS = (
    "sheets(properties(sheetId,title,gridProperties(rowCount,columnCount)),"
    "charts(chartId,spec(title,basicChart)))"
)


def _new_sheet_id(title: str, used: set[int]) -> int:
    """A sheet id of our choosing, so addSheet and addChart go in one batchUpdate."""
    sheet_id = int(hashlib.sha256(title.encode()).hexdigest()[:7], 16) + 1
    while sheet_id in used:
        sheet_id += 1
    return sheet_id


def _grow_grid(tab: TabWrites, sheet_id: int, grid: object) -> list[dict[str, Any]]:
    """appendDimension for a tab too small for what is written on it (a 27th source of
    lead needs a 27th column; a tab Sheets made has 26): Google refuses a write outside
    the grid, and with it the whole batchUpdate, the lead sheet's writes included."""
    if not isinstance(grid, Mapping):
        return []
    rows = max(
        [w.row for w in tab.values] + [block.last_row for block, _ in tab.number_formats],
        default=0,
    )
    columns = max(
        [w.column for w in tab.values]
        + [block.last_column for block, _ in tab.number_formats]
        + [c.anchor_column for c in tab.charts],
        default=0,
    )
    requests: list[dict[str, Any]] = []
    for dimension, needed, have in (
        ("ROWS", rows, grid.get("rowCount")),
        ("COLUMNS", columns, grid.get("columnCount")),
    ):
        if isinstance(have, int) and needed > have:
            requests.append(
                {
                    "appendDimension": {
                        "sheetId": sheet_id,
                        "dimension": dimension,
                        "length": needed - have,
                    }
                }
            )
    return requests


def tabs_batch(
    tabs: Sequence[TabWrites], sheets: Sequence[Mapping[str, Any]]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """For ``SheetWrites.tabs``: the ``spreadsheets.batchUpdate`` requests (addSheet when
    the tab is missing, formats, charts) and the ``values.batchUpdate`` data, given the
    ``sheets`` of a ``spreadsheets.get`` with ``TAB_METADATA_FIELDS``. The gateway appends
    them to the cycle's own two requests."""
    requests: list[dict[str, Any]] = []
    data: list[dict[str, Any]] = []
    used = {int(s.get("properties", {}).get("sheetId", 0)) for s in sheets}
    for tab in tabs:
        found = next((s for s in sheets if s.get("properties", {}).get("title") == tab.title), None)
        if found is None:
            sheet_id = _new_sheet_id(tab.title, used)
            used.add(sheet_id)
            columns = max(
                [26] + [w.column for w in tab.values] + [c.anchor_column + 8 for c in tab.charts]
            )
            requests.append(
                {
                    "addSheet": {
                        "properties": {
                            "sheetId": sheet_id,
                            "title": tab.title,
                            "gridProperties": {"rowCount": 1000, "columnCount": columns},
                        }
                    }
                }
            )
            charts: Sequence[Mapping[str, Any]] = []
        else:
            sheet_id = int(found["properties"]["sheetId"])
            charts = found.get("charts", [])
            requests.extend(_grow_grid(tab, sheet_id, found["properties"].get("gridProperties")))
        requests.extend(tab_requests(tab, sheet_id, charts))
        data.extend(tab_value_ranges(tab))
    return requests, data
