"""The benchmark: requests, CPU and memory per cycle, from 100 to 10,000 leads.

    python -m bench.run [--sizes 100,1000,10000] [--json PATH] [--seed N]
                        [--latency-events 50] [--latency-interval 60]

For each size, a sandbox (journey-sync's emulators of Google Sheets, Google sign-in and
Todoist) is seeded in this process with that many leads of the example workflow, and
journey-sync runs in a separate process (``bench.worker``) with its real wiring: the same
settings, gateways and engine as the daemon, over HTTP on loopback. That process runs, with
its caches kept warm between cycles as the daemon keeps them:

1. onboarding: the first cycle, every lead new;
2. the first quiet cycle: nothing changed, but Todoist's incremental sync hands back the
   tasks onboarding created (their echo), which the cycle takes in;
3. a steady cycle: nothing changed;
4. a cycle after one lead changed: one task ticked through the emulated Todoist, which
   journey-sync answers with one stage mark;
5. a cycle after 1% of the leads changed: tasks ticked through the emulated Todoist, stage
   marks typed through the emulated Sheets, one lead departed.

Right after onboarding, a second freshly started process runs one cycle on a copy of the
state file as onboarding left it (a daemon restarted in the middle of its life: caches cold,
the whole echo to take in). At the end, a third runs one more quiet cycle (a daemon restarted
on a synced sheet: caches cold, so it also fetches the spreadsheet's metadata and a token).

Every cycle is judged (``figures.judge``): request counts at every size; from 1,000 leads
up, each cycle's CPU and each process's peak RSS against issue #13's targets (set at 10,000
leads, scaled linearly above), and a one-lead cycle's CPU against a quiet cycle's.

Request counts are the sandbox's own server-side counters, read in this process around each
cycle (every request that reached the emulated API, retries included); journey-sync's own
counters (``SheetsStats``, ``RetryStats``) are recorded beside them and must agree. CPU is
``time.process_time()`` of the journey-sync process over the cycle; memory is its resident
set size (peak per cycle through Linux's resettable high-water mark, and over the process's
life). Wall times include the emulators' own work and are only indicative.

After the sizes, ``bench.latency`` measures issue 15's two latencies (web form to first
Todoist task, Todoist completion to mark in the sheet), median and worst over
``--latency-events`` events, with webhooks and with interval polling (``--latency-events 0``
skips them). Target with webhooks: under 5 s.

Nothing here is a test: CI times nothing. ``tests/bench`` runs the 100-lead size and checks
the request counts (and a few latency events, that they are measured and printed).
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import platform
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .figures import (
    AFTER_ONBOARDING,
    CYCLE_LABELS,
    FIRST_QUIET,
    ONBOARDING,
    ONE_LEAD,
    ONE_PERCENT,
    RESTART,
    STEADY,
    Cycle,
    SizeResult,
    judge,
    repeated,
    size_table,
    summary_markdown,
)
from .latency import LatencyError, LatencyResult, latency_table
from .latency import measure as measure_latency
from .scenario import COUNTERS, REPO, BenchError, WorkerProcess, World, world

DEFAULT_SIZES = (100, 1_000, 10_000)
# The steady and the one-lead cycles are each run this many times and judged on the median
# CPU (``figures.repeated``): a single sample of a 0.03 s cycle is mostly noise.
DEFAULT_REPEAT = 5
JSON_SCHEMA = 1
COUNTS_SOURCE = (
    "server side: the sandbox's traffic counters (the sandbox runs in the benchmark's "
    "process, journey-sync in its own); journey-sync's SheetsStats/RetryStats recorded "
    "beside them as 'client'"
)

Progress = Callable[[str], None]


def _mb(kb: object) -> float | None:
    return round(kb / 1024, 1) if isinstance(kb, int | float) else None


def _cycle(before: dict[str, int], after: dict[str, int], answer: dict[str, Any]) -> Cycle:
    delta = {key: after[key] - before[key] for key in COUNTERS}
    reports = answer["reports"]
    if len(reports) != 1:
        raise BenchError(f"expected one workflow, the process ran {len(reports)}")
    return Cycle(
        sheets_reads=delta["sheets_reads"],
        sheets_writes=delta["sheets_writes"],
        todoist_requests=delta["todoist_requests"],
        oauth_token_requests=delta["oauth_token_requests"],
        wall_s=round(float(answer["wall_s"]), 4),
        cpu_s=round(float(answer["cpu_s"]), 4),
        cycle_peak_rss_mb=_mb(answer.get("cycle_peak_rss_kb")),
        rss_after_mb=_mb(answer.get("rss_after_kb")),
        client=dict(answer["client"]),
        report=dict(reports[0]),
    )


def _agrees(cycle: Cycle) -> bool:
    return all(cycle.client[key] == getattr(cycle, key) for key in COUNTERS[:3])


@dataclass
class _Session:
    """One size's sandbox, and how its cycles are run and reported."""

    scene: World
    progress: Progress
    profile: Path | None  # a folder for cProfile stats, or None
    # Every cycle run, repeats included: each must have counted what the sandbox counted.
    measured: list[Cycle] = field(default_factory=list)

    def say(self, what: str) -> None:
        self.progress(f"[{self.scene.leads:,} leads] {what}")

    def repeat(
        self,
        process: WorkerProcess,
        name: str,
        times: int,
        before: Callable[[], object] = lambda: None,
    ) -> Cycle:
        """The cycle ``times`` times (``before`` each: the change it answers), as one figure."""
        samples = []
        for n in range(1, times + 1):
            before()
            samples.append(self.cycle(process, name, f" ({n} of {times})" if times > 1 else ""))
        return repeated(samples)

    def cycle(self, process: WorkerProcess, name: str, which: str = "") -> Cycle:
        """One cycle in ``process``, with the sandbox's counters read around it."""
        self.say(CYCLE_LABELS[name] + which)
        arguments = {}
        if self.profile is not None:
            arguments["profile"] = str(self.profile / f"{self.scene.leads}-{name}.prof")
        before = self.scene.counts()
        answer = process.ask("cycle", **arguments)
        cycle = _cycle(before, self.scene.counts(), answer)
        report = cycle.report
        if report["failed_commands"] or report["problems"]:
            raise BenchError(f"{name}: the cycle reported trouble: {report['summary']}")
        self.measured.append(cycle)
        return cycle


