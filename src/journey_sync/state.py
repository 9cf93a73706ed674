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
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from pathlib import Path
from typing import TypeVar

from .errors import UserError
from .records import Memory, NoteKey, TaskRecord, TaskStatus, next_stamp, stored_record

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


@dataclass
class _Kept:
    """One workflow's remembered state as last committed, kept in the process.

    Loading it from SQLite costs ~0.5 s at 10,000 leads (120,000 task records), every cycle
    that is not quiet; the store is its file's only writer (the daemon holds its lock), so
    it loads it once and applies its own committed writes to it (``StateStore._kept``).
    """

    leads: dict[str, tuple[str, str]]
    missing: dict[str, datetime]
    copied: set[str]
    tasks: dict[tuple[str, str], TaskRecord]
    marks: set[tuple[str, str]]
    marks_removed: set[tuple[str, str]]
    left_on: dict[str, str]
    coach: set[str]
    notes: dict[NoteKey, str]
    collaborators: dict[str, str]
    emails: dict[str, str]
    reached: dict[str, dict[str, date]] | None = field(default=None)  # loaded when asked
    mirrored: int = 0  # task records written since it was loaded (see ``MIRROR_LIMIT``)
    # Which lead's remembered state changed when (``Memory.stamps``), since this load
    # (``epoch``): every write applied here touches the leads it writes about.
    stamps: dict[str, int] = field(default_factory=dict)
    epoch: object = field(default_factory=object)
    # ``tasks`` is held by a Memory handed out (``StateStore.memory``): a write copies it
    # first (``own_tasks``), so the holder's records never change under it, and a cycle
    # that writes no task record copies none (120,000 at 10,000 leads, every cycle).
    tasks_lent: bool = False

    def touch(self, lead_id: str) -> None:
        self.stamps[lead_id] = next_stamp()

    def own_tasks(self) -> dict[tuple[str, str], TaskRecord]:
        """The task records, to change (copied first if a Memory handed out holds them)."""
        if self.tasks_lent:
            self.tasks = dict(self.tasks)
            self.tasks_lent = False
        return self.tasks


# Task records written through the store and kept in the process are built among a cycle's
# passing objects (onboarding 10,000 leads writes 120,000 of them, with its requests):
# past this many, the kept state is dropped and loaded again when next asked, compactly,
# so the memory those writes pinned can be given back.
MIRROR_LIMIT = 5_000


# A write to apply to the kept state once its transaction commits; False: it cannot be
# applied exactly (a value SQLite would store differently), so the kept state is dropped.
_Op = Callable[[_Kept], bool | None]


def _load_tasks(db: sqlite3.Connection, workflow: str) -> dict[tuple[str, str], TaskRecord]:
    """The task records, each repeated text (lead id, step key, status, dates) one shared
    string object (SQLite gives a new object per row, ~40 MB at 120,000 records): the first
    of its value seen, found again through a dict (cheaper than ``sys.intern`` per value).
    Inline, not a function per value: this loop runs 120,000 times at 10,000 leads.

    ``+workflow``: a scan of the table in its own order, not a walk of the ``tasks_by_id``
    index with a lookup of each row (0.29 s instead of 0.48 s for 120,000 rows)."""
    shared: dict[str, str] = {}
    get, put = shared.get, shared.setdefault
    tasks: dict[tuple[str, str], TaskRecord] = {}
    for (
        lead_id,
        step,
        task_id,
        status,
        uid,
        planned,
        sent_due,
        due,
        closed_by,
        seen,
        sent,
    ) in db.execute(
        "SELECT lead_id, step_key, task_id, status, responsible_uid, planned, "
        "sent_due, due, closed_by, seen, sent FROM tasks WHERE +workflow=?",
        (workflow,),
    ):
        lead_id = get(lead_id) or put(lead_id, lead_id)
        step = get(step) or put(step, step)
        tasks[(lead_id, step)] = stored_record(  # TaskRecord(...), made faster
            lead_id,
            step,
            task_id,
            get(status) or put(status, status),  # type: ignore[arg-type]  # as stored
            uid and (get(uid) or put(uid, uid)),
            planned and (get(planned) or put(planned, planned)),
            sent_due and (get(sent_due) or put(sent_due, sent_due)),
            due and (get(due) or put(due, due)),
            closed_by and (get(closed_by) or put(closed_by, closed_by)),  # type: ignore[arg-type]
            seen,
            sent,
        )
    return tasks


