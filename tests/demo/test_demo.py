"""``journey-sync demo``: a simulated year against the sandbox, printed and as HTML.

The year runs once per module (a few seconds); the tests read what it printed, the way a
person reads it, and hold the three views of the funnel to each other: the marks in the
table, the footer as it reads in the sheet, and ``journey-sync report``'s figures.
"""

from __future__ import annotations

import io
import re
from collections import Counter
from datetime import date
from pathlib import Path

import pytest

from journey_sync.cli import main
from journey_sync.plan import GREEN, RED
from journey_sync_sandbox.demo import START, DemoResult, run_demo

SEED = 11
LEADS = 30

ROW = re.compile(r"^\s*(\d+)  (.{18}) (\d{4}-\d{2}-\d{2}) ((?:  [✓1·]){11})  (.*)$")


@pytest.fixture(scope="module")
def year(tmp_path_factory: pytest.TempPathFactory) -> DemoResult:
    out = tmp_path_factory.mktemp("demo")
    return run_demo(leads=LEADS, out=out, seed=SEED, stream=io.StringIO(), colour=False)


def _section(output: str, title: str) -> list[str]:
    """The lines after the line starting with ``title``, up to the next blank line."""
    lines = output.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(title))
    out: list[str] = []
    for line in lines[start + 1 :]:
        if not line.strip():
            break
        out.append(line)
    return out


def _table(output: str) -> list[tuple[str, list[str], str, str]]:
    """(name, marks, reason, colour tag) per lead line of the printed table."""
    rows = []
    for line in _section(output, "The sheet ("):
        match = ROW.match(line)
        if not match:
            continue
        marks = match.group(4).split()
        rest = match.group(5)
        tag = re.search(r"\[(\w+)\]\s*$", rest)
        # coach (11) + space, reason (24) + space, left on (10)
        reason = rest[12:36].strip()
        rows.append((match.group(2).strip(), marks, reason, tag.group(1) if tag else ""))
    return rows


def _footer(output: str) -> dict[str, list[str]]:
    """The footer as printed: one column per footer row (reached, share, not due, drop-off,
    left here), one line per stage; "journey" holds the "Leads: ..." line."""
    lines = _section(output, "The footer")
    columns = re.split(r"\s{2,}", lines[0].strip())[1:]
    out: dict[str, list[str]] = {name: [] for name in columns}
    for line in lines[1:]:
        if "Leads:" in line:
            out["journey"] = [line[line.index("Leads:") :].strip()]
            continue
        match = re.match(r"^  (.{32})((?:\s+\S+)+)$", line)
        if match and not line.strip().startswith("("):
            for name, value in zip(columns, match.group(2).split(), strict=True):
                out[name].append(value)
    return out


def _report(output: str) -> tuple[str, dict[str, list[str]]]:
    """The 'all leads' funnel table: its title line and each stage's figures."""
    lines = _section(output, "Studio client journey, all leads")
    title = next(line for line in output.splitlines() if ", all leads" in line)
    figures = {}
    for line in lines[1:]:
        if line.strip().startswith("("):
            continue
        parts = line.split()
        figures[" ".join(parts[:-5])] = parts[-5:]
    return title, figures


def test_the_table_footer_and_funnel_tell_the_same_story(year: DemoResult) -> None:
    output = year.output
    table = _table(output)
    assert len(table) == LEADS
    stages = [s.header for s in year.workflow.stages]
    footer = _footer(output)
    title, report = _report(output)
    assert list(report) == stages

    # Marks in the table == the footer's totals == the report's "reached".
    reached = [sum(1 for _, marks, _, _ in table if marks[i] in "✓1") for i in range(len(stages))]
    assert [int(x) for x in footer["reached"]] == reached
    assert [int(report[s][0]) for s in stages] == reached
    # Shares, not-due counts, drop-offs among due leads and departures per stage: the
    # footer (sheet formulas, as Sheets formats them) == the report.
    assert footer["share"] == [report[s][1] for s in stages]
    assert footer["not due"] == [report[s][2] for s in stages]
    assert footer["drop-off"] == [report[s][3] for s in stages]
    assert footer["left here"] == [report[s][4] for s in stages]
    # Leads of the last weeks are not yet due for the later stages: not counted as lost.
    assert int(footer["not due"][-1]) > 0
    # "Leads: 30 · still in journey: 60%" in the sheet; the same in the report's title.
    journey = re.match(r"Leads: (\d+) · still in journey: ([\d.]+)%", footer["journey"][0])
    assert journey is not None
    staying = sum(1 for _, _, reason, _ in table if not reason)
    assert int(journey.group(1)) == LEADS == year.figures.leads
    assert f"{LEADS} leads, {staying} still in journey ({journey.group(2)}%)" in title

    # The printed colour tags come from the sheet's rules: red for a reason, else green
    # for a paid mark.
    paid = stages.index("First paid session")
    for name, marks, reason, tag in table:
        expected = "left" if reason else ("paid" if marks[paid] in "✓1" else "")
        assert tag == expected, name
    tags = Counter(tag for *_, tag in table)
    assert tags["left"] > 0 and tags["paid"] > 0 and tags[""] > 0


