"""``journey-sync demo``: a simulated year of a studio, run by the real sync cycle.

Everything real except the outside world: the engine, the Google Sheets and Todoist
gateways from ``wiring.py`` and the state store run exactly as the daemon runs them, over
HTTP, against the sandbox's emulators on 127.0.0.1. Only time and people are simulated:

* one clock, shared by the sandbox and the engine, moves one day per step through a year;
* leads arrive and are typed into the sheet under the last lead, as a person types them,
  except those from the website: their form posts to journey-sync's intake over HTTP
  (``website``), and the cycle writes their rows;
* Todoist's webhooks (the sandbox's app, authorised) tell journey-sync of each tick;
* staff tick their Todoist tasks as they come due, each client going as far along the
  funnel as their (seeded) story says: some never book a meeting, some never pay, some
  stay the whole year; a few marks are typed into the sheet by hand instead;
* the "Refer to a coach" task is assigned to a coach for most clients (journey-sync then
  writes the coach's name into the sheet);
* some clients leave, and someone types the reason into the sheet;
* journey-sync's cycle runs once per simulated day, with the intake's hooks around it
  as in the daemon; ``website`` records which cycles a form or a webhook asked for.

At the end ``simulate`` collects, as a ``DemoResult``, the sheet as the sandbox holds it,
each row's colour as the sheet's conditional-format rules evaluate it (not from our own
data), the footer rows as they read in the sheet, the funnel (the figures of
``journey-sync report``) and the requests the year cost. Rendering is elsewhere:
``terminal`` prints it, ``html_page`` writes the sheet as an HTML page. The same seed gives
the same year, byte for byte.
"""

from __future__ import annotations

import random
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from journey_sync.dates import due_day, today_in
from journey_sync.engine import Engine
from journey_sync.funnel import Funnel, funnel
from journey_sync.funnel_tab import plan_funnel_tab
from journey_sync.plan import parse_marker
from journey_sync.ports import TabWrites
from journey_sync.report import render_report
from journey_sync.settings import Settings, load_settings
from journey_sync.sheet import FOOTER_MARK, Lead, read_sheet
from journey_sync.state import StateStore
from journey_sync.wiring import sheet_gateway, task_gateway
from journey_sync.workflow import Workflow, load_workflows

from ..server import Sandbox
from ..sheets import Colour, Worksheet
from ..workdir import FIRST, HEARD, LAST, SOURCES, read_env_file
from .website import FormPost, Website

# The simulated year starts on a Monday morning (09:00 in London, in winter).
START = datetime(2025, 1, 6, 9, 0, tzinfo=UTC)
DAYS = 365

# How likely a client who reached the previous stage reaches each stage (by stage key).
# Stages the workflow has but this table lacks use DEFAULT_REACH.
REACH = {
    "contacted": 0.96,
    "meeting_booked": 0.72,
    "meeting_had": 0.86,
    "referred": 0.95,
    "complimentary": 0.85,
    "first_paid": 0.74,
    "month_1": 0.93,
    "month_2": 0.9,
    "month_3": 0.88,
    "month_6": 0.82,
    "month_12": 0.85,
}
DEFAULT_REACH = 0.85
WEBSITE = "Website"  # the source whose leads come through the web form, not typed in
# A client who stops short of a stage tells the studio why (else they just go quiet).
TELLS_WHY = 0.6
REASONS_EARLY = ("Not interested after all", "Joined another gym", "Too far from home")
REASONS_BEFORE_PAYING = ("Too expensive", "Chose another studio", "Not the right time")
REASONS_PAYING = ("Moved away", "Injury", "New job, no time", "Reached their goal")
BY_HAND = 0.06  # of stage marks, typed into the sheet instead of ticking the task
COACH_ASSIGNED = 0.75  # of "refer to coach" tasks, assigned to a coach before ticking
DAILY_DILIGENCE = (0.45, 0.9)  # chance per day that a due task gets done (per client)
# Leads already in the sheet when journey-sync starts (kept by hand until then): their
# marks and departures were typed by hand; journey-sync only adds the tasks still useful.
ALREADY_IN_SHEET = 0.2
HISTORY_DAYS = 150


