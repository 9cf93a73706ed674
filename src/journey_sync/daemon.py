"""``journey-sync run``: every workflow's cycle on an interval, until SIGTERM or SIGINT.

How the pieces fit:

* Start-up checks everything a person must fix before anything runs: the workflow file
  (same messages as ``validate``), the secrets, the state lock, the state database and the
  health port. Each failure is a ``SettingsError`` or ``WorkflowFileError``: exit 2.
* APScheduler decides *when*: one interval job per workflow, ``max_instances=1`` (a cycle
  never overlaps its own next run), ``coalesce`` (runs missed while a cycle was slow become
  one). The main thread decides *how*: it runs every cycle itself, one at a time. The
  state store's SQLite connection belongs to the thread that opened it, and both services
  meter their quotas per account (Google per service account, Todoist per token), so
  running workflows in parallel would only make them compete for the same quota.
  Each scheduled job hands its workflow to the main thread and waits until its cycle is
  done, so APScheduler's own bookkeeping (instances, coalescing, misfires) stays true.
* A failed cycle is logged and recorded for ``/healthz``; the next interval tries again and
  the other workflows carry on.
* Stopping: the signal handler only sets a flag (nothing in a signal handler may take a
  lock the interrupted code holds). Every gateway call checks the flag first, and the
  back-off sleeps end early, so the cycle in flight finishes the request (batch) it is
  sending and then stops. Stopping between two requests is safe by design: a batch's
  command uuids are stored before it is sent, and resent unchanged at the next start. A
  watchdog exits the process anyway (code 0) if the cycle in flight has not stopped within
  ``JOURNEY_SYNC_SHUTDOWN_TIMEOUT`` seconds (a request hanging until its own timeout).
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import fcntl
import logging
import os
import queue
import signal
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any

from .adapters.retry import RetryPolicy
from .engine import CycleReport, Engine
from .errors import JourneySyncError, SettingsError, UserError
from .health import Health, HealthServer
from .logs import Redactor, configure_logging, secret_values
from .plan import Plan
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
from .settings import Settings, load_settings
from .state import StateStore
from .wiring import ServiceStats, build_engines
from .workflow import WorkflowFile, load_workflows

log = logging.getLogger("journey_sync.daemon")

POLL = 0.1  # seconds between looks at the stop flag while waiting
DRY_RUN_EXAMPLES = 10  # how many of each kind of change --dry-run lists


# --------------------------------------------------------------------------- stopping


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


class GuardedSheet:
    """A ``SheetGateway`` that refuses to start a request once a stop was requested."""

    def __init__(self, inner: SheetGateway, stop: StopFlag) -> None:
        self.inner = inner
        self.stop = stop

    def read(self) -> SheetSnapshot:
        self.stop.check()
        return self.inner.read()

    def apply(self, writes: SheetWrites) -> None:
        self.stop.check()
        self.inner.apply(writes)


class GuardedTasks:
    """A ``TaskGateway`` that refuses to start a request (batch) once a stop was requested."""

    def __init__(self, inner: TaskGateway, stop: StopFlag) -> None:
        self.inner = inner
        self.stop = stop

    def changes(self, sync_token: str | None) -> TaskChanges:
        self.stop.check()
        return self.inner.changes(sync_token)

    def completed(self, *, project_id: str, since: datetime) -> Sequence[Task]:
        self.stop.check()
        return self.inner.completed(project_id=project_id, since=since)

    def apply(self, commands: Sequence[TaskCommand]) -> Sequence[CommandResult]:
        self.stop.check()
        return self.inner.apply(commands)


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


# ------------------------------------------------------------------------- the cycle


@dataclass
class Outcome:
    workflow: str
    ok: bool
    stopped: bool = False
    report: CycleReport | None = None
    plan: Plan | None = None


@dataclass
class _Counts:
    sheets: int = 0
    sheets_retries: int = 0
    todoist: int = 0
    todoist_retries: int = 0

    @classmethod
    def of(cls, stats: ServiceStats) -> _Counts:
        return cls(
            stats.sheets.requests,
            stats.sheets.retries,
            stats.todoist.requests,
            stats.todoist.retries,
        )

    def since(self, before: _Counts) -> _Counts:
        return _Counts(
            self.sheets - before.sheets,
            self.sheets_retries - before.sheets_retries,
            self.todoist - before.todoist,
            self.todoist_retries - before.todoist_retries,
        )

    def text(self) -> str:
        retries = self.sheets_retries + self.todoist_retries
        extra = f" ({retries} retries)" if retries else ""
        return f"requests: sheets {self.sheets}, todoist {self.todoist}{extra}"

    def fields(self) -> dict[str, Any]:
        return {
            "requests": {"sheets": self.sheets, "todoist": self.todoist},
            "retries": {"sheets": self.sheets_retries, "todoist": self.todoist_retries},
        }


def _find_malloc_trim() -> Any:
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim
    except (OSError, AttributeError):  # not glibc (musl has no malloc_trim)
        return None


_MALLOC_TRIM = _find_malloc_trim()


def release_memory() -> None:
    """Give the memory a cycle freed back to the system.

    Taking in a big Todoist answer (the cycle after onboarding 10,000 leads reads back the
    120,000 tasks it created) peaks near 550 MB. Python frees those objects at once, but
    glibc keeps the freed pages in the process: without this the daemon would sit at about
    200 MB for the rest of its life instead of about 105 MB. ``malloc_trim(0)`` hands them
    back; it costs a few milliseconds.
    """
    if _MALLOC_TRIM is not None:
        _MALLOC_TRIM(0)


@dataclass
class CycleRunner:
    """Runs one workflow's cycle and says what happened: logs, health, outcome."""

    stats: ServiceStats
    health: Health | None = None
    redactor: Redactor = field(default_factory=Redactor)
    interval: float | None = None  # to warn when a cycle takes longer than the interval

    def cycle(self, engine: Engine, *, dry_run: bool = False) -> Outcome:
        try:
            return self._cycle(engine, dry_run=dry_run)
        finally:
            release_memory()

    def _cycle(self, engine: Engine, *, dry_run: bool) -> Outcome:
        name = engine.name
        before = _Counts.of(self.stats)
        started = time.monotonic()
        plan: Plan | None = None
        try:
            if dry_run:
                plan, report = engine.plan_only()
            else:
                report = engine.run_cycle()
        except ShutdownRequested:
            log.info("%s: cycle stopped between two requests, for shutdown", name)
            return Outcome(name, ok=False, stopped=True)
        except Exception as exc:
            self._failed(name, exc, _Counts.of(self.stats).since(before), started)
            return Outcome(name, ok=False)
        duration = time.monotonic() - started
        used = _Counts.of(self.stats).since(before)
        fields: dict[str, Any] = {
            "event": "dry_run" if dry_run else "cycle",
            "workflow": name,
            "leads": report.leads,
            "new_leads": report.new_leads,
            "tasks_created": report.tasks_created,
            "marks_written": report.marks_written,
            "marks_cleared": report.marks_cleared,
            "tasks_closed": report.tasks_closed,
            "tasks_removed": report.tasks_removed,
            "rows_flagged": report.rows_flagged,
            "footer_written": report.footer_written,
            "failed_commands": len(report.failed_commands),
            **used.fields(),
            "duration_seconds": round(duration, 3),
        }
        log.info(
            "%s: cycle %s in %.2f s: %s; %s",
            name,
            "planned" if dry_run else "done",
            duration,
            report.summary(),
            used.text(),
            extra={"fields": fields},
        )
        if self.interval is not None and duration > self.interval and not dry_run:
            # APScheduler coalesces the runs missed meanwhile into one; say so once, here,
            # instead of its "skipped: maximum number of running instances" per tick.
            log.warning(
                "%s: the cycle took %.1f s, longer than the interval (%s s): the next one "
                "starts late",
                name,
                duration,
                f"{self.interval:g}",
                extra={"fields": {"event": "slow_cycle", "workflow": name}},
            )
        for problem in report.problems:
            log.warning(
                "%s: flagged %s",
                name,
                problem,
                extra={"fields": {"event": "row_flagged", "workflow": name, "problem": problem}},
            )
        if self.health is not None and not dry_run:
            self.health.record_success(name, report)
        return Outcome(name, ok=True, report=report, plan=plan)

    def _failed(self, name: str, exc: Exception, used: _Counts, started: float) -> None:
        duration = time.monotonic() - started
        message = self.redactor.redact(str(exc))
        fields: dict[str, Any] = {
            "event": "cycle_failed",
            "workflow": name,
            "error": message,
            "error_type": type(exc).__name__,
            **used.fields(),
            "duration_seconds": round(duration, 3),
        }
        if isinstance(exc, JourneySyncError):
            # Expected failures (credentials, sharing, a service down): the message says
            # what to do, a traceback would only bury it.
            how = "the next cycle retries" if not isinstance(exc, UserError) else "fix this"
            log.error("%s: cycle failed (%s): %s", name, how, message, extra={"fields": fields})
        else:
            log.error(
                "%s: cycle failed with an unexpected error: %s: %s",
                name,
                type(exc).__name__,
                message,
                exc_info=exc,
                extra={"fields": fields},
            )
        if self.health is not None:
            self.health.record_failure(name, message)


