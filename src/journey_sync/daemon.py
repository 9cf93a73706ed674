"""``journey-sync run``: start-up, then every workflow's cycle on an interval, until SIGTERM
or SIGINT.

Start-up checks everything a person must fix before anything runs: the workflow file (same
messages as ``validate``), the secrets, the state lock, the state database and the health
port. Each failure is a ``SettingsError`` or ``WorkflowFileError``: exit 2.

The daemon's other jobs live in their own modules:

* ``lifecycle``: the stop flag, signals, the guarded gateways, the watchdog, the state lock;
* ``cycles``: running one cycle, its log line, what it tells ``health``;
* ``schedule``: APScheduler's interval jobs, with every cycle run on the main thread;
* ``memory``: ``malloc_trim`` after each cycle;
* ``dryrun``: what ``--dry-run`` prints.

A failed cycle is logged and recorded for ``/healthz``; the next interval tries again and
the other workflows carry on.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path

from .cycles import CycleRunner, Outcome
from .dryrun import print_dry_run
from .engine import Engine
from .errors import SettingsError, UserError
from .health import Health, HealthServer
from .intake import Intake, intake_server, open_intake
from .intake_store import intake_path
from .lifecycle import StopFlag, Watchdog, signals_stop, state_lock
from .logs import Redactor, configure_logging, secret_values
from .schedule import Daemon
from .settings import Settings, load_settings
from .state import StateStore
from .wiring import ServiceStats, build_engines
from .workflow import Workflow, WorkflowFile, load_workflows

__all__ = ["Outcome", "run"]

log = logging.getLogger("journey_sync.daemon")


# ------------------------------------------------------------------------ start-up


def run(
    *,
    once: bool = False,
    dry_run: bool = False,
    show_all: bool = False,
    accept_vanished_tasks: bool = False,
) -> int:
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
        names = [w.name for w in workflows.workflows]
        scheduled = not (once or dry_run)
        health = Health(
            names,
            settings.interval_seconds,
            stats,
            previous_success=_previous_successes(state, names),
            unhealthy_after=settings.unhealthy_after_seconds,
        )
        engines = _engines(workflows, settings, state, stats, stop, health)
        for engine in engines:
            # Asked for once, after the cycle refused to read a partial Todoist answer.
            engine.accept_vanished_tasks = accept_vanished_tasks
        server = _health_server(health, settings) if scheduled else None
        if server is not None:
            server.start()
            stack.callback(server.stop)
        runner = CycleRunner(stats, health, redactor, settings.interval_seconds)
        # The intake (leads from web forms, Todoist webhooks): its accepted leads are
        # written before each cycle, and a lead or a webhook asks for a cycle at once.
        intake = None if dry_run else open_intake(settings, workflows.workflows)
        if intake is not None:
            stack.callback(intake.store.close)
        # `journey-sync add-lead` may keep a lead while the daemon runs, and may create
        # the intake file to do so.
        shell = None if dry_run else _IntakeFile(settings, workflows.workflows, stack, intake)
        daemon = Daemon(
            engines,
            runner,
            stop,
            settings.interval_seconds,
            before_cycle=shell.before_cycle if shell is not None else None,
            after_cycle=shell.after_cycle if shell is not None else None,
            idle=shell.kept_by_the_shell if shell is not None and scheduled else None,
        )
        intake_url = "off"
        if intake is not None and scheduled and settings.intake_port != 0:
            intake.trigger = daemon.request_cycle
            listening = intake_server(intake, settings)
            listening.start()
            stack.callback(listening.stop)
            intake_url = listening.url
        watchdog = Watchdog(stop, settings.shutdown_timeout_seconds)
        watchdog.start()
        stack.callback(watchdog.done)
        if not scheduled:
            outcomes = daemon.once(dry_run=dry_run)
            if dry_run:
                print_dry_run(outcomes, show_all=show_all)
            return 0 if all(o.ok for o in outcomes) else 1
        log.info(
            "journey-sync started: %d workflow(s) every %s s; health: %s; intake: %s",
            len(engines),
            f"{settings.interval_seconds:g}",
            f"{server.url}/healthz" if server is not None else "off",
            intake_url,
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
    health: Health,
) -> list[Engine]:
    try:
        return build_engines(
            workflows, settings, state, stats, stop=stop, on_write=health.record_progress
        )
    except SettingsError:
        raise
    except UserError as exc:
        raise SettingsError(str(exc)) from None  # e.g. a malformed spreadsheet id


def _previous_successes(state: StateStore, names: Sequence[str]) -> dict[str, float]:
    found: dict[str, float] = {}
    for name in names:
        raw = state.get(name, "last_good_cycle")
        if raw is None:
            continue
        try:
            found[name] = datetime.fromisoformat(raw).timestamp()
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


class _IntakeFile:
    """The intake file: opened at start, or at the first look that finds it (``add-lead``
    may create it while the daemon runs with its intake port off).

    ``kept_by_the_shell`` looks, at most once a second, whether ``journey-sync add-lead``
    kept a lead since the last look, and names its workflow so that the daemon runs that
    cycle at once, as a ``POST /leads`` would: the lead's tasks come within seconds, not
    at the next interval. A look is one ``stat`` of the file and its write-ahead log; the
    file is queried only when they changed.
    """

    EVERY = 1.0  # seconds between two looks

    def __init__(
        self,
        settings: Settings,
        workflows: Sequence[Workflow],
        stack: contextlib.ExitStack,
        intake: Intake | None,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings, self.workflows, self.stack = settings, workflows, stack
        self.intake = intake
        self.path = intake_path(settings.state)
        self.clock = clock
        self._next_look = 0.0
        self._signature = self._stat()
        # Leads kept before the start are the first cycle's business, not the look's.
        self._seen = self._last_rowid() if intake is not None else 0

    def before_cycle(self, engine: Engine) -> None:
        if self._open() is not None:
            assert self.intake is not None
            self.intake.before_cycle(engine)

    def after_cycle(self, engine: Engine) -> None:
        if self.intake is not None:
            self.intake.learn(engine)

    def kept_by_the_shell(self) -> set[str]:
        now = self.clock()
        if now < self._next_look:
            return set()
        self._next_look = now + self.EVERY
        signature = self._stat()
        if signature == self._signature:
            return set()
        self._signature = signature
        intake = self._open()
        if intake is None:
            return set()
        asked: set[str] = set()
        for rowid, lead_id, workflow in intake.store.accepted_after(self._seen):
            self._seen = max(self._seen, rowid)
            if lead_id in intake.accepted_here:
                intake.accepted_here.discard(lead_id)  # its cycle was asked for already
            else:
                asked.add(workflow)
        return asked

    def _open(self) -> Intake | None:
        if self.intake is None:
            self.intake = open_intake(self.settings, self.workflows)
            if self.intake is not None:
                self.stack.callback(self.intake.store.close)
        return self.intake

    def _last_rowid(self) -> int:
        assert self.intake is not None
        found = self.intake.store.accepted_after(0)
        return found[-1][0] if found else 0

    def _stat(self) -> tuple[tuple[int, int] | None, ...]:
        out: list[tuple[int, int] | None] = []
        for path in (self.path, self.path.with_name(self.path.name + "-wal")):
            try:
                found = path.stat()
            except OSError:
                out.append(None)
            else:
                out.append((found.st_mtime_ns, found.st_size))
        return tuple(out)
