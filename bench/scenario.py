"""The benchmark's world: a seeded sandbox in this process, journey-sync in another.

Why this split (and not the sandbox in a child process): the sandbox's request counters and
its Python API (completing a task as a person would in the app, typing a cell as a person
would in the sheet) live in the sandbox's process. Keeping the sandbox here gives exact
server-side counts of what reached each API and a direct way to make the changes, while
journey-sync runs in a separate, freshly started interpreter (``bench.worker``) whose own
CPU time and peak RSS are therefore measured without the emulators, the seeded sheet or the
130,000 emulated tasks. The two talk only over HTTP on loopback, as journey-sync talks to
Google and Todoist.
"""

from __future__ import annotations

import json
import os
import random
import sqlite3
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from journey_sync.plan import parse_marker
from journey_sync.workflow import Workflow, load_workflows
from journey_sync_sandbox.server import Sandbox
from journey_sync_sandbox.sheets import Worksheet
from journey_sync_sandbox.workdir import read_env_file

REPO = Path(__file__).resolve().parents[1]
COUNTERS = ("sheets_reads", "sheets_writes", "todoist_requests", "oauth_token_requests")


class BenchError(Exception):
    """The benchmark could not run (journey-sync failed a cycle, or its process died)."""


@dataclass(frozen=True)
class Changes:
    """What the "1% changed" scenario did between two cycles."""

    completed_in_todoist: int  # tasks ticked in the (emulated) Todoist app
    typed_in_sheet: int  # stage marks typed by hand in the (emulated) sheet
    departed: int  # leads given a "Reason for discontinue"

    @property
    def leads(self) -> int:
        return self.completed_in_todoist + self.typed_in_sheet + self.departed


class WorkerProcess:
    """``python -m bench.worker``: journey-sync's real wiring in a process of its own."""

    def __init__(self, env: dict[str, str]) -> None:
        path = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p)
        self._process = subprocess.Popen(
            [sys.executable, "-m", "bench.worker"],
            env={**os.environ, **env, "PYTHONPATH": path},
            cwd=REPO,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            encoding="utf-8",
        )
        self.hello = self._answer()

    def _pipes(self) -> tuple[IO[str], IO[str]]:
        stdin, stdout = self._process.stdin, self._process.stdout
        assert stdin is not None and stdout is not None
        return stdin, stdout

    def _answer(self) -> dict[str, Any]:
        line = self._pipes()[1].readline()
        if not line:
            code = self._process.wait(timeout=30)
            raise BenchError(f"the journey-sync process exited (status {code}); see stderr")
        answer: dict[str, Any] = json.loads(line)
        if answer.get("ok") is False:
            raise BenchError(f"journey-sync failed: {answer.get('error')}")
        return answer

    def ask(self, op: str, **arguments: str) -> dict[str, Any]:
        stdin = self._pipes()[0]
        stdin.write(json.dumps({"op": op, **arguments}) + "\n")
        stdin.flush()
        return self._answer()

    def finish(self) -> dict[str, Any]:
        """Ask the process for its lifetime figures, then let it exit."""
        try:
            return self.ask("exit")
        finally:
            self._process.wait(timeout=60)

    def kill(self) -> None:
        if self._process.poll() is None:
            self._process.kill()
            self._process.wait(timeout=30)


