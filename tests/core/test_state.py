"""The SQLite state store: schema versioning, transactions, what it remembers."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from journey_sync.errors import UserError
from journey_sync.plan import TaskRecord
from journey_sync.state import SCHEMA_VERSION, PendingCommand, StateStore


def test_new_file_gets_the_current_schema_version(tmp_path: Path) -> None:
    StateStore(tmp_path / "s.db").close()
    db = sqlite3.connect(tmp_path / "s.db")
    assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_a_newer_schema_is_refused_with_what_to_do(tmp_path: Path) -> None:
    db = sqlite3.connect(tmp_path / "s.db")
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    db.close()
    with pytest.raises(UserError, match="newer journey-sync"):
        StateStore(tmp_path / "s.db")


def test_unwritable_location_is_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(UserError, match="JOURNEY_SYNC_STATE"):
        StateStore(blocker / "sub" / "s.db")


def test_a_failed_transaction_leaves_nothing(tmp_path: Path) -> None:
    store = StateStore(tmp_path / "s.db")
    with pytest.raises(RuntimeError), store.transaction() as db:
        store.put(db, "wf", "sync_token", "abc")
        store.put_task(db, "wf", TaskRecord("L-1", "contact", "T1", "open"))
        raise RuntimeError("crash mid-way")
    assert store.get("wf", "sync_token") is None
    assert store.memory("wf").tasks == {}


def test_remembers_across_reopen_and_keeps_workflows_apart(tmp_path: Path) -> None:
    store = StateStore(tmp_path / "s.db")
    with store.transaction() as db:
        store.put(db, "wf", "sync_token", "abc")
        store.put_task(db, "wf", TaskRecord("L-1", "contact", "T1", "open"))
        store.set_pairs(db, "marks", "wf", [("L-1", "contacted")], present=True)
        store.add_pending(db, "wf", [PendingCommand("u1", "add", "L-1", "book", "t1", None)])
        store.put_leads(db, "wf", [("L-1", ("ann", "46083"))])
    store.close()
    store = StateStore(tmp_path / "s.db")
    memory = store.memory("wf")
    assert memory.tasks[("L-1", "contact")].task_id == "T1"
    assert memory.marks_written == {("L-1", "contacted")}
    assert memory.leads == {"L-1": ("ann", "46083")}
    assert [p.uuid for p in store.pending("wf")] == ["u1"]
    assert store.memory("other").tasks == {} and store.get("other", "sync_token") is None
    with store.transaction() as db:
        store.set_pairs(db, "marks", "wf", [("L-1", "contacted")], present=False)
        store.drop_pending(db, "wf", ["u1"])
    assert store.memory("wf").marks_written == frozenset() and store.pending("wf") == []
