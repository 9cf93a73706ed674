"""``journey-sync doctor``: check the set-up against the live services, one line per check.

Each check says ``ok`` with what it found, or ``FAIL`` with what to do; a check that
needs an earlier one that failed says ``skip`` (and why) rather than failing again with a
less useful message. Doctor only reads, and only through the same gateways the daemon uses
(so it accepts exactly what the daemon accepts): one token request, one metadata and one
values read per worksheet, one Todoist ``/sync`` read of the projects, and the state
database opened read-only. Exit code 0 when every check passed, else 1.
"""

from __future__ import annotations

import os
import sys
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .adapters.retry import RetryPolicy
from .errors import AccessError, JourneySyncError, SettingsError, SheetLayoutError, UserError
from .ports import Project
from .settings import Settings, load_settings
from .sheet import find_layout
from .state import StateStore
from .workflow import Workflow, WorkflowFile, load_workflows

if TYPE_CHECKING:
    from google.auth.credentials import Credentials

    from .ports import SheetSnapshot

# Doctor is run by a person waiting at a terminal: fail fast rather than back off for long.
DOCTOR_RETRY = RetryPolicy(max_attempts=2, base_delay=0.5, max_delay=2.0)


@dataclass(frozen=True)
class Result:
    check: str
    ok: bool | None  # None: skipped
    detail: str

    def line(self) -> str:
        label = {True: "ok  ", False: "FAIL", None: "skip"}[self.ok]
        first, *rest = self.detail.splitlines() or [""]
        # A workflow file may have several problems: one per line, indented under it.
        return "\n".join([f"{label}  {self.check}: {first}", *(f"        {r}" for r in rest)])