# ----------------------------------------------------------------------- the daemon


@dataclass
class _Turn:
    """A scheduled job's request to the main thread: run this workflow's cycle."""

    workflow: str
    done: threading.Event = field(default_factory=threading.Event)


class Daemon:
    def __init__(
        self,
        engines: Sequence[Engine],
        runner: CycleRunner,
        stop: StopFlag,
        interval: float,
    ) -> None:
        self.engines = {engine.name: engine for engine in engines}
        self.runner = runner
        self.stop = stop
        self.interval = interval
        self._turns: queue.Queue[_Turn] = queue.Queue()
        self._closing = False

    def once(self, *, dry_run: bool = False) -> list[Outcome]:
        outcomes: list[Outcome] = []
        for name, engine in self.engines.items():
            if self.stop.requested:
                outcomes.append(Outcome(name, ok=False, stopped=True))
                continue
            outcomes.append(self.runner.cycle(engine, dry_run=dry_run))
        return outcomes

    def serve(self) -> None:
        """Run cycles on the schedule until a stop is requested."""
        from apscheduler.executors.pool import ThreadPoolExecutor
        from apscheduler.schedulers.background import BackgroundScheduler

        scheduler = BackgroundScheduler(
            # One waiting thread per workflow: the jobs only wait for the main thread.
            executors={"default": ThreadPoolExecutor(max_workers=len(self.engines))},
            job_defaults={
                "max_instances": 1,
                "coalesce": True,
                # A late run is still worth doing (coalesced into one), however late.
                "misfire_grace_time": None,
            },
            timezone=UTC,
        )
        first = datetime.now(UTC)
        for name in self.engines:
            scheduler.add_job(
                self._scheduled,
                "interval",
                seconds=self.interval,
                args=(name,),
                id=name,
                name=f"cycle {name}",
                next_run_time=first,
            )
        scheduler.start()
        try:
            while not self.stop.requested:
                try:
                    turn = self._turns.get(timeout=POLL)
                except queue.Empty:
                    continue
                try:
                    if not self.stop.requested:
                        self.runner.cycle(self.engines[turn.workflow])
                finally:
                    turn.done.set()
        finally:
            self._closing = True
            scheduler.shutdown(wait=False)
            while True:
                try:
                    self._turns.get_nowait().done.set()
                except queue.Empty:
                    break

    def _scheduled(self, workflow: str) -> None:
        """APScheduler's job (in its pool thread): wait while the main thread runs it."""
        if self._closing or self.stop.requested:
            return
        turn = _Turn(workflow)
        self._turns.put(turn)
        while not turn.done.wait(0.5):
            if self._closing:
                return


