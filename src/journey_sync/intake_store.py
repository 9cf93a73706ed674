"""Leads accepted by the intake (``POST /leads``, ``journey-sync add-lead``) until they are
in the sheet, and the Todoist webhook deliveries already seen.

A small SQLite file of its own beside the state database (``journey-sync-intake.db`` for
``journey-sync.db``): the state store belongs to the daemon's main thread and its schema to
the engine, while the intake answers from HTTP threads. A lead is committed here *before*
the ``201`` answer, so a lead accepted is never lost: when the sheet is unavailable it stays
pending and the next cycle (or attempt) writes it. It stays here after it is written, for
a day, so that a form posted twice (the same ``Idempotency-Key``, or the same name, contact
and source) is recognised and never added twice.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

# How long a lead (or a webhook delivery) is remembered, to recognise a repeat.
REMEMBER = timedelta(hours=24)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS intake_leads (
    lead_id TEXT PRIMARY KEY,
    workflow TEXT NOT NULL,
    idempotency_key TEXT,
    fingerprint TEXT NOT NULL,
    fields TEXT NOT NULL,
    accepted_at TEXT NOT NULL,
    written_row INTEGER,
    written_at TEXT
);
CREATE UNIQUE INDEX IF NOT EXISTS intake_leads_key
    ON intake_leads (workflow, idempotency_key) WHERE idempotency_key IS NOT NULL;
CREATE INDEX IF NOT EXISTS intake_leads_fingerprint ON intake_leads (workflow, fingerprint);
CREATE TABLE IF NOT EXISTS webhook_deliveries (
    delivery_id TEXT PRIMARY KEY,
    seen_at TEXT NOT NULL
);
"""


def intake_path(state: Path) -> Path:
    """The intake file beside the state database: ``x.db`` -> ``x-intake.db``."""
    return state.with_name(f"{state.stem}-intake{state.suffix or '.db'}")


@dataclass(frozen=True)
class IntakeLead:
    lead_id: str
    workflow: str
    fields: dict[str, str]  # role -> text; "lead_date" is ISO
    accepted_at: datetime
    row: int | None = None  # the sheet row it was written to, once written

    @property
    def written(self) -> bool:
        return self.row is not None


class IntakeStore:
    """Thread-safe (one connection, one lock); every change is committed at once."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._db = sqlite3.connect(
            str(path), check_same_thread=False, timeout=10, isolation_level=None
        )
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def accept(
        self,
        lead_id: str,
        workflow: str,
        fields: Mapping[str, str],
        *,
        fingerprint: str,
        idempotency_key: str | None,
        now: datetime,
    ) -> tuple[IntakeLead, bool]:
        """Keep a lead; ``(lead, True)`` when new, ``(the earlier lead, False)`` when the
        same key (or, without a key, the same fingerprint) was accepted in the last 24 h."""
        since = (now - REMEMBER).isoformat()
        with self._write() as db:
            if idempotency_key is not None:
                found = db.execute(
                    "SELECT * FROM intake_leads WHERE workflow = ? AND idempotency_key = ?",
                    (workflow, idempotency_key),
                ).fetchone()
            else:
                found = db.execute(
                    "SELECT * FROM intake_leads WHERE workflow = ? AND fingerprint = ? "
                    "AND accepted_at >= ? ORDER BY accepted_at LIMIT 1",
                    (workflow, fingerprint, since),
                ).fetchone()
            if found is not None:
                return _lead(found), False
            db.execute(
                "INSERT INTO intake_leads (lead_id, workflow, idempotency_key, fingerprint, "
                "fields, accepted_at) VALUES (?, ?, ?, ?, ?, ?)",
                (
                    lead_id,
                    workflow,
                    idempotency_key,
                    fingerprint,
                    json.dumps(dict(fields), ensure_ascii=False),
                    now.isoformat(),
                ),
            )
        return IntakeLead(lead_id, workflow, dict(fields), now), True

    def get(self, lead_id: str) -> IntakeLead | None:
        with self._lock:
            row = self._db.execute(
                "SELECT * FROM intake_leads WHERE lead_id = ?", (lead_id,)
            ).fetchone()
        return None if row is None else _lead(row)

    def pending(self, workflow: str) -> list[IntakeLead]:
        """Leads accepted and not yet written, oldest first."""
        with self._lock:
            rows = self._db.execute(
                "SELECT * FROM intake_leads WHERE workflow = ? AND written_row IS NULL "
                "ORDER BY accepted_at, rowid",
                (workflow,),
            ).fetchall()
        return [_lead(row) for row in rows]

    def accepted_after(self, rowid: int) -> list[tuple[int, str, str]]:
        """``(rowid, lead id, workflow)`` of the leads kept after ``rowid``, by any process
        (the daemon's own endpoint or ``journey-sync add-lead``), oldest first."""
        with self._lock:
            rows = self._db.execute(
                "SELECT rowid, lead_id, workflow FROM intake_leads WHERE rowid > ? ORDER BY rowid",
                (rowid,),
            ).fetchall()
        return [(int(r), str(lead), str(workflow)) for r, lead, workflow in rows]

    def written(self, lead_id: str, row: int, now: datetime) -> None:
        with self._write() as db:
            db.execute(
                "UPDATE intake_leads SET written_row = ?, written_at = ? WHERE lead_id = ?",
                (row, now.isoformat(), lead_id),
            )

    def forget_old(self, now: datetime) -> None:
        """Drop written leads and deliveries older than a day (pending ones stay)."""
        since = (now - REMEMBER).isoformat()
        with self._write() as db:
            db.execute(
                "DELETE FROM intake_leads WHERE written_row IS NOT NULL AND accepted_at < ?",
                (since,),
            )
            db.execute("DELETE FROM webhook_deliveries WHERE seen_at < ?", (since,))

    def first_delivery(self, delivery_id: str, now: datetime) -> bool:
        """True the first time a webhook delivery id is seen, False for a repeat."""
        with self._write() as db:
            cursor = db.execute(
                "INSERT OR IGNORE INTO webhook_deliveries (delivery_id, seen_at) VALUES (?, ?)",
                (delivery_id, now.isoformat()),
            )
            return cursor.rowcount == 1


def _lead(row: tuple[object, ...]) -> IntakeLead:
    lead_id, workflow, _key, _fingerprint, fields, accepted_at, written_row, _written_at = row
    return IntakeLead(
        lead_id=str(lead_id),
        workflow=str(workflow),
        fields=dict(json.loads(str(fields))),
        accepted_at=datetime.fromisoformat(str(accepted_at)).astimezone(UTC),
        row=None if written_row is None else int(str(written_row)),
    )
