"""The journey-sync side of the benchmark: one process, the real wiring, cycles on request.

``bench.run`` starts this module as a fresh interpreter (``python -m bench.worker``, never a
fork of the benchmark, which holds the sandbox and its seeded data) so that its CPU time and
resident memory are journey-sync's alone. It builds its engines exactly as the daemon does
(``load_settings`` from the environment, ``wiring.build_engines``: the real Google Sheets and
Todoist gateways over HTTP), keeps them for its whole life, so caches stay warm from one
cycle to the next, and runs each cycle through the daemon's own ``CycleRunner``, so whatever
the daemon does around a cycle is measured too.

Protocol: one JSON object per line on stdin (``{"op": "cycle"}``, with ``"profile": PATH`` to
write that cycle's cProfile stats, or ``{"op": "exit"}``), one JSON object per line in answer
on the original stdout. Everything else the process prints goes to stderr, so a stray
``print`` cannot break the protocol.

This module imports nothing from the sandbox.
"""

from __future__ import annotations

import cProfile
import json
import os
import resource
import sys
import time
from pathlib import Path
from typing import Any, TextIO

from journey_sync.cycles import CycleRunner
from journey_sync.engine import CycleReport, Engine
from journey_sync.settings import load_settings
from journey_sync.state import StateStore
from journey_sync.wiring import ServiceStats, build_engines
from journey_sync.workflow import load_workflows

_CLEAR_REFS = Path("/proc/self/clear_refs")
_STATUS = Path("/proc/self/status")


def _status_kb(field: str) -> int | None:
    """A ``kB`` figure from /proc/self/status (Linux), e.g. VmRSS or VmHWM."""
    try:
        for line in _STATUS.read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


