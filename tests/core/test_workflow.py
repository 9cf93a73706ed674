"""The workflow file: the example is valid; every kind of mistake is reported with its line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from journey_sync.cli import main
from journey_sync.errors import WorkflowFileError
from journey_sync.workflow import load_workflows, parse_workflows

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = (ROOT / "workflows.yaml").read_text()


def line_of(text: str, needle: str, occurrence: int = 1) -> int:
    lines = text.splitlines()
    hits = [i + 1 for i, line in enumerate(lines) if needle in line]
    return hits[occurrence - 1]


def problems(text: str) -> list[str]:
    with pytest.raises(WorkflowFileError) as info:
        parse_workflows(text, "wf.yaml")
    return [str(p) for p in info.value.problems]


def test_example_workflow_is_a_12_month_studio_journey() -> None:
    wf = load_workflows(ROOT / "workflows.yaml").workflows[0]
    assert wf.paid_stage == "first_paid"
    assert next(s.header for s in wf.stages) == "Client contacted"
    assert 10 <= len(wf.steps) <= 14
    assert max(s.due.amount for s in wf.steps if s.due.unit == "m") == 12
    assert any(s.marks is None for s in wf.steps)  # touch-base reminders mark nothing
    assert all(s.marks in {st.key for st in wf.stages} for s in wf.steps if s.marks)


def test_packaged_example_is_the_root_example() -> None:
    packaged = ROOT / "src" / "journey_sync" / "examples" / "workflows.yaml"
    assert packaged.read_text() == EXAMPLE


def test_validate_prints_summary_and_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", str(ROOT / "workflows.yaml")]) == 0
    out = capsys.readouterr().out
    assert "+12m" in out and "Client contacted" in out and "[paid]" in out


def test_validate_bad_offset_names_file_line_and_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = EXAMPLE.replace("due: +2d", "due: +3x", 1)
    path = tmp_path / "broken.yaml"
    path.write_text(bad)
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        f"{path}:{line_of(bad, 'due: +3x')}: workflows.0.steps.1.due: '+3x' is not an offset: "
        "write +<n>d, +<n>w or +<n>m, e.g. +0d, +2w, +12m"
    ]


def test_validate_yaml_syntax_error_has_its_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = EXAMPLE.replace("        labels: [journey]\n", "        labels: [journey\n", 1)
    path = tmp_path / "broken.yaml"
    path.write_text(bad)
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"{path}:")
    line = int(err.split(":")[1])
    assert abs(line - line_of(bad, "labels: [journey", 1)) <= 2
    assert "YAML syntax error" in err


def test_unknown_key_is_an_error_with_its_line() -> None:
    bad = EXAMPLE.replace("        priority: 4\n", "        priority: 4\n        colour: red\n", 1)
    assert problems(bad) == [
        f"wf.yaml:{line_of(bad, 'colour: red')}: workflows.0.steps.0.colour: unknown key (check its spelling)"
    ]


def test_unknown_time_zone() -> None:
    bad = EXAMPLE.replace("time_zone: Europe/London", "time_zone: Mars/Olympus")
    [message] = problems(bad)
    assert message.startswith(f"wf.yaml:{line_of(bad, 'Mars/Olympus')}: workflows.0.time_zone: ")
    assert "IANA" in message


def test_duplicate_step_and_stage_keys_and_unknown_marks() -> None:
    bad = (
        EXAMPLE.replace("marks: month_12", "marks: month_13")
        .replace("      - key: month_6\n", "      - key: month_3\n")
        .replace("      - key: touch_base_6w\n", "      - key: contact\n")
    )
    found = problems(bad)
    assert any("stage key 'month_3' is used twice" in p for p in found)
    assert any("step key 'contact' is used twice" in p for p in found)
    assert any("steps.12.marks: 'month_13' is not a stage key" in p for p in found)
    assert all(p.startswith("wf.yaml:") and p.split(":")[1].isdigit() for p in found)


def test_several_errors_reported_at_once() -> None:
    bad = EXAMPLE.replace("due: +2d", "due: +3x").replace("priority: 4", "priority: 9")
    assert len(problems(bad)) == 2


def test_unknown_placeholder_in_content() -> None:
    bad = EXAMPLE.replace('content: "Book a first meeting with {name}"', 'content: "Book {nmae}"')
    [message] = problems(bad)
    assert "unknown placeholder {nmae}" in message and "{name}" in message


def test_unquoted_time_is_explained() -> None:
    bad = EXAMPLE.replace('time: "10:00"', "time: 10:00")
    [message] = problems(bad)
    assert "in quotes" in message


def test_missing_required_key_points_at_parent() -> None:
    bad = EXAMPLE.replace("    todoist_project: Client journeys\n", "")
    [message] = problems(bad)
    assert "workflows.0.todoist_project: required key is missing" in message


def test_spreadsheet_url_gives_its_id() -> None:
    text = EXAMPLE.replace(
        "spreadsheet: 1bT0Ex4mPl3Sp4eadSh33tId0000000000000000000",
        "spreadsheet: https://docs.google.com/spreadsheets/d/1AbCdEfGhIjKlMnOp/edit#gid=0",
    )
    assert parse_workflows(text).workflows[0].sheet.spreadsheet_id == "1AbCdEfGhIjKlMnOp"


def test_console_script_validate_runs(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "journey_sync.cli", "validate", str(ROOT / "workflows.yaml")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "ok: 1 workflow(s) valid" in done.stdout
