"""Latency (issue 15): web form -> first Todoist task, Todoist completion -> mark in the sheet.

    python -m bench.latency [--events 50] [--leads 60] [--interval 60] [--json PATH]

``journey-sync run`` runs as its own process (the daemon, as deployed) against the sandbox,
which runs in this process so that the moments are read where they happen: a task's
creation by a listener on the emulated Todoist, a mark by watching the emulated sheet's
cell (every 5 ms). Each figure is measured over ``events`` events, twice:

* **with webhooks**: the intake on (``JOURNEY_SYNC_INTAKE_PORT``), leads posted to
  ``POST /leads`` (the clock starts before the request), tasks ticked in the emulated
  Todoist app, which delivers its signed webhook to ``POST /todoist/webhook``; the interval
  stays at its default (60 s), as a fallback. One event at a time, 0 to 0.3 s apart.
* **without (interval polling)**: no intake, no webhooks: a lead typed in the row under the
  last lead (as a person, or a form tool appending rows, does), a task ticked, and the
  next cycle finds them. The events are spread at random over two intervals, so the figure
  is what polling gives: up to one interval, half of it at the median, plus the cycle.

Target with webhooks: under 5 s for both, median and worst (the cycle's own reads and writes
included). Nothing here is a test; ``tests/bench`` runs a few events with a short interval.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from journey_sync.plan import parse_marker
from journey_sync.sheet import FOOTER_MARK
from journey_sync.workflow import Workflow, load_workflows
from journey_sync_sandbox.server import Sandbox
from journey_sync_sandbox.sheets import Worksheet
from journey_sync_sandbox.workdir import read_env_file

from .figures import Target
from .scenario import open_task_ids

EXE = str(Path(sys.executable).with_name("journey-sync"))
TARGET_S = 5.0
FORM = "web form -> first Todoist task"
MARK = "Todoist completion -> mark in the sheet"
WEBHOOKS = "with webhooks"
POLLING = "without (interval polling)"
TOKEN = "bench-intake-token-0123456789"
SECRET = "bench-client-secret-0123456789"
WAIT = 30.0  # seconds one event may take with webhooks before the benchmark gives up

Progress = Callable[[str], None]


class LatencyError(Exception):
    """The latency run could not finish (the daemon died, an event never arrived)."""


@dataclass
class Figure:
    path: str  # FORM or MARK
    mode: str  # WEBHOOKS or POLLING
    samples: list[float]

    @property
    def median(self) -> float:
        return statistics.median(self.samples)

    @property
    def worst(self) -> float:
        return max(self.samples)

    def to_json(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "mode": self.mode,
            "events": len(self.samples),
            "median_s": round(self.median, 3),
            "worst_s": round(self.worst, 3),
            "samples_s": [round(s, 3) for s in self.samples],
        }


@dataclass
class LatencyResult:
    events: int
    interval: float
    figures: list[Figure]
    targets: list[Target]

    def to_json(self) -> dict[str, Any]:
        return {
            "events": self.events,
            "polling_interval_s": self.interval,
            "figures": [f.to_json() for f in self.figures],
            "targets": [t.__dict__ for t in self.targets],
        }


# ------------------------------------------------------------------ the world


class _World:
    """A seeded sandbox, its workdir, and ``journey-sync run`` as a process."""

    def __init__(
        self, directory: Path, *, leads: int, seed: int, webhooks: bool, interval: float
    ) -> None:
        self.sandbox = Sandbox(seed=seed).start(0)
        self.first_task: dict[str, float] = {}  # lead id -> monotonic time of its 1st task
        self._lock = threading.Lock()
        self.intake_url: str | None = None
        extra = {"JOURNEY_SYNC_INTERVAL": f"{interval:g}", "JOURNEY_SYNC_HEALTH_PORT": "0"}
        if webhooks:
            port = _free_port()
            self.intake_url = f"http://127.0.0.1:{port}"
            self.sandbox.register_todoist_app(
                "bench-app",
                SECRET,
                webhook_url=f"{self.intake_url}/todoist/webhook",
                authorised=True,
            )
            extra |= {
                "JOURNEY_SYNC_INTAKE_PORT": str(port),
                "JOURNEY_SYNC_INTAKE_TOKEN": TOKEN,
                # Every post comes from 127.0.0.1 here, not from 50 visitors.
                "JOURNEY_SYNC_INTAKE_RATE": "6000",
            }
        self.workdir = self.sandbox.write_workdir(directory, leads=leads, seed=seed)
        env = read_env_file(self.workdir / "env")
        if webhooks:
            env["TODOIST_CLIENT_SECRET"] = SECRET
        self.workflow: Workflow = load_workflows(self.workdir / "workflows.yaml").workflows[0]
        book = self.sandbox.spreadsheet
        assert book is not None
        self.sheet: Worksheet = book.worksheet(self.workflow.sheet.worksheet)
        self.sandbox.todoist.listeners.append(self._heard)
        self.log = self.workdir / "daemon.log"
        self._out = self.log.open("ab")
        child_env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("JOURNEY_SYNC_", "TODOIST_", "GOOGLE_"))
        }
        self.process = subprocess.Popen(
            [EXE, "run"],
            env={**child_env, **env, **extra},
            cwd=self.workdir,
            stdout=self._out,
            stderr=subprocess.STDOUT,
        )

    def _heard(self, event: str, item: dict[str, Any], old: dict[str, Any] | None) -> None:
        if event != "item:added":
            return
        now = time.monotonic()
        key = parse_marker(str(item.get("description") or ""))
        if key is not None:
            with self._lock:
                self.first_task.setdefault(key[0], now)

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self._out.close()
        self.sandbox.close()

    def cycles(self) -> int:
        return len(re.findall(r"cycle done", self.log.read_text("utf-8", errors="replace")))

    def alive(self) -> None:
        if self.process.poll() is not None:
            tail = self.log.read_text("utf-8", errors="replace")[-3000:]
            raise LatencyError(f"journey-sync run exited ({self.process.returncode}):\n{tail}")

    def wait_onboarded(self, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while self.cycles() < 1:
            self.alive()
            if time.monotonic() > deadline:
                raise LatencyError("onboarding did not finish")
            time.sleep(0.05)

    def column(self, header: str) -> int:
        return self.sheet.header_column(header, self.workflow.sheet.header_row)

    def cell(self, row: int, column: int) -> Any:
        with self.sandbox.sheets.lock:
            return self.sheet.value(row, column)

    def lead_rows(self) -> dict[str, int]:
        """Lead id -> row, as in the sheet now."""
        column = self.column(self.workflow.sheet.columns.lead_id)
        with self.sandbox.sheets.lock:
            rows = self.sheet.evaluated_rows()
        found: dict[str, int] = {}
        for index, row in enumerate(rows, start=1):
            value = row[column - 1] if len(row) >= column else None
            if isinstance(value, str) and value.startswith("L-"):
                found[value] = index
        return found

    def open_tasks(self, step_key: str) -> dict[str, str]:
        """Lead id -> its open task of that step."""
        return open_task_ids(self.sandbox, self.workflow.todoist_project, step_key)

    def type_lead(self, name: str) -> None:
        """Type a lead in the row under the last lead, inserting a row above the footer
        first when the footer sits right there (as a person does)."""
        columns = self.workflow.sheet.columns
        name_col = self.column(columns.name)
        date_col = self.column(columns.lead_date)
        id_col = self.column(columns.lead_id)
        with self.sandbox.sheets.lock:
            rows = self.sheet.evaluated_rows()
            last = self.workflow.sheet.header_row
            for index, row in enumerate(rows, start=1):
                cells = [*row, *[None] * max(0, max(name_col, date_col, id_col) - len(row))]
                footer = str(cells[id_col - 1] or "").startswith(FOOTER_MARK)
                filled = cells[name_col - 1] not in ("", None)
                dated = cells[date_col - 1] not in ("", None)
                if index > last and filled and dated and not footer:
                    last = index
            target = last + 1
            if target <= len(rows) and any(v not in ("", None) for v in rows[target - 1]):
                self.sheet.insert_rows(target)
            today = self.sandbox.clock().date().isoformat()
            self.sheet.set_cell(target, name_col, name)
            self.sheet.set_cell(target, date_col, today)


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def _world(**options: Any) -> Iterator[_World]:
    with tempfile.TemporaryDirectory(prefix="journey-sync-latency-") as directory:
        made = _World(Path(directory), **options)
        try:
            made.wait_onboarded()
            yield made
        finally:
            made.close()


def _marking_step(world: _World) -> tuple[str, str]:
    """The first step whose completion marks a stage, and that stage's header."""
    step = next(s for s in world.workflow.steps if s.marks)
    header = next(s.header for s in world.workflow.stages if s.key == step.marks)
    return step.key, header


