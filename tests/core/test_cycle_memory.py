"""The cyclic collector is paused for a cycle and only for a cycle (issue 13)."""

from __future__ import annotations

import gc

import pytest

from journey_sync.memory import collector_paused


def test_the_collector_is_paused_inside_and_back_after_even_on_error() -> None:
    assert gc.isenabled()
    with collector_paused():
        assert not gc.isenabled()
    assert gc.isenabled()
    with pytest.raises(RuntimeError), collector_paused():
        raise RuntimeError("a failed cycle")
    assert gc.isenabled()


def test_a_collector_someone_else_switched_off_stays_off() -> None:
    gc.disable()
    try:
        with collector_paused():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()