class SimClock:
    """The simulated "now", shared by the sandbox and the engine."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now


@dataclass
class Client:
    """One lead's story, drawn when they arrive."""

    name: str
    source: str
    heard: str
    arrives: date
    reaches: int  # how many stages (in funnel order) they reach
    leaves: bool  # whether they tell the studio they are leaving, after the last stage
    reason: str
    leave_delay: int  # days after the first missed task's due date (at least 1)
    coach: bool
    by_hand: frozenset[str]  # stage keys whose 1 staff type into the sheet
    diligence: float
    leaving_day: date | None = None  # when they tell the studio (if they do)
    departed: bool = False


@dataclass
class YearStats:
    arrived: int = 0
    ticked: int = 0
    marks_by_hand: int = 0
    coaches_assigned: int = 0
    departures: int = 0
    cycles: int = 0
    cycle_seconds: float = 0.0
    inserted_rows: int = 0
    typed_into_separator: int = 0
    already_in_sheet: int = 0
    from_the_form: int = 0  # leads the website's form posted to the intake
    ticked_on: set[date] = field(default_factory=set)  # days staff ticked a task
    asked_by_webhooks_on: set[date] = field(default_factory=set)  # days a webhook asked
    webhooks_delivered: int = 0
    webhooks_answered_200: int = 0


@dataclass
class SheetRow:
    """A row as the sheet shows it (formatted values), and its evaluated colour."""

    row: int
    cells: list[str]
    colour: Colour | None


@dataclass
class DemoResult:
    """Everything the demo printed, as data (for tests)."""

    workflow: Workflow
    headers: list[str]
    leads: list[SheetRow]
    footer: list[SheetRow]
    figures: Funnel
    report: str  # render_report's overall and by-source tables
    traffic: dict[str, int]
    tasks_per_step: dict[tuple[str, str], int]
    html_path: Path
    stats: YearStats
    output: str = ""
    columns: dict[str, int] = field(default_factory=dict)  # header -> 0-based index
    typed_marks: set[tuple[str, str]] = field(default_factory=set)  # (name, stage key)
    funnel_tab: TabWrites | None = None  # the Funnel tab as journey-sync plans it
    form_posts: list[FormPost] = field(default_factory=list)  # the website's, with answers
    first_task_added: dict[str, date] = field(default_factory=dict)  # lead id -> day


def simulate(*, leads: int, out: Path, seed: int) -> DemoResult:
    """Run the year against the sandbox and collect what the sheet and Todoist hold."""
    clock = SimClock(START)
    rng = random.Random(seed)
    with (
        tempfile.TemporaryDirectory(prefix="journey-sync-demo-") as work,
        Sandbox(clock=clock, seed=seed) as sandbox,
    ):
        workdir = sandbox.write_workdir(Path(work), leads=0, seed=seed)
        settings = load_settings(read_env_file(workdir / "env"))
        workflow = load_workflows(settings.workflows).workflows[0]
        state = StateStore(settings.state)
        new_id = _new_id(random.Random(f"ids:{seed}"))
        website = Website(sandbox, workflow, settings.state, clock, new_id)
        try:
            engine = _engine(workflow, settings, state, clock, new_id)
            studio = Studio(sandbox, workflow, clock, rng)
            studio.live_a_year(engine, _arrivals(rng, leads, workflow), website)
            studio.stats.webhooks_delivered, studio.stats.webhooks_answered_200 = (
                website.deliveries()
            )
            posts = website.answers()
            traffic = sandbox.traffic.counts()
            # What `journey-sync report` reads: the sheet, through the real gateway.
            engine_leads = list(read_sheet(workflow, engine.sheet.read()).leads)
        finally:
            website.close()
            state.close()
        result = _collect(sandbox, workflow, studio, engine_leads, traffic, out)
        result.form_posts = posts
        return result


