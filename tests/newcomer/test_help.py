"""Help that helps: every command and option says what it does and what its default is."""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from pathlib import Path

import pytest

from journey_sync import cli
from journey_sync.settings import VARIABLES

ROOT = Path(__file__).resolve().parents[2]


def commands(
    parser: argparse.ArgumentParser, path: tuple[str, ...] = ()
) -> list[tuple[tuple[str, ...], argparse.ArgumentParser]]:
    """Every (sub)command of the real parser, nested ones included."""
    found = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found.append(((*path, name), sub))
                found.extend(commands(sub, (*path, name)))
    return found


ALL = commands(cli._parser())


def help_of(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    with pytest.raises(SystemExit) as done:
        cli.main([*argv, "--help"])
    assert done.value.code == 0
    return capsys.readouterr().out


def entries(section: str) -> dict[str, str]:
    """An options section -> {first word of the entry: the entry's whole text}."""
    found: dict[str, str] = {}
    current = ""
    for line in section.splitlines():
        if re.match(r"^  \S", line):
            current = line.split()[0].rstrip(",")
            found[current] = line
        elif current:
            found[current] += " " + line.strip()
    return {name: " ".join(text.split()) for name, text in found.items()}


def test_the_walk_sees_every_command() -> None:
    assert {" ".join(path) for path, _ in ALL} == {
        "validate",
        "run",
        "apply-template",
        "add-lead",
        "todoist-connect",
        "report",
        "doctor",
        "health",
        "demo",
        "sandbox",
        "sandbox serve",
    }


@pytest.mark.parametrize("path", [path for path, _ in ALL], ids=" ".join)
def test_every_command_has_a_description_and_every_option_a_help_and_a_default(
    path: tuple[str, ...], capsys: pytest.CaptureFixture[str]
) -> None:
    text = help_of(list(path), capsys)
    usage, description, *sections = text.split("\n\n")
    assert usage.startswith(f"usage: journey-sync {' '.join(path)}")
    assert len(description.split()) >= 5 and description.rstrip().endswith("."), description
    options = [s for s in sections if s.startswith(("options:", "positional arguments:"))]
    described = {}
    for section in options:
        described.update(entries(section.split("\n", 1)[1]))
    parser = dict(ALL)[path]
    for action in parser._actions:
        if isinstance(action, (argparse._HelpAction, argparse._SubParsersAction)):
            continue
        name = action.option_strings[0] if action.option_strings else action.dest
        assert name in described, f"{name} is missing from {' '.join(path)} --help"
        entry = described[name]
        if action.required:  # nothing to default to: the help says it is required
            assert "(required" in entry, f"{' '.join(path)} {name}: not said required: {entry}"
        else:
            assert "default:" in entry, f"{' '.join(path)} {name}: no default shown: {entry}"
        words = re.split(r"\((?:default:|required)", entry)[0].split()
        assert len(words) >= 4, f"{' '.join(path)} {name}: no description: {entry}"


def test_demo_seed_says_what_it_does(capsys: pytest.CaptureFixture[str]) -> None:
    entry = entries(help_of(["demo"], capsys).split("options:\n")[1])["--seed"]
    assert entry == "--seed SEED the same seed gives the same year (default: 7)"


def test_run_help_lists_every_setting_it_reads(capsys: pytest.CaptureFixture[str]) -> None:
    text = help_of(["run"], capsys)
    read = set(VARIABLES)  # what Settings reads, from its own model
    assert len(read) >= 12
    settings = text.split("settings (environment variables) read:\n")[1]
    listed = {line.split()[0] for line in settings.splitlines() if line.strip()}
    assert listed == read
    assert "JOURNEY_SYNC_INTERVAL           seconds between cycles (default: 60)" in settings


def test_sandbox_alone_prints_its_help(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["sandbox"]) == 0
    captured = capsys.readouterr()
    assert captured.out.startswith("usage: journey-sync sandbox")
    assert "serve" in captured.out and "--workdir" not in captured.err


def test_no_command_prints_the_command_list(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main([]) == 0
    out = capsys.readouterr().out
    for path, _ in ALL:
        if len(path) == 1:
            # A long name (apply-template) has its help on the next line.
            assert re.search(rf"^    {re.escape(path[0])}( |$)", out, re.MULTILINE), path


def test_console_script_sandbox_alone_prints_help() -> None:
    done = subprocess.run(
        [str(Path(sys.executable).with_name("journey-sync")), "sandbox"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "usage: journey-sync sandbox" in done.stdout and done.stderr == ""
