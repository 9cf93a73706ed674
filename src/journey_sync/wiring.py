"""Putting the real pieces together from settings: gateways, state store, engines."""

from __future__ import annotations

from dataclasses import dataclass, field

from .adapters.google_sheets import GoogleSheetsGateway, SheetsStats
from .adapters.retry import RetryPolicy, RetryStats
from .adapters.todoist import TodoistGateway
from .engine import Engine
from .settings import Settings
from .state import StateStore
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
) -> GoogleSheetsGateway:
    return GoogleSheetsGateway(
        spreadsheet=workflow.sheet.spreadsheet_id,
        worksheet=workflow.sheet.worksheet,
        credentials_file=settings.require_google_credentials(),
        base_url=settings.sheets_api_url,
        stats=stats,
        retry=retry,
    )


def task_gateway(
    settings: Settings, stats: RetryStats | None = None, *, retry: RetryPolicy | None = None
) -> TodoistGateway:
    return TodoistGateway(
        token=settings.require_todoist_token(),
        base_url=settings.todoist_api_url,
        stats=stats,
        retry=retry,
    )


def build_engines(
    workflows: WorkflowFile,
    settings: Settings,
    state: StateStore,
    stats: ServiceStats,
    *,
    retry: RetryPolicy | None = None,
) -> list[Engine]:
    """One engine per workflow; they share the state file and one Todoist gateway.

    ``retry`` lets the daemon give the gateways a policy whose back-off sleeps end early
    on shutdown; the default is the adapters' own.
    """
    settings.require_google_credentials()
    tasks = task_gateway(settings, stats.todoist, retry=retry)
    return [
        Engine(workflow, sheet_gateway(workflow, settings, stats.sheets, retry=retry), tasks, state)
        for workflow in workflows.workflows
    ]