# ------------------------------------------------------------------------ start-up


def run(*, once: bool = False, dry_run: bool = False) -> int:
    """The ``run`` command. Exit codes: 0 stopped by a signal, or every ``--once`` cycle
    succeeded; 1 a ``--once``/``--dry-run`` cycle failed; 2 the set-up is wrong."""
    settings = load_settings()
    workflows = load_workflows(settings.workflows)  # before anything else starts
    settings.require_todoist_token()
    settings.require_google_credentials()
    redactor = Redactor(secret_values(settings))
    configure_logging(settings.log_format, redactor)
    stop = StopFlag()
    with contextlib.ExitStack() as stack:
        # From here on a signal stops the process in order, even during start-up.
        stack.enter_context(signals_stop(stop))
        if not dry_run:
            # A dry run changes nothing, so it may look over a running service's shoulder.
            stack.enter_context(state_lock(settings.state))
        state = _open_state(settings.state)
        stack.callback(state.close)
        stats = ServiceStats()
        engines = _engines(workflows, settings, state, stats, stop)
        scheduled = not (once or dry_run)
        health = Health(
            [e.name for e in engines],
            settings.interval_seconds,
            stats,
            previous_success=_previous_successes(state, engines),
        )
        server = _health_server(health, settings) if scheduled else None
        if server is not None:
            server.start()
            stack.callback(server.stop)
        runner = CycleRunner(stats, health, redactor, settings.interval_seconds)
        daemon = Daemon(engines, runner, stop, settings.interval_seconds)
        watchdog = Watchdog(stop, settings.shutdown_timeout_seconds)
        watchdog.start()
        stack.callback(watchdog.done)
        if not scheduled:
            outcomes = daemon.once(dry_run=dry_run)
            if dry_run:
                _print_dry_run(outcomes, engines)
            return 0 if all(o.ok for o in outcomes) else 1
        log.info(
            "journey-sync started: %d workflow(s) every %s s; health: %s",
            len(engines),
            f"{settings.interval_seconds:g}",
            f"{server.url}/healthz" if server is not None else "off",
            extra={
                "fields": {
                    "event": "started",
                    "workflows": [e.name for e in engines],
                    "interval_seconds": settings.interval_seconds,
                }
            },
        )
        daemon.serve()
        log.info(
            "journey-sync stopped (%s)", stop.signal_name, extra={"fields": {"event": "stopped"}}
        )
        return 0


