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


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist reads the groups
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Under ``pytest -n`` (scripts/test), the tests of a module that shares a module-scoped
    fixture (a built wheel, a replayed image, a demo year) run on one worker, so that the
    fixture is built once rather than once per worker (``--dist loadgroup``)."""
    shared: set[str] = set()
    for item in items:
        info = getattr(item, "_fixtureinfo", None)
        defs = info.name2fixturedefs.values() if info is not None else ()
        if any(d and d[-1].scope == "module" for d in defs):
            shared.add(item.nodeid.split("::")[0])
    for item in items:
        module = item.nodeid.split("::")[0]
        if module in shared:
            item.add_marker(pytest.mark.xdist_group(module))
