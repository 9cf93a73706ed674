"""The Dockerfile's builder stage, replayed here without a container engine.

The builder's own COPY and RUN steps (read from the Dockerfile, so the two cannot drift apart)
run with their absolute paths moved into a temporary folder; what .dockerignore lets into the
build context is all they may copy. The virtualenv they make is what the runtime stage copies,
so it is checked as the image would be: the locked versions and nothing else, journey-sync
from its wheel, no pip, no sandbox, no tests. shared/tools/try-container builds and runs the
real image with podman; this test keeps CI honest between such runs.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest
from packaging.markers import Marker

from container.locks import ROOT, read_lock
from container.test_image_files import (
    ignore_patterns,
    in_build_context,
    repository_files,
    stages,
)

VENV = "/opt/journey-sync"


def _run(command: list[str], cwd: Path | str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JOURNEY_SYNC_", "PYTHON"))}
    return subprocess.run(
        command, capture_output=True, text=True, env=env, cwd=cwd, timeout=300, check=False
    )


@pytest.fixture(scope="module")
def image_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Replays the builder stage; returns where its virtualenv ended up."""
    root = tmp_path_factory.mktemp("builder")

    def moved(text: str) -> str:
        return re.sub(r"(?<![\w.-])/(build|opt)/", lambda m: f"{root}/{m.group(1)}/", text)

    context = {p for p in repository_files() if in_build_context(p, ignore_patterns())}
    builder = stages()[0]
    for keyword, args in builder[1:]:
        if keyword == "COPY":
            *sources, dest = shlex.split(args)
            target = Path(moved(dest))
            for source in sources:
                source = source.rstrip("/")
                for path in sorted(context):
                    if path == source or path.startswith(source + "/"):
                        relative = Path(path).relative_to(source) if path != source else None
                        out = target / relative if relative else target / Path(path).name
                        out.parent.mkdir(parents=True, exist_ok=True)
                        shutil.copy2(ROOT / path, out)
        elif keyword == "RUN":
            done = _run(["bash", "-euo", "pipefail", "-c", moved(args)], cwd=root)
            assert done.returncode == 0, f"{args}\n{done.stdout}\n{done.stderr}"
        else:
            assert keyword == "ENV", f"the builder replay does not know {keyword}"
    assert not (root / "build" / "project" / "tests").exists()
    return root / VENV.lstrip("/")


@pytest.mark.e2e  # about a minute (a virtualenv of the locked wheels), run by default
def test_the_image_virtualenv_runs_journey_sync(image_venv: Path, tmp_path: Path) -> None:
    exe = image_venv / "bin" / "journey-sync"
    done = _run([str(exe), "--help"], cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    for command in ("run", "doctor", "health", "validate"):
        assert command in done.stdout
    example = ROOT / "src/journey_sync/examples/workflows.yaml"
    done = _run([str(exe), "validate", str(example)], cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "1 workflow(s) valid" in done.stdout


@pytest.mark.e2e
def test_the_image_virtualenv_holds_exactly_the_runtime_lock(image_venv: Path) -> None:
    listing = (
        "import importlib.metadata as m, json, re;"
        "print(json.dumps({re.sub(r'[-_.]+', '-', d.metadata['Name']).lower(): d.version"
        " for d in m.distributions()}))"
    )
    done = _run([str(image_venv / "bin" / "python"), "-c", listing], cwd=image_venv)
    installed = json.loads(done.stdout)
    locked = {
        name: str(pin.version)
        for name, pin in read_lock("runtime.txt").items()
        if not pin.marker or Marker(pin.marker).evaluate()
    }
    assert installed.pop("journey-sync") == "0.1.0"
    assert installed == locked  # no pip, no setuptools, no test tool, nothing unlocked


@pytest.mark.e2e
def test_the_image_virtualenv_has_no_pip_no_sandbox_and_no_sources(image_venv: Path) -> None:
    python = str(image_venv / "bin" / "python")
    assert not list((image_venv / "bin").glob("pip*"))
    for module in ("pip", "setuptools", "journey_sync_sandbox", "pytest", "tests"):
        done = _run([python, "-c", f"import {module}"], cwd=image_venv)
        assert done.returncode != 0 and "ModuleNotFoundError" in done.stderr, module
    where = _run([python, "-c", "import journey_sync; print(journey_sync.__file__)"], cwd="/")
    assert where.stdout.startswith(str(image_venv))  # the wheel's copy, not this checkout
    package = Path(where.stdout.strip()).parent
    assert (package / "py.typed").exists() and (package / "examples" / "workflows.yaml").exists()
    assert not list(image_venv.rglob("*.egg-link")) and not list(image_venv.rglob("__editable__*"))
