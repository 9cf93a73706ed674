"""The container: the Dockerfile's shape, and installing the package the way it does (point 6).

No Docker engine is available here, so the image itself is never built. Instead the test
replays the Dockerfile's own COPY and ``pip install`` steps (read from the file, so the two
cannot drift apart) into a fresh virtualenv and runs the installed command.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]


def instructions(path: Path) -> list[tuple[str, str]]:
    """(KEYWORD, arguments) per instruction, with continuation lines joined."""
    out: list[tuple[str, str]] = []
    pending = ""
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line = pending + line
        pending = ""
        keyword, _, args = line.partition(" ")
        out.append((keyword.upper(), " ".join(args.split())))
    assert not pending, "the Dockerfile ends in a continuation line"
    return out


def _exec_form(args: str) -> list[str]:
    value = json.loads(args)
    assert isinstance(value, list), f"use the exec form (a JSON list), not a shell string: {args}"
    return [str(v) for v in value]


@pytest.fixture(scope="module")
def dockerfile() -> list[tuple[str, str]]:
    return instructions(ROOT / "Dockerfile")


def test_dockerfile_runs_journey_sync_as_non_root_with_state_on_a_volume(
    dockerfile: list[tuple[str, str]],
) -> None:
    by_keyword: dict[str, list[str]] = {}
    for keyword, args in dockerfile:
        by_keyword.setdefault(keyword, []).append(args)
    assert by_keyword["FROM"] == ["python:3.11-slim"]
    # The last USER wins: it must be neither root nor uid 0.
    user = by_keyword["USER"][-1].split(":")[0]
    assert user not in ("root", "0")
    assert [k for k, _ in dockerfile].index("USER") > max(
        i for i, (k, _) in enumerate(dockerfile) if k == "RUN"
    ), "USER comes after every RUN, so nothing runs as root at start"
    assert any("/data" in _exec_form(v) for v in by_keyword["VOLUME"])
    env = " ".join(by_keyword["ENV"])
    assert "JOURNEY_SYNC_STATE=/data/" in env
    assert "JOURNEY_SYNC_WORKFLOWS=/config/workflows.yaml" in env
    assert "JOURNEY_SYNC_HEALTH_HOST=0.0.0.0" in env
    healthcheck = by_keyword["HEALTHCHECK"][-1]
    options, _, command = healthcheck.partition("CMD ")
    assert _exec_form(command) == ["journey-sync", "health"]
    assert "--interval=" in options and "--start-period=" in options
    command_line = _exec_form(by_keyword["ENTRYPOINT"][-1]) + _exec_form(by_keyword["CMD"][-1])
    assert command_line == ["journey-sync", "run"]
    # Nothing secret is baked into the image.
    assert "TODOIST_API_TOKEN=" not in env
    assert not any("secrets" in args for k, args in dockerfile if k in ("COPY", "ADD"))


def test_dockerignore_keeps_tests_state_and_secrets_out_of_the_build() -> None:
    ignored = {
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    assert {".git", ".venv", "tests", "secrets", "*.db"} <= ignored


def test_compose_mounts_the_secrets_as_files_and_keeps_state_on_a_volume() -> None:
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text())
    service = compose["services"]["journey-sync"]
    env = service["environment"]
    assert env["TODOIST_API_TOKEN_FILE"] == "/run/secrets/todoist_token"
    assert env["GOOGLE_APPLICATION_CREDENTIALS"] == "/run/secrets/google_key.json"
    assert "TODOIST_API_TOKEN" not in env
    targets = {s["source"]: s["target"] for s in service["secrets"]}
    assert targets == {"todoist_token": "todoist_token", "google_key": "google_key.json"}
    assert set(compose["secrets"]) == set(targets)
    assert any(v.startswith("state:/data") for v in service["volumes"])
    assert "state" in compose["volumes"]
    grace = int(str(service["stop_grace_period"]).rstrip("s"))
    assert grace > float(env["JOURNEY_SYNC_SHUTDOWN_TIMEOUT"])


@pytest.mark.e2e  # slow-ish (a fresh virtualenv), and still run by default
def test_the_package_installs_and_runs_the_way_the_dockerfile_installs_it(
    dockerfile: list[tuple[str, str]], tmp_path: Path
) -> None:
    """Slow (a fresh virtualenv and its dependencies, about a minute); run by default."""
    image = tmp_path / "image"  # stands for the image's file system root

    def inside(path: str) -> Path:
        return image / path.lstrip("/")

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip_steps = 0
    for keyword, args in dockerfile:
        if keyword == "COPY":
            *sources, dest = shlex.split(args)
            for source in sources:
                origin = ROOT / source
                if origin.is_dir():
                    shutil.copytree(
                        origin,
                        inside(dest),
                        dirs_exist_ok=True,
                        ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"),
                    )
                else:
                    inside(dest).mkdir(parents=True, exist_ok=True)
                    shutil.copy2(origin, inside(dest))
        elif keyword == "RUN":
            for step in args.split("&&"):
                words = shlex.split(step)
                if words[:2] != ["pip", "install"]:
                    continue  # users, folders and clean-up are the image's business
                command = [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet"]
                command += [str(inside(w)) if w.startswith("/") else w for w in words[2:]]
                subprocess.run(command, check=True, timeout=540)
                pip_steps += 1
    assert pip_steps == 1
    assert not (inside("/build") / "tests").exists()  # the tests are not in the build

    exe = venv / "bin" / "journey-sync"
    env = {k: v for k, v in os.environ.items() if not k.startswith("JOURNEY_SYNC_")}
    env.pop("PYTHONPATH", None)
    result = subprocess.run(
        [str(exe), "--help"], capture_output=True, text=True, env=env, timeout=60
    )
    assert result.returncode == 0, result.stderr
    for command in ("run", "doctor", "health", "validate"):
        assert command in result.stdout
    result = subprocess.run(
        [str(exe), "validate", str(ROOT / "src/journey_sync/examples/workflows.yaml")],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert "1 workflow(s) valid" in result.stdout
    # The installed package is the copy in the virtualenv, not this checkout.
    where = subprocess.run(
        [str(venv / "bin" / "python"), "-c", "import journey_sync; print(journey_sync.__file__)"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        cwd=tmp_path,
        check=True,
    ).stdout
    assert str(venv) in where