def _new_id(ids: random.Random) -> Callable[[], str]:
    """Lead ids from the seed (journey-sync's own are random), for the engine and the
    intake alike, so the same seed gives the same year."""
    alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"

    def new_id() -> str:
        return "L-" + "".join(ids.choice(alphabet) for _ in range(8))

    return new_id


def _engine(
    workflow: Workflow,
    settings: Settings,
    state: StateStore,
    clock: Callable[[], datetime],
    new_id: Callable[[], str],
) -> Engine:
    return Engine(
        workflow,
        sheet_gateway(workflow, settings),
        task_gateway(settings),
        state,
        clock=clock,
        new_id=new_id,
    )


# --------------------------------------------------------------------------- people


def _arrivals(rng: random.Random, count: int, workflow: Workflow) -> list[Client]:
    """``count`` clients arriving over the year, each with their story."""
    before = round(count * ALREADY_IN_SHEET)
    days = sorted(
        [-rng.randrange(1, HISTORY_DAYS) for _ in range(before)]
        + [rng.randrange(DAYS - 7) for _ in range(count - before)]
    )
    taken: set[str] = set()
    clients: list[Client] = []
    stages = [s.key for s in workflow.stages]
    for day in days:
        while True:
            name = f"{rng.choice(FIRST)} {rng.choice(LAST)}"
            if name not in taken:
                taken.add(name)
                break
        source = rng.choice(SOURCES)
        reaches = 0
        for key in stages:
            if rng.random() >= REACH.get(key, DEFAULT_REACH):
                break
            reaches += 1
        paid_at = stages.index(workflow.paid_stage) if workflow.paid_stage else len(stages)
        pool: tuple[str, ...]
        if reaches == 0:
            pool = REASONS_EARLY
        elif reaches <= paid_at:
            pool = REASONS_BEFORE_PAYING if reaches > 1 else REASONS_EARLY
        else:
            pool = REASONS_PAYING
        clients.append(
            Client(
                name=name,
                source=source,
                heard=rng.choice(HEARD[source]),
                arrives=START.date() + timedelta(days=day),
                reaches=reaches,
                leaves=reaches < len(stages) and rng.random() < TELLS_WHY,
                reason=rng.choice(pool),
                leave_delay=rng.randrange(1, 10),
                coach=rng.random() < COACH_ASSIGNED,
                by_hand=frozenset(k for k in stages[:reaches] if rng.random() < BY_HAND),
                diligence=rng.uniform(*DAILY_DILIGENCE),
            )
        )
    return clients


