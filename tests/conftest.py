"""Shared fixtures: the example workflow, sheets laid out like a studio's, engines on fakes.

The helpers themselves live in the ``support`` package (``tests/support``).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from pathlib import Path

import pytest

from journey_sync.workflow import Workflow, load_workflows
from support.world import ROOT, World


@pytest.fixture(scope="session")
def workflow() -> Workflow:
    return load_workflows(ROOT / "workflows.yaml").workflows[0]


@pytest.fixture
def make_world(workflow: Workflow, tmp_path: Path) -> Callable[..., World]:
    def make(rows: list[list[object]], today: date = date(2026, 3, 2)) -> World:
        return World(workflow, tmp_path, rows, today)

    return make