def test_the_year_holds_every_kind_of_client_and_event(year: DemoResult) -> None:
    stats = year.stats
    assert stats.cycles == 365
    assert stats.already_in_sheet > 0 and stats.arrived == LEADS
    assert stats.ticked > 0 and stats.marks_by_hand > 0
    assert stats.coaches_assigned > 0 and stats.departures > 0
    # New leads were typed under the last lead: into the footer's blank separator row,
    # and (once the footer sat right under the leads) into an inserted row.
    assert stats.typed_into_separator > 0 and stats.inserted_rows > 0
    table = _table(year.output)
    stages = [s.header for s in year.workflow.stages]
    booked = stages.index("Client meeting booked")
    paid = stages.index("First paid session")
    assert any(marks[booked] == "·" for _, marks, _, _ in table)  # never booked
    assert any(marks[booked] != "·" and marks[paid] == "·" for _, marks, _, _ in table)
    assert "✓" in year.output and any("1" in marks for _, marks, _, _ in table)
    # journey-sync wrote the coach's name from the assignee of the "refer" task.
    coach = year.columns["Name of coach"]
    assert {row.cells[coach] for row in year.leads} >= {"Sam Carter", "Priya Shah"}


def test_requests_are_counted_by_the_sandbox(year: DemoResult) -> None:
    traffic = year.traffic
    # One Sheets read and one Todoist sync per quiet cycle; writes only on changes. A cycle
    # that wrote into lead rows reads once more, to check the writes landed in their rows.
    assert traffic["sheets_reads"] >= 365
    assert traffic["sheets_reads"] <= 365 + traffic["sheets_writes"] + 5  # + metadata
    assert 0 < traffic["sheets_writes"] < 2 * 365
    assert 365 <= traffic["todoist_requests"] < 3 * 365
    assert (
        f"Google Sheets {traffic['sheets_reads']} reads and {traffic['sheets_writes']} writes, "
        f"Todoist {traffic['todoist_requests']} requests" in year.output
    )


def test_exactly_one_task_per_lead_and_step(year: DemoResult) -> None:
    counts = year.tasks_per_step
    assert counts and set(counts.values()) == {1}
    steps = [s.key for s in year.workflow.steps]
    lead_id = year.columns["Lead ID"]
    date_col = year.columns["Date of lead"]
    ids = {row.cells[lead_id]: row.cells[date_col] for row in year.leads}
    assert all(re.fullmatch(r"L-[A-Z2-9]{8}", i) for i in ids)
    by_lead: dict[str, set[str]] = {}
    for lead, step in counts:
        by_lead.setdefault(lead, set()).add(step)
    assert set(by_lead) <= set(ids)
    for lead, day in ids.items():
        if day >= START.date().isoformat():
            # Typed during the year, no marks yet at its first cycle: every step's task.
            assert by_lead.get(lead) == set(steps), lead
        else:
            assert by_lead.get(lead, set()) <= set(steps)
    assert "pairs; 0 pairs with more than one task" in year.output


def test_the_html_sheet_has_green_and_red_rows_and_a_styled_footer(year: DemoResult) -> None:
    page = year.html_path.read_text("utf-8")
    assert page.startswith("<!DOCTYPE html>")
    green = "#" + "".join(f"{round(255 * c):02x}" for c in GREEN)
    red = "#" + "".join(f"{round(255 * c):02x}" for c in RED)
    paid_rows = re.findall(r'<tr class="lead" data-colour="paid" style="[^"]*">', page)
    left_rows = re.findall(r'<tr class="lead" data-colour="left" style="[^"]*">', page)
    assert paid_rows and all(green in r for r in paid_rows)
    assert left_rows and all(red in r for r in left_rows)
    table = _table(year.output)
    assert len(paid_rows) == sum(1 for *_, tag in table if tag == "paid")
    assert len(left_rows) == sum(1 for *_, tag in table if tag == "left")
    assert page.count('<tr class="footer') == len(year.footer) == 6
    assert "tr.footer td" in page  # styled
    assert f"The sheet with its colours: {year.html_path}" in year.output


