"""The Funnel tab as HTML: its tables, and its charts drawn as SVG (no JavaScript).

Rendered from the very ``TabWrites`` journey-sync sends to Sheets (cells, number
formats, chart specs), so the picture shows what the real tab holds.
"""

from __future__ import annotations

import html
from collections.abc import Sequence

from journey_sync.ports import CellValue, TabChart, TabRange, TabWrites

PALETTE = (
    "#4285f4",
    "#ea4335",
    "#fbbc04",
    "#34a853",
    "#ff6d01",
    "#46bdc6",
    "#7baaf7",
    "#f07b72",
    "#fcd04f",
    "#71c287",
    "#ff994d",
    "#a142f4",
)

_CSS = """
section.funnel { margin-top: 2.5em; }
section.funnel table td.num { text-align: right; }
section.funnel table td.title { font-weight: 600; background: #f8f9fa; }
section.funnel .charts { display: flex; flex-wrap: wrap; gap: 1.5em; margin-top: 1em; }
section.funnel svg { border: 1px solid #dadce0; background: #fff; }
section.funnel svg text { font-family: system-ui, sans-serif; font-size: 11px; fill: #3c4043; }
section.funnel svg text.title { font-size: 13px; font-weight: 600; }
"""


def _in(block: TabRange, row: int, column: int) -> bool:
    return (
        block.first_row <= row <= block.last_row
        and block.first_column <= column <= block.last_column
    )


def cell_text(writes: TabWrites, row: int, column: int, value: CellValue | None) -> str:
    """A cell as Sheets shows it with the tab's number formats ("66.7%")."""
    if value is None:
        return ""
    if isinstance(value, int | float) and not isinstance(value, bool):
        for block, pattern in writes.number_formats:
            if _in(block, row, column) and pattern.endswith("%"):
                return f"{100 * value:.1f}%"
        return f"{value:g}"
    return str(value)


def _grid(writes: TabWrites) -> dict[tuple[int, int], CellValue]:
    return {(w.row, w.column): w.value for w in writes.values if w.value is not None}


def _column(
    grid: dict[tuple[int, int], CellValue], block: TabRange
) -> tuple[str, list[CellValue | None]]:
    """A one-column block: its header and its values below."""
    c = block.first_column
    header = grid.get((block.first_row, c))
    values = [grid.get((r, c)) for r in range(block.first_row + 1, block.last_row + 1)]
    return ("" if header is None else str(header)), values


def _number(value: CellValue | None) -> float:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return 0.0


