"""Putting the real pieces together from settings: gateways, state store, engines."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from .adapters.google_sheets import GoogleSheetsGateway, SheetsStats
from .adapters.retry import RetryPolicy, RetryStats
from .adapters.todoist import TodoistGateway
from .engine import Engine
from .lifecycle import GuardedSheet, GuardedTasks, StopFlag
from .ports import SheetGateway, TaskGateway
from .settings import Settings
from .state import StateStore, peek
from .workflow import Workflow, WorkflowFile


@dataclass
class ServiceStats:
    """Request counters per service, shared by every workflow's gateways (for /metrics)."""

    sheets: SheetsStats = field(default_factory=SheetsStats)
    todoist: RetryStats = field(default_factory=RetryStats)


def sheet_gateway(
    workflow: Workflow,
    settings: Settings,
    stats: RetryStats | None = None,
    *,
    retry: RetryPolicy | None = None,
    state: StateStore | None = None,
) -> GoogleSheetsGateway:
    """The workflow's sheet. With ``state``, the tab's id is remembered there, so a tab a
    person renamed is still found after a restart; without it, the id remembered in the
    state file (if any) is read, and nothing is written to it."""
    known: int | None = None
    remember: Callable[[int], None] | None = None
    if state is None:
        known = remembered_sheet_id(settings.state, workflow.name)
    else:
        known = _sheet_id(state, workflow.name)

        def remember(sheet_id: int) -> None:
            state.put_now(workflow.name, SHEET_ID_KEY, str(sheet_id))

    return GoogleSheetsGateway(
        spreadsheet=workflow.sheet.spreadsheet_id,
        worksheet=workflow.sheet.worksheet,
        credentials_file=settings.require_google_credentials(),
        base_url=settings.sheets_api_url,
        stats=stats,
        retry=retry if retry is not None else retry_policy(settings),
        known_sheet_id=known,
        on_sheet_id=remember,
    )


SHEET_ID_KEY = "worksheet_id"  # the state store's meta key for the tab's sheet id


def _sheet_id(state: StateStore, workflow: str) -> int | None:
    text = state.get(workflow, SHEET_ID_KEY)
    return int(text) if text is not None and text.lstrip("-").isdigit() else None


def remembered_sheet_id(state_path: Path, workflow: str) -> int | None:
    """The tab id a daemon remembered, read-only; None when there is none (the tab is
    then found by its name)."""
    return peek(state_path, lambda store: _sheet_id(store, workflow))


def retry_policy(settings: Settings, sleep: Callable[[float], None] | None = None) -> RetryPolicy:
    """The retry policy the settings ask for (``sleep``: the daemon's, which a stop ends)."""
    return RetryPolicy(
        max_attempts=settings.retry_attempts,
        base_delay=settings.retry_delay_seconds,
        sleep=sleep if sleep is not None else time.sleep,
    )


def task_gateway(
    settings: Settings, stats: RetryStats | None = None, *, retry: RetryPolicy | None = None
) -> TodoistGateway:
    return TodoistGateway(
        token=settings.require_todoist_token(),
        base_url=settings.todoist_api_url,
        stats=stats,
        retry=retry if retry is not None else retry_policy(settings),
    )


def build_engines(
    workflows: WorkflowFile,
    settings: Settings,
    state: StateStore,
    stats: ServiceStats,
    *,
    retry: RetryPolicy | None = None,
    stop: StopFlag | None = None,
    on_write: Callable[[str], None] | None = None,
) -> list[Engine]:
    """One engine per workflow; they share the state file and one Todoist gateway.

    With ``stop`` (the daemon's), every engine gets guarded gateways: no request starts
    once a stop was requested, the back-off sleeps end early on it (unless ``retry`` is
    given), and ``on_write(workflow)`` is called after each write a service accepted.
    Without it, the engines talk to the adapters directly (the benchmark, the demo).
    """
    settings.require_google_credentials()
    if retry is None and stop is not None:
        retry = retry_policy(settings, stop.sleep)
    tasks = task_gateway(settings, stats.todoist, retry=retry)
    engines: list[Engine] = []
    for workflow in workflows.workflows:
        sheet: SheetGateway = sheet_gateway(
            workflow, settings, stats.sheets, retry=retry, state=state
        )
        workflow_tasks: TaskGateway = tasks
        if stop is not None:
            hook = _hook(on_write, workflow.name)
            sheet = GuardedSheet(sheet, stop, hook)
            workflow_tasks = GuardedTasks(tasks, stop, hook)
        engines.append(
            Engine(
                workflow,
                sheet,
                workflow_tasks,
                state,
                missing_grace=timedelta(seconds=settings.missing_grace_seconds),
            )
        )
    return engines


def _hook(on_write: Callable[[str], None] | None, name: str) -> Callable[[], None] | None:
    if on_write is None:
        return None
    return lambda: on_write(name)
