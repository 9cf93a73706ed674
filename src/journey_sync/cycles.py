"""Running one workflow's cycle and saying what happened: the log line, health, the outcome."""

from __future__ import annotations

import dataclasses
import logging
import time
from dataclasses import dataclass, field
from typing import Any

from .engine import CycleReport, Engine
from .errors import JourneySyncError, UserError
from .health import Health
from .lifecycle import ShutdownRequested
from .logs import Redactor
from .memory import collector_paused, release_memory
from .plan import Plan
from .wiring import ServiceStats

log = logging.getLogger("journey_sync.daemon")


@dataclass
class Outcome:
    workflow: str
    ok: bool
    stopped: bool = False
    report: CycleReport | None = None
    plan: Plan | None = None


@dataclass
class RequestCounts:
    """Requests (and retries) per service, to tell what one cycle cost."""

    sheets: int = 0
    sheets_retries: int = 0
    todoist: int = 0
    todoist_retries: int = 0

    @classmethod
    def of(cls, stats: ServiceStats) -> RequestCounts:
        return cls(
            stats.sheets.requests,
            stats.sheets.retries,
            stats.todoist.requests,
            stats.todoist.retries,
        )

    def since(self, before: RequestCounts) -> RequestCounts:
        return RequestCounts(
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


def cycle_fields(report: CycleReport, *, dry_run: bool) -> dict[str, Any]:
    """The structured log fields of a finished cycle (the JSON log line's figures).

    Every count the report carries, so a new kind of decision shows up here without an
    edit: the report's int and bool fields, and how many Todoist commands failed.
    """
    fields: dict[str, Any] = {
        "event": "dry_run" if dry_run else "cycle",
        "workflow": report.workflow,
    }
    for item in dataclasses.fields(report):
        value = getattr(report, item.name)
        if item.name != "dry_run" and isinstance(value, int | bool):
            fields[item.name] = value
    fields["failed_commands"] = len(report.failed_commands)
    return fields


@dataclass
class CycleRunner:
    """Runs one workflow's cycle and says what happened: logs, health, outcome."""

    stats: ServiceStats
    health: Health | None = None
    redactor: Redactor = field(default_factory=Redactor)
    interval: float | None = None  # to warn when a cycle takes longer than the interval
    # Each workflow's rows flagged by its last cycle (logged as warnings once).
    _flagged: dict[str, frozenset[str]] = field(default_factory=dict, init=False, repr=False)

    def cycle(self, engine: Engine, *, dry_run: bool = False) -> Outcome:
        try:
            with collector_paused():
                return self._cycle(engine, dry_run=dry_run)
        finally:
            release_memory()

    def _cycle(self, engine: Engine, *, dry_run: bool) -> Outcome:
        name = engine.name
        before = RequestCounts.of(self.stats)
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
            self._failed(name, exc, RequestCounts.of(self.stats).since(before), started)
            return Outcome(name, ok=False)
        duration = time.monotonic() - started
        used = RequestCounts.of(self.stats).since(before)
        fields = {
            **cycle_fields(report, dry_run=dry_run),
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
        # A flagged row is a warning the first cycle it is seen, not every cycle after
        # (a minute apart, that buried the log under one line per bad row); its note in
        # the sheet stays until the row is fixed.
        if not dry_run:
            earlier = self._flagged.get(name, frozenset())
            self._flagged[name] = frozenset(report.problems)
        else:
            earlier = frozenset()
        for problem in report.problems:
            log.log(
                logging.DEBUG if problem in earlier else logging.WARNING,
                "%s: flagged %s",
                name,
                problem,
                extra={"fields": {"event": "row_flagged", "workflow": name, "problem": problem}},
            )
        if self.health is not None and not dry_run:
            self.health.record_success(name, report)
        return Outcome(name, ok=True, report=report, plan=plan)

    def _failed(self, name: str, exc: Exception, used: RequestCounts, started: float) -> None:
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