def measure(
    leads: int,
    *,
    seed: int = 0,
    progress: Progress | None = None,
    profile: Path | None = None,
    repeat: int = DEFAULT_REPEAT,
) -> SizeResult:
    """Run every cycle of one size and return its figures (targets judged). The steady and
    the one-lead cycles run ``repeat`` times each and count as their median (CPU) and worst
    (requests, memory) sample.

    With ``profile`` (a folder), each cycle also writes journey-sync's cProfile stats there
    as ``<leads>-<cycle>.prof`` (CPU and wall figures are then inflated by the profiler).
    """
    if progress is not None:
        progress(f"[{leads:,} leads] seeding the sandbox")
    cycles: dict[str, Cycle] = {}
    with world(leads, seed=seed) as scene:
        session = _Session(scene, progress or (lambda _: None), profile)
        # The daemon's life: onboarding, then quiet cycles, then people at work.
        process = scene.worker()
        try:
            cycles[ONBOARDING] = session.cycle(process, ONBOARDING)
            # A daemon restarted right after onboarding (a 10,000-lead onboarding spans
            # Todoist's quota windows, so restarts meanwhile are likely): a fresh process on
            # the state onboarding left, which takes in the whole echo with cold caches. It
            # runs on a copy of the state file and plans nothing, so the world is unchanged.
            after = scene.worker(scene.copy_state("after-onboarding.db"))
            try:
                cycles[AFTER_ONBOARDING] = session.cycle(after, AFTER_ONBOARDING)
                after_lifetime = after.finish()
            finally:
                after.kill()
            cycles[FIRST_QUIET] = session.cycle(process, FIRST_QUIET)
            cycles[STEADY] = session.repeat(process, STEADY, repeat)
            ticked: set[str] = set()

            def tick() -> None:
                session.say("ticking one task in Todoist")
                ticked.add(scene.tick_one_task())

            cycles[ONE_LEAD] = session.repeat(process, ONE_LEAD, repeat, before=tick)
            session.say("changing 1% of the leads")
            changes = scene.change_one_percent(avoid=frozenset(ticked))
            cycles[ONE_PERCENT] = session.cycle(process, ONE_PERCENT)
            lifetime = process.finish()
        finally:
            process.kill()
        # A daemon restarted on the synced sheet: a fresh process, cold caches.
        restarted = scene.worker()
        try:
            cycles[RESTART] = session.cycle(restarted, RESTART)
            restart_lifetime = restarted.finish()
        finally:
            restarted.kill()
        steps = len(scene.workflow.steps)
    result = SizeResult(
        leads=leads,
        steps=steps,
        changes={
            "leads": changes.leads,
            "completed_in_todoist": changes.completed_in_todoist,
            "typed_in_sheet": changes.typed_in_sheet,
            "departed": changes.departed,
        },
        cycles=cycles,
        startup_rss_mb=_mb(process.hello.get("startup_rss_kb")),
        peak_rss_mb=_mb(lifetime["peak_rss_kb"]) or 0.0,
        restart_peak_rss_mb=_mb(restart_lifetime["peak_rss_kb"]) or 0.0,
        after_onboarding_peak_rss_mb=_mb(after_lifetime["peak_rss_kb"]) or 0.0,
        counts_agree=all(_agrees(c) for c in session.measured),
    )
    result.targets = judge(result)
    return result


