"""Health and metrics: what the daemon knows about its cycles, over a small HTTP endpoint.

``/healthz`` answers 200 while every workflow is succeeding or making progress, and 503
with the reason otherwise. A workflow makes progress when a service accepts one of its
writes (a Sheets batch update, a batch of Todoist commands), even in a cycle that fails
afterwards: a first onboarding of thousands of leads that is cut short by Todoist's quota
after sending work is progressing, not failing. A workflow is unhealthy once neither a
success nor progress happened for longer than ``unhealthy_after`` seconds
(``JOURNEY_SYNC_UNHEALTHY_AFTER``, default 20 minutes; three intervals when that is
longer, or when not given). Before a workflow's first success the time is counted from
the daemon's start, so a freshly started service has that long (its grace period). One failed cycle does not make the service unhealthy
(the next one usually succeeds); failing (credentials, sharing, a service down beyond the
retry budget) for longer than the threshold does.

``/metrics`` is the Prometheus text format (version 0.0.4): cycles, failures, requests,
retries and quota waits per service, leads per stage, and the process's resident memory
and CPU time (the standard ``process_*`` names).

The server is the standard library's, in a daemon thread: two tiny read-only pages do not
justify a web framework, and a thread keeps it answering while a cycle runs.
"""

from __future__ import annotations

import logging
import math
import os
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING, Any

from .serving import BackgroundServer
from .settings import load_settings

if TYPE_CHECKING:
    # Type-only: `journey-sync health` runs every few seconds as the container's
    # HEALTHCHECK and must not pay for importing the engine, pydantic and the adapters.
    from .engine import CycleReport
    from .funnel import Funnel
    from .wiring import ServiceStats

log = logging.getLogger("journey_sync.health")

# A workflow is unhealthy once its last success (or the start) is this many intervals old.
STALE_INTERVALS = 3
CHECK_TIMEOUT = 5.0  # seconds `journey-sync health` waits for an answer


@dataclass
class _WorkflowHealth:
    cycles: int = 0
    failures: int = 0
    last_success: float | None = None  # monotonic clock, for ages
    last_success_wall: float | None = None  # Unix time, for the metric
    last_progress: float | None = None  # monotonic clock: a write a service accepted
    last_error: str | None = None
    leads: int | None = None
    figures: Funnel | None = None


