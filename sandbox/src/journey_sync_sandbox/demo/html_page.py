"""The demo's sheet after the year as an HTML page, with the rows' colours."""

from __future__ import annotations

import html

from journey_sync.sheet import column_letter

from .funnel_page import render_funnel_tab
from .simulation import DemoResult, SheetRow, colour_hex, colour_tag

_CSS = """
body { font-family: system-ui, sans-serif; margin: 1.5em; color: #202124; }
h1 { font-size: 1.3em; }
p { max-width: 60em; }
table { border-collapse: collapse; font-size: 12px; }
th, td { border: 1px solid #dadce0; padding: 2px 6px; white-space: nowrap; }
th { background: #f1f3f4; }
th.letter { color: #5f6368; font-weight: normal; }
td.mark { text-align: center; }
td.rownum, th.rownum { background: #f8f9fa; color: #5f6368; text-align: right; }
tr.footer td { background: #eef3fd; font-weight: 600; }
tr.footer.first td { border-top: 3px double #5f6368; }
td.id { color: #80868b; font-family: monospace; }
.legend span { display: inline-block; padding: 2px 8px; margin-right: 8px;
  border: 1px solid #dadce0; }
"""


def render_html(result: DemoResult) -> str:
    workflow = result.workflow
    stage_headers = {s.header for s in workflow.stages}
    id_header = workflow.sheet.columns.lead_id
    width = len(result.headers)
    esc = html.escape
    rows_html: list[str] = []
    letters = "".join(f'<th class="letter">{column_letter(i + 1)}</th>' for i in range(width))
    rows_html.append(f'<tr><th class="rownum"></th>{letters}</tr>')
    head = "".join(f"<th>{esc(h)}</th>" for h in result.headers)
    rows_html.append(f'<tr><th class="rownum">{workflow.sheet.header_row}</th>{head}</tr>')

    def cells_html(entry: SheetRow) -> str:
        out = []
        for index in range(width):
            text = entry.cells[index] if index < len(entry.cells) else ""
            header = result.headers[index]
            cls = "mark" if header in stage_headers else ("id" if header == id_header else "")
            attr = f' class="{cls}"' if cls else ""
            out.append(f"<td{attr}>{esc(text)}</td>")
        return "".join(out)

    for entry in result.leads:
        style = ""
        tag = colour_tag(entry.colour)
        if entry.colour is not None:
            style = f' style="background-color: {colour_hex(entry.colour)}"'
        data = f' data-colour="{esc(tag)}"' if tag else ""
        rows_html.append(
            f'<tr class="lead"{data}{style}><td class="rownum">{entry.row}</td>'
            f"{cells_html(entry)}</tr>"
        )
    for position, entry in enumerate(result.footer):
        cls = "footer first" if position == 0 else "footer"
        rows_html.append(
            f'<tr class="{cls}"><td class="rownum">{entry.row}</td>{cells_html(entry)}</tr>'
        )
    colours = {
        colour_tag(e.colour): colour_hex(e.colour)
        for e in result.leads
        if e.colour is not None and colour_tag(e.colour)
    }
    legend = "".join(
        f'<span style="background-color: {hex_}">{esc(tag)}</span>'
        for tag, hex_ in sorted(colours.items())
    )
    stats = result.stats
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{esc(workflow.name)}: the sheet after a simulated year</title>\n"
        f"<style>{_CSS}</style>\n</head>\n<body>\n"
        f"<h1>{esc(workflow.name)}: worksheet “{esc(workflow.sheet.worksheet)}” after a "
        "simulated year</h1>\n"
        f"<p>{stats.arrived} leads typed in over the year, synced with Todoist by "
        f"journey-sync in {stats.cycles} cycles. Row colours are the sheet's conditional "
        "formatting, evaluated by the sandbox; the footer rows under the leads are "
        "journey-sync's formulas, shown with their results.</p>\n"
        f'<p class="legend">{legend}</p>\n'
        "<table>\n"
        + "\n".join(rows_html)
        + "\n</table>\n"
        + (render_funnel_tab(result.funnel_tab) if result.funnel_tab is not None else "")
        + "</body>\n</html>\n"
    )
