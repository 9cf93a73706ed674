"""Helpers for the daemon's end-to-end tests: a seeded sandbox and journey-sync processes."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from journey_sync.logs import key_file_secrets
from journey_sync_sandbox.server import Sandbox
from support.net import PATIENCE, free_port

EXE = str(Path(sys.executable).with_name("journey-sync"))
WORKFLOW = "Studio client journey"


@dataclass
class Setup:
    """A seeded sandbox, its work directory and the environment for journey-sync."""

    sandbox: Sandbox
    workdir: Path
    env: dict[str, str]
    outputs: list[str] = field(default_factory=list)

    @property
    def secrets(self) -> list[str]:
        key = Path(self.env["GOOGLE_APPLICATION_CREDENTIALS"])
        return [self.env.get("TODOIST_API_TOKEN", ""), *key_file_secrets(key)]

    def assert_clean(self, text: str) -> None:
        for secret in self.secrets:
            assert secret not in text
            for line in secret.splitlines():
                if len(line) >= 16 and not line.startswith("-----"):
                    assert line not in text
        assert "PRIVATE KEY" not in text
        assert not re.search(r"(?i)bearer\s+(?!\[redacted\])\S", text)

    def run(self, *args: str, timeout: float = 60, **env: str) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [EXE, *args],
            env={**self.env, **env},
            cwd=self.workdir,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        self.outputs.append(result.stdout + result.stderr)
        self.assert_clean(result.stdout + result.stderr)
        return result


class Service:
    """``journey-sync run`` in the background, its output in a file."""

    def __init__(self, setup: Setup, **env: str) -> None:
        self.setup = setup
        self.port = free_port()
        self.log = setup.workdir / f"service-{self.port}.log"
        self._out = self.log.open("w")
        self.env = {
            **setup.env,
            "JOURNEY_SYNC_INTERVAL": "1",
            "JOURNEY_SYNC_HEALTH_PORT": str(self.port),
            **env,
        }
        self.process = subprocess.Popen(
            [EXE, "run"],
            env=self.env,
            cwd=setup.workdir,
            stdout=self._out,
            stderr=subprocess.STDOUT,
        )

    @property
    def output(self) -> str:
        return self.log.read_text()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def get(self, path: str) -> tuple[int, str]:
        try:
            with urllib.request.urlopen(self.url(path), timeout=5) as answer:
                return answer.status, answer.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()
        except (urllib.error.URLError, OSError) as exc:
            return 0, str(exc)

    def wait_for(self, predicate: Callable[[], bool], timeout: float, what: str) -> None:
        """Poll until ``predicate`` holds; fail after ``timeout`` seconds (at least
        ``PATIENCE``: a wait ends as soon as its condition holds) or if the process ends."""
        timeout = max(timeout, PATIENCE)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return
            if self.process.poll() is not None:
                break
            time.sleep(0.05)
        raise AssertionError(f"{what}: not within {timeout} s\n{self.output}")

    def wait_for_log(self, pattern: str, timeout: float = 20, count: int = 1) -> None:
        self.wait_for(
            lambda: len(re.findall(pattern, self.output)) >= count, timeout, f"log {pattern!r}"
        )

    def stop(self, sig: signal.Signals = signal.SIGTERM, timeout: float = 15) -> tuple[int, float]:
        started = time.monotonic()
        self.process.send_signal(sig)
        code = self.process.wait(timeout=timeout)
        return code, time.monotonic() - started

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self._out.close()
        self.setup.outputs.append(self.output)
        self.setup.assert_clean(self.output)


CYCLE_DONE = rf"{WORKFLOW}: cycle done in"
