"""The demo's year as text for a terminal: the sheet, its footer, the funnel, the cost."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from ..sheets import Colour
from .simulation import DAYS, START, DemoResult, colour_tag


def _ansi_background(colour: Colour) -> str:
    red, green, blue = (round(255 * c) for c in (colour.red, colour.green, colour.blue))
    return f"\x1b[48;2;{red};{green};{blue}m\x1b[38;2;0;0;0m"


_RESET = "\x1b[0m"
NAME_WIDTH = 18
REASON_WIDTH = 24
COACH_WIDTH = 11
FOOTER_LABEL = 32
# The footer's row labels (in the sheet) as short column names for the terminal.
FOOTER_COLUMNS = {
    "Total reached": "reached",
    "Share of leads": "share",
    "Not yet due": "not due",
    "Drop-off among due leads": "drop-off",
    "Left at this stage": "left here",
}


def _fit(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _mark(text: str, by_hand: bool) -> str:
    if text == "1":
        return "1" if by_hand else "✓"
    return "·" if not text else _fit(text, 2)


def render_text(result: DemoResult, *, colour: bool) -> list[str]:
    workflow = result.workflow
    col = result.columns
    stages = list(workflow.stages)
    name_i = col[workflow.sheet.columns.name]
    date_i = col[workflow.sheet.columns.lead_date]
    reason_header = workflow.sheet.columns.reason_left
    coach_header = workflow.sheet.columns.coach
    left_header = workflow.sheet.columns.left_on
    lines: list[str] = []
    stats = result.stats
    lines.append(
        f"A simulated year at the studio ({START.date()} to "
        f"{(START + timedelta(days=DAYS - 1)).date()}), one journey-sync cycle a day "
        f"({stats.cycles} cycles)."
    )
    lines.append(
        f"People: {stats.already_in_sheet} leads were already in the sheet (kept by hand "
        f"before journey-sync), {stats.arrived - stats.already_in_sheet - stats.from_the_form} "
        f"were typed in during the year and {stats.from_the_form} came from the website's "
        f"form; staff ticked {stats.ticked} Todoist tasks, typed "
        f"{stats.marks_by_hand} marks by hand, assigned {stats.coaches_assigned} "
        f"'refer to a coach' tasks to a coach, and typed {stats.departures} reasons for "
        "leaving."
    )
    written = sum(1 for p in result.form_posts if p.status == 201 and p.row is not None)
    lines.append(
        f"Fast paths: the website's form posted {len(result.form_posts)} leads to "
        f"journey-sync's intake (POST /leads; {written} answered 201 with their row, written "
        "with its tasks in that day's cycle); Todoist delivered "
        f"{stats.webhooks_delivered} webhooks ({stats.webhooks_answered_200} answered 200, "
        f"each signature checked), asking for the cycle on {len(stats.asked_by_webhooks_on)} "
        f"days (staff ticked tasks on {len(stats.ticked_on)}). The daemon runs an asked-for "
        "cycle within a second; here a day is one step."
    )
    lines.append("")
    lines.append(
        f"The sheet ({workflow.sheet.worksheet!r}), as the sandbox holds it; the tag (or the "
        "background) is the row's colour from the sheet's conditional formatting:"
    )
    lines.append("stages: " + " · ".join(f"{i + 1} {s.header}" for i, s in enumerate(stages)))
    lines.append(
        "marks: ✓ written by journey-sync when the task was ticked in Todoist, "
        "1 typed into the sheet by hand"
    )
    head = f"{'row':>4}  {'name':<{NAME_WIDTH}} {'lead date':<10} " + "".join(
        f"{i + 1:>3}" for i in range(len(stages))
    )
    head += (
        "  " + f"{'coach':<{COACH_WIDTH}} {'reason left':<{REASON_WIDTH}} {'left on':<10}  colour"
    )
    lines.append(head)
    lines.append("-" * len(head))
    for entry in result.leads:
        cells = entry.cells
        text = f"{entry.row:>4}  {_fit(cells[name_i], NAME_WIDTH):<{NAME_WIDTH}} "
        text += f"{_fit(cells[date_i], 10):<10} "
        name = cells[name_i]
        text += "".join(
            f"{_mark(cells[col[s.header]], (name, s.key) in result.typed_marks):>3}" for s in stages
        )
        text += "  " + f"{_fit(_cell(cells, col, coach_header), COACH_WIDTH):<{COACH_WIDTH}} "
        text += f"{_fit(_cell(cells, col, reason_header), REASON_WIDTH):<{REASON_WIDTH}} "
        text += f"{_fit(_cell(cells, col, left_header), 10):<10}"
        tag = colour_tag(entry.colour)
        if colour and entry.colour is not None and tag:
            lines.append(_ansi_background(entry.colour) + text + "  " + _RESET)
        else:
            lines.append(text + (f"  [{tag}]" if tag else ""))
    lines.append("")
    rows = [e.row for e in result.footer]
    where = f"rows {min(rows)}-{max(rows)}, " if rows else ""
    lines.append(
        f"The footer, as it reads in the sheet ({where}under the leads; one column per "
        "footer row, one line per stage column):"
    )
    figure_rows = [e for e in result.footer if any(e.cells[col[s.header]] for s in stages)]
    names = [FOOTER_COLUMNS.get(e.cells[name_i], e.cells[name_i]) for e in figure_rows]
    widths = [max(len(n), 7) + 2 for n in names]
    lines.append(
        f"  {'stage':<{FOOTER_LABEL}}"
        + "".join(f"{n:>{w}}" for n, w in zip(names, widths, strict=True))
    )
    for stage in stages:
        figures = [e.cells[col[stage.header]] or "-" for e in figure_rows]
        lines.append(
            f"  {_fit(stage.header, FOOTER_LABEL):<{FOOTER_LABEL}}"
            + "".join(f"{f:>{w}}" for f, w in zip(figures, widths, strict=True))
        )
    for entry in result.footer:
        if entry not in figure_rows and entry.cells[name_i]:
            lines.append(f"  {entry.cells[name_i]}")
    lines.append(
        "  (drop-off counts only the leads for whom the stage is due; 'not due' leads have "
        "not had the time yet)"
    )
    lines.append("")
    lines.append("The funnel (what `journey-sync report` prints for this sheet):")
    lines.append(result.report)
    lines.append("")
    traffic = result.traffic
    cycles = max(1, stats.cycles)
    lines.append(
        f"Requests over the year: Google Sheets {traffic['sheets_reads']} reads and "
        f"{traffic['sheets_writes']} writes, Todoist {traffic['todoist_requests']} requests, "
        f"Google sign-in {traffic['oauth_token_requests']} "
        f"(per cycle: {traffic['sheets_reads'] / cycles:.2f} Sheets reads, "
        f"{traffic['sheets_writes'] / cycles:.2f} writes, "
        f"{traffic['todoist_requests'] / cycles:.2f} Todoist requests)."
    )
    counts = result.tasks_per_step
    twice = sum(1 for n in counts.values() if n > 1)
    lines.append(
        f"Exactly once: {sum(counts.values())} Todoist tasks for {len(counts)} (lead, step) "
        f"pairs; {twice} pairs with more than one task."
    )
    lines.append(f"The sheet with its colours: {result.html_path}")
    return lines


def _cell(cells: Sequence[str], col: dict[str, int], header: str | None) -> str:
    if header is None or header not in col:
        return ""
    index = col[header]
    return cells[index] if index < len(cells) else ""
