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


def test_every_write_about_a_lead_gives_it_a_new_stamp(tmp_path: Path) -> None:
    """``Memory.stamps`` tell planning which leads' remembered state changed (it reuses the
    last plan of the others): each kind of write moves the stamp of the lead it is about,
    and only that lead's; a reload of the state is a new epoch (everything planned)."""
    from datetime import UTC, datetime

    from journey_sync.state import Writer

    store = StateStore(tmp_path / "s.db")
    with store.transaction() as db:
        store.put_leads(db, "wf", [("L-1", ("ann", "46083")), ("L-2", ("bo", "46084"))])
        store.put_task(db, "wf", TaskRecord("L-1", "contact", "T1", "open"))
        store.put_task(db, "wf", TaskRecord("L-2", "contact", "T2", "open"))
    memory = store.memory("wf")
    epoch = memory.epoch
    assert epoch is not None

    writes = {
        "task": lambda w, db: store.put_task(
            db, "wf", TaskRecord("L-1", "contact", "T1", "completed")
        ),
        "status": lambda w, db: store.set_status(db, "wf", "T1", "open"),
        "lead": lambda w, db: store.put_leads(db, "wf", [("L-1", ("ann lee", "46083"))]),
        "mark": lambda w, db: w.set_mark("L-1", "contacted", True),
        "declined": lambda w, db: w.set_mark_declined("L-1", "contacted", True),
        "coach": lambda w, db: w.set_coach("L-1"),
        "left on": lambda w, db: w.set_left_on("L-1", "46090"),
        "note": lambda w, db: w.set_note(("L-1", "name"), "a note"),
        "copied": lambda w, db: w.set_copied("L-1", True),
        "missing": lambda w, db: w.set_missing("L-1", datetime(2026, 3, 2, tzinfo=UTC)),
        "dropped task": lambda w, db: w.drop_task("L-1", "contact"),
    }
    for what, write in writes.items():
        before = store.memory("wf")
        with store.transaction() as db:
            writer: Writer = store.writer(db, "wf", before)
            write(writer, db)
            writer.flush()
        after = store.memory("wf")
        assert after.epoch is epoch, what
        assert after.stamps.get("L-1", 0) > before.stamps.get("L-1", 0), what
        assert after.stamps.get("L-2") == before.stamps.get("L-2"), what

    other = sqlite3.connect(tmp_path / "s.db")  # another process's write: loaded again
    other.execute("INSERT INTO coach VALUES ('wf', 'L-2')")
    other.commit()
    other.close()
    assert store.memory("wf").epoch is not epoch


def test_days_reached_handed_out_do_not_change_under_their_holder(tmp_path: Path) -> None:
    """``reached`` hands out its kept days without copying each lead's (asked every cycle
    that is not quiet): a later record replaces a lead's days, never changes the dict a
    caller holds, and the first day recorded for a stage stays."""
    from datetime import date

    store = StateStore(tmp_path / "s.db")
    with store.transaction() as db:
        store.put_task(db, "wf", TaskRecord("L-1", "contact", "T1", "open"))
    store.memory("wf")  # the state is kept in the process from here,
    assert store.reached("wf") == {}  # its days reached too
    with store.transaction() as db:
        store.put_reached(db, "wf", [("L-1", "contacted", date(2026, 3, 1))])
    held = store.reached("wf")
    assert held == {"L-1": {"contacted": date(2026, 3, 1)}}
    with store.transaction() as db:
        store.put_reached(
            db,
            "wf",
            [("L-1", "booked", date(2026, 3, 5)), ("L-1", "contacted", date(2026, 3, 9))],
        )
    assert held == {"L-1": {"contacted": date(2026, 3, 1)}}
    want = {"L-1": {"contacted": date(2026, 3, 1), "booked": date(2026, 3, 5)}}
    assert store.reached("wf") == want
    reopened = StateStore(tmp_path / "s.db")  # as written to the file
    assert reopened.reached("wf") == want


def test_task_records_handed_out_are_lent_and_never_change_under_their_holder(
    tmp_path: Path,
) -> None:
    """``memory`` lends the kept task records (120,000 at 10,000 leads, asked every cycle
    that is not quiet) instead of copying them: until the store writes a record, every
    memory holds the same dict; a write (put, status, drop) copies it first, so a memory
    handed out before it still holds what was remembered then."""
    store = StateStore(tmp_path / "s.db")
    with store.transaction() as db:
        store.put_tasks(
            db,
            "wf",
            [
                TaskRecord("L-1", "contact", "T1", "open"),
                TaskRecord("L-1", "book", "T2", "open"),
            ],
        )
    first = store.memory("wf")
    assert store.memory("wf").tasks is first.tasks  # lent, not copied
    held = dict(first.tasks)
    with store.transaction() as db:
        store.put_task(db, "wf", TaskRecord("L-2", "contact", "T3", "open"))
    assert first.tasks == held
    second = store.memory("wf")
    assert ("L-2", "contact") in second.tasks and second.tasks is not first.tasks
    with store.transaction() as db:
        store.set_status(db, "wf", "T1", "completed")
    assert second.tasks[("L-1", "contact")].status == "open"
    third = store.memory("wf")
    assert third.tasks[("L-1", "contact")].status == "completed"
    with store.transaction() as db:
        writer = store.writer(db, "wf", third)
        writer.drop_task("L-1", "book")
        writer.flush()
    assert ("L-1", "book") in third.tasks
    assert ("L-1", "book") not in store.memory("wf").tasks
    assert StateStore(tmp_path / "s.db").memory("wf").tasks == store.memory("wf").tasks
