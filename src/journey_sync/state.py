"""The state store: what journey-sync already did, in one SQLite file.

It is a cache, not the truth: every task carries its lead id and step key in its
description and every lead its id in the sheet, so a lost file is rebuilt from Todoist and
the sheet. What it must never lose *within* a run is the uuid of a command before that
command is sent: Todoist ignores a command whose uuid it has already executed, which is
what makes a resend after a crash safe (see ``pending``).

Writes happen in short transactions; WAL journaling keeps a kill -9 from corrupting it.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

from .errors import UserError
from .records import Memory, NoteKey, TaskRecord, TaskStatus

SCHEMA_VERSION = 4

# Each entry upgrades the schema from version i to i+1.
MIGRATIONS: list[str] = [
    """
    CREATE TABLE meta (workflow TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL,
                       PRIMARY KEY (workflow, key));
    CREATE TABLE leads (workflow TEXT NOT NULL, lead_id TEXT NOT NULL, name TEXT NOT NULL,
                        lead_date TEXT NOT NULL, PRIMARY KEY (workflow, lead_id));
    CREATE TABLE tasks (workflow TEXT NOT NULL, lead_id TEXT NOT NULL, step_key TEXT NOT NULL,
                        task_id TEXT, status TEXT NOT NULL, responsible_uid TEXT,
                        PRIMARY KEY (workflow, lead_id, step_key));
    CREATE INDEX tasks_by_id ON tasks (workflow, task_id);
    CREATE TABLE pending (workflow TEXT NOT NULL, uuid TEXT NOT NULL, kind TEXT NOT NULL,
                          lead_id TEXT, step_key TEXT, temp_id TEXT, task_id TEXT,
                          PRIMARY KEY (workflow, uuid));
    CREATE TABLE marks (workflow TEXT NOT NULL, lead_id TEXT NOT NULL, stage_key TEXT NOT NULL,
                        PRIMARY KEY (workflow, lead_id, stage_key));
    CREATE TABLE marks_removed (workflow TEXT NOT NULL, lead_id TEXT NOT NULL,
                                stage_key TEXT NOT NULL, PRIMARY KEY (workflow, lead_id, stage_key));
    CREATE TABLE left_on (workflow TEXT NOT NULL, lead_id TEXT NOT NULL,
                          PRIMARY KEY (workflow, lead_id));
    CREATE TABLE coach (workflow TEXT NOT NULL, lead_id TEXT NOT NULL,
                        PRIMARY KEY (workflow, lead_id));
    CREATE TABLE flagged (workflow TEXT NOT NULL, lead_id TEXT NOT NULL, note TEXT NOT NULL,
                          PRIMARY KEY (workflow, lead_id));
    CREATE TABLE collaborators (workflow TEXT NOT NULL, uid TEXT NOT NULL, name TEXT NOT NULL,
                                PRIMARY KEY (workflow, uid));
    """,
    # 2: what people do to the sheet and to Todoist. A task remembers the due the template
    # planned, the due journey-sync sent and the due Todoist reports (to move a journey
    # when its lead date is corrected, unless a person rescheduled), and why journey-sync
    # itself closed it. Notes are kept per cell (a lead can have several), the left-on
    # date with the value written, and leads with the moment their row went missing.
    """
    ALTER TABLE tasks ADD COLUMN planned TEXT;
    ALTER TABLE tasks ADD COLUMN sent_due TEXT;
    ALTER TABLE tasks ADD COLUMN due TEXT;
    ALTER TABLE tasks ADD COLUMN closed_by TEXT;
    CREATE TABLE notes (workflow TEXT NOT NULL, lead_key TEXT NOT NULL, field TEXT NOT NULL,
                        note TEXT NOT NULL, PRIMARY KEY (workflow, lead_key, field));
    INSERT INTO notes SELECT workflow, lead_id, 'lead_date', note FROM flagged;
    DROP TABLE flagged;
    ALTER TABLE left_on ADD COLUMN value TEXT;
    ALTER TABLE leads ADD COLUMN missing_since TEXT
    """,
    # 3: journeys that change. A task remembers the fields Todoist reports (content,
    # description, priority, labels) and what journey-sync sent (with its step's version
    # and the coach it assigned), so a template edit updates only what no person changed.
    """
    ALTER TABLE tasks ADD COLUMN seen TEXT;
    ALTER TABLE tasks ADD COLUMN sent TEXT
    """,
    # 4: the day each stage was reached (for the time between stages), kept apart from
    # the marks: a mark cleared and typed again keeps the day it was first reached. And
    # leads whose row was seen copied (a row moved by copy and paste), until the copy is
    # resolved: marks written meanwhile into the original are written into the copy.
    """
    CREATE TABLE reached (workflow TEXT NOT NULL, lead_id TEXT NOT NULL,
                          stage_key TEXT NOT NULL, day TEXT NOT NULL,
                          PRIMARY KEY (workflow, lead_id, stage_key));
    ALTER TABLE leads ADD COLUMN copied INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE collaborators ADD COLUMN email TEXT
    """,
]


@dataclass(frozen=True)
class PendingCommand:
    uuid: str
    kind: str  # "add", "close", "delete", "project"
    lead_id: str | None
    step_key: str | None
    temp_id: str | None
    task_id: str | None


class StateStore:
    def __init__(self, path: Path | str):
        self.path = Path(path)
        self._writers: list[Writer] = []  # of the open transaction
        try:
            if str(path) != ":memory:":
                self.path.parent.mkdir(parents=True, exist_ok=True)
            # isolation_level=None: we open transactions ourselves (BEGIN IMMEDIATE), so a
            # second process fails fast instead of interleaving writes.
            self._db = sqlite3.connect(str(path), isolation_level=None, timeout=10)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._migrate()
        except (sqlite3.Error, OSError) as exc:
            raise UserError(
                f"cannot open the state database {self.path} ({exc}): check that its folder "
                "exists and is writable (JOURNEY_SYNC_STATE; /data is a volume in the container)."
            ) from None

    @classmethod
    def open_read_only(cls, path: Path | str) -> StateStore:
        """An existing state file, opened read-only (SQLite ``mode=ro``): never created,
        migrated or written. For ``doctor``, which may look while a daemon runs."""
        store = cls.__new__(cls)
        store.path = Path(path)
        store._writers = []
        try:
            uri = f"{store.path.resolve().as_uri()}?mode=ro"
            store._db = sqlite3.connect(uri, uri=True, isolation_level=None, timeout=2)
            store._db.execute("SELECT count(*) FROM meta").fetchone()
        except sqlite3.Error as exc:
            raise UserError(
                f"the state database {store.path} cannot be read ({exc}): is it a "
                "journey-sync state file?"
            ) from None
        return store

    def close(self) -> None:
        self._db.close()

    def _migrate(self) -> None:
        version = self._db.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise UserError(
                f"the state database {self.path} was written by a newer journey-sync "
                f"(schema {version}, this one knows {SCHEMA_VERSION}): upgrade journey-sync."
            )
        for index in range(version, SCHEMA_VERSION):
            # Statement by statement: executescript() would commit on its own, and a
            # migration must land whole or not at all.
            with self.transaction() as db:
                for statement in MIGRATIONS[index].split(";"):
                    if statement.strip():
                        db.execute(statement)
                db.execute(f"PRAGMA user_version = {index + 1}")

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        self._db.execute("BEGIN IMMEDIATE")
        writers = self._writers = []
        try:
            yield self._db
            for writer in writers:  # their task records, in one executemany each
                writer.flush()
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        finally:
            writers.clear()
        self._db.execute("COMMIT")

    # ------------------------------------------------------------- meta values

    def get(self, workflow: str, key: str) -> str | None:
        row = self._db.execute(
            "SELECT value FROM meta WHERE workflow=? AND key=?", (workflow, key)
        ).fetchone()
        return None if row is None else str(row[0])

    def put(self, db: sqlite3.Connection, workflow: str, key: str, value: str | None) -> None:
        if value is None:
            db.execute("DELETE FROM meta WHERE workflow=? AND key=?", (workflow, key))
        else:
            db.execute(
                "INSERT INTO meta VALUES (?,?,?) ON CONFLICT(workflow,key) DO UPDATE SET value=excluded.value",
                (workflow, key, value),
            )

    # ------------------------------------------------------------------ memory

    def memory(self, workflow: str) -> Memory:
        db = self._db
        leads: dict[str, tuple[str, str]] = {}
        missing: dict[str, datetime] = {}
        copied: set[str] = set()
        for lead_id, name, lead_date, since, was_copied in db.execute(
            "SELECT lead_id, name, lead_date, missing_since, copied FROM leads WHERE workflow=?",
            (workflow,),
        ):
            leads[lead_id] = (name, lead_date)
            if since:
                missing[lead_id] = datetime.fromisoformat(since)
            if was_copied:
                copied.add(lead_id)
        return Memory(
            leads=leads,
            tasks={
                (r[0], r[1]): TaskRecord(*r)
                for r in db.execute(
                    "SELECT lead_id, step_key, task_id, status, responsible_uid, planned, "
                    "sent_due, due, closed_by, seen, sent FROM tasks WHERE workflow=?",
                    (workflow,),
                )
            },
            marks_written=frozenset(
                (r[0], r[1])
                for r in db.execute(
                    "SELECT lead_id, stage_key FROM marks WHERE workflow=?", (workflow,)
                )
            ),
            marks_removed=frozenset(
                (r[0], r[1])
                for r in db.execute(
                    "SELECT lead_id, stage_key FROM marks_removed WHERE workflow=?", (workflow,)
                )
            ),
            left_on_written={
                r[0]: r[1] or ""
                for r in db.execute(
                    "SELECT lead_id, value FROM left_on WHERE workflow=?", (workflow,)
                )
            },
            coach_written=frozenset(
                r[0] for r in db.execute("SELECT lead_id FROM coach WHERE workflow=?", (workflow,))
            ),
            notes={
                (r[0], r[1]): r[2]
                for r in db.execute(
                    "SELECT lead_key, field, note FROM notes WHERE workflow=?", (workflow,)
                )
            },
            collaborators={
                r[0]: r[1]
                for r in db.execute(
                    "SELECT uid, name FROM collaborators WHERE workflow=?", (workflow,)
                )
            },
            collaborator_emails={
                r[0]: r[1]
                for r in db.execute(
                    "SELECT uid, email FROM collaborators WHERE workflow=? AND email IS NOT NULL",
                    (workflow,),
                )
            },
            missing_since=missing,
            copied=frozenset(copied),
            project_id=self.get(workflow, "project_id"),
            template_confirmed=self.get(workflow, "template_confirmed"),
        )

    @staticmethod
    def put_collaborators(
        db: sqlite3.Connection,
        workflow: str,
        names: Mapping[str, str],
        emails: Mapping[str, str],
    ) -> None:
        """The project's collaborators: user id -> name (and e-mail, when Todoist gives it)."""
        db.executemany(
            "INSERT OR REPLACE INTO collaborators (workflow, uid, name, email) VALUES (?,?,?,?)",
            [(workflow, uid, name, emails.get(uid)) for uid, name in names.items()],
        )

    def reached(self, workflow: str) -> dict[str, dict[str, date]]:
        """Lead id -> stage key -> the day the stage was reached."""
        out: dict[str, dict[str, date]] = {}
        for lead_id, stage, day in self._db.execute(
            "SELECT lead_id, stage_key, day FROM reached WHERE workflow=?", (workflow,)
        ):
            out.setdefault(lead_id, {})[stage] = date.fromisoformat(day)
        return out

    def put_reached(
        self, db: sqlite3.Connection, workflow: str, rows: Iterable[tuple[str, str, date]]
    ) -> None:
        """Record days stages were reached; a day already recorded stays (the first wins)."""
        db.executemany(
            "INSERT OR IGNORE INTO reached (workflow, lead_id, stage_key, day) VALUES (?,?,?,?)",
            [(workflow, lead_id, stage, day.isoformat()) for lead_id, stage, day in rows],
        )

    def writer(self, db: sqlite3.Connection, workflow: str, memory: Memory) -> Writer:
        """The writes actions make to remember themselves, inside transaction ``db`` (its
        task records are written when the transaction commits)."""
        writer = Writer(self, db, workflow, memory)
        self._writers.append(writer)
        return writer

    # ------------------------------------------------------------ task records

    @staticmethod
    def put_tasks(db: sqlite3.Connection, workflow: str, records: Iterable[TaskRecord]) -> None:
        db.executemany(
            "INSERT INTO tasks (workflow, lead_id, step_key, task_id, status, responsible_uid, "
            "planned, sent_due, due, closed_by, seen, sent) VALUES (?,?,?,?,?,?,?,?,?,?,?,?) "
            "ON CONFLICT(workflow,lead_id,step_key) DO UPDATE SET "
            "task_id=excluded.task_id, status=excluded.status, "
            "responsible_uid=excluded.responsible_uid, planned=excluded.planned, "
            "sent_due=excluded.sent_due, due=excluded.due, closed_by=excluded.closed_by, "
            "seen=excluded.seen, sent=excluded.sent",
            [
                (
                    workflow,
                    r.lead_id,
                    r.step_key,
                    r.task_id,
                    r.status,
                    r.responsible_uid,
                    r.planned,
                    r.sent_due,
                    r.due,
                    r.closed_by,
                    r.seen,
                    r.sent,
                )
                for r in records
            ],
        )

    @classmethod
    def put_task(cls, db: sqlite3.Connection, workflow: str, record: TaskRecord) -> None:
        cls.put_tasks(db, workflow, [record])

    @staticmethod
    def set_status(db: sqlite3.Connection, workflow: str, task_id: str, status: TaskStatus) -> None:
        db.execute(
            "UPDATE tasks SET status=? WHERE workflow=? AND task_id=?", (status, workflow, task_id)
        )

    # ---------------------------------------------------------------- pending

    def pending(self, workflow: str) -> list[PendingCommand]:
        return [
            PendingCommand(*r)
            for r in self._db.execute(
                "SELECT uuid, kind, lead_id, step_key, temp_id, task_id FROM pending WHERE workflow=? ORDER BY rowid",
                (workflow,),
            )
        ]

    @staticmethod
    def add_pending(
        db: sqlite3.Connection, workflow: str, commands: Iterable[PendingCommand]
    ) -> None:
        db.executemany(
            "INSERT OR IGNORE INTO pending VALUES (?,?,?,?,?,?,?)",
            [
                (workflow, c.uuid, c.kind, c.lead_id, c.step_key, c.temp_id, c.task_id)
                for c in commands
            ],
        )

    @staticmethod
    def drop_pending(db: sqlite3.Connection, workflow: str, uuids: Iterable[str]) -> None:
        db.executemany(
            "DELETE FROM pending WHERE workflow=? AND uuid=?", [(workflow, u) for u in uuids]
        )

    # ------------------------------------------------------------- sheet facts

    @staticmethod
    def put_leads(
        db: sqlite3.Connection, workflow: str, leads: Iterable[tuple[str, tuple[str, str]]]
    ) -> None:
        db.executemany(
            "INSERT INTO leads (workflow, lead_id, name, lead_date) VALUES (?,?,?,?) "
            "ON CONFLICT(workflow,lead_id) DO UPDATE SET "
            "name=excluded.name, lead_date=excluded.lead_date",
            [(workflow, lead_id, fp[0], fp[1]) for lead_id, fp in leads],
        )

    @staticmethod
    def set_pairs(
        db: sqlite3.Connection,
        table: str,
        workflow: str,
        rows: Iterable[tuple[str, ...]],
        *,
        present: bool,
    ) -> None:
        rows = list(rows)
        if not rows:
            return
        width = len(rows[0])
        if table not in ("marks", "marks_removed", "coach"):
            raise ValueError(table)
        if present:
            marks = ",".join("?" * (width + 1))
            db.executemany(
                f"INSERT OR REPLACE INTO {table} VALUES ({marks})", [(workflow, *r) for r in rows]
            )
        else:
            columns = {
                "marks": ("lead_id", "stage_key"),
                "marks_removed": ("lead_id", "stage_key"),
                "coach": ("lead_id",),
            }[table]
            where = " AND ".join(f"{c}=?" for c in columns)
            db.executemany(
                f"DELETE FROM {table} WHERE workflow=? AND {where}",
                [(workflow, *r[: len(columns)]) for r in rows],
            )