class Health:
    """The daemon's bookkeeping of its cycles; thread-safe (the HTTP server reads it).

    ``clock`` is monotonic seconds (ages must not jump with the wall clock); ``wall`` is
    Unix time, for the last-success timestamp the metrics show.
    """

    def __init__(
        self,
        workflows: Sequence[str],
        interval: float,
        stats: ServiceStats | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
        previous_success: Mapping[str, float] | None = None,
        unhealthy_after: float | None = None,
    ) -> None:
        self.interval = interval
        self.unhealthy_after = unhealthy_after
        self.stats = stats
        self._clock = clock
        self._wall = wall
        self._lock = threading.Lock()
        self.started = clock()
        self._workflows = {name: _WorkflowHealth() for name in workflows}
        # A success recorded by an earlier process (the state store's last_good_cycle) is
        # shown as the last-success timestamp, but does not count for /healthz: the grace
        # period from this start covers the time until this process's first cycle.
        for name, when in (previous_success or {}).items():
            if name in self._workflows:
                self._workflows[name].last_success_wall = when

    @property
    def stale_after(self) -> float:
        """Seconds without a success or progress after which a workflow is unhealthy:
        ``unhealthy_after``, or three intervals if that is longer (a slow schedule is not
        a failing one)."""
        intervals = STALE_INTERVALS * self.interval
        if self.unhealthy_after is not None and self.unhealthy_after > intervals:
            return self.unhealthy_after
        return intervals

    def _threshold_text(self) -> str:
        if self.unhealthy_after is not None and self.unhealthy_after > self.interval * 3:
            return f"more than {_seconds(self.stale_after)}"
        return f"more than {STALE_INTERVALS} intervals ({_seconds(self.stale_after)})"

    def record_progress(self, workflow: str) -> None:
        """A service accepted one of the workflow's writes (called from inside a cycle)."""
        with self._lock:
            entry = self._workflows.setdefault(workflow, _WorkflowHealth())
            entry.last_progress = self._clock()

    def record_success(self, workflow: str, report: CycleReport) -> None:
        with self._lock:
            entry = self._workflows.setdefault(workflow, _WorkflowHealth())
            entry.cycles += 1
            entry.last_success = self._clock()
            entry.last_success_wall = self._wall()
            entry.last_error = None
            entry.leads = report.leads
            if report.figures is not None:
                entry.figures = report.figures

    def record_failure(self, workflow: str, error: str) -> None:
        with self._lock:
            entry = self._workflows.setdefault(workflow, _WorkflowHealth())
            entry.cycles += 1
            entry.failures += 1
            entry.last_error = error

    def status(self) -> tuple[bool, str]:
        """(healthy, text): one line per workflow, saying why when it is not healthy."""
        now = self._clock()
        healthy = True
        lines: list[str] = []
        with self._lock:
            for name, entry in self._workflows.items():
                if entry.last_success is not None:
                    what = f"last successful cycle {_ago(now - entry.last_success)}"
                else:
                    what = f"no successful cycle yet (started {_ago(now - self.started)})"
                alive = entry.last_success if entry.last_success is not None else self.started
                if entry.last_progress is not None and entry.last_progress > alive:
                    alive = entry.last_progress
                    what += f", last write accepted {_ago(now - entry.last_progress)}"
                if now - alive > self.stale_after:
                    healthy = False
                    line = f"{name}: unhealthy: {what}, {self._threshold_text()}"
                    if entry.last_error:
                        line += f"; last error: {entry.last_error}"
                else:
                    line = f"{name}: ok: {what}"
                    if entry.last_error:
                        line += f"; the last cycle failed: {entry.last_error}"
                lines.append(line)
        return healthy, ("ok" if healthy else "unhealthy") + "\n" + "\n".join(lines) + "\n"

    def metrics(self) -> str:
        """All metrics in the Prometheus text exposition format."""
        with self._lock:
            entries = {name: _copy(entry) for name, entry in self._workflows.items()}
        out: list[str] = []

        def family(name: str, kind: str, help_text: str, samples: list[tuple[str, float]]) -> None:
            out.append(f"# HELP {name} {help_text}")
            out.append(f"# TYPE {name} {kind}")
            out.extend(f"{name}{labels} {_number(value)}" for labels, value in samples)

        family(
            "journey_sync_cycles_total",
            "counter",
            "Sync cycles run, successful or not.",
            [(_labels(workflow=n), e.cycles) for n, e in entries.items()],
        )
        family(
            "journey_sync_cycle_failures_total",
            "counter",
            "Sync cycles that failed.",
            [(_labels(workflow=n), e.failures) for n, e in entries.items()],
        )
        services: list[tuple[str, int, int]] = []
        if self.stats is not None:
            for service, counted in (
                ("sheets", self.stats.sheets),
                ("todoist", self.stats.todoist),
            ):
                services.append((service, counted.requests, counted.retries))
        family(
            "journey_sync_requests_total",
            "counter",
            "HTTP requests sent, per service (each retry counts as a request).",
            [(_labels(service=s), requests) for s, requests, _ in services],
        )
        family(
            "journey_sync_retries_total",
            "counter",
            "HTTP requests that were retries, per service.",
            [(_labels(service=s), retries) for s, _, retries in services],
        )
        waits: list[tuple[str, int, float]] = []
        if self.stats is not None:
            for service, counted in (
                ("sheets", self.stats.sheets),
                ("todoist", self.stats.todoist),
            ):
                waits.append((service, counted.quota_waits, counted.quota_wait_seconds))
        family(
            "journey_sync_quota_waits_total",
            "counter",
            "Waits on a quota answer (HTTP 429) before a retry, per service.",
            [(_labels(service=s), count) for s, count, _ in waits],
        )
        family(
            "journey_sync_quota_wait_seconds_total",
            "counter",
            "Seconds spent waiting on quota answers (HTTP 429), per service.",
            [(_labels(service=s), seconds) for s, _, seconds in waits],
        )
        rss, cpu = process_figures()
        if rss is not None:
            family(
                "process_resident_memory_bytes",
                "gauge",
                "Resident memory size of the journey-sync process in bytes.",
                [("", rss)],
            )
        family(
            "process_cpu_seconds_total",
            "counter",
            "User and system CPU time of the journey-sync process in seconds.",
            [("", cpu)],
        )
        family(
            "journey_sync_sheet_leads",
            "gauge",
            "Leads in the sheet at the last successful cycle.",
            [(_labels(workflow=n), e.leads) for n, e in entries.items() if e.leads is not None],
        )
        family(
            "journey_sync_leads",
            "gauge",
            "Leads that reached each stage, at the last successful cycle.",
            [
                (_labels(workflow=n, stage=stage.key), stage.reached)
                for n, e in entries.items()
                if e.figures is not None
                for stage in e.figures.stages
            ],
        )
        family(
            "journey_sync_last_success_timestamp_seconds",
            "gauge",
            "Unix time of the last successful cycle.",
            [
                (_labels(workflow=n), e.last_success_wall)
                for n, e in entries.items()
                if e.last_success_wall is not None
            ],
        )
        family(
            "journey_sync_healthy",
            "gauge",
            "1 while /healthz answers 200, else 0.",
            [("", 1 if self.status()[0] else 0)],
        )
        return "\n".join(out) + "\n"