# ------------------------------------------------------------------ with webhooks


def _with_webhooks(events: int, leads: int, seed: int, progress: Progress) -> list[Figure]:
    rng = random.Random(seed)
    with _world(leads=leads, seed=seed, webhooks=True, interval=60) as world:
        assert world.intake_url is not None
        forms: list[float] = []
        with httpx.Client(base_url=world.intake_url, timeout=WAIT) as http:
            for i in range(events):
                time.sleep(rng.uniform(0, 0.3))
                started = time.monotonic()
                answer = http.post(
                    "/leads",
                    json={"name": f"Form Lead {i}", "source": "Website"},
                    headers={"Authorization": f"Bearer {TOKEN}"},
                )
                if answer.status_code != 201:
                    raise LatencyError(f"POST /leads: {answer.status_code} {answer.text}")
                lead_id = str(answer.json()["lead_id"])
                forms.append(_wait_task(world, lead_id, WAIT) - started)
        progress(f"with webhooks: {events} form posts")
        step_key, header = _marking_step(world)
        column = world.column(header)
        tasks = world.open_tasks(step_key)
        rows = world.lead_rows()
        chosen = sorted(lead for lead in tasks if lead in rows)[:events]
        if len(chosen) < events:
            raise LatencyError(f"only {len(chosen)} open {step_key!r} tasks to tick")
        marks: list[float] = []
        for lead_id in chosen:
            time.sleep(rng.uniform(0, 0.3))
            started = time.monotonic()
            world.sandbox.todoist.complete(tasks[lead_id])
            marks.append(_wait_mark(world, rows[lead_id], column, WAIT) - started)
        progress(f"with webhooks: {events} completions")
    return [Figure(FORM, WEBHOOKS, forms), Figure(MARK, WEBHOOKS, marks)]


