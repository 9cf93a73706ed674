"""The schedule: APScheduler decides *when* each workflow's cycle runs, the main thread runs it.

One interval job per workflow, ``max_instances=1`` (a cycle never overlaps its own next
run), ``coalesce`` (runs missed while a cycle was slow become one). The main thread runs
every cycle itself, one at a time: the state store's SQLite connection belongs to the
thread that opened it, and both services meter their quotas per account (Google per
service account, Todoist per token), so running workflows in parallel would only make
them compete for the same quota. Each scheduled job hands its workflow to the main thread
and waits until its cycle is done, so APScheduler's own bookkeeping (instances,
coalescing, misfires) stays true.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from .cycles import CycleRunner, Outcome
from .engine import Engine
from .lifecycle import POLL, StopFlag

log = logging.getLogger("journey_sync.daemon")

# Seconds a cycle asked for now (a lead posted, a Todoist webhook) waits for more such
# requests, so that a burst of events becomes one cycle.
DEBOUNCE = 0.2


@dataclass
class _Turn:
    """A scheduled job's request to the main thread: run this workflow's cycle."""

    workflow: str
    done: threading.Event = field(default_factory=threading.Event)
    urgent: bool = False  # asked for by ``request_cycle``, not by the interval


class Daemon:
    def __init__(
        self,
        engines: Sequence[Engine],
        runner: CycleRunner,
        stop: StopFlag,
        interval: float,
        *,
        before_cycle: Callable[[Engine], None] | None = None,
        after_cycle: Callable[[Engine], None] | None = None,
        idle: Callable[[], Iterable[str]] | None = None,
        debounce: float = DEBOUNCE,
    ) -> None:
        self.engines = {engine.name: engine for engine in engines}
        self.runner = runner
        self.stop = stop
        self.interval = interval
        # Called on the main thread around every cycle (the intake writes its leads
        # before, and learns the workflow's Todoist project after); errors are logged.
        self.before_cycle = before_cycle
        self.after_cycle = after_cycle
        self.debounce = debounce
        # Called on the main thread while it waits between cycles (every POLL seconds):
        # the workflows it names get a cycle now, as if ``request_cycle`` had been called
        # (the daemon looks there for leads ``journey-sync add-lead`` kept).
        self.idle = idle
        self._turns: queue.Queue[_Turn] = queue.Queue()
        self._closing = False
        self._urgent: set[str] = set()  # workflows with a requested cycle not yet begun
        self._urgent_lock = threading.Lock()

    def request_cycle(self, workflow: str) -> None:
        """Run ``workflow``'s cycle now, without waiting for the interval (thread-safe).

        Requests within ``debounce`` seconds of each other, or made while one is waiting
        for its turn, become one cycle; a request made while that cycle runs gets one more
        afterwards, since the running cycle may have read before the event."""
        if workflow not in self.engines or self._closing or self.stop.requested:
            return
        with self._urgent_lock:
            if workflow in self._urgent:
                return
            self._urgent.add(workflow)
        timer = threading.Timer(self.debounce, self._turns.put, (_Turn(workflow, urgent=True),))
        timer.daemon = True
        timer.start()

    def _run(self, engine: Engine, *, dry_run: bool = False) -> Outcome:
        """One cycle, with the hooks around it (main thread)."""
        if self.before_cycle is not None and not dry_run:
            try:
                self.before_cycle(engine)
            except Exception:
                log.exception("%s: before the cycle", engine.name)
        outcome = self.runner.cycle(engine, dry_run=dry_run)
        if self.after_cycle is not None and not dry_run:
            try:
                self.after_cycle(engine)
            except Exception:
                log.exception("%s: after the cycle", engine.name)
        return outcome

    def once(self, *, dry_run: bool = False) -> list[Outcome]:
        outcomes: list[Outcome] = []
        for name, engine in self.engines.items():
            if self.stop.requested:
                outcomes.append(Outcome(name, ok=False, stopped=True))
                continue
            outcomes.append(self._run(engine, dry_run=dry_run))
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
                    self._look_while_idle()
                    continue
                if turn.urgent:
                    with self._urgent_lock:
                        self._urgent.discard(turn.workflow)
                try:
                    if not self.stop.requested:
                        self._run(self.engines[turn.workflow])
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

    def _look_while_idle(self) -> None:
        if self.idle is None:
            return
        try:
            asked = list(self.idle())
        except Exception:
            log.exception("looking for leads kept by journey-sync add-lead")
            return
        for workflow in asked:
            self.request_cycle(workflow)

    def _scheduled(self, workflow: str) -> None:
        """APScheduler's job (in its pool thread): wait while the main thread runs it."""
        if self._closing or self.stop.requested:
            return
        turn = _Turn(workflow)
        self._turns.put(turn)
        while not turn.done.wait(0.5):
            if self._closing:
                return
