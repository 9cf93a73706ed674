"""End-to-end helpers: journey-sync and the sandbox as processes, and a small API client.

The tests see the sheet and Todoist only as a person's tools would: through the emulated
HTTP APIs (Google token from the service-account key, Sheets v4 values, Todoist v1 REST).
Every wait is a poll with a deadline; every process started here is killed in teardown.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

import httpx
from google.auth.transport.requests import Request as GoogleRequest
from google.oauth2 import service_account

from journey_sync.dates import due_day, today_in
from journey_sync.plan import parse_marker
from journey_sync.sheet import FOOTER_MARK, column_letter
from journey_sync.workflow import Workflow, load_workflows
from journey_sync_sandbox.workdir import read_env_file as read_env
from support.net import PATIENCE, free_port

EXE = str(Path(sys.executable).with_name("journey-sync"))
SHEETS_SCOPE = "https://www.googleapis.com/auth/spreadsheets"
SERIAL_EPOCH = date(1899, 12, 30)

T = TypeVar("T")


def wait_for(what: str, probe: Callable[[], T | None], *, timeout: float, every: float = 0.2) -> T:
    """Poll ``probe`` until it returns something truthy; fail after ``timeout`` seconds
    (at least ``PATIENCE``)."""
    timeout = max(timeout, PATIENCE)
    deadline = time.monotonic() + timeout
    last: T | None = None
    while True:
        try:
            last = probe()
        except (httpx.HTTPError, OSError) as exc:  # a service restarting
            last = None
            error = exc
        else:
            error = None
            if last:
                return last
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what} ({error})")
        time.sleep(every)


def base_env() -> dict[str, str]:
    return {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("JOURNEY_SYNC_", "TODOIST_", "GOOGLE_"))
    }


# ----------------------------------------------------------------------- processes


class Process:
    """A child process with its output in a file; ``close`` always leaves it dead."""

    def __init__(self, args: list[str], env: dict[str, str], log: Path, cwd: Path) -> None:
        self.args = args
        self.log = log
        self._out = log.open("ab")
        self.proc = subprocess.Popen(
            args, env=env, cwd=cwd, stdout=self._out, stderr=subprocess.STDOUT
        )

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None

    def output(self) -> str:
        return self.log.read_text("utf-8", errors="replace")

    def kill(self) -> None:
        """SIGKILL: no clean-up of any kind, as a crash or ``docker kill``."""
        if self.alive:
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def terminate(self, timeout: float = 15) -> int:
        if self.alive:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(f"{self.args[1:3]} ignored SIGTERM for {timeout} s") from None

    def close(self) -> None:
        if self.alive:
            self.proc.kill()
        try:
            self.proc.wait(timeout=10)
        finally:
            self._out.close()


@dataclass
class Procs:
    """Every process a test started, for the fixture's teardown."""

    started: list[Process] = field(default_factory=list)

    def add(self, process: Process) -> Process:
        self.started.append(process)
        return process

    def close_all(self) -> None:
        for process in self.started:
            process.close()


def start_sandbox(
    procs: Procs, workdir: Path, *, leads: int, seed: int = 0, port: int | None = None
) -> tuple[Process, dict[str, str]]:
    """``journey-sync sandbox serve`` as a process; returns it and the env it wrote."""
    port = port or free_port()
    workdir = workdir.resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    log = workdir / "sandbox.log"
    process = procs.add(
        Process(
            [
                EXE,
                "sandbox",
                "serve",
                "--port",
                str(port),
                "--workdir",
                str(workdir),
                "--leads",
                str(leads),
                "--seed",
                str(seed),
            ],
            base_env(),
            log,
            workdir,
        )
    )
    wait_for(
        "the sandbox to say ready",
        lambda: process.alive and "ready" in process.output().splitlines(),
        timeout=30,
        every=0.05,
    )
    if not process.alive:
        raise AssertionError(process.output())
    return process, read_env(workdir / "env")


def daemon_env(env: dict[str, str], **extra: str) -> dict[str, str]:
    return {
        **base_env(),
        **env,
        "JOURNEY_SYNC_INTERVAL": "1",
        "JOURNEY_SYNC_HEALTH_PORT": "0",
        **extra,
    }