class World:
    """A sandbox seeded with ``leads`` leads of the example workflow, and its workdir."""

    def __init__(self, directory: Path, *, leads: int, seed: int) -> None:
        self.leads = leads
        self.seed = seed
        self.sandbox = Sandbox(seed=seed).start(0)
        self.workdir = self.sandbox.write_workdir(directory, leads=leads, seed=seed)
        self.env = read_env_file(self.workdir / "env")
        self.workflow: Workflow = load_workflows(self.workdir / "workflows.yaml").workflows[0]
        book = self.sandbox.spreadsheet
        assert book is not None
        self.sheet: Worksheet = book.worksheet(self.workflow.sheet.worksheet)

    def close(self) -> None:
        self.sandbox.stop()

    def counts(self) -> dict[str, int]:
        """The sandbox's server-side request counters (every request that reached it)."""
        counts = self.sandbox.traffic.counts()
        return {key: counts.get(key, 0) for key in COUNTERS}

    def worker(self, state: Path | None = None) -> WorkerProcess:
        """journey-sync in a fresh process; ``state``: another state file than the env's."""
        env = dict(self.env)
        if state is not None:
            env["JOURNEY_SYNC_STATE"] = str(state)
        return WorkerProcess(env)

    def copy_state(self, name: str) -> Path:
        """A consistent copy of journey-sync's state file as it is now (SQLite's backup
        API, so a WAL not yet checkpointed is included), beside the original."""
        source = Path(self.env["JOURNEY_SYNC_STATE"])
        target = source.with_name(name)
        with sqlite3.connect(source) as original, sqlite3.connect(target) as copy:
            original.backup(copy)
        return target

    def tick_one_task(self) -> str:
        """A person ticks one lead's task of the first stage-marking step in Todoist (the
        product's everyday change: journey-sync answers with one stage mark). Returns the
        lead id."""
        step = next(step for step in self.workflow.steps if step.marks)
        tasks = self._open_task_ids(step.key)
        lead_id = sorted(tasks)[0]
        self.sandbox.todoist.complete(tasks[lead_id])
        return lead_id

    # ---------------------------------------------------------------- changes

    def change_one_percent(self, *, avoid: frozenset[str] = frozenset()) -> Changes:
        """Change 1% of the leads (at least 3) as people would between two cycles.

        One lead departs ("Reason for discontinue" typed); of the others, half have the
        task of the first stage-marking step ticked in Todoist, half have the next stage's
        mark typed by hand in the sheet (which journey-sync answers by closing that task).
        """
        count = min(self.leads, max(3, round(self.leads / 100)))
        rng = random.Random(f"changes:{self.seed}")
        rows = self._lead_rows()
        chosen = rng.sample(sorted(set(rows) - avoid), count)
        departed, rest = chosen[:1], chosen[1:]
        completed, typed = rest[: (len(rest) + 1) // 2], rest[(len(rest) + 1) // 2 :]

        marking = [step for step in self.workflow.steps if step.marks]
        tick_step, typed_step = marking[0], marking[1]
        typed_header = next(s.header for s in self.workflow.stages if s.key == typed_step.marks)
        reason_header = self.workflow.sheet.columns.reason_left
        assert reason_header is not None

        tasks = self._open_task_ids(tick_step.key)
        for lead_id in completed:
            self.sandbox.todoist.complete(tasks[lead_id])
        typed_column = self._column(typed_header)
        for lead_id in typed:
            self.sheet.set_cell(rows[lead_id], typed_column, 1)
        for lead_id in departed:
            self.sheet.set_cell(rows[lead_id], self._column(reason_header), "Moved away")
        return Changes(len(completed), len(typed), len(departed))

    def _column(self, header: str) -> int:
        return self.sheet.header_column(header, self.workflow.sheet.header_row)

    def _lead_rows(self) -> dict[str, int]:
        """Lead id -> 1-based sheet row, as journey-sync wrote the ids."""
        column = self._column(self.workflow.sheet.columns.lead_id)
        first = self.workflow.sheet.header_row + 1
        rows: dict[str, int] = {}
        for row in range(first, first + self.leads):
            value = self.sheet.value(row, column)
            if isinstance(value, str) and value:
                rows[value] = row
        if len(rows) != self.leads:
            raise BenchError(f"{len(rows)} of {self.leads} leads have an id after onboarding")
        return rows

    def _open_task_ids(self, step_key: str) -> dict[str, str]:
        """Lead id -> id of that lead's open task for ``step_key``."""
        return open_task_ids(self.sandbox, self.workflow.todoist_project, step_key)


@contextmanager
def world(leads: int, *, seed: int = 0) -> Iterator[World]:
    with tempfile.TemporaryDirectory(prefix=f"journey-sync-bench-{leads}-") as directory:
        made = World(Path(directory), leads=leads, seed=seed)
        try:
            yield made
        finally:
            made.close()


def open_task_ids(sandbox: Sandbox, project_name: str, step_key: str) -> dict[str, str]:
    """Lead id -> id of that lead's open task for ``step_key``, read in the sandbox."""
    project = sandbox.todoist.project_named(project_name)
    if project is None:
        raise BenchError(f"no Todoist project {project_name!r}")
    found: dict[str, str] = {}
    for task in sandbox.todoist.tasks(str(project["id"])):
        key = parse_marker(str(task.get("description") or ""))
        if key is not None and key[1] == step_key:
            found[key[0]] = str(task["id"])
    return found
