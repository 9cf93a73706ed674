"""The cyclic collector runs rarely during a cycle, and as before after it (issue 13)."""

from __future__ import annotations

import gc

import pytest

from journey_sync.memory import CYCLE_THRESHOLDS, collector_paused


def test_collections_are_spaced_inside_and_as_before_after_even_on_error() -> None:
    before = gc.get_threshold()
    with collector_paused():
        assert gc.get_threshold() == CYCLE_THRESHOLDS
        assert gc.isenabled()  # reference cycles are still collected, only less often
    assert gc.get_threshold() == before
    with pytest.raises(RuntimeError), collector_paused():
        raise RuntimeError("a failed cycle")
    assert gc.get_threshold() == before