def test_on_a_terminal_rows_get_their_sheet_colour_as_background(year: DemoResult) -> None:
    from journey_sync_sandbox.demo import render_text

    lines = render_text(year, colour=True)
    green = "\x1b[48;2;{};{};{}m".format(*(round(255 * c) for c in GREEN))
    red = "\x1b[48;2;{};{};{}m".format(*(round(255 * c) for c in RED))
    assert any(line.startswith(green) for line in lines)
    assert any(line.startswith(red) for line in lines)
    assert not any("[paid]" in line or "[left]" in line for line in lines)


def test_the_same_seed_gives_the_same_year(year: DemoResult, tmp_path: Path) -> None:
    again = run_demo(
        leads=LEADS, out=year.html_path.parent, seed=SEED, stream=io.StringIO(), colour=False
    )
    assert again.output == year.output
    other = run_demo(leads=LEADS, out=tmp_path, seed=SEED + 1, stream=io.StringIO(), colour=False)
    assert _table(other.output) != _table(year.output)


def test_the_command_prints_the_year_and_writes_the_page(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["demo", "--leads", "6", "--out", str(tmp_path / "out"), "--seed", "3"]) == 0
    printed = capsys.readouterr()
    assert "\x1b[" not in printed.out  # not a terminal: text tags, no escape codes
    assert "The footer, as it reads in the sheet" in printed.out
    assert "Studio client journey, all leads: 6 leads" in printed.out
    assert (tmp_path / "out" / "sheet.html").is_file()
    assert "a simulated year in" in printed.err


def test_the_html_page_shows_the_funnel_tab_with_svg_charts(year: DemoResult) -> None:
    page = year.html_path.read_text("utf-8")
    assert year.funnel_tab is not None
    assert "Tab “Funnel”" in page and "<script" not in page
    assert page.count("<svg ") == len(year.funnel_tab.charts) == 3
    assert 'data-chart-type="BAR"' in page and 'data-chart-type="COLUMN"' in page
    # The funnel bar chart: one bar per stage, labelled with the stage's name.
    bar_chart = page[page.index('data-chart-type="BAR"') :]
    bar_chart = bar_chart[: bar_chart.index("</svg>")]
    assert bar_chart.count('class="bar"') == len(year.workflow.stages)
    for stage, figures in zip(year.workflow.stages, year.figures.stages, strict=True):
        assert f"{stage.header}: {figures.reached}</title>" in bar_chart


# ------------------------------------------------------------------ the fast paths


def test_website_leads_come_through_the_form_and_get_their_tasks_in_that_cycle(
    year: DemoResult,
) -> None:
    """The website's leads are posted, form-encoded, to journey-sync's intake over HTTP;
    each browser gets 201 with the lead's id and row; the row holds what the form said,
    dated the day it was posted, and the lead's first tasks were added that same day."""
    posts = year.form_posts
    assert posts and year.stats.from_the_form == len(posts)
    name_i = year.columns[year.workflow.sheet.columns.name]
    date_i = year.columns[year.workflow.sheet.columns.lead_date]
    id_i = year.columns[year.workflow.sheet.columns.lead_id]
    source_i = year.columns[year.workflow.sheet.columns.source or ""]
    rows = {row.cells[id_i]: row for row in year.leads}
    for post in posts:
        assert post.status == 201, post.answer
        assert post.answer["written"] is True and post.row is not None
        assert post.lead_id is not None and post.lead_id in rows
        cells = rows[post.lead_id].cells
        assert cells[name_i] == post.name and cells[source_i] == "Website"
        posted_on = date.fromisoformat(cells[date_i])
        assert year.first_task_added[post.lead_id] == posted_on
    # No other lead of the year has the form's source: they were all posted.
    typed = [
        r
        for r in year.leads
        if r.cells[source_i] == "Website" and r.cells[id_i] not in {p.lead_id for p in posts}
    ]
    assert all(date.fromisoformat(r.cells[date_i]) < START.date() for r in typed)


def test_webhooks_are_delivered_signed_and_ask_for_the_cycle_of_every_day_with_a_tick(
    year: DemoResult,
) -> None:
    """The sandbox's Todoist app POSTs each watched item event to the intake; journey-sync
    checks the signature (a bad one would be answered 401) and asks for a cycle."""
    stats = year.stats
    assert stats.webhooks_delivered > 0
    assert stats.webhooks_answered_200 == stats.webhooks_delivered
    assert stats.ticked_on and stats.ticked_on <= stats.asked_by_webhooks_on
    assert "Fast paths: the website's form posted" in year.output