class Doctor:
    def __init__(self, settings: Settings, out: IO[str]) -> None:
        self.settings = settings
        self.out = out
        self.results: list[Result] = []

    def report(self, check: str, ok: bool | None, detail: str) -> bool:
        result = Result(check, ok, detail)
        self.results.append(result)
        print(result.line(), file=self.out, flush=True)
        return ok is True

    def run(self) -> int:
        workflows = self.check_workflows()
        credentials = self.check_google_key()
        for workflow in workflows.workflows if workflows else ():
            self.check_sheet(workflow, credentials)
        projects = self.check_todoist_token()
        for workflow in workflows.workflows if workflows else ():
            self.check_project(workflow, projects)
            self.check_time_zone(workflow)
        self.check_state()
        failed = sum(1 for r in self.results if r.ok is False)
        skipped = sum(1 for r in self.results if r.ok is None)
        if failed:
            print(
                f"\n{failed} check(s) failed, {skipped} skipped: fix them and run "
                "`journey-sync doctor` again.",
                file=self.out,
            )
            return 1
        print(f"\nall {len(self.results)} checks passed.", file=self.out)
        return 0

    # ------------------------------------------------------------------ workflow file

    def check_workflows(self) -> WorkflowFile | None:
        path = self.settings.workflows
        try:
            workflows = load_workflows(path)
        except JourneySyncError as exc:
            self.report(
                "workflow file",
                False,
                f"{exc}\nfix it (`journey-sync validate` shows the same), then run doctor again.",
            )
            return None
        names = ", ".join(repr(w.name) for w in workflows.workflows)
        self.report("workflow file", True, f"{path} is valid: {names}")
        return workflows

    # ------------------------------------------------------------------ Google

    def check_google_key(self) -> Credentials | None:
        check = "Google key"
        from .adapters.sheets_transport import fetch_token, load_service_account

        try:
            path = self.settings.require_google_credentials()
            credentials = load_service_account(path)
        except JourneySyncError as exc:
            self.report(check, False, str(exc))
            return None
        email = getattr(credentials, "service_account_email", "the service account")
        try:
            fetch_token(credentials)
        except JourneySyncError as exc:
            self.report(check, False, str(exc))
            return None
        self.report(
            check, True, f"{path} is the key of {email}; Google accepted it (token obtained)"
        )
        return credentials

    def check_sheet(self, workflow: Workflow, credentials: Credentials | None) -> None:
        from .adapters.google_sheets import GoogleSheetsGateway

        where = f"[{workflow.name}]"
        spreadsheet = workflow.sheet.spreadsheet_id
        if credentials is None:
            for check in ("spreadsheet", "worksheet", "headers"):
                self.report(f"{where} {check}", None, "needs an accepted Google key")
            return
        email = getattr(credentials, "service_account_email", "the service account")
        snapshot: SheetSnapshot | None = None
        try:
            gateway = GoogleSheetsGateway(
                spreadsheet=spreadsheet,
                worksheet=workflow.sheet.worksheet,
                credentials=credentials,
                base_url=self.settings.sheets_api_url,
                retry=DOCTOR_RETRY,
            )
            snapshot = gateway.read()
        except SheetLayoutError as exc:
            # The spreadsheet answered (metadata read), the tab is missing.
            self.report(f"{where} spreadsheet", True, f"{spreadsheet} is shared with {email}")
            self.report(f"{where} worksheet", False, str(exc))
            self.report(f"{where} headers", None, "needs the worksheet")
            return
        except AccessError as exc:
            self.report(f"{where} spreadsheet", False, str(exc))
        except JourneySyncError as exc:
            self.report(
                f"{where} spreadsheet", False, f"{exc} (is JOURNEY_SYNC_SHEETS_API_URL right?)"
            )
        if snapshot is None:
            self.report(f"{where} worksheet", None, "needs the spreadsheet")
            self.report(f"{where} headers", None, "needs the spreadsheet")
            return
        self.report(f"{where} spreadsheet", True, f"{spreadsheet} is shared with {email}")
        self.report(f"{where} worksheet", True, f"{snapshot.title!r} found")
        try:
            layout = find_layout(workflow, snapshot)
        except JourneySyncError as exc:
            self.report(f"{where} headers", False, str(exc))
            return
        mapped = len(layout.roles) + len(layout.stages)
        self.report(
            f"{where} headers",
            True,
            f"all {mapped} mapped headers found in row {layout.header_row}",
        )

    # ------------------------------------------------------------------ Todoist

    def check_todoist_token(self) -> list[Project] | None:
        from .adapters.todoist import TodoistGateway

        check = "Todoist token"
        try:
            token = self.settings.require_todoist_token()
            with TodoistGateway(
                token=token, base_url=self.settings.todoist_api_url, retry=DOCTOR_RETRY
            ) as gateway:
                projects = list(gateway.projects())
        except AccessError as exc:
            self.report(check, False, str(exc))
            return None
        except JourneySyncError as exc:
            self.report(
                check,
                False,
                f"{exc} (is JOURNEY_SYNC_TODOIST_API_URL right? Try again later if Todoist "
                "is down.)",
            )
            return None
        self.report(check, True, f"accepted ({len(projects)} projects visible)")
        return projects

    def check_project(self, workflow: Workflow, projects: list[Project] | None) -> None:
        check = f"[{workflow.name}] Todoist project"
        wanted = workflow.todoist_project
        if projects is None:
            self.report(check, None, "needs an accepted Todoist token")
            return
        known_id = _state_value(self.settings.state, workflow.name, "project_id")
        by_id = {p.id: p for p in projects}
        if known_id is not None:
            project = by_id.get(known_id)
            if project is None or project.is_deleted:
                self.report(
                    check,
                    False,
                    f"the project {wanted!r} journey-sync created (id "
                    f"{known_id}) is gone: restore it in Todoist, or delete the state "
                    f"file {self.settings.state} to start a new project",
                )
                return
            if project.is_archived:
                self.report(
                    check,
                    False,
                    f"the project {wanted!r} (id {known_id}) is archived: unarchive it in Todoist",
                )
                return
            self.report(check, True, f"{wanted!r} present (id {known_id})")
            return
        live = [p for p in projects if p.name == wanted and not p.is_deleted and not p.is_archived]
        if live:
            self.report(
                check,
                True,
                f"{wanted!r} present (id {live[0].id}); journey-sync will use it",
            )
        else:
            self.report(
                check,
                True,
                f"{wanted!r} not there yet: the first cycle that has tasks to create creates it",
            )

    # ------------------------------------------------------------------ the rest

    def check_time_zone(self, workflow: Workflow) -> None:
        check = f"[{workflow.name}] time zone"
        try:
            zone = ZoneInfo(workflow.time_zone)
        except (ZoneInfoNotFoundError, ValueError):
            self.report(
                check,
                False,
                f"{workflow.time_zone!r} is not in this machine's time "
                "zone database: use an IANA name like Europe/London (or install "
                "tzdata)",
            )
            return
        now = datetime.now(UTC).astimezone(zone)
        self.report(check, True, f"{workflow.time_zone} (local time now {now:%Y-%m-%d %H:%M %Z})")

    def check_state(self) -> None:
        check = "state database"
        path = self.settings.state
        problem = _state_problem(path)
        if problem is None:
            what = "exists and is writable" if path.exists() else "will be created"
            self.report(check, True, f"{path} {what}")
        else:
            self.report(
                check,
                False,
                f"{path}: {problem}: set JOURNEY_SYNC_STATE to a file in a "
                "writable folder (in the container: the /data volume)",
            )


def _state_value(path: Path, workflow: str, key: str) -> str | None:
    """A meta value from an existing state file, read-only (doctor never creates one)."""
    if not path.is_file():
        return None
    try:
        store = StateStore.open_read_only(path)
    except UserError:
        return None  # check_state says what is wrong with it
    try:
        return store.get(workflow, key)
    finally:
        store.close()


def _state_problem(path: Path) -> str | None:
    """Why the state database could not be written, or None when it can."""
    if path.is_dir():
        return "is a folder, not a file"
    if path.exists():
        try:
            StateStore.open_read_only(path).close()
        except UserError as exc:
            return f"is not a journey-sync state database ({exc})"
        # SQLite writes the file and, beside it, its journal (-wal, -shm).
        for needed in (path, path.parent):
            if not os.access(needed, os.W_OK):
                return f"cannot be written ({needed} is read-only for this user)"
        return None
    folder = path.parent
    while not folder.exists():
        folder = folder.parent
    if not folder.is_dir():
        return f"{folder} is not a folder"
    try:
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".journey-sync-doctor-"):
            pass
    except OSError as exc:
        return f"cannot create files in {folder} ({exc.strerror})"
    return None


def doctor(*, out: IO[str] | None = None) -> int:
    stream = out if out is not None else sys.stdout
    try:
        settings = load_settings()
    except SettingsError as exc:
        # E.g. TODOIST_API_TOKEN_FILE unreadable: nothing else can be checked without it.
        print(Result("settings", False, str(exc)).line(), file=stream)
        return 1
    return Doctor(settings, stream).run()
