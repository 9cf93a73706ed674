"""The daemon's lifecycle: the stop flag, the signals that set it, the gateways that obey it,
the watchdog that bounds a stop, and the lock that keeps two daemons off one state file.

Stopping: the signal handler only sets a flag (nothing in a signal handler may take a lock
the interrupted code holds). Every gateway call checks the flag first, and the back-off
sleeps end early, so the cycle in flight finishes the request (batch) it is sending and
then stops. Stopping between two requests is safe by design: a batch's command uuids are
stored before it is sent, and resent unchanged at the next start. A watchdog exits the
process anyway (code 0) if the cycle in flight has not stopped within
``JOURNEY_SYNC_SHUTDOWN_TIMEOUT`` seconds (a request hanging until its own timeout).
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from pathlib import Path
from types import FrameType

from .errors import SettingsError
from .ports import (
    CommandResult,
    SheetGateway,
    SheetSnapshot,
    SheetWrites,
    Task,
    TaskChanges,
    TaskCommand,
    TaskGateway,
)

log = logging.getLogger("journey_sync.daemon")

POLL = 0.1  # seconds between looks at the stop flag while waiting


class ShutdownRequested(Exception):
    """Raised inside a cycle, between two requests, once a stop was requested."""


class StopFlag:
    """Set from a signal handler; read everywhere else.

    A plain attribute on purpose: ``threading.Event.set`` takes a lock, and a signal
    handler that needs a lock the interrupted main thread holds deadlocks.
    """

    def __init__(self) -> None:
        self.signal_name: str | None = None
        self.forced = False

    @property
    def requested(self) -> bool:
        return self.signal_name is not None

    def request(self, name: str) -> None:
        if self.signal_name is None:
            self.signal_name = name
        else:
            self.forced = True  # a second signal: the operator will not wait

    def check(self) -> None:
        if self.requested:
            raise ShutdownRequested(f"stopping on {self.signal_name}")

    def sleep(self, seconds: float) -> None:
        """``time.sleep`` that ends early, raising ``ShutdownRequested``, on a stop."""
        end = time.monotonic() + seconds
        while True:
            self.check()
            left = end - time.monotonic()
            if left <= 0:
                return
            time.sleep(min(POLL, left))


# ------------------------------------------------------------------ guarded gateways


class GuardedSheet:
    """A ``SheetGateway`` that refuses to start a request once a stop was requested.

    ``on_write`` is called after every write the service accepted (the daemon's health
    counts it as progress, even if the cycle fails later, e.g. on a quota).
    """

    def __init__(
        self, inner: SheetGateway, stop: StopFlag, on_write: Callable[[], None] | None = None
    ) -> None:
        self.inner = inner
        self.stop = stop
        self.on_write = on_write

    def read(self) -> SheetSnapshot:
        self.stop.check()
        return self.inner.read()

    def formula_cells(self, rows: Sequence[int], last_column: int) -> frozenset[tuple[int, int]]:
        self.stop.check()
        return self.inner.formula_cells(rows, last_column)

    def tab_chart_titles(self, title: str) -> frozenset[str] | None:
        self.stop.check()
        return self.inner.tab_chart_titles(title)

    def apply(self, writes: SheetWrites) -> None:
        self.stop.check()
        self.inner.apply(writes)
        if self.on_write is not None and (writes.has_cell_changes() or writes.colour_rules):
            self.on_write()


class GuardedTasks:
    """A ``TaskGateway`` that refuses to start a request (batch) once a stop was requested.

    ``on_write`` is called after every batch of commands Todoist answered.
    """

    def __init__(
        self, inner: TaskGateway, stop: StopFlag, on_write: Callable[[], None] | None = None
    ) -> None:
        self.inner = inner
        self.stop = stop
        self.on_write = on_write

    def changes(
        self, sync_token: str | None, take: Callable[[Task], None] | None = None
    ) -> TaskChanges:
        self.stop.check()
        return self.inner.changes(sync_token, take)

    def completed(self, *, project_id: str | None, since: datetime) -> Sequence[Task]:
        self.stop.check()
        return self.inner.completed(project_id=project_id, since=since)

    def recurring_completions(self, since: datetime) -> Sequence[tuple[str, datetime]]:
        self.stop.check()
        return self.inner.recurring_completions(since)

    def apply(self, commands: Sequence[TaskCommand]) -> Sequence[CommandResult]:
        self.stop.check()
        results = self.inner.apply(commands)
        if self.on_write is not None and commands:
            self.on_write()
        return results


# ------------------------------------------------------------------------ signals


@contextlib.contextmanager
def signals_stop(stop: StopFlag) -> Iterator[None]:
    """SIGTERM and SIGINT request a stop while inside; the old handlers come back after."""

    def handler(signum: int, frame: FrameType | None) -> None:
        stop.request(signal.Signals(signum).name)

    if threading.current_thread() is not threading.main_thread():
        # Only the main thread may set handlers (an embedding program keeps its own).
        yield
        return
    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


class Watchdog:
    """Bounds the time from a stop request to the process's exit."""

    def __init__(self, stop: StopFlag, timeout: float) -> None:
        self.stop = stop
        self.timeout = timeout
        self.finished = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="shutdown-watchdog", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def done(self) -> None:
        self.finished.set()

    def _watch(self) -> None:
        while not self.stop.requested:
            if self.finished.wait(POLL):
                return
        log.info(
            "received %s: finishing the request in flight, then stopping (at most %s s)",
            self.stop.signal_name,
            f"{self.timeout:g}",
        )
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline and not self.stop.forced:
            if self.finished.wait(POLL):
                return
        log.warning(
            "the cycle in flight has not stopped %s; exiting anyway. Nothing is lost: "
            "commands not yet acknowledged are resent with the same uuids at the next start",
            "after a second signal" if self.stop.forced else f"within {self.timeout:g} s",
        )
        for handler in logging.getLogger().handlers:
            handler.flush()
        os._exit(0)


# ------------------------------------------------------------------------- the lock


@contextlib.contextmanager
def state_lock(state: Path) -> Iterator[Path]:
    """Hold ``<state>.lock`` (flock) so two ``run`` processes never share a state file.

    flock, not a pid file: the kernel releases it when the process dies, even by kill -9,
    so a crash never leaves a stale lock behind.
    """
    path = state.with_name(state.name + ".lock")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise SettingsError(
            f"cannot create the lock file {path} ({exc.strerror}): check that the state "
            "folder exists and is writable (JOURNEY_SYNC_STATE; /data is a volume in the "
            "container)."
        ) from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
            who = f" (pid {holder})" if holder.isdigit() else ""
            raise SettingsError(
                f"another journey-sync run{who} is already using the state file {state}: "
                "stop it first, or give this one its own JOURNEY_SYNC_STATE."
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode("ascii"), 0)
        yield path
    finally:
        os.close(fd)  # closing the descriptor releases the lock
