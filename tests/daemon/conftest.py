"""Fixtures for the daemon's tests."""

from __future__ import annotations

import logging
import os
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from journey_sync_sandbox.server import Sandbox
from journey_sync_sandbox.workdir import read_env_file
from support.daemon import Service, Setup


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    """``configure_logging`` changes process-wide state: put it back after each test."""
    handlers = list(logging.getLogger().handlers)
    level = logging.getLogger().level
    hooks = (sys.excepthook, threading.excepthook)
    yield
    root = logging.getLogger()
    for handler in list(root.handlers):
        if handler not in handlers:
            root.removeHandler(handler)
    root.setLevel(level)
    sys.excepthook, threading.excepthook = hooks


@pytest.fixture
def setup(tmp_path: Path) -> Iterator[Setup]:
    sandbox = Sandbox().start(0)
    workdir = tmp_path / "work"
    sandbox.write_workdir(workdir, leads=12)
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("JOURNEY_SYNC_", "TODOIST_", "GOOGLE_"))
    }
    env.update(read_env_file(workdir / "env"))
    env["JOURNEY_SYNC_HEALTH_PORT"] = "0"
    try:
        yield Setup(sandbox, workdir, env)
    finally:
        sandbox.stop()


@pytest.fixture
def service(setup: Setup) -> Iterator[Callable[..., Service]]:
    started: list[Service] = []

    def start(**env: str) -> Service:
        started.append(Service(setup, **env))
        return started[-1]

    yield start
    for each in started:
        each.close()
