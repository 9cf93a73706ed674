"""scripts/setup: refuses too old a Python before touching anything, heals a wrong .venv.

The Pythons here are small shell stand-ins on PATH that answer the version query and record
every other call, so the script's decisions are checked without installing anything.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

FAKE_PYTHON = """#!/bin/sh
# A stand-in Python {version}: answers the version query, records every other call.
echo "$0 $*" >> "{log}"
case "$1" in
  -c) echo "{version}" ;;
  -m) if [ "$2" = venv ]; then
        mkdir -p "$3/bin"
        sed 's/^# A stand-in Python {version}/# new venv python/' "$0" > "$3/bin/python"
        chmod +x "$3/bin/python"
      fi ;;
esac
"""


def fake_python(path: Path, version: str, log: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(FAKE_PYTHON.format(version=version, log=log))
    path.chmod(0o755)
    return path


def project(tmp_path: Path) -> Path:
    copy = tmp_path / "project"
    (copy / "scripts").mkdir(parents=True)
    shutil.copy2(ROOT / "scripts" / "setup", copy / "scripts" / "setup")
    return copy


def run_setup(copy: Path, bin_dir: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    env.pop("PYTHON", None)
    return subprocess.run(
        [str(copy / "scripts" / "setup")],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )


def test_too_old_python_says_what_is_needed_and_changes_nothing(tmp_path: Path) -> None:
    copy = project(tmp_path)
    log = tmp_path / "calls.log"
    fake_python(tmp_path / "bin" / "python3", "3.10", log)
    before = sorted(p.name for p in copy.iterdir())

    done = run_setup(copy, tmp_path / "bin")

    assert done.returncode == 1
    assert "needs Python 3.11 or newer, but python3 is 3.10" in done.stderr
    assert "sudo apt install" in done.stderr  # Debian/Ubuntu
    assert "brew install python@" in done.stderr  # macOS
    assert "Nothing was changed" in done.stderr
    assert sorted(p.name for p in copy.iterdir()) == before  # no .venv
    calls = log.read_text().splitlines()
    assert calls and all(" -c " in call for call in calls)  # only the version query ran


def test_missing_python_is_explained_too(tmp_path: Path) -> None:
    copy = project(tmp_path)
    env = {**os.environ, "PYTHON": str(tmp_path / "no-such-python")}
    done = subprocess.run(
        [str(copy / "scripts" / "setup")], capture_output=True, text=True, env=env, check=False
    )
    assert done.returncode == 1
    assert "needs Python 3.11 or newer" in done.stderr and "is missing" in done.stderr
    assert not (copy / ".venv").exists()


def test_venv_made_by_a_wrong_python_is_rebuilt(tmp_path: Path) -> None:
    copy = project(tmp_path)
    log = tmp_path / "calls.log"
    # A .venv left behind by python3 at 3.10 (its install failed), with a file of its own.
    fake_python(copy / ".venv" / "bin" / "python", "3.10", log)
    (copy / ".venv" / "left-over").write_text("from the 3.10 attempt")
    fake_python(tmp_path / "bin" / "python3", "3.11", log)

    done = run_setup(copy, tmp_path / "bin")

    assert done.returncode == 0, done.stderr
    assert "made by Python 3.10; rebuilding it with python3 (3.11)" in done.stderr
    assert not (copy / ".venv" / "left-over").exists()
    calls = log.read_text().splitlines()
    assert f"{tmp_path / 'bin' / 'python3'} -m venv .venv" in calls
    pip = ".venv/bin/python -m pip install --quiet --disable-pip-version-check"
    assert f"{pip} --require-hashes -r requirements/dev.txt" in calls  # the locked set first
    assert f"{pip} --no-deps -e ." in calls  # then the project alone (no sandbox/ in this copy)
    assert "# new venv python" in (copy / ".venv" / "bin" / "python").read_text()


def test_venv_whose_python_is_gone_is_rebuilt(tmp_path: Path) -> None:
    copy = project(tmp_path)
    log = tmp_path / "calls.log"
    (copy / ".venv" / "bin").mkdir(parents=True)
    (copy / ".venv" / "bin" / "python").symlink_to(tmp_path / "uninstalled" / "python3.11")
    fake_python(tmp_path / "bin" / "python3", "3.12", log)

    done = run_setup(copy, tmp_path / "bin")

    assert done.returncode == 0, done.stderr
    assert "made by Python that no longer runs; rebuilding it" in done.stderr
    assert f"{tmp_path / 'bin' / 'python3'} -m venv .venv" in log.read_text().splitlines()


def test_a_good_venv_is_kept(tmp_path: Path) -> None:
    copy = project(tmp_path)
    log = tmp_path / "calls.log"
    fake_python(copy / ".venv" / "bin" / "python", "3.11", log)
    (copy / ".venv" / "installed").write_text("packages")
    fake_python(tmp_path / "bin" / "python3", "3.11", log)

    done = run_setup(copy, tmp_path / "bin")

    assert done.returncode == 0, done.stderr
    assert "rebuilding" not in done.stderr
    assert (copy / ".venv" / "installed").exists()
    assert not any(" -m venv " in call for call in log.read_text().splitlines())