def start_daemon(procs: Procs, workdir: Path, env: dict[str, str], **extra: str) -> Process:
    """``journey-sync run`` as a process (cycles every second, no health endpoint)."""
    return procs.add(
        Process([EXE, "run"], daemon_env(env, **extra), workdir / "daemon.log", workdir)
    )


def cycles_done(process: Process) -> int:
    return len(re.findall(r"cycle done", process.output()))


def wait_cycles(process: Process, count: int, *, timeout: float) -> None:
    """Wait until ``count`` more cycles have finished (from the daemon's log)."""
    target = cycles_done(process) + count
    wait_for(
        f"{count} more cycles",
        lambda: cycles_done(process) >= target or _dead(process),
        timeout=timeout,
    )
    assert process.alive, process.output()[-3000:]


def _dead(process: Process) -> bool:
    return not process.alive


# ------------------------------------------------------------------------ the APIs


@dataclass(frozen=True)
class Lead:
    row: int
    name: str
    lead_date: date | None
    lead_id: str | None
    cells: dict[str, Any]  # header -> value (UNFORMATTED_VALUE)


class Api:
    """The emulated Google Sheets and Todoist APIs, used as a person's tools would."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.workflow: Workflow = load_workflows(env["JOURNEY_SYNC_WORKFLOWS"]).workflows[0]
        self.sheets_url = env["JOURNEY_SYNC_SHEETS_API_URL"]
        self.todoist_url = env["JOURNEY_SYNC_TODOIST_API_URL"]
        self.todoist_token = env["TODOIST_API_TOKEN"]
        self.http = httpx.Client(timeout=10)
        self._credentials = service_account.Credentials.from_service_account_file(
            env["GOOGLE_APPLICATION_CREDENTIALS"], scopes=[SHEETS_SCOPE]
        )

    def close(self) -> None:
        self.http.close()

    # ---------------------------------------------------------------- Google

    def google_token(self) -> str:
        """A bearer token from the key file: google-auth posts a signed JWT to /token."""
        if not self._credentials.valid:
            self._credentials.refresh(GoogleRequest())
        return str(self._credentials.token)

    def _sheets(self, method: str, path: str, **kwargs: Any) -> Any:
        sheet_id = self.workflow.sheet.spreadsheet_id
        response = self._send(
            method,
            f"{self.sheets_url}/v4/spreadsheets/{sheet_id}{path}",
            headers={"Authorization": f"Bearer {self.google_token()}"},
            **kwargs,
        )
        response.raise_for_status()
        return response.json()

    def _send(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        return self.http.request(method, url, **kwargs)

    def values(self, range_a1: str | None = None, render: str = "UNFORMATTED_VALUE") -> list[Any]:
        range_a1 = range_a1 or self.workflow.sheet.worksheet
        data = self._sheets(
            "GET",
            f"/values/{quote(range_a1, safe='')}",
            params={"valueRenderOption": render, "dateTimeRenderOption": "SERIAL_NUMBER"},
        )
        return list(data.get("values", []))

    def put(self, range_a1: str, rows: list[list[Any]]) -> None:
        """Type into the sheet (``USER_ENTERED``: parsed as a person's typing is)."""
        self._sheets(
            "PUT",
            f"/values/{quote(range_a1, safe='')}",
            params={"valueInputOption": "USER_ENTERED"},
            json={"range": range_a1, "majorDimension": "ROWS", "values": rows},
        )

    def _sheet_id(self) -> int:
        meta = self._sheets("GET", "", params={"fields": "sheets.properties"})
        title = self.workflow.sheet.worksheet
        return int(
            next(
                s["properties"]["sheetId"]
                for s in meta["sheets"]
                if s["properties"]["title"] == title
            )
        )

    def batch_update(self, *requests: dict[str, Any]) -> None:
        self._sheets("POST", ":batchUpdate", json={"requests": list(requests)})

    def delete_rows(self, first_row: int, count: int = 1) -> None:
        """Delete rows (right click > Delete rows), 1-based."""
        span = {"sheetId": self._sheet_id(), "dimension": "ROWS"}
        self.batch_update(
            {
                "deleteDimension": {
                    "range": {
                        **span,
                        "startIndex": first_row - 1,
                        "endIndex": first_row - 1 + count,
                    }
                }
            }
        )

    def delete_column(self, header: str) -> None:
        """Delete the column under ``header`` (right click > Delete column)."""
        column = self.column(header)
        span = {"sheetId": self._sheet_id(), "dimension": "COLUMNS"}
        self.batch_update(
            {"deleteDimension": {"range": {**span, "startIndex": column - 1, "endIndex": column}}}
        )

    def add_column(self, header: str) -> None:
        """Add a column after the last header and type ``header`` into it."""
        last = len(self.headers())
        span = {"sheetId": self._sheet_id(), "dimension": "COLUMNS"}
        self.batch_update(
            {"insertDimension": {"range": {**span, "startIndex": last, "endIndex": last + 1}}}
        )
        self.put(f"{self.workflow.sheet.worksheet}!{column_letter(last + 1)}1", [[header]])

    def insert_row(self, before_row: int) -> None:
        """Insert an empty row above ``before_row`` (1-based), as the Sheets menu does."""
        sheet_id = self._sheet_id()
        span = {"sheetId": sheet_id, "dimension": "ROWS"}
        request = {"range": {**span, "startIndex": before_row - 1, "endIndex": before_row}}
        self._sheets(
            "POST",
            ":batchUpdate",
            json={"requests": [{"insertDimension": {**request, "inheritFromBefore": True}}]},
        )

    def headers(self) -> list[str]:
        rows = self.values(f"{self.workflow.sheet.worksheet}!1:1")
        return [str(h) for h in rows[0]] if rows else []

    def column(self, header: str) -> int:
        """1-based column of a header (as journey-sync finds it: by text)."""
        wanted = " ".join(header.split()).casefold()
        for index, text in enumerate(self.headers(), start=1):
            if " ".join(text.split()).casefold() == wanted:
                return index
        raise KeyError(header)

    def cell_a1(self, row: int, header: str) -> str:
        return f"{self.workflow.sheet.worksheet}!{column_letter(self.column(header))}{row}"

    def leads(self) -> list[Lead]:
        rows = self.values()
        if not rows:
            return []
        headers = [str(h) for h in rows[0]]
        columns = self.workflow.sheet.columns
        out: list[Lead] = []
        for index, row in enumerate(rows[1:], start=2):
            cells = {h: (row[i] if i < len(row) else "") for i, h in enumerate(headers)}
            name, when = cells.get(columns.name, ""), cells.get(columns.lead_date, "")
            marker = str(cells.get(columns.lead_id, ""))
            if name in ("", None) or when in ("", None):
                continue
            lead_id = marker if marker and not marker.startswith(FOOTER_MARK) else None
            lead_date = (
                SERIAL_EPOCH + timedelta(days=int(when)) if isinstance(when, int | float) else None
            )
            out.append(Lead(index, str(name), lead_date, lead_id, cells))
        return out

    def footer_rows(self) -> list[int]:
        lead_id = self.workflow.sheet.columns.lead_id
        rows = self.values()
        headers = [str(h) for h in rows[0]] if rows else []
        col = headers.index(lead_id) if lead_id in headers else -1
        return [
            i
            for i, row in enumerate(rows[1:], start=2)
            if col >= 0 and len(row) > col and str(row[col]).startswith(FOOTER_MARK)
        ]

    def type_lead(self, name: str, lead_date: date, source: str = "Website") -> int:
        """Type a new lead in the row under the last lead, as a person does (that row is
        the footer's blank separator row when journey-sync has written a footer)."""
        columns = self.workflow.sheet.columns
        leads = self.leads()
        row = (max(lead.row for lead in leads) if leads else self.workflow.sheet.header_row) + 1
        if row in self.footer_rows():
            # The footer sits right under the leads: "Insert 1 row above" first.
            self.insert_row(row)
        for header, value in (
            (columns.name, name),
            (columns.lead_date, lead_date.isoformat()),
            (columns.source, source),
            (columns.heard_about, "A friend"),
        ):
            if header is not None:
                self.put(self.cell_a1(row, header), [[value]])
        return row

    def lead(self, name: str) -> Lead:
        found = [lead for lead in self.leads() if lead.name == name]
        assert len(found) == 1, (name, found)
        return found[0]

    # --------------------------------------------------------------- Todoist

    def _todoist(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        response = self._send(
            method,
            f"{self.todoist_url}/api/v1{path}",
            headers={"Authorization": f"Bearer {self.todoist_token}"},
            **kwargs,
        )
        response.raise_for_status()
        return response

    def _pages(self, path: str, key: str, params: dict[str, str]) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        cursor: str | None = None
        while True:
            query = {**params, "limit": "200", **({"cursor": cursor} if cursor else {})}
            data = self._todoist("GET", path, params=query).json()
            out.extend(data[key])
            cursor = data.get("next_cursor")
            if not cursor:
                return out

    def open_tasks(self) -> list[dict[str, Any]]:
        return self._pages("/tasks", "results", {})

    def completed_tasks(self, days: int = 2) -> list[dict[str, Any]]:
        now = datetime.now(UTC)
        since = (now - timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%SZ")
        until = (now + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
        return self._pages(
            "/tasks/completed/by_completion_date", "items", {"since": since, "until": until}
        )

    def all_tasks(self) -> list[dict[str, Any]]:
        """Open and completed tasks (deleted ones are gone from both lists)."""
        return self.open_tasks() + self.completed_tasks()

    def task(self, task_id: str) -> dict[str, Any] | None:
        response = self._send(
            "GET",
            f"{self.todoist_url}/api/v1/tasks/{task_id}",
            headers={"Authorization": f"Bearer {self.todoist_token}"},
        )
        if response.status_code == 404:
            return None
        response.raise_for_status()
        return dict(response.json())

    def close_task(self, task_id: str) -> None:
        self._todoist("POST", f"/tasks/{task_id}/close")

    def reopen_task(self, task_id: str) -> None:
        self._todoist("POST", f"/tasks/{task_id}/reopen")

    def tasks_by_key(
        self, tasks: Iterable[dict[str, Any]] | None = None
    ) -> dict[tuple[str, str], list[dict[str, Any]]]:
        """(lead id, step key) -> the tasks carrying that marker."""
        out: dict[tuple[str, str], list[dict[str, Any]]] = {}
        for task in self.all_tasks() if tasks is None else tasks:
            key = parse_marker(str(task.get("description") or ""))
            if key is not None:
                out.setdefault(key, []).append(task)
        return out

    def tasks_of(self, lead_id: str) -> dict[str, dict[str, Any]]:
        """step key -> the lead's task (open or completed); fails on a duplicate."""
        out: dict[str, dict[str, Any]] = {}
        for (lead, step), tasks in self.tasks_by_key().items():
            if lead == lead_id:
                assert len(tasks) == 1, (lead, step, tasks)
                out[step] = tasks[0]
        return out

    # ----------------------------------------------------------- expectations

    def today(self) -> date:
        return today_in(self.workflow.zone, datetime.now(UTC))

    def expected_steps(self, lead_date: date, filled: Iterable[str] = ()) -> set[str]:
        """The steps a lead gets at its first cycle: all of them, except a touch-base
        whose day has passed (pointless now) and a step whose stage is already filled."""
        today = self.today()
        filled = set(filled)
        return {
            step.key
            for step in self.workflow.steps
            if not (step.marks is None and due_day(step, lead_date) < today)
            and not (step.marks is not None and step.marks in filled)
        }

    def expected_pairs(self, leads: Iterable[Lead]) -> set[tuple[str, str]]:
        pairs: set[tuple[str, str]] = set()
        for lead in leads:
            assert lead.lead_id is not None and lead.lead_date is not None, lead
            pairs |= {(lead.lead_id, s) for s in self.expected_steps(lead.lead_date)}
        return pairs


def run_once(env: dict[str, str], cwd: Path, *args: str) -> str:
    """``journey-sync run --once`` (or the command ``args`` name) as its own process; it must
    succeed without a traceback. Returns what it printed."""
    done = subprocess.run(
        [EXE, *(args or ("run", "--once"))],
        env=daemon_env(env),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    return done.stdout + done.stderr
