"""``journey-sync run --once`` as a newcomer runs it, against ``sandbox serve``: a one-shot
run promises no next cycle, and the deleted-project error says where the state file is."""

from __future__ import annotations

import json
import os
import shlex
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

EXE = str(Path(sys.executable).with_name("journey-sync"))

pytestmark = pytest.mark.e2e


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Sandbox:
    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.log = workdir.parent / "sandbox.log"
        args = [EXE, "sandbox", "serve", "--port", str(free_port()), "--workdir", str(workdir)]
        with self.log.open("wb") as out:
            self.process = subprocess.Popen([*args, "--leads", "3"], stdout=out, stderr=out)
        deadline = time.monotonic() + 60
        while "ready" not in self.log.read_text().splitlines():
            assert self.process.poll() is None, self.log.read_text()
            assert time.monotonic() < deadline, "the sandbox did not say ready"
            time.sleep(0.05)  # polling the log for `ready`, not a timing assumption

    def env(self) -> dict[str, str]:
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("JOURNEY_SYNC_", "TODOIST_", "GOOGLE_"))
        }
        for line in (self.workdir / "env").read_text().splitlines():
            for word in shlex.split(line):
                name, sep, value = word.partition("=")
                if sep:
                    env[name] = value
        env["JOURNEY_SYNC_HEALTH_PORT"] = "0"
        return env

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
        self.process.wait(timeout=30)


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[Sandbox]:
    started = Sandbox(tmp_path / "js-sandbox")
    try:
        yield started
    finally:
        if started.process.poll() is None:
            started.process.kill()
        started.process.wait(timeout=10)


def run_once(env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [EXE, "run", "--once"],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_run_once_with_the_sandbox_stopped_promises_no_next_cycle(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    env = sandbox.env()
    first = run_once(env, tmp_path)
    assert first.returncode == 0, first.stderr
    sandbox.stop()

    done = run_once(env, tmp_path)

    assert done.returncode == 1
    assert "cycle failed" in done.stderr
    assert "next cycle" not in done.stderr
    assert "run the command again" in done.stderr


def test_deleted_project_error_names_the_state_file(sandbox: Sandbox, tmp_path: Path) -> None:
    env = sandbox.env()
    first = run_once(env, tmp_path)
    assert first.returncode == 0, first.stderr
    base = env["JOURNEY_SYNC_TODOIST_API_URL"] + "/api/v1"
    headers = {"Authorization": f"Bearer {env['TODOIST_API_TOKEN']}"}
    projects = httpx.get(f"{base}/projects", headers=headers).json()["results"]
    [project] = [p for p in projects if p["name"] == "Client journeys"]
    command = {"type": "project_delete", "uuid": str(uuid.uuid4()), "args": {"id": project["id"]}}
    answer = httpx.post(f"{base}/sync", headers=headers, data={"commands": json.dumps([command])})
    assert answer.json()["sync_status"][command["uuid"]] == "ok"

    done = run_once(env, tmp_path)

    assert done.returncode == 1
    state = Path(env["JOURNEY_SYNC_STATE"]).resolve()
    assert "Todoist project 'Client journeys'" in done.stderr
    assert f"delete the state file ({state})" in done.stderr
    assert "next cycle" not in done.stderr