def _wait_task(world: _World, lead_id: str, timeout: float) -> float:
    deadline = time.monotonic() + timeout
    while True:
        with world._lock:
            found = world.first_task.get(lead_id)
        if found is not None:
            return found
        world.alive()
        if time.monotonic() > deadline:
            raise LatencyError(f"no task for lead {lead_id} within {timeout:g} s")
        time.sleep(0.005)


def _wait_mark(world: _World, row: int, column: int, timeout: float) -> float:
    deadline = time.monotonic() + timeout
    while world.cell(row, column) != 1:
        world.alive()
        if time.monotonic() > deadline:
            raise LatencyError(f"no mark in row {row} within {timeout:g} s")
        time.sleep(0.005)
    return time.monotonic()


# ------------------------------------------------------------------ polling


def _polling(
    events: int, leads: int, seed: int, interval: float, progress: Progress
) -> list[Figure]:
    rng = random.Random(seed + 1)
    with _world(leads=leads, seed=seed, webhooks=False, interval=interval) as world:
        step_key, header = _marking_step(world)
        column = world.column(header)
        tasks = world.open_tasks(step_key)
        chosen = sorted(tasks)[:events]
        if len(chosen) < events:
            raise LatencyError(f"only {len(chosen)} open {step_key!r} tasks to tick")
        span = 2 * interval
        plan = sorted(
            [(rng.uniform(0, span), "form", i) for i in range(events)]
            + [(rng.uniform(0, span), "mark", i) for i in range(events)]
        )
        typed: dict[str, float] = {}  # name -> when typed
        ticked: dict[str, float] = {}  # lead id -> when ticked
        marked: dict[str, float] = {}
        rows = world.lead_rows()  # typed leads go below: these rows do not move
        start = time.monotonic()
        for at, kind, i in plan:
            while time.monotonic() - start < at:
                _see_marks(world, rows, ticked, marked, column)
                time.sleep(0.005)
            if kind == "form":
                name = f"Typed Lead {i}"
                world.type_lead(name)
                typed[name] = time.monotonic()
            else:
                lead_id = chosen[i]
                world.sandbox.todoist.complete(tasks[lead_id])
                ticked[lead_id] = time.monotonic()
        deadline = time.monotonic() + 2 * interval + WAIT
        checked = 0.0
        while len(marked) < len(ticked) or len(_typed_ids(world, typed)) < len(typed):
            while len(marked) < len(ticked) and time.monotonic() - checked < 0.1:
                _see_marks(world, rows, ticked, marked, column)
                time.sleep(0.005)
            checked = time.monotonic()
            world.alive()
            if time.monotonic() > deadline:
                raise LatencyError("polling: not every event arrived within two intervals")
            time.sleep(0.005)
        ids = _typed_ids(world, typed)
        forms = [world.first_task[ids[name]] - when for name, when in typed.items()]
        marks = [marked[lead] - ticked[lead] for lead in ticked]
        progress(f"without webhooks: {events} typed leads and {events} completions")
    return [Figure(FORM, POLLING, forms), Figure(MARK, POLLING, marks)]