class Studio:
    """The people: they type into the sheet and tick tasks, through the sandbox's
    Python API (what a person does in the Sheets and Todoist apps)."""

    def __init__(
        self, sandbox: Sandbox, workflow: Workflow, clock: SimClock, rng: random.Random
    ) -> None:
        assert sandbox.spreadsheet is not None
        self.sandbox = sandbox
        self.todoist = sandbox.todoist
        self.workflow = workflow
        self.clock = clock
        self.rng = rng
        self.sheet: Worksheet = sandbox.spreadsheet.worksheet(workflow.sheet.worksheet)
        self.header_row = workflow.sheet.header_row
        self.column = self._columns()
        self.stage_index = {s.key: i for i, s in enumerate(workflow.stages)}
        self.steps = {s.key: s for s in workflow.steps}
        self.clients: dict[str, Client] = {}
        self.stats = YearStats()
        self.typed_marks: set[tuple[str, str]] = set()  # (name, stage key) typed by hand
        self.coaches = [c["id"] for c in self.todoist.list_collaborators()]

    def _columns(self) -> dict[str, int]:
        columns = self.workflow.sheet.columns
        wanted = dict(columns.roles())
        out = {role: self.sheet.header_column(h, self.header_row) for role, h in wanted.items()}
        for stage in self.workflow.stages:
            out["stage:" + stage.key] = self.sheet.header_column(stage.header, self.header_row)
        return out

    # ----------------------------------------------------------------- the year

    def live_a_year(self, engine: Engine, arrivals: Sequence[Client], website: Website) -> None:
        queue = list(arrivals)
        asked = 0
        for day_index in range(DAYS):
            self.clock.now = START + timedelta(days=day_index)
            today = self.clock.now.date()
            self.work_on_tasks(today)
            self.departures(today)
            now_asked = website.asks_by_webhooks()
            if now_asked > asked:
                self.stats.asked_by_webhooks_on.add(today)
            asked = now_asked
            while queue and queue[0].arrives <= today:
                client = queue.pop(0)
                if client.source == WEBSITE and client.arrives >= START.date():
                    self.post_form(client, website)
                else:
                    self.type_lead(client)
            started = time.monotonic()
            website.run_cycle(engine)
            self.stats.cycle_seconds += time.monotonic() - started
            self.stats.cycles += 1

    # ------------------------------------------------------------------- sheet

    def type_lead(self, client: Client) -> None:
        """Type a new lead in the row under the last lead, as a person does; if that row
        is taken (the footer sits right under the leads), insert a row there first.

        A lead from before the simulated year (the sheet as the studio kept it by hand
        before journey-sync) comes with the marks and departure typed back then."""
        row = self.last_lead_row() + 1
        if self._row_has_content(row):
            self.sheet.insert_rows(row)
            self.stats.inserted_rows += 1
        elif self._footer_below(row):
            self.stats.typed_into_separator += 1
        cells = {
            self.column["name"]: client.name,
            self.column["lead_date"]: client.arrives.isoformat(),
        }
        if "source" in self.column:
            cells[self.column["source"]] = client.source
        if "heard_about" in self.column:
            cells[self.column["heard_about"]] = client.heard
        for col, text in cells.items():
            self.sheet.set_cell(row, col, text)  # USER_ENTERED, as typed
        self._arrived(client)
        if client.arrives >= START.date():
            return
        self.stats.already_in_sheet += 1
        for key, day in self._stage_days(client).items():
            if day < START.date():
                self._type_mark(client, key, row)
        if client.leaving_day is not None and client.leaving_day < START.date():
            self._type_departure(client, row, typed_left_on=client.leaving_day)

    def post_form(self, client: Client, website: Website) -> None:
        """A lead from the website: the visitor fills in the form (no date: journey-sync
        takes today's), and journey-sync's cycle writes the row."""
        fields = {"name": client.name, "source": client.source, "heard_about": client.heard}
        roles = dict(self.workflow.sheet.columns.roles())
        post = website.post_form({k: v for k, v in fields.items() if k in roles})
        if post.error is not None or (post.status is not None and post.status >= 400):
            raise RuntimeError(
                f"the intake refused {client.name}'s form: {post.error or post.answer}"
            )
        self._arrived(client)
        self.stats.from_the_form += 1

    def _arrived(self, client: Client) -> None:
        self.clients[client.name] = client
        self.stats.arrived += 1
        client.leaving_day = self._leaving_day(client)

    def last_lead_row(self) -> int:
        name_col, date_col = self.column["name"], self.column["lead_date"]
        last = self.header_row
        rows = self.sheet.evaluated_rows()
        for index in range(self.header_row, len(rows)):
            row = rows[index]
            name = row[name_col - 1] if len(row) >= name_col else ""
            when = row[date_col - 1] if len(row) >= date_col else ""
            if name not in ("", None) and when not in ("", None):
                last = index + 1
        return last

    def _row_has_content(self, row: int) -> bool:
        return any(
            self.sheet.value(row, col) not in (None, "")
            for col in range(1, self.sheet.column_count + 1)
        )

    def _footer_below(self, row: int) -> bool:
        value = self.sheet.value(row + 1, self.column["lead_id"])
        return isinstance(value, str) and value.startswith(FOOTER_MARK)

    def row_of(self, name: str) -> int | None:
        col = self.column["name"]
        for row in range(self.header_row + 1, self.sheet.row_count + 1):
            if self.sheet.value(row, col) == name:
                return row
        return None

    def lead_ids(self) -> dict[str, str]:
        """Lead id -> client name, read off the sheet (journey-sync wrote the ids)."""
        name_col, id_col = self.column["name"], self.column["lead_id"]
        out: dict[str, str] = {}
        # As entered (formulas as text): ids and names are plain values, and evaluating the
        # footer's formulas for this look-up was a third of the demo's time.
        for row in self.sheet.get_grid("FORMULA")[self.header_row :]:
            if len(row) >= max(name_col, id_col):
                lead_id, name = row[id_col - 1], row[name_col - 1]
                if isinstance(lead_id, str) and lead_id.startswith("L-"):
                    out[lead_id] = str(name)
        return out

    # ----------------------------------------------------------------- stories

    def _will_do(self, client: Client, step_key: str) -> bool:
        """A stage step: done if the client gets that far. A step that marks nothing
        (a touch-base): done if they reached the stage of the step before it."""
        step_keys = [s.key for s in self.workflow.steps]
        index = step_keys.index(step_key)
        for key in reversed(step_keys[: index + 1]):
            marks = self.steps[key].marks
            if marks is not None:
                return self.stage_index[marks] < client.reaches
        return client.reaches > 0

    def _stage_days(self, client: Client) -> dict[str, date]:
        """The stages the client reaches, each with the due day of its step."""
        out: dict[str, date] = {}
        for step in self.workflow.steps:
            if step.marks is not None and self.stage_index[step.marks] < client.reaches:
                day = due_day(step, client.arrives)
                out[step.marks] = min(day, out.get(step.marks, day))
        return out

    def _leaving_day(self, client: Client) -> date | None:
        """Some days after the first task they will never do comes due."""
        if not client.leaves:
            return None
        missed = [
            due_day(step, client.arrives)
            for step in self.workflow.steps
            if not self._will_do(client, step.key)
        ]
        if not missed:
            return None
        return min(missed) + timedelta(days=client.leave_delay)

    # ------------------------------------------------------------------ Todoist

    def work_on_tasks(self, today: date) -> None:
        """Staff go through their open tasks that are due, oldest first."""
        names = self.lead_ids()
        project = self.todoist.project_named(self.workflow.todoist_project)
        if project is None:
            return
        tasks = sorted(
            self.todoist.tasks(str(project["id"])),
            key=lambda t: (str((t.get("due") or {}).get("date", "")), str(t["id"])),
        )
        for task in tasks:
            due = _due_day(task)
            key = parse_marker(str(task.get("description") or ""))
            if due is None or key is None or due > today:
                continue
            client = self.clients.get(names.get(key[0], ""))
            step = self.steps.get(key[1])
            if client is None or client.departed or step is None:
                continue
            if not self._will_do(client, step.key):
                continue  # they never get that far: the task stays open, overdue
            if self.rng.random() >= client.diligence:
                continue  # not today
            if step.marks is not None and step.marks in client.by_hand:
                self._type_mark(client, step.marks)
                continue
            if step.key == "refer_to_coach" and client.coach and self.coaches:
                self.todoist.assign(str(task["id"]), self.rng.choice(self.coaches))
                self.stats.coaches_assigned += 1
            self.todoist.complete(str(task["id"]))
            self.stats.ticked += 1
            self.stats.ticked_on.add(today)

    def _type_mark(self, client: Client, stage_key: str, row: int | None = None) -> None:
        row = row or self.row_of(client.name)
        if row is None:
            return
        column = self.column["stage:" + stage_key]
        if self.sheet.value(row, column) in (None, ""):
            self.sheet.set_cell(row, column, "1")  # USER_ENTERED: the number 1
            self.stats.marks_by_hand += 1
            self.typed_marks.add((client.name, stage_key))

    def departures(self, today: date) -> None:
        for client in self.clients.values():
            if client.leaving_day == today and not client.departed:
                row = self.row_of(client.name)
                if row is not None:
                    self._type_departure(client, row)

    def _type_departure(self, client: Client, row: int, typed_left_on: date | None = None) -> None:
        self.sheet.set_cell(row, self.column["reason_left"], client.reason)
        if typed_left_on is not None and "left_on" in self.column:
            self.sheet.set_cell(row, self.column["left_on"], typed_left_on.isoformat())
        client.departed = True
        self.stats.departures += 1


