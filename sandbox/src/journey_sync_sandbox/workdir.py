"""A ready-to-run working directory for journey-sync against a running sandbox.

``write_workdir`` seeds the sandbox (a "Leads" worksheet with a studio's columns and
leads, a couple of coaches in Todoist) and writes beside it everything the daemon
needs: the service-account key (``token_uri`` -> the sandbox), the workflow file
pointing at the seeded spreadsheet, and an ``env`` file to ``source``.

The header row follows the workflow's columns, in the order a studio keeps them:
name, date of lead, how they heard, source, the stage columns in funnel order (the
coach's name right after "referred to coach"), then reason left, left on, lead id.
No stage marks and no lead ids are written: journey-sync writes those.
"""

from __future__ import annotations

import random
import re
import shlex
import string
from dataclasses import dataclass
from datetime import date, timedelta
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

if TYPE_CHECKING:
    from .server import Sandbox
    from .sheets import Spreadsheet

SOURCES = ("Instagram", "Referral", "Website", "Walk-in", "Google Ads")
HEARD = {
    "Instagram": ("Saw your reels on Instagram", "A post shared by a friend", "Instagram ad"),
    "Referral": ("My friend trains here", "Recommended by my physio", "A colleague's tip"),
    "Website": ("Found your website", "Read the blog", "Searched for coaches nearby"),
    "Walk-in": ("Walked past the studio", "Saw the sign outside", "Lives around the corner"),
    "Google Ads": ("Clicked a Google ad", "Searched 'personal trainer near me'", "Maps listing"),
}
FIRST = (
    "Amelia", "Oliver", "Isla", "Noah", "Ava", "Leo", "Mia", "Arthur", "Freya", "Theo",
    "Grace", "Oscar", "Lily", "Harry", "Ella", "Jack", "Sofia", "George", "Chloe", "Jacob",
    "Priya", "Mohammed", "Zara", "Kai", "Nina", "Tomasz", "Aisha", "Luca", "Maya", "Ethan",
)  # fmt: skip
LAST = (
    "Smith", "Jones", "Taylor", "Brown", "Williams", "Wilson", "Johnson", "Davies", "Patel",
    "Robinson", "Wright", "Thompson", "Evans", "Walker", "White", "Roberts", "Green", "Hall",
    "Khan", "Lewis", "Clarke", "Novak", "Okafor", "Rossi", "Murphy", "Kowalski", "Ahmed",
)  # fmt: skip
COACHES = (("Sam Carter", "sam.carter@studio.example"), ("Priya Shah", "priya.shah@studio.example"))
SPREADSHEET_TITLE = "Studio leads"
LEAD_WINDOW_DAYS = 180  # leads arrive over the months before "today"


@dataclass(frozen=True)
class SheetPlan:
    """What the workflow file says about the sheet."""

    worksheet: str
    header_row: int
    headers: list[str]
    roles: dict[str, str]  # role -> header
    date_pattern: str


def example_workflow_text() -> str:
    return (resources.files("journey_sync") / "examples" / "workflows.yaml").read_text("utf-8")


def sheet_plan(workflow_text: str) -> SheetPlan:
    """Read the first workflow's sheet layout with plain YAML (the loader is not needed)."""
    data = yaml.safe_load(workflow_text)
    workflow = data["workflows"][0]
    sheet = workflow["sheet"]
    columns: dict[str, Any] = dict(sheet["columns"])
    extra: dict[str, str] = dict(columns.pop("extra", None) or {})
    stages = [(str(s["key"]), str(s["header"])) for s in workflow["stages"]]
    headers: list[str] = [
        str(columns[r]) for r in ("name", "lead_date", "heard_about", "source") if columns.get(r)
    ]
    coach = columns.get("coach")
    for key, header in stages:
        headers.append(header)
        if coach and key == "referred":
            headers.append(str(coach))
    if coach and str(coach) not in headers:
        headers.append(str(coach))
    headers += [h for h in extra.values() if h not in headers]
    headers += [str(columns[r]) for r in ("reason_left", "left_on", "lead_id") if columns.get(r)]
    roles = {k: str(v) for k, v in columns.items() if v}
    return SheetPlan(
        worksheet=str(sheet["worksheet"]),
        header_row=int(sheet.get("header_row", 1)),
        headers=headers,
        roles=roles,
        date_pattern=_sheets_pattern(sheet.get("date_format")),
    )


def _sheets_pattern(strftime_format: Any) -> str:
    """``%d/%m/%Y`` -> ``dd/mm/yyyy``: lead dates shown the way the studio types them."""
    if not isinstance(strftime_format, str) or not strftime_format:
        return "yyyy-mm-dd"
    out = strftime_format
    for code, pattern in (
        ("%d", "dd"),
        ("%m", "mm"),
        ("%Y", "yyyy"),
        ("%y", "yy"),
        ("%b", "mmm"),
        ("%B", "mmmm"),
    ):
        out = out.replace(code, pattern)
    return "yyyy-mm-dd" if "%" in out else out


def spreadsheet_id(seed: int) -> str:
    """A 44-character id shaped like Google's (the recordings' ids start with 1)."""
    rng = random.Random(f"spreadsheet:{seed}")
    alphabet = string.ascii_letters + string.digits + "-_"
    return "1" + "".join(rng.choice(alphabet) for _ in range(43))


