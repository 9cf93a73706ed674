"""The repository is self-contained: a plain clone, with nothing beside it, runs its tests."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from support.recordings import RECORDINGS
from support.world import ROOT

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="needs git")

# Folders whose files tests, scripts and docstrings are read from.
CHECKED = ("src", "sandbox", "tests", "bench", "scripts", ".ci", "README.md", "pyproject.toml")
# A path outside the repository: the old sibling folder, or an absolute one under the
# workspace. Built in pieces so that this file does not match itself.
OUTSIDE = re.compile("|".join([r"\.\./" + "shared", "/" + "work/", r"parents\[\d\]\.parent"]))


def _git(*args: str, cwd: Path = ROOT) -> str:
    return subprocess.run(
        ["git", *args], cwd=cwd, check=True, capture_output=True, text=True
    ).stdout


def test_a_plain_clone_collects_every_test(tmp_path: Path) -> None:
    """Clone the committed HEAD into an empty folder (no ``shared`` beside it) and collect."""
    if not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    clone = tmp_path / "clone"
    _git("clone", "--quiet", "--no-hardlinks", str(ROOT), str(clone))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clone"]  # nothing beside it
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}
    # The clone's own sources come first, before the venv's editable install of this tree.
    sources = [clone / "src", clone / "sandbox" / "src"]
    env["PYTHONPATH"] = os.pathsep.join(str(p) for p in sources if p.is_dir())
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider"],
        cwd=clone,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    collected = done.stdout.splitlines()
    # The tests parametrized over the recordings found them inside the clone.
    replays = [line for line in collected if "test_replays_recorded_sheets_traffic[" in line]
    assert len(replays) >= len(list(RECORDINGS.glob("gsheets_*.json"))) >= 10
    assert any(line.startswith("tests/adapters/test_todoist_gateway.py::") for line in collected)
    assert re.search(r"^\d+ tests collected", collected[-1]), collected[-5:]


def test_the_recordings_are_inside_the_repository() -> None:
    assert RECORDINGS.is_relative_to(ROOT)
    assert (RECORDINGS / "SOURCES.md").is_file()
    assert len(list(RECORDINGS.glob("gsheets_*.json"))) >= 10
    assert len(list(RECORDINGS.glob("todoist_*.json"))) >= 5


def test_nothing_points_outside_the_repository() -> None:
    """No test, script or docstring reads (or sends a reader to) a folder outside the repo."""
    offenders = []
    for name in _git("ls-files", "--", *CHECKED).splitlines():
        path = ROOT / name
        if path.suffix not in {".py", ".md", ".toml", ".yaml", ".yml", ""} or not path.is_file():
            continue
        if path.is_relative_to(RECORDINGS):
            continue  # third-party material, quoted as recorded
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if OUTSIDE.search(line):
                offenders.append(f"{name}:{number}: {line.strip()}")
    assert offenders == []
