"""The sandbox is an extra: the production wheel carries neither the emulators nor cryptography."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from email.parser import HeaderParser
from pathlib import Path

import pytest

from journey_sync.cli import main
from support.world import ROOT


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The production wheel, built (offline) from what the Dockerfile copies: pyproject, src."""
    source = tmp_path_factory.mktemp("source")
    shutil.copy(ROOT / "pyproject.toml", source)
    shutil.copy(ROOT / "README.md", source)
    shutil.copytree(ROOT / "src", source / "src", ignore=shutil.ignore_patterns("*.egg-info"))
    out = tmp_path_factory.mktemp("wheel")
    command = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation"]
    command += ["--no-index", "--quiet", "--wheel-dir", str(out), str(source)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stdout + done.stderr
    (built,) = out.glob("journey_sync-*.whl")
    return built


def _metadata(wheel: Path) -> list[str]:
    with zipfile.ZipFile(wheel) as archive:
        (name,) = [n for n in archive.namelist() if n.endswith(".dist-info/METADATA")]
        headers = HeaderParser().parsestr(archive.read(name).decode("utf-8"))
    return headers.get_all("Requires-Dist") or []


def test_the_production_wheel_has_no_emulators(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
    assert "journey_sync/cli.py" in names  # the wheel is the real package...
    assert not [n for n in names if "sandbox" in n.split("/")[0]]  # ...without the emulators
    assert not [n for n in names if n.startswith("journey_sync/sandbox")]
    assert "journey_sync/demo.py" not in names


def test_the_production_install_requires_neither_sandbox_nor_cryptography(wheel: Path) -> None:
    requires = _metadata(wheel)
    unconditional = [r for r in requires if "extra ==" not in r]
    assert any(r.startswith("gspread") for r in unconditional)
    names = {
        r.split(";")[0].split("[")[0].split(">")[0].split("=")[0].split("<")[0].strip().lower()
        for r in unconditional
    }
    assert "cryptography" not in names
    assert "journey-sync-sandbox" not in names
    # The sandbox is there for who asks for it: journey-sync[sandbox].
    assert any(r.startswith("journey-sync-sandbox") and 'extra == "sandbox"' in r for r in requires)


def test_the_sandbox_distribution_declares_what_it_imports() -> None:
    import importlib.metadata

    requires = importlib.metadata.requires("journey-sync-sandbox") or []
    names = {
        r.split(";")[0].split(">")[0].split("=")[0].split("<")[0].strip().lower() for r in requires
    }
    assert {"journey-sync", "cryptography", "pyyaml"} <= names


@pytest.mark.parametrize(
    "command", [["demo"], ["sandbox", "serve", "--port", "0", "--workdir", "sandbox-workdir"]]
)
def test_commands_say_how_to_get_the_sandbox_when_it_is_missing(
    command: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # None in sys.modules: the import system answers as if the package were not installed.
    monkeypatch.setitem(sys.modules, "journey_sync_sandbox", None)
    assert main(command) == 2
    err = capsys.readouterr().err
    assert f"journey-sync {command[0]}: needs the sandbox" in err
    assert "pip install ./sandbox" in err