def seed_spreadsheet(
    sandbox: Sandbox, plan: SheetPlan, *, leads: int, seed: int, today: date
) -> Spreadsheet:
    rng = random.Random(seed)
    rows = max(1000, plan.header_row + leads + 200)
    book = sandbox.create_spreadsheet(
        SPREADSHEET_TITLE,
        spreadsheet_id=spreadsheet_id(seed),
        first_sheet=plan.worksheet,
        rows=rows,
        columns=max(26, len(plan.headers)),
    )
    sheet = book.worksheet(plan.worksheet)
    sheet.frozen_row_count = plan.header_row
    sheet.set_values((plan.header_row, 1), [plan.headers], raw=True)
    column = {header: index for index, header in enumerate(plan.headers)}
    days_back = sorted((rng.randint(0, LEAD_WINDOW_DAYS) for _ in range(leads)), reverse=True)
    names: set[str] = set()
    for offset, back in enumerate(days_back):
        row: list[Any] = [None] * len(plan.headers)
        name = _unique_name(rng, names)
        source = rng.choice(SOURCES)
        row[column[plan.roles["name"]]] = name
        row[column[plan.roles["lead_date"]]] = today - timedelta(days=back)
        if "source" in plan.roles:
            row[column[plan.roles["source"]]] = source
        if "heard_about" in plan.roles:
            row[column[plan.roles["heard_about"]]] = rng.choice(HEARD[source])
        sheet.set_values(
            (plan.header_row + 1 + offset, 1), [row], raw=True, date_pattern=plan.date_pattern
        )
    return book


def _unique_name(rng: random.Random, taken: set[str]) -> str:
    """A name no earlier lead has: two rows with the same name and lead date are held by
    journey-sync as a possible copy, which a seeded sheet of distinct clients must not
    have. Past the first-and-last-name pool, a middle initial (and then a number) tells
    them apart."""
    pool = len(FIRST) * len(LAST)
    while True:
        first, last = rng.choice(FIRST), rng.choice(LAST)
        if len(taken) < pool:
            name = f"{first} {last}"
        else:
            initial = chr(ord("A") + rng.randrange(26))
            name = f"{first} {initial}. {last}"
            if len(taken) >= pool * 27:
                name = f"{name} {len(taken)}"
        if name not in taken:
            taken.add(name)
            return name


def write_workdir(
    sandbox: Sandbox,
    directory: Path,
    *,
    leads: int = 20,
    seed: int = 0,
    workflow_yaml: Path | None = None,
) -> Path:
    if not sandbox.running:
        raise RuntimeError("start the sandbox before writing a workdir: files hold its URL")
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    text = (
        Path(workflow_yaml).read_text("utf-8")
        if workflow_yaml is not None
        else example_workflow_text()
    )
    plan = sheet_plan(text)
    book = seed_spreadsheet(sandbox, plan, leads=leads, seed=seed, today=sandbox.clock().date())
    sandbox.spreadsheet = book
    for full_name, email in COACHES:
        if not any(c["email"] == email for c in sandbox.todoist.list_collaborators()):
            sandbox.todoist.add_collaborator(full_name, email)
    workflows = directory / "workflows.yaml"
    workflows.write_text(
        re.sub(r"(?m)^(\s*spreadsheet:\s*).*$", lambda m: m.group(1) + book.id, text), "utf-8"
    )
    key_file = sandbox.service_account.write_key_file(
        directory / "service-account.json", f"{sandbox.url}/token"
    )
    env = {
        "GOOGLE_APPLICATION_CREDENTIALS": str(key_file.resolve()),
        "TODOIST_API_TOKEN": sandbox.todoist.token,
        "JOURNEY_SYNC_SHEETS_API_URL": sandbox.url,
        "JOURNEY_SYNC_TODOIST_API_URL": sandbox.url,
        "JOURNEY_SYNC_WORKFLOWS": str(workflows.resolve()),
        "JOURNEY_SYNC_STATE": str((directory / "journey-sync.db").resolve()),
    }
    app = sandbox.todoist_app
    if app is not None:
        # The Todoist app registered in the sandbox: for `journey-sync todoist-connect`
        # (OAuth) and for checking its webhooks' signatures.
        env["TODOIST_CLIENT_ID"] = app.app.client_id
        env["TODOIST_CLIENT_SECRET"] = app.app.client_secret
        env["JOURNEY_SYNC_TODOIST_OAUTH_URL"] = sandbox.url
    lines = [f"export {name}={shlex.quote(value)}" for name, value in env.items()]
    (directory / "env").write_text("\n".join(lines) + "\n", "utf-8")
    return directory


def read_env_file(path: Path) -> dict[str, str]:
    """The settings ``write_workdir`` wrote: ``export NAME=value`` lines, shell-quoted."""
    env: dict[str, str] = {}
    for line in path.read_text("utf-8").splitlines():
        words = shlex.split(line)
        if words[:1] == ["export"]:
            words = words[1:]
        for word in words:
            name, sep, value = word.partition("=")
            if sep:
                env[name] = value
    return env
