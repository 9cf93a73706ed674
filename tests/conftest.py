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


# The test files that take longest (processes, a demo year, a built image), longest first.
# scripts/test runs each file on one of its workers (pytest-xdist ``--dist loadfile``, in this
# order: ``--no-loadscope-reorder``): started first, they run while the quick files fill the
# other workers, instead of leaving one worker running alone at the end.
SLOW_FIRST = (
    "tests/demo/test_demo.py",
    "tests/newcomer/test_clone_and_demo.py",
    "tests/daemon/test_daemon_e2e.py",
    "tests/e2e/test_e2e_people.py",
    "tests/core/test_invariants.py",
    "tests/e2e/test_e2e_outages.py",
    "tests/bench/test_bench.py",
    "tests/e2e/test_e2e_crashes.py",
    "tests/container/test_builder_replay.py",
    "tests/daemon/test_intake.py",
    "tests/newcomer/test_one_shot_run.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    def rank(item: pytest.Item) -> int:
        path = item.nodeid.split("::")[0]
        return SLOW_FIRST.index(path) if path in SLOW_FIRST else len(SLOW_FIRST)

    items.sort(key=rank)  # stable: the order within a file, and of the others, stays
