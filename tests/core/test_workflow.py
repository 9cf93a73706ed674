"""The workflow file: the example is valid; every kind of mistake is reported with its line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from journey_sync.cli import main
from journey_sync.errors import WorkflowFileError
from journey_sync.workflow import Workflow, load_workflows, parse_workflows

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
        f"{path}:{line_of(bad, 'due: +3x')}: steps[book_meeting].due: '+3x' is not an offset: "
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
        f"wf.yaml:{line_of(bad, 'colour: red')}: steps[contact].colour: unknown key (check its spelling)"
    ]


def test_unknown_time_zone() -> None:
    bad = EXAMPLE.replace("time_zone: Europe/London", "time_zone: Mars/Olympus")
    [message] = problems(bad)
    assert message.startswith(f"wf.yaml:{line_of(bad, 'Mars/Olympus')}: time_zone: ")
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
    assert any("steps[check_in_12m].marks: 'month_13' is not a stage key" in p for p in found)
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
    assert "todoist_project: required key is missing" in message


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


# ------------------------------------------------ every problem at once, named by key


def test_unknown_stage_key_is_listed_with_schema_errors_in_one_run() -> None:
    # Before: the unknown stage key only appeared once the offset and priority were fixed.
    bad = (
        EXAMPLE.replace("due: +2d", "due: +3x", 1)
        .replace("priority: 4", "priority: 9", 1)
        .replace("marks: month_12", "marks: month_13")
        .replace('content: "Book a first meeting with {name}"', 'content: "Book {nmae}"')
        .replace("paid_stage: first_paid", "paid_stage: first_payd")
    )
    found = problems(bad)
    assert found == [
        f"wf.yaml:{line_of(bad, 'paid_stage: first_payd')}: paid_stage: 'first_payd' is not a "
        "stage key (contacted, meeting_booked, meeting_had, referred, complimentary, "
        "first_paid, month_1, month_2, month_3, month_6, month_12)",
        f"wf.yaml:{line_of(bad, 'priority: 9')}: steps[contact].priority: "
        "Input should be less than or equal to 4",
        f"wf.yaml:{line_of(bad, 'Book {nmae}')}: steps[book_meeting].content: unknown "
        "placeholder {nmae}; use one of {coach}, {heard_about}, {lead_date}, {lead_id}, "
        "{left_on}, {name}, {reason_left}, {source}",
        f"wf.yaml:{line_of(bad, 'due: +3x')}: steps[book_meeting].due: '+3x' is not an offset: "
        "write +<n>d, +<n>w or +<n>m, e.g. +0d, +2w, +12m",
        f"wf.yaml:{line_of(bad, 'marks: month_13')}: steps[check_in_12m].marks: 'month_13' is "
        "not a stage key (contacted, meeting_booked, meeting_had, referred, complimentary, "
        "first_paid, month_1, month_2, month_3, month_6, month_12)",
    ]


def test_cross_references_are_checked_even_when_a_stage_is_malformed() -> None:
    # A broken stage (header missing) must not hide a step's unknown stage key, and the
    # keys of the well-formed stages still count.
    bad = EXAMPLE.replace("        header: Client contacted\n", "", 1).replace(
        "marks: month_12", "marks: month_13"
    )
    found = problems(bad)
    assert found[0].endswith("stages[contacted].header: required key is missing")
    assert any("steps[check_in_12m].marks: 'month_13' is not a stage key" in p for p in found)
    assert not any("'contacted' is not a stage key" in p for p in found)
    assert len(found) == 2


def test_duplicates_point_at_the_second_occurrence() -> None:
    bad = EXAMPLE.replace("      - key: month_6\n", "      - key: month_3\n").replace(
        "header: 6 months post-lead", "header: 3 months post-lead"
    )
    found = problems(bad)
    second = line_of(bad, "- key: month_3", 2)
    assert f"wf.yaml:{second}: stages[month_3].key: stage key 'month_3' is used twice" in found
    assert (
        f"wf.yaml:{second + 1}: stages[month_3].header: header '3 months post-lead' is mapped "
        "twice" in found
    )


def test_an_item_without_a_key_is_named_by_its_position_from_one() -> None:
    bad = EXAMPLE.replace("      - key: book_meeting\n", "      - kee: book_meeting\n", 1)
    found = problems(bad)
    line = line_of(bad, "kee: book_meeting")
    assert f"wf.yaml:{line}: steps[#2].kee: unknown key (check its spelling)" in found
    assert f"wf.yaml:{line}: steps[#2].key: required key is missing" in found


def test_several_workflows_are_named_by_name() -> None:
    start = EXAMPLE.index("  - name: Studio client journey")
    second = (
        EXAMPLE[start:]
        .replace("name: Studio client journey", "name: Second studio")
        .replace("worksheet: Leads", "worksheet: Leads 2")
        .replace("due: +2d", "due: soon", 1)
    )
    bad = EXAMPLE + second
    [message] = problems(bad)
    assert message.startswith(
        f"wf.yaml:{line_of(bad, 'due: soon')}: workflows[Second studio].steps[book_meeting].due: "
    )


def test_duplicate_workflow_names_are_listed_with_other_problems() -> None:
    start = EXAMPLE.index("  - name: Studio client journey")
    bad = EXAMPLE + EXAMPLE[start:].replace("due: +2d", "due: +2x", 1)
    found = problems(bad)
    assert any(
        p.startswith(f"wf.yaml:{line_of(bad, 'name: Studio', 2)}: ")
        and "workflows[Studio client journey].name: workflow name 'Studio client journey' is "
        "used twice"
        in p
        for p in found
    )
    assert any("workflows[Studio client journey].steps[book_meeting].due" in p for p in found)


def test_models_built_in_code_still_check_cross_references() -> None:
    data = parse_workflows(EXAMPLE).workflows[0].model_dump()
    data["steps"][0]["marks"] = "nowhere"
    with pytest.raises(ValidationError, match="'nowhere' is not a stage key"):
        Workflow.model_validate(data)


# ------------------------------------------------------------- YAML syntax hints


@pytest.mark.parametrize(
    ("old", "new", "at", "hint"),
    [
        ("        priority: 4\n", "\tpriority: 4\n", "\tpriority", "tab"),
        (
            'content: "Contact {name} (lead from {source})"',
            "content: Call them: today",
            "Call them",
            'must be in quotes, e.g. content: "Call them: today"',
        ),
        ("        priority: 4\n", "       priority: 4\n", "       priority", "indentation"),
        ("        priority: 4\n", "          priority: 4\n", "          priority", "indentation"),
        ("      - key: book_meeting\n", "     - key: book_meeting\n", "- key: book", "indentation"),
        (
            'content: "Contact {name} (lead from {source})"',
            "content: {name} to call",
            "{name} to call",
            'put the whole value in quotes, e.g. content: "{name} to call"',
        ),
        (
            "        labels: [journey]\n",
            "        labels: [journey\n",
            "labels: [journey",
            "starts on this line is not closed",
        ),
    ],
    ids=["tab", "colon", "indent-less", "indent-more", "indent-dash", "brace", "list"],
)
def test_yaml_syntax_error_has_its_line_and_a_plain_hint(
    old: str, new: str, at: str, hint: str
) -> None:
    bad = EXAMPLE.replace(old, new, 1)
    [message] = problems(bad)
    assert message.startswith(f"wf.yaml:{line_of(bad, at)}: YAML syntax error: ")
    assert "Hint: " in message
    assert hint in message.split("Hint: ")[1]


def test_unclosed_quote_names_the_line_it_opened_on() -> None:
    bad = EXAMPLE.replace(
        'content: "Contact {name} (lead from {source})"', 'content: "Contact {name}', 1
    )
    [message] = problems(bad)
    opened = line_of(bad, 'content: "Contact {name}')
    assert f'Hint: the quote (") opened on line {opened} is not closed' in message


def test_a_value_of_the_wrong_shape_is_explained_in_yaml_words() -> None:
    bad = EXAMPLE.replace("        labels: [journey]\n", "        labels: journey\n", 1).replace(
        "      - key: contacted\n        header: Client contacted\n",
        "      - contacted: Client contacted\n",
        1,
    )
    found = problems(bad)
    assert (
        f"wf.yaml:{line_of(bad, 'labels: journey')}: steps[contact].labels: should be a list: "
        "one item per line, each starting with '- '"
    ) in found
    assert any(p.endswith("stages[#1].key: required key is missing") for p in found)
    text = problems("workflows:\n  - 3\n")
    assert text == ["wf.yaml:2: workflows[#1]: should be a mapping: indented 'key: value' lines"]