def _see_marks(
    world: _World,
    rows: dict[str, int],
    ticked: dict[str, float],
    marked: dict[str, float],
    column: int,
) -> None:
    waiting = [lead for lead in ticked if lead not in marked]
    if not waiting:
        return
    now = time.monotonic()
    for lead in waiting:
        if lead in rows and world.cell(rows[lead], column) == 1:
            marked[lead] = now


def _typed_ids(world: _World, typed: dict[str, float]) -> dict[str, str]:
    """Typed name -> lead id, for the typed leads that have their id and a first task."""
    name_col = world.column(world.workflow.sheet.columns.name)
    id_col = world.column(world.workflow.sheet.columns.lead_id)
    with world.sandbox.sheets.lock:
        rows = world.sheet.evaluated_rows()
    found: dict[str, str] = {}
    for row in rows:
        if len(row) >= max(name_col, id_col) and row[name_col - 1] in typed:
            lead_id = row[id_col - 1]
            if isinstance(lead_id, str) and lead_id in world.first_task:
                found[str(row[name_col - 1])] = lead_id
    return found


# ------------------------------------------------------------------ the whole


def measure(
    *,
    events: int = 50,
    leads: int | None = None,
    interval: float = 60.0,
    seed: int = 0,
    progress: Progress = lambda text: None,
) -> LatencyResult:
    seeded = leads if leads is not None else events + 10
    figures = _with_webhooks(events, seeded, seed, progress)
    figures += _polling(events, seeded, seed, interval, progress)
    targets = [
        Target(
            f"{f.path}, {WEBHOOKS}, {what}",
            f"< {TARGET_S:g} s",
            f"{value:.2f} s",
            value < TARGET_S,
        )
        for f in figures
        if f.mode == WEBHOOKS
        for what, value in (("median", f.median), ("worst", f.worst))
    ]
    return LatencyResult(events, interval, figures, targets)


def latency_table(result: LatencyResult) -> str:
    header = (
        f"Latency over {result.events} events each (journey-sync run as a process; "
        f"polling every {result.interval:g} s without webhooks)"
    )
    lines = [header, "=" * len(header)]
    lines.append(f"{'path':<42} {'mode':<28} {'median':>8} {'worst':>8}")
    for f in result.figures:
        lines.append(f"{f.path:<42} {f.mode:<28} {f.median:>7.2f}s {f.worst:>7.2f}s")
    lines.append("  targets:")
    for t in result.targets:
        verdict = "met   " if t.met else "MISSED"
        lines.append(f"    [{verdict}] {t.name}: {t.value} (target {t.target})")
    return "\n".join(lines)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench.latency",
        description="Web form to first Todoist task, and Todoist completion to mark, "
        "with webhooks and with interval polling.",
    )
    parser.add_argument("--events", type=int, default=50, help="events per figure (default 50)")
    parser.add_argument(
        "--leads", type=int, help="leads seeded in the sheet (default: events + 10)"
    )
    parser.add_argument(
        "--interval",
        type=float,
        default=60.0,
        help="JOURNEY_SYNC_INTERVAL of the polling run, seconds (default 60, the default)",
    )
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--json", type=Path, help="also write the figures as JSON here")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    options = _parser().parse_args(argv)
    if options.events < 1 or options.interval <= 0:
        print("--events must be at least 1 and --interval above 0", file=sys.stderr)
        return 2

    def progress(text: str) -> None:
        print(f"... {text}", file=sys.stderr, flush=True)

    try:
        result = measure(
            events=options.events,
            leads=options.leads,
            interval=options.interval,
            seed=options.seed,
            progress=progress,
        )
    except LatencyError as exc:
        print(f"latency benchmark failed: {exc}", file=sys.stderr)
        return 1
    print(latency_table(result))
    if options.json is not None:
        options.json.parent.mkdir(parents=True, exist_ok=True)
        options.json.write_text(json.dumps(result.to_json(), indent=2) + "\n", "utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