def chart_svg(chart: TabChart, grid: dict[tuple[int, int], CellValue]) -> str:
    """A BAR (horizontal), COLUMN (grouped) or LINE chart as an SVG element."""
    esc = html.escape
    _, labels = _column(grid, chart.domain)
    names = [str(x or "") for x in labels]
    series = [_column(grid, block) for block in chart.series]
    top = max([_number(v) for _, values in series for v in values] + [0.0]) or 1.0
    width, height = 640, 360
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'role="img" aria-label="{esc(chart.title)}" data-chart-type="{chart.chart_type}">',
        f'<text class="title" x="10" y="18">{esc(chart.title)}</text>',
    ]
    if chart.chart_type == "BAR":
        left, right, y0 = 230, 60, 30
        band = (height - y0 - 10) / max(len(names), 1)
        for index, name in enumerate(names):
            value = _number(series[0][1][index]) if series else 0.0
            y = y0 + index * band
            length = (width - left - right) * value / top
            parts.append(
                f'<text x="{left - 6}" y="{y + band * 0.65:.1f}" text-anchor="end">'
                f"{esc(name)}</text>"
            )
            parts.append(
                f'<rect class="bar" x="{left}" y="{y + band * 0.15:.1f}" width="{length:.1f}" '
                f'height="{band * 0.7:.1f}" fill="{PALETTE[0]}"><title>{esc(name)}: '
                f"{value:g}</title></rect>"
            )
            parts.append(
                f'<text x="{left + length + 4:.1f}" y="{y + band * 0.65:.1f}">{value:g}</text>'
            )
    else:
        left, bottom, y0 = 40, 90, 30
        plot_w, plot_h = width - left - 20, height - y0 - bottom
        slot = plot_w / max(len(names), 1)
        parts.append(
            f'<line x1="{left}" y1="{y0 + plot_h}" x2="{left + plot_w}" y2="{y0 + plot_h}" '
            'stroke="#9aa0a6"/>'
        )
        for index, name in enumerate(names):
            x = left + slot * (index + 0.5)
            parts.append(
                f'<text x="{x:.1f}" y="{y0 + plot_h + 12}" text-anchor="end" '
                f'transform="rotate(-35 {x:.1f} {y0 + plot_h + 12})">{esc(name[:24])}</text>'
            )
        for number, (label, values) in enumerate(series):
            colour = PALETTE[number % len(PALETTE)]
            if chart.chart_type == "COLUMN":
                bar = slot * 0.8 / max(len(series), 1)
                for index, cell in enumerate(values):
                    h = plot_h * _number(cell) / top
                    x = left + slot * index + slot * 0.1 + bar * number
                    parts.append(
                        f'<rect class="bar" x="{x:.1f}" y="{y0 + plot_h - h:.1f}" '
                        f'width="{bar:.1f}" height="{h:.1f}" fill="{colour}">'
                        f"<title>{esc(label)}: {esc(names[index])}</title></rect>"
                    )
            else:
                points = " ".join(
                    f"{left + slot * (i + 0.5):.1f},{y0 + plot_h - plot_h * _number(v) / top:.1f}"
                    for i, v in enumerate(values)
                )
                parts.append(
                    f'<polyline class="line" points="{points}" fill="none" '
                    f'stroke="{colour}" stroke-width="2"><title>{esc(label)}</title></polyline>'
                )
        # legend
        for number, (label, _) in enumerate(series[:12]):
            x = left + (number % 4) * 150
            y = height - 28 + (number // 4) * 12 - (12 if len(series) > 4 else 0)
            parts.append(
                f'<rect x="{x}" y="{y - 8}" width="8" height="8" '
                f'fill="{PALETTE[number % len(PALETTE)]}"/>'
                f'<text x="{x + 11}" y="{y}">{esc(label[:22])}</text>'
            )
    parts.append("</svg>")
    return "".join(parts)


def render_funnel_tab(writes: TabWrites) -> str:
    """The tab's block as a table, then its charts, as one HTML section."""
    esc = html.escape
    grid = _grid(writes)
    rows = max((r for r, _ in grid), default=0)
    columns = max((c for _, c in grid), default=0)
    lines: list[str] = []
    for r in range(1, rows + 1):
        cells: list[str] = []
        for c in range(1, columns + 1):
            value = grid.get((r, c))
            text = cell_text(writes, r, c, value)
            number = isinstance(value, int | float) and not isinstance(value, bool)
            cls = ' class="num"' if number else (' class="title"' if c == 1 and r <= 2 else "")
            cells.append(f"<td{cls}>{esc(text)}</td>")
        lines.append(f'<tr><td class="rownum">{r}</td>{"".join(cells)}</tr>')
    charts: Sequence[str] = [chart_svg(chart, grid) for chart in writes.charts]
    return (
        f"<style>{_CSS}</style>\n"
        f'<section class="funnel">\n<h1>Tab “{esc(writes.title)}”</h1>\n'
        "<p>journey-sync's own tab: the funnel's figures and native Sheets charts, rewritten "
        "only when a figure changes. Notes and charts people add outside this block stay.</p>\n"
        "<table>\n" + "\n".join(lines) + "\n</table>\n"
        '<div class="charts">\n' + "\n".join(charts) + "\n</div>\n</section>\n"
    )