def _open_state(path: Path) -> StateStore:
    try:
        return StateStore(path)
    except UserError as exc:
        # An unusable state database is set-up, not a failed cycle: exit 2, like the rest.
        raise SettingsError(str(exc)) from None


def _engines(
    workflows: WorkflowFile,
    settings: Settings,
    state: StateStore,
    stats: ServiceStats,
    stop: StopFlag,
) -> list[Engine]:
    try:
        engines = build_engines(
            workflows, settings, state, stats, retry=RetryPolicy(sleep=stop.sleep)
        )
    except SettingsError:
        raise
    except UserError as exc:
        raise SettingsError(str(exc)) from None  # e.g. a malformed spreadsheet id
    for engine in engines:
        engine.sheet = GuardedSheet(engine.sheet, stop)
        engine.tasks = GuardedTasks(engine.tasks, stop)
    return engines


def _previous_successes(state: StateStore, engines: Sequence[Engine]) -> dict[str, float]:
    found: dict[str, float] = {}
    for engine in engines:
        raw = state.get(engine.name, "last_good_cycle")
        if raw is None:
            continue
        try:
            found[engine.name] = datetime.fromisoformat(raw).timestamp()
        except ValueError:
            continue  # a cache value we cannot read is simply not shown
    return found


def _health_server(health: Health, settings: Settings) -> HealthServer | None:
    port = settings.health_port
    if port == 0:
        return None
    if not 0 < port < 65536:
        raise SettingsError(
            f"JOURNEY_SYNC_HEALTH_PORT={port} is not a TCP port (1-65535, or 0 for off)."
        )
    try:
        return HealthServer(health, settings.health_host, port)
    except OSError as exc:
        raise SettingsError(
            f"the health endpoint cannot listen on {settings.health_host}:{port} "
            f"({exc.strerror}): set JOURNEY_SYNC_HEALTH_PORT to a free port (0 turns it off) "
            "or JOURNEY_SYNC_HEALTH_HOST to an address of this machine."
        ) from None


# ------------------------------------------------------------------------- dry run


def _print_dry_run(outcomes: Sequence[Outcome], engines: Sequence[Engine]) -> None:
    """What each cycle would do, on stdout (the logs say the same in one line on stderr)."""
    out = sys.stdout
    for outcome in outcomes:
        if outcome.report is None:
            print(f"{outcome.workflow}: could not plan a cycle (see the error above)", file=out)
            continue
        print(f"{outcome.workflow}: {outcome.report.summary()}", file=out)
        for problem in outcome.report.problems:
            print(f"  flagged {problem}", file=out)
        if outcome.plan is not None:
            for line in _plan_lines(outcome.plan):
                print(f"  {line}", file=out)


def _plan_lines(plan: Plan) -> list[str]:
    # The plan's leads carry their ids, new ones included (ids it would assign).
    names = {lead.lead_id: lead.name for lead in plan.leads if lead.lead_id}

    def who(lead_id: str) -> str:
        return f"{names[lead_id]} ({lead_id})" if lead_id in names else lead_id

    kinds: list[tuple[str, list[str]]] = [
        (
            "create task",
            [
                f"{t.content!r} due {t.due.day.isoformat()} for {who(t.lead_id)}"
                for t in plan.creates
            ],
        ),
        ("write mark", [f"{stage} for {who(lead_id)}" for lead_id, stage in plan.marks_written]),
        ("clear mark", [f"{stage} for {who(lead_id)}" for lead_id, stage in plan.marks_cleared]),
        ("complete task", [f"{a.step_key} of {who(a.lead_id)} ({a.why})" for a in plan.closes]),
        ("remove task", [f"{a.step_key} of {who(a.lead_id)} ({a.why})" for a in plan.deletes]),
    ]
    lines: list[str] = []
    for kind, items in kinds:
        lines.extend(f"would {kind}: {item}" for item in items[:DRY_RUN_EXAMPLES])
        if len(items) > DRY_RUN_EXAMPLES:
            lines.append(f"... and {len(items) - DRY_RUN_EXAMPLES} more to {kind}")
    return lines
