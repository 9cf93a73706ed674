"""The README's first command, as a newcomer runs it: a plain clone, then ``scripts/demo``.

The committed HEAD is cloned into an empty folder and ``scripts/demo`` run there with nothing
from this test run's virtualenv on PATH, so the clone's ``scripts/setup`` builds its own
``.venv`` (pip's cache makes that about a minute) and the demo runs from the clone's code.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(shutil.which("git") is None, reason="needs git"),
    pytest.mark.timeout(450),
]


def newcomer_env() -> dict[str, str]:
    """This environment without the test run's virtualenv (as a fresh shell would be)."""
    venv_bin = Path(sys.prefix) / "bin"
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("JOURNEY_SYNC_", "TODOIST_", "GOOGLE_", "PYTEST", "VIRTUAL_ENV"))
        and k not in {"PYTHONPATH", "PYTHON"}
    }
    env["PATH"] = os.pathsep.join(
        p for p in env.get("PATH", "").split(os.pathsep) if p and Path(p) != venv_bin
    )
    python3 = shutil.which("python3", path=env["PATH"])
    version = (
        subprocess.run(
            [python3, "-c", "import sys; print(sys.version_info >= (3, 11))"],
            capture_output=True,
            text=True,
            check=False,
        ).stdout.strip()
        if python3
        else ""
    )
    if version != "True":
        # This machine's python3 is too old: use the interpreter behind the test run, as the
        # README's PYTHON= says (the too-old case itself is tests/newcomer/test_setup_script).
        env["PYTHON"] = getattr(sys, "_base_executable", sys.executable)
    return env


def test_a_plain_clone_runs_scripts_demo(tmp_path: Path) -> None:
    if not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    clone = tmp_path / "clone"
    subprocess.run(
        ["git", "clone", "--quiet", "--no-hardlinks", str(ROOT), str(clone)],
        check=True,
        capture_output=True,
    )
    assert not (clone / ".venv").exists()

    done = subprocess.run(
        ["scripts/demo"],  # exactly as the README writes it
        cwd=clone,
        env=newcomer_env(),
        capture_output=True,
        text=True,
        timeout=420,
        check=False,
    )

    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert (clone / ".venv" / "bin" / "journey-sync").is_file()
    once = re.search(
        r"Exactly once: (\d+) Todoist tasks for (\d+) \(lead, step\) pairs; "
        r"0 pairs with more than one task",
        done.stdout,
    )
    assert once is not None and once[1] == once[2] and int(once[1]) > 0, done.stdout[-2000:]
    assert "Client contacted" in done.stdout  # the sheet and the funnel were printed
    assert (clone / "demo-output" / "sheet.html").is_file()