def _due_day(task: dict[str, Any]) -> date | None:
    due = task.get("due")
    if not isinstance(due, dict) or not due.get("date"):
        return None
    try:
        return date.fromisoformat(str(due["date"])[:10])
    except ValueError:
        return None


# -------------------------------------------------------------------- collecting


def _collect(
    sandbox: Sandbox,
    workflow: Workflow,
    studio: Studio,
    leads_read: list[Lead],
    traffic: dict[str, int],
    out: Path,
) -> DemoResult:
    sheet = studio.sheet
    shown = sheet.formatted_rows()
    width = max((len(r) for r in shown), default=0)
    headers = [str(c) for c in (shown[workflow.sheet.header_row - 1] if shown else [])]
    headers += [""] * (width - len(headers))
    id_col = studio.column["lead_id"]
    lead_rows: list[SheetRow] = []
    footer_rows: list[SheetRow] = []
    for index in range(workflow.sheet.header_row, len(shown)):
        cells = [str(c) for c in shown[index]] + [""] * (width - len(shown[index]))
        if not any(cells):
            continue
        row = index + 1
        entry = SheetRow(row, cells, sheet.row_colour(row))
        marker = cells[id_col - 1] if len(cells) >= id_col else ""
        is_lead = bool(cells[studio.column["name"] - 1] and cells[studio.column["lead_date"] - 1])
        if marker.startswith(FOOTER_MARK) and not is_lead:
            footer_rows.append(entry)
        else:
            lead_rows.append(entry)
    tasks = sandbox.todoist.tasks(include_completed=True, include_deleted=True)
    per_step: dict[tuple[str, str], int] = {}
    first_added: dict[str, date] = {}
    for task in tasks:
        key = parse_marker(str(task.get("description") or ""))
        if key is not None:
            per_step[key] = per_step.get(key, 0) + 1
            added = date.fromisoformat(str(task["added_at"])[:10])
            first_added[key[0]] = min(added, first_added.get(key[0], added))
    # The figures as of the year's last day, like the footer the engine wrote that day.
    today = today_in(workflow.zone, studio.clock.now)
    tab = plan_funnel_tab(workflow, leads_read, today, None)
    result = DemoResult(
        workflow=workflow,
        headers=headers,
        leads=lead_rows,
        footer=footer_rows,
        figures=funnel(workflow, leads_read, today),
        report=_report_text(workflow, leads_read, today),
        traffic=traffic,
        tasks_per_step=per_step,
        html_path=out / "sheet.html",
        stats=studio.stats,
        columns={h: i for i, h in enumerate(headers) if h},
        typed_marks=set(studio.typed_marks),
        funnel_tab=tab.writes if tab is not None else None,
        first_task_added=first_added,
    )
    return result


def _report_text(workflow: Workflow, leads: list[Lead], today: date) -> str:
    """``render_report``'s text without its by-month tables (a year of them is long)."""
    parts = render_report(workflow, leads, today=today).split("\n\n")
    return "\n\n".join(p for p in parts if not p.startswith("month "))


# ------------------------------------------------------------------- colours


def colour_tag(colour: Colour | None) -> str:
    """What a row's colour means, from the colour itself: green is paid, red left."""
    if colour is None:
        return ""
    if colour.red > 0.99 and colour.green > 0.99 and colour.blue > 0.99:
        return ""  # white
    if colour.green > colour.red and colour.green >= colour.blue:
        return "paid"
    if colour.red > colour.green and colour.red >= colour.blue:
        return "left"
    return f"colour {colour_hex(colour)}"


def colour_hex(colour: Colour) -> str:
    return "#" + "".join(f"{round(255 * c):02x}" for c in (colour.red, colour.green, colour.blue))
