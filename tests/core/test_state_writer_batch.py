"""A Writer's task records are written in one batch when its transaction commits (issue 13),
with the same outcome as writing them one by one."""

from __future__ import annotations

from pathlib import Path

import pytest

from journey_sync.records import Memory, TaskRecord
from journey_sync.state import StateStore


def record(step: str, status: str = "open", task_id: str = "T") -> TaskRecord:
    return TaskRecord("L-1", step, task_id + step, status)  # type: ignore[arg-type]


def test_puts_land_at_commit_last_one_winning_and_drops_hold(tmp_path: Path) -> None:
    store = StateStore(tmp_path / "state.db")
    with store.transaction() as db:
        store.put_tasks(db, "w", [record("gone")])
    with store.transaction() as db:
        writer = store.writer(db, "w", store.memory("w"))
        writer.put_task(record("a"))
        writer.put_task(record("a", "completed"))
        assert writer.task("L-1", "a") == record("a", "completed")  # read back before commit
        writer.put_task(record("b"))
        writer.drop_task("L-1", "b")
        writer.put_task(record("gone", "completed"))
        writer.drop_task("L-1", "gone")
        writer.drop_task("L-1", "c")
        writer.put_task(record("c"))
    assert store.memory("w").tasks == {
        ("L-1", "a"): record("a", "completed"),
        ("L-1", "c"): record("c"),
    }


def test_nothing_lands_when_the_transaction_fails(tmp_path: Path) -> None:
    store = StateStore(tmp_path / "state.db")
    with pytest.raises(RuntimeError), store.transaction() as db:
        store.writer(db, "w", Memory()).put_task(record("a"))
        raise RuntimeError("crash before commit")
    assert store.memory("w").tasks == {}
    with store.transaction() as db:  # and a later transaction does not write it either
        pass
    assert store.memory("w").tasks == {}