def process_figures() -> tuple[int | None, float]:
    """(resident memory in bytes, or None where unknown; CPU seconds, user + system)."""
    times = os.times()
    cpu = times.user + times.system
    try:
        # Linux: the second field of /proc/self/statm is the resident set, in pages.
        with open("/proc/self/statm", encoding="ascii") as statm:
            pages = int(statm.read().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE"), cpu
    except (OSError, ValueError, IndexError):
        return None, cpu


def _copy(entry: _WorkflowHealth) -> _WorkflowHealth:
    return _WorkflowHealth(**vars(entry))


def _labels(**labels: str) -> str:
    inner = ",".join(f'{key}="{_escape(value)}"' for key, value in labels.items())
    return "{" + inner + "}"


def _escape(value: str) -> str:
    # The exposition format's three escapes for label values.
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _number(value: float) -> str:
    if isinstance(value, int):
        return str(value)
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value))


def _seconds(value: float) -> str:
    return f"{value:.0f} s" if value >= 10 else f"{value:.1f} s"


def _ago(age: float) -> str:
    return f"{_seconds(max(0.0, age))} ago"


# --------------------------------------------------------------------------- server


class HealthServer(BackgroundServer):
    """``/healthz`` and ``/metrics`` over HTTP, served from a daemon thread."""

    def __init__(self, health: Health, host: str, port: int) -> None:
        self.health = health
        super().__init__(host, port, _handler_for(health), name="health endpoint")


def _handler_for(health: Health) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "journey-sync"
        sys_version = ""

        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path == "/healthz":
                healthy, text = health.status()
                self._answer(200 if healthy else 503, text, "text/plain; charset=utf-8")
            elif path == "/metrics":
                self._answer(200, health.metrics(), "text/plain; version=0.0.4; charset=utf-8")
            else:
                self._answer(404, "not found: try /healthz or /metrics\n", "text/plain")

        def _answer(self, status: int, text: str, content_type: str) -> None:
            body = text.encode("utf-8")
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            # Probes every few seconds would drown the cycle lines; keep them at debug.
            log.debug("health endpoint: " + format, *args)

    return Handler


# --------------------------------------------------------------------------- client


def check(url: str | None = None, *, timeout: float = CHECK_TIMEOUT) -> int:
    """``journey-sync health``: 0 when the service says it is healthy, else 1.

    Prints the service's answer, so ``docker inspect`` shows why a check failed.
    """
    if url is None:
        settings = load_settings()
        if settings.health_port == 0:
            print(
                "journey-sync health: the health endpoint is turned off "
                "(JOURNEY_SYNC_HEALTH_PORT=0): set a port, or pass --url",
                file=sys.stderr,
            )
            return 1
        # A wildcard bind (the container's 0.0.0.0) is reached on loopback; a specific
        # address only on itself.
        host = settings.health_host
        if host in ("", "0.0.0.0", "::"):
            host = "127.0.0.1"
        if ":" in host:
            host = f"[{host}]"
        url = f"http://{host}:{settings.health_port}/healthz"
    try:
        with urllib.request.urlopen(url, timeout=timeout) as answer:
            print(answer.read().decode("utf-8", "replace"), end="")
            return 0 if answer.status == 200 else 1
    except urllib.error.HTTPError as exc:
        print(exc.read().decode("utf-8", "replace"), end="")
        return 1
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        print(f"journey-sync health: no answer from {url} ({reason})", file=sys.stderr)
        return 1