class Writer:
    """What actions write to remember themselves (``actions.Remember``), in one transaction.

    Task records read back here see the writes made earlier in the same transaction, so
    two actions on one task (a move, then a close) both land.
    """

    def __init__(self, store: StateStore, db: sqlite3.Connection, workflow: str, memory: Memory):
        self._store, self._db, self._workflow = store, db, workflow
        self._tasks: dict[tuple[str, str], TaskRecord] = {}
        # Task records put and not yet written: all of them go in one executemany when the
        # transaction commits (onboarding 10,000 leads puts 120,000), the last put of a
        # task winning as it would row by row.
        self._unsaved: dict[tuple[str, str], TaskRecord] = {}
        self._memory = memory

    def put_lead(self, lead_id: str, fingerprint: tuple[str, str]) -> None:
        self._store.put_leads(self._db, self._workflow, [(lead_id, fingerprint)])

    def task(self, lead_id: str, step_key: str) -> TaskRecord | None:
        key = (lead_id, step_key)
        return self._tasks.get(key) or self._memory.tasks.get(key)

    def put_task(self, record: TaskRecord) -> None:
        key = (record.lead_id, record.step_key)
        self._tasks[key] = self._unsaved[key] = record

    def flush(self) -> None:
        """Write the task records put since the last flush (``transaction`` calls it)."""
        if self._unsaved:
            self._store.put_tasks(self._db, self._workflow, self._unsaved.values())
            self._unsaved = {}

    def drop_task(self, lead_id: str, step_key: str) -> None:
        """Forget a task record (its step was renamed: it lives on under the new key)."""
        self._tasks.pop((lead_id, step_key), None)
        self._unsaved.pop((lead_id, step_key), None)
        self._db.execute(
            "DELETE FROM tasks WHERE workflow=? AND lead_id=? AND step_key=?",
            (self._workflow, lead_id, step_key),
        )

    def set_mark(self, lead_id: str, stage: str, ours: bool) -> None:
        self._store.set_pairs(self._db, "marks", self._workflow, [(lead_id, stage)], present=ours)

    def set_mark_declined(self, lead_id: str, stage: str, declined: bool) -> None:
        self._store.set_pairs(
            self._db, "marks_removed", self._workflow, [(lead_id, stage)], present=declined
        )

    def set_left_on(self, lead_id: str, value: str | None) -> None:
        if value is None:
            self._db.execute(
                "DELETE FROM left_on WHERE workflow=? AND lead_id=?", (self._workflow, lead_id)
            )
        else:
            self._db.execute(
                "INSERT OR REPLACE INTO left_on (workflow, lead_id, value) VALUES (?,?,?)",
                (self._workflow, lead_id, value),
            )

    def set_coach(self, lead_id: str) -> None:
        self._store.set_pairs(self._db, "coach", self._workflow, [(lead_id,)], present=True)

    def set_note(self, key: NoteKey, text: str | None) -> None:
        if text is None:
            self._db.execute(
                "DELETE FROM notes WHERE workflow=? AND lead_key=? AND field=?",
                (self._workflow, *key),
            )
        else:
            self._db.execute(
                "INSERT OR REPLACE INTO notes VALUES (?,?,?,?)", (self._workflow, *key, text)
            )

    def set_copied(self, lead_id: str, copied: bool) -> None:
        self._db.execute(
            "UPDATE leads SET copied=? WHERE workflow=? AND lead_id=?",
            (int(copied), self._workflow, lead_id),
        )

    def set_missing(self, lead_id: str, since: datetime | None) -> None:
        self._db.execute(
            "UPDATE leads SET missing_since=? WHERE workflow=? AND lead_id=?",
            (since.isoformat() if since else None, self._workflow, lead_id),
        )