def ru_maxrss_kb() -> int:
    """``getrusage``'s peak RSS in kB (Linux reports kB, macOS bytes)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak // 1024 if sys.platform == "darwin" else peak


class PeakRss:
    """The process's peak RSS over its life, and over each cycle on its own.

    Linux: from VmHWM in /proc/self/status, never ``ru_maxrss``. The kernel carries the
    pre-exec memory map's high-water mark into ``ru_maxrss`` at exec, and this process was
    spawned by the benchmark, which holds the sandbox: a process whose VmHWM was 150 MB
    reported an ``ru_maxrss`` of 1 GB, the benchmark's own size. Each cycle gets its own
    window: writing 5 to /proc/self/clear_refs resets VmHWM to the current RSS; the lifetime
    peak is then the maximum over all windows, kept here.

    Elsewhere: ``ru_maxrss`` (lifetime only; no per-cycle figure).
    """

    def __init__(self) -> None:
        self.procfs = _status_kb("VmHWM") is not None
        self.windowed = False
        self.lifetime_kb = 0
        self._fold()

    def start_window(self) -> None:
        self._fold()
        if not self.procfs:
            return
        try:
            _CLEAR_REFS.write_text("5")
        except OSError:
            self.windowed = False
        else:
            self.windowed = True

    def window_kb(self) -> int | None:
        """The peak since ``start_window`` (None where it cannot be told apart)."""
        self._fold()
        return _status_kb("VmHWM") if self.windowed else None

    def _fold(self) -> None:
        now = (_status_kb("VmHWM") or 0) if self.procfs else ru_maxrss_kb()
        self.lifetime_kb = max(self.lifetime_kb, now)


class CycleFailed(Exception):
    pass


def _stats(stats: ServiceStats) -> dict[str, int]:
    return {
        "sheets_reads": stats.sheets.reads,
        "sheets_writes": stats.sheets.writes,
        "todoist_requests": stats.todoist.requests,
        "retries": stats.sheets.retries + stats.todoist.retries,
    }


class Worker:
    def __init__(self) -> None:
        settings = load_settings()
        workflows = load_workflows(settings.workflows)
        self.state = StateStore(settings.state)
        self.stats = ServiceStats()
        self.engines: list[Engine] = build_engines(workflows, settings, self.state, self.stats)
        self.runner = CycleRunner(self.stats)
        self.peak = PeakRss()

    def cycle(self, profile: Path | None = None) -> dict[str, Any]:
        """One cycle of every workflow, measured: CPU, wall, peak RSS, client-side counts.

        With ``profile``, the cycle runs under cProfile and its stats are written there
        (its times are then inflated by the profiler). The profiler counts CPU time, as the
        targets do: time spent waiting for the sandbox's answers is not the process's cost.
        """
        profiler = cProfile.Profile(time.process_time) if profile is not None else None
        self.peak.start_window()
        before = _stats(self.stats)
        usage = resource.getrusage(resource.RUSAGE_SELF)
        cpu, wall = time.process_time(), time.perf_counter()
        if profiler is not None:
            profiler.enable()
        outcomes = [self.runner.cycle(engine) for engine in self.engines]
        if profiler is not None:
            profiler.disable()
        wall = time.perf_counter() - wall
        cpu = time.process_time() - cpu
        if profiler is not None and profile is not None:
            profile.parent.mkdir(parents=True, exist_ok=True)
            profiler.dump_stats(profile)
        after_usage = resource.getrusage(resource.RUSAGE_SELF)
        after = _stats(self.stats)
        peak = self.peak.window_kb()
        failed = [o.workflow for o in outcomes if not o.ok or o.report is None]
        if failed:
            raise CycleFailed(f"the cycle of {', '.join(failed)} failed (its log is above)")
        reports: list[CycleReport] = [o.report for o in outcomes if o.report is not None]
        return {
            "wall_s": wall,
            "cpu_s": cpu,
            "user_s": after_usage.ru_utime - usage.ru_utime,
            "system_s": after_usage.ru_stime - usage.ru_stime,
            # Peak RSS during this cycle (None where the kernel cannot reset the peak).
            "cycle_peak_rss_kb": peak,
            "rss_after_kb": _status_kb("VmRSS"),
            "client": {key: after[key] - before[key] for key in after},
            "reports": [
                {
                    "leads": r.leads,
                    "new_leads": r.new_leads,
                    "tasks_created": r.tasks_created,
                    "marks_written": r.marks_written,
                    "marks_cleared": r.marks_cleared,
                    "tasks_closed": r.tasks_closed,
                    "tasks_removed": r.tasks_removed,
                    "tasks_updated": r.tasks_updated,
                    "footer_written": r.footer_written,
                    "failed_commands": len(r.failed_commands),
                    "problems": len(r.problems),
                    "summary": r.summary(),
                }
                for r in reports
            ],
        }

    def close(self) -> None:
        for engine in self.engines:
            close = getattr(engine.tasks, "close", None)
            if callable(close):
                close()
        self.state.close()


def serve(commands: TextIO, answers: TextIO) -> None:
    worker = Worker()
    # RSS with journey-sync imported and wired, before any cycle: the floor of the figures.
    _send(answers, {"ready": True, "startup_rss_kb": _status_kb("VmRSS"), "pid": os.getpid()})
    for line in commands:
        command = json.loads(line)
        op = command.get("op")
        if op == "cycle":
            profile = command.get("profile")
            try:
                _send(answers, {"ok": True, **worker.cycle(Path(profile) if profile else None)})
            except Exception as exc:  # reported to the benchmark, which stops there
                _send(answers, {"ok": False, "error": f"{type(exc).__name__}: {exc}"})
        elif op == "exit":
            worker.close()
            worker.peak.window_kb()
            usage = resource.getrusage(resource.RUSAGE_SELF)
            _send(
                answers,
                {
                    "ok": True,
                    "peak_rss_kb": worker.peak.lifetime_kb,
                    "cpu_total_s": usage.ru_utime + usage.ru_stime,
                },
            )
            return
        else:
            _send(answers, {"ok": False, "error": f"unknown op {op!r}"})


def _send(answers: TextIO, message: dict[str, Any]) -> None:
    answers.write(json.dumps(message) + "\n")
    answers.flush()


def main() -> None:
    # The protocol keeps the real stdout; fd 1 (print, logging to stdout) goes to stderr.
    answers = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    serve(sys.stdin, answers)


if __name__ == "__main__":
    main()