# ---------------------------------------------------------------------- machine


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _git(*args: str) -> str | None:
    try:
        done = subprocess.run(
            ["git", *args], cwd=REPO, capture_output=True, text=True, timeout=10, check=True
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip()


def source_version() -> dict[str, Any]:
    """The commit measured, and whether src/ had uncommitted edits (then it is not that)."""
    commit = _git("rev-parse", "--short", "HEAD")
    changes = _git("status", "--porcelain", "--", "src")
    return {"git_commit": commit or None, "src_modified": bool(changes) if commit else None}


def machine() -> dict[str, Any]:
    affinity = getattr(os, "sched_getaffinity", None)
    return {
        "nproc": len(affinity(0)) if affinity is not None else os.cpu_count(),
        "cpu_model": _cpu_model(),
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
    }


def _version() -> str:
    try:
        return importlib.metadata.version("journey-sync")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


# --------------------------------------------------------------------------- main


def _sizes(text: str) -> list[int]:
    try:
        sizes = [int(part.strip().replace("_", "")) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r}: sizes are whole numbers, e.g. 100,1000"
        ) from None
    if not sizes or any(size < 1 for size in sizes):
        raise argparse.ArgumentTypeError(f"{text!r}: give one or more sizes of at least 1")
    return sizes


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench.run",
        description="journey-sync's headline numbers: requests, CPU and memory per cycle.",
    )
    parser.add_argument(
        "--sizes",
        type=_sizes,
        default=list(DEFAULT_SIZES),
        help="numbers of leads, comma-separated (default 100,1000,10000)",
    )
    parser.add_argument("--json", type=Path, help="also write the figures as JSON to this file")
    parser.add_argument("--seed", type=int, default=0, help="random seed of the seeded leads")
    parser.add_argument(
        "--latency-events",
        type=int,
        default=50,
        help="events per latency figure (form -> first task, completion -> mark; with "
        "webhooks and with interval polling); 0 skips them (default 50)",
    )
    parser.add_argument(
        "--latency-interval",
        type=float,
        default=60.0,
        help="JOURNEY_SYNC_INTERVAL of the latency run without webhooks (default 60)",
    )
    parser.add_argument(
        "--repeat",
        type=_at_least_one,
        default=DEFAULT_REPEAT,
        help="runs of the steady and of the one-lead cycle, judged on the median CPU "
        f"(default {DEFAULT_REPEAT})",
    )
    parser.add_argument(
        "--profile",
        type=Path,
        metavar="DIR",
        help="write each cycle's cProfile stats to DIR/<leads>-<cycle>.prof (inflates times)",
    )
    return parser


def _at_least_one(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be 1 or more")
    return value


def report_json(
    results: Sequence[SizeResult],
    *,
    command: str,
    source: dict[str, Any],
    seconds: float,
    latency: LatencyResult | None = None,
) -> dict[str, Any]:
    latency_met = latency is None or all(t.met for t in latency.targets)
    return {
        "schema": JSON_SCHEMA,
        "journey_sync_version": _version(),
        **source,
        "command": command,
        "machine": machine(),
        "counts_source": COUNTS_SOURCE,
        "benchmark_seconds": round(seconds, 1),
        "all_targets_met": all(t.met for r in results for t in r.targets) and latency_met,
        "sizes": [r.to_json() for r in results],
        "latency": latency.to_json() if latency is not None else None,
    }


def main(argv: Sequence[str] | None = None) -> int:
    options = _parser().parse_args(argv)
    command = "python -m bench.run " + " ".join(sys.argv[1:] if argv is None else argv)
    source = source_version()  # before the run: others may commit while it goes on
    started = time.monotonic()

    def progress(text: str) -> None:
        print(f"... {text}", file=sys.stderr, flush=True)

    results: list[SizeResult] = []
    try:
        for leads in options.sizes:
            result = measure(
                leads,
                seed=options.seed,
                progress=progress,
                profile=options.profile,
                repeat=options.repeat,
            )
            results.append(result)
            print(size_table(result) + "\n", flush=True)
        latency = None
        if options.latency_events > 0:
            latency = measure_latency(
                events=options.latency_events,
                interval=options.latency_interval,
                seed=options.seed,
                progress=progress,
            )
            print(latency_table(latency) + "\n", flush=True)
    except (BenchError, LatencyError) as exc:
        print(f"benchmark failed: {exc}", file=sys.stderr)
        return 1
    figures = report_json(
        results,
        command=command.strip(),
        source=source,
        seconds=time.monotonic() - started,
        latency=latency,
    )
    info = figures["machine"]
    print("Summary (Sheets reads / writes / Todoist requests; counts from the sandbox)\n")
    print(summary_markdown(results) + "\n")
    print(
        f"machine: {info['nproc']} CPUs ({info['cpu_model']}), Python {info['python']} "
        f"on {info['platform']}; journey-sync {figures['journey_sync_version']}"
        f" ({figures['git_commit'] or 'no git'}"
        f"{', src/ modified' if figures['src_modified'] else ''})"
    )
    missed = [(f"{r.leads:,} leads", t) for r in results for t in r.targets if not t.met]
    if latency is not None:
        missed += [("latency", t) for t in latency.targets if not t.met]
    if missed:
        print(f"targets missed: {len(missed)}")
        for where, t in missed:
            print(f"  {where}: {t.name}: {t.value} (target {t.target})")
    else:
        print("all targets met")
    if options.json is not None:
        options.json.parent.mkdir(parents=True, exist_ok=True)
        options.json.write_text(json.dumps(figures, indent=2) + "\n", "utf-8")
        print(f"figures written to {options.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
