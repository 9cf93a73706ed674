"""A studio's sheet layout and a world of fake sheet, fake Todoist, state and engine."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path

from journey_sync.dates import date_to_serial
from journey_sync.engine import Engine
from journey_sync.state import StateStore
from journey_sync.workflow import Workflow
from support.fakes import FakeSheet, FakeTodoist

#: The repository's root folder.
ROOT = Path(__file__).resolve().parents[2]

HEADERS = [
    "Client name",
    "Date of lead",
    "How did you hear about us?",
    "Source of lead",
    "Client contacted",
    "Client meeting booked",
    "Client meeting had",
    "Referred to coach",
    "Name of coach",
    "Coach complimentary session done",
    "First paid session",
    "1 month post-lead",
    "2 months post-lead",
    "3 months post-lead",
    "6 months post-lead",
    "12 months post-lead",
    "Reason for discontinue",
    "When left journey",
    "Lead ID",
]


def lead_row(
    name: str, day: date, source: str = "Instagram", heard: str = "A friend"
) -> list[object]:
    return [name, date_to_serial(day), heard, source]


class Clock:
    """A settable clock: tests move time by hand."""

    def __init__(self, now: datetime):
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def set_day(self, day: date, hour: int = 12) -> None:
        self.now = datetime(day.year, day.month, day.day, hour, tzinfo=UTC)


class World:
    """A workflow's sheet, Todoist and state, and an engine over them."""

    def __init__(self, workflow: Workflow, tmp: Path, rows: list[list[object]], today: date):
        self.workflow = workflow
        self.sheet = FakeSheet([HEADERS, *rows])
        self.clock = Clock(datetime(today.year, today.month, today.day, 12, tzinfo=UTC))
        self.todoist = FakeTodoist(clock=self.clock)
        self.db_path = tmp / "state.db"
        self.state = StateStore(self.db_path)
        ids = itertools.count(1)
        self.new_id: Callable[[], str] = lambda: f"L-{next(ids):04d}"
        self.engine = self._engine()

    def _engine(self) -> Engine:
        return Engine(
            self.workflow,
            self.sheet,
            self.todoist,
            self.state,
            clock=self.clock,
            new_id=self.new_id,
        )

    def cycle(self):  # type: ignore[no-untyped-def]
        return self.engine.run_cycle()

    def restart(self, *, lose_state: bool = False) -> None:
        """A new process: same sheet and Todoist, state reopened (or lost)."""
        self.state.close()
        if lose_state:
            for suffix in ("", "-wal", "-shm"):
                Path(str(self.db_path) + suffix).unlink(missing_ok=True)
        self.state = StateStore(self.db_path)
        self.engine = self._engine()

    def lead_id(self, name: str) -> str:
        value = self.sheet.get(self.sheet.row_of(name), "Lead ID")
        assert isinstance(value, str)
        return value

    def mark(self, name: str, header: str) -> object:
        return self.sheet.get(self.sheet.row_of(name), header)