def _texts(*values: object) -> bool:
    """Whether every value is stored as it is (TEXT columns give back a str as it went in)."""
    return all(v is None or type(v) is str for v in values)


class StateStore:
    def __init__(self, path: Path | str):
        self.path = Path(path)
        self._writers: list[Writer] = []  # of the open transaction
        self._init_kept()
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
        store._init_kept()
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
        self._kept.clear()
        self._db.close()

    # -------------------------------------------------- the state kept in memory

    def _init_kept(self) -> None:
        # Each workflow's remembered state, as committed (see ``_Kept``). Kept exact by
        # applying this store's own writes at commit (``_ops``: those of the open
        # transaction, dropped on rollback); dropped whole when another connection has
        # committed (SQLite's data_version moved: a second process, a test) or a write
        # cannot be mirrored exactly. Never used inside a transaction, whose uncommitted
        # writes a query would see.
        self._kept: dict[str, _Kept] = {}
        self._ops: list[tuple[str, _Op]] = []
        self._data_version: int | None = None

    def _note(self, workflow: str, op: _Op) -> None:
        if self._db.in_transaction:
            self._ops.append((workflow, op))
        else:  # an autocommitted write: not worth mirroring
            self._kept.clear()

    def _apply_ops(self, ops: list[tuple[str, _Op]]) -> None:
        for workflow, op in ops:
            kept = self._kept.get(workflow)
            if kept is not None and op(kept) is False:
                del self._kept[workflow]

    def _kept_state(self, workflow: str, *, load: bool = True) -> _Kept | None:
        """The kept state of ``workflow`` (loaded if need be, unless not ``load``), or None
        inside a transaction."""
        if self._db.in_transaction:
            return None
        version = self._db.execute("PRAGMA data_version").fetchone()[0]
        if version != self._data_version:
            self._kept.clear()
            self._data_version = version
        kept = self._kept.get(workflow)
        if kept is None and load:
            kept = self._kept[workflow] = self._load(workflow)
        return kept

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
        ops = self._ops = []
        try:
            yield self._db
            for writer in writers:  # their task records, in one executemany each
                writer.flush()
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        finally:
            writers.clear()
            self._ops = []
        try:
            self._db.execute("COMMIT")
        except BaseException:
            self._kept.clear()  # whatever landed, the next cycle reads it from the file
            raise
        self._apply_ops(ops)

    # ------------------------------------------------------------- meta values

    def put_now(self, workflow: str, key: str, value: str | None) -> None:
        """``put`` outside the cycle's transactions: in its own, or in the one open now."""
        if self._db.in_transaction:
            self.put(self._db, workflow, key, value)
            return
        with self.transaction() as db:
            self.put(db, workflow, key, value)

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
        """What is remembered of ``workflow``: a copy of the kept state (a caller may hold
        it while later writes change the kept one). The task records are the kept dict
        itself until the store next changes one, which copies it first (``_Kept.own_tasks``):
        the dict is never changed while lent, and a cycle that writes no record copies none."""
        kept = self._kept_state(workflow) or self._load(workflow)
        kept.tasks_lent = True
        return Memory(
            leads=dict(kept.leads),
            tasks=kept.tasks,
            marks_written=frozenset(kept.marks),
            marks_removed=frozenset(kept.marks_removed),
            left_on_written=dict(kept.left_on),
            coach_written=frozenset(kept.coach),
            notes=dict(kept.notes),
            collaborators=dict(kept.collaborators),
            collaborator_emails=dict(kept.emails),
            missing_since=dict(kept.missing),
            copied=frozenset(kept.copied),
            project_id=self.get(workflow, "project_id"),
            template_confirmed=self.get(workflow, "template_confirmed"),
            stamps=dict(kept.stamps),
            epoch=kept.epoch,
        )

    def _load(self, workflow: str) -> _Kept:
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
        return _Kept(
            leads=leads,
            missing=missing,
            copied=copied,
            tasks=_load_tasks(db, workflow),
            marks={
                (r[0], r[1])
                for r in db.execute(
                    "SELECT lead_id, stage_key FROM marks WHERE workflow=?", (workflow,)
                )
            },
            marks_removed={
                (r[0], r[1])
                for r in db.execute(
                    "SELECT lead_id, stage_key FROM marks_removed WHERE workflow=?", (workflow,)
                )
            },
            left_on={
                r[0]: r[1] or ""
                for r in db.execute(
                    "SELECT lead_id, value FROM left_on WHERE workflow=?", (workflow,)
                )
            },
            coach={
                r[0] for r in db.execute("SELECT lead_id FROM coach WHERE workflow=?", (workflow,))
            },
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
            emails={
                r[0]: r[1]
                for r in db.execute(
                    "SELECT uid, email FROM collaborators WHERE workflow=? AND email IS NOT NULL",
                    (workflow,),
                )
            },
        )

    def put_collaborators(
        self,
        db: sqlite3.Connection,
        workflow: str,
        names: Mapping[str, str],
        emails: Mapping[str, str],
    ) -> None:
        """The project's collaborators: user id -> name (and e-mail, when Todoist gives it)."""
        rows = [(workflow, uid, name, emails.get(uid)) for uid, name in names.items()]
        db.executemany(
            "INSERT OR REPLACE INTO collaborators (workflow, uid, name, email) VALUES (?,?,?,?)",
            rows,
        )

        def op(kept: _Kept) -> bool:
            for _, uid, name, email in rows:
                if not _texts(uid, name, email):
                    return False
                kept.collaborators[uid] = name
                if email is None:
                    kept.emails.pop(uid, None)
                else:
                    kept.emails[uid] = email
            return True

        self._note(workflow, op)

    def reached(self, workflow: str) -> dict[str, dict[str, date]]:
        """Lead id -> stage key -> the day the stage was reached: a dict the caller owns,
        whose inner dicts are shared (replace one, never change it). Kept with the
        remembered state when that is kept (a cycle loads it first); never a reason to
        load it (``report`` reads only this). Not a deep copy: asked every cycle that is
        not quiet, copying 10,000 leads' days cost more than the rest of a one-lead plan."""
        kept = self._kept_state(workflow, load=False)
        if kept is not None and kept.reached is not None:
            return dict(kept.reached)
        out: dict[str, dict[str, date]] = {}
        for lead_id, stage, day in self._db.execute(
            "SELECT lead_id, stage_key, day FROM reached WHERE workflow=?", (workflow,)
        ):
            out.setdefault(lead_id, {})[stage] = date.fromisoformat(day)
        if kept is not None:
            kept.reached = {lead_id: dict(days) for lead_id, days in out.items()}
        return out

    def put_reached(
        self, db: sqlite3.Connection, workflow: str, rows: Iterable[tuple[str, str, date]]
    ) -> None:
        """Record days stages were reached; a day already recorded stays (the first wins)."""
        rows = list(rows)
        db.executemany(
            "INSERT OR IGNORE INTO reached (workflow, lead_id, stage_key, day) VALUES (?,?,?,?)",
            [(workflow, lead_id, stage, day.isoformat()) for lead_id, stage, day in rows],
        )

        def op(kept: _Kept) -> bool:
            if kept.reached is None:
                return True
            for lead_id, stage, day in rows:
                if not _texts(lead_id, stage) or type(day) is not date:
                    return False
                days = kept.reached.get(lead_id, {})
                if stage not in days:  # a new dict: callers may hold the old one
                    kept.reached[lead_id] = {**days, stage: day}
            return True

        if rows:
            self._note(workflow, op)

    def writer(self, db: sqlite3.Connection, workflow: str, memory: Memory) -> Writer:
        """The writes actions make to remember themselves, inside transaction ``db`` (its
        task records are written when the transaction commits)."""
        writer = Writer(self, db, workflow, memory)
        self._writers.append(writer)
        return writer

    # ------------------------------------------------------------ task records

    def put_tasks(
        self, db: sqlite3.Connection, workflow: str, records: Iterable[TaskRecord]
    ) -> None:
        records = list(records)
        if not records:
            return
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

        def op(kept: _Kept) -> bool:
            tasks = kept.own_tasks()
            for r in records:
                if not _texts(
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
                ):
                    return False
                tasks[(r.lead_id, r.step_key)] = r
                kept.touch(r.lead_id)
            kept.mirrored += len(records)
            return kept.mirrored <= MIRROR_LIMIT

        self._note(workflow, op)

    def put_task(self, db: sqlite3.Connection, workflow: str, record: TaskRecord) -> None:
        self.put_tasks(db, workflow, [record])

    def set_status(
        self, db: sqlite3.Connection, workflow: str, task_id: str, status: TaskStatus
    ) -> None:
        db.execute(
            "UPDATE tasks SET status=? WHERE workflow=? AND task_id=?", (status, workflow, task_id)
        )

        def op(kept: _Kept) -> bool:
            if not _texts(task_id, status):
                return False
            for key, record in list(kept.tasks.items()):
                if record.task_id == task_id:
                    kept.own_tasks()[key] = replace(record, status=status)
                    kept.touch(record.lead_id)
            return True

        self._note(workflow, op)

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

    def put_leads(
        self, db: sqlite3.Connection, workflow: str, leads: Iterable[tuple[str, tuple[str, str]]]
    ) -> None:
        rows = [(lead_id, fp[0], fp[1]) for lead_id, fp in leads]
        db.executemany(
            "INSERT INTO leads (workflow, lead_id, name, lead_date) VALUES (?,?,?,?) "
            "ON CONFLICT(workflow,lead_id) DO UPDATE SET "
            "name=excluded.name, lead_date=excluded.lead_date",
            [(workflow, *row) for row in rows],
        )

        def op(kept: _Kept) -> bool:
            for lead_id, name, day in rows:
                if not _texts(lead_id, name, day):
                    return False
                kept.leads[lead_id] = (name, day)
                kept.touch(lead_id)
            return True

        self._note(workflow, op)

    def set_pairs(
        self,
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

        def op(kept: _Kept) -> bool:
            for r in rows:
                if not _texts(*r):
                    return False
                kept.touch(r[0])
                if table == "coach":
                    if len(r) != 1:
                        return False
                    if present:
                        kept.coach.add(r[0])
                    else:
                        kept.coach.discard(r[0])
                    continue
                if len(r) != 2:
                    return False
                pairs = kept.marks if table == "marks" else kept.marks_removed
                if present:
                    pairs.add((r[0], r[1]))
                else:
                    pairs.discard((r[0], r[1]))
            return True

        self._note(workflow, op)


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

        def op(kept: _Kept) -> bool:
            kept.own_tasks().pop((lead_id, step_key), None)
            kept.touch(lead_id)
            return _texts(lead_id, step_key)

        self._store._note(self._workflow, op)

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

        def op(kept: _Kept) -> bool:
            if not _texts(lead_id, value):
                return False
            kept.touch(lead_id)
            if value is None:
                kept.left_on.pop(lead_id, None)
            else:
                kept.left_on[lead_id] = value or ""
            return True

        self._store._note(self._workflow, op)

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

        def op(kept: _Kept) -> bool:
            if len(key) != 2 or not _texts(*key, text):
                return False
            kept.touch(key[0])
            if text is None:
                kept.notes.pop((key[0], key[1]), None)
            else:
                kept.notes[(key[0], key[1])] = text
            return True

        self._store._note(self._workflow, op)

    def set_copied(self, lead_id: str, copied: bool) -> None:
        self._db.execute(
            "UPDATE leads SET copied=? WHERE workflow=? AND lead_id=?",
            (int(copied), self._workflow, lead_id),
        )

        def op(kept: _Kept) -> bool:
            if not _texts(lead_id):
                return False
            kept.touch(lead_id)
            if lead_id in kept.leads:  # the UPDATE changes an existing row only
                if copied:
                    kept.copied.add(lead_id)
                else:
                    kept.copied.discard(lead_id)
            return True

        self._store._note(self._workflow, op)

    def set_missing(self, lead_id: str, since: datetime | None) -> None:
        text = since.isoformat() if since else None
        self._db.execute(
            "UPDATE leads SET missing_since=? WHERE workflow=? AND lead_id=?",
            (text, self._workflow, lead_id),
        )

        def op(kept: _Kept) -> bool:
            if not _texts(lead_id):
                return False
            kept.touch(lead_id)
            if lead_id in kept.leads:  # the UPDATE changes an existing row only
                if text:
                    # As loaded: the text read back (an equal datetime, its zone kept).
                    kept.missing[lead_id] = datetime.fromisoformat(text)
                else:
                    kept.missing.pop(lead_id, None)
            return True

        self._store._note(self._workflow, op)


T = TypeVar("T")


def peek(path: Path, read: Callable[[StateStore], T]) -> T | None:
    """``read`` of the state file opened read-only (a daemon may be running), or None when
    there is none, it is no state file, or it lacks what ``read`` asks (an older one)."""
    if not path.is_file():
        return None
    try:
        store = StateStore.open_read_only(path)
    except UserError:
        return None
    try:
        return read(store)
    except sqlite3.Error:
        return None
    finally:
        store.close()
