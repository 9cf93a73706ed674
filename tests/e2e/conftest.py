"""Fixtures for the end-to-end tests: processes that are always killed afterwards."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from support.e2e import Procs


@pytest.fixture
def procs() -> Iterator[Procs]:
    started = Procs()
    try:
        yield started
    finally:
        started.close_all()
