"""The daemon's parts in-process: stop flag, guards, lock, cycle logging, schedule (points 1-2)."""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest

from journey_sync.adapters.todoist import RATE_LIMITED
from journey_sync.cycles import CycleRunner, cycle_fields
from journey_sync.daemon import _IntakeFile
from journey_sync.dates import date_to_serial
from journey_sync.engine import CycleReport, Engine
from journey_sync.errors import AccessError, ApiError, ServiceError, SettingsError
from journey_sync.health import Health
from journey_sync.intake import add_lead
from journey_sync.intake_store import IntakeStore, intake_path
from journey_sync.lifecycle import (
    GuardedSheet,
    GuardedTasks,
    ShutdownRequested,
    StopFlag,
    state_lock,
)
from journey_sync.ports import CellWrite, CloseTask, SheetWrites
from journey_sync.schedule import Daemon
from journey_sync.settings import load_settings
from journey_sync.state import StateStore
from journey_sync.wiring import ServiceStats, build_engines
from journey_sync.workflow import load_workflows

# ------------------------------------------------------------------------ stop flag


def lead_row(name: str, day: date) -> list[object]:
    return [name, date_to_serial(day), "A friend", "Instagram"]


def test_stop_flag_sleep_ends_early_on_a_stop() -> None:
    stop = StopFlag()
    started = time.monotonic()
    stop.sleep(0.15)
    assert time.monotonic() - started >= 0.15
    threading.Timer(0.1, stop.request, args=("SIGTERM",)).start()
    started = time.monotonic()
    with pytest.raises(ShutdownRequested):
        stop.sleep(30)
    assert time.monotonic() - started < 2
    assert stop.signal_name == "SIGTERM" and not stop.forced
    stop.request("SIGINT")
    assert stop.signal_name == "SIGTERM" and stop.forced  # the first signal's name stays


def test_guards_refuse_new_requests_after_a_stop(make_world: Callable[..., object]) -> None:
    world = make_world([])
    stop = StopFlag()
    sheet = GuardedSheet(world.sheet, stop)  # type: ignore[attr-defined]
    tasks = GuardedTasks(world.todoist, stop)  # type: ignore[attr-defined]
    sheet.read()
    tasks.changes(None)
    stop.request("SIGTERM")
    with pytest.raises(ShutdownRequested):
        sheet.read()
    with pytest.raises(ShutdownRequested):
        tasks.apply([])
    with pytest.raises(ShutdownRequested):
        tasks.changes("t1")


# ----------------------------------------------------------------------------- lock


def test_state_lock_keeps_a_second_run_out(tmp_path: Path) -> None:
    state = tmp_path / "sub" / "journey-sync.db"
    with state_lock(state) as lock_path:
        assert lock_path == tmp_path / "sub" / "journey-sync.db.lock"
        with (
            pytest.raises(SettingsError, match=r"another journey-sync run \(pid \d+\)"),
            state_lock(state),
        ):
            pass
    with state_lock(state):  # released on exit
        pass


def test_state_lock_in_an_unusable_folder_is_a_settings_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with (
        pytest.raises(SettingsError, match="cannot create the lock file"),
        state_lock(blocker / "journey-sync.db"),
    ):
        pass


# --------------------------------------------------------------------- cycle runner


class FakeEngine:
    """Just what CycleRunner and Daemon use of an Engine."""

    def __init__(
        self,
        name: str,
        stats: ServiceStats,
        *,
        fail: Callable[[], Exception] | None = None,
        seconds: float = 0.0,
    ) -> None:
        self.name = name
        self.stats = stats
        self.fail = fail
        self.seconds = seconds
        self.cycles = 0
        self.running = 0
        self.max_running = 0

    def run_cycle(self, *, dry_run: bool = False) -> CycleReport:
        self.running += 1
        self.max_running = max(self.max_running, self.running)
        try:
            self.cycles += 1
            self.stats.sheets.requests += 1
            self.stats.todoist.requests += 2
            time.sleep(self.seconds)
            if self.fail is not None:
                raise self.fail()  # a fresh exception each time, like real code
            return CycleReport(self.name, leads=3, tasks_created=2, problems=["row 4: bad date"])
        finally:
            self.running -= 1


def test_a_good_cycle_logs_one_line_with_its_figures(caplog: pytest.LogCaptureFixture) -> None:
    stats = ServiceStats()
    stats.sheets.requests = 40  # from earlier cycles: the line shows this cycle's delta
    health = Health(["W"], 60, stats)
    runner = CycleRunner(stats, health)
    with caplog.at_level(logging.INFO):
        outcome = runner.cycle(FakeEngine("W", stats))  # type: ignore[arg-type]
    assert outcome.ok
    lines = [r for r in caplog.records if r.name == "journey_sync.daemon"]
    info = [r for r in lines if r.levelno == logging.INFO]
    assert len(info) == 1
    message = info[0].getMessage()
    assert message.startswith("W: cycle done in ")
    assert "3 leads (0 new), 2 tasks created, 0 marks written" in message
    assert "requests: sheets 1, todoist 2" in message
    fields = info[0].fields  # type: ignore[attr-defined]
    assert fields["requests"] == {"sheets": 1, "todoist": 2}
    assert fields["leads"] == 3 and fields["tasks_created"] == 2 and "duration_seconds" in fields
    warnings = [r for r in lines if r.levelno == logging.WARNING]
    assert [w.getMessage() for w in warnings] == ["W: flagged row 4: bad date"]
    assert 'journey_sync_cycles_total{workflow="W"} 1' in health.metrics()
    # The same row flagged again next cycle is not a second warning (its note stays in
    # the sheet); at debug level it is still there.
    caplog.clear()
    with caplog.at_level(logging.DEBUG):
        runner.cycle(FakeEngine("W", stats))  # type: ignore[arg-type]
    lines = [r for r in caplog.records if r.name == "journey_sync.daemon"]
    assert not [r for r in lines if r.levelno == logging.WARNING]
    assert [r.getMessage() for r in lines if r.levelno == logging.DEBUG] == [
        "W: flagged row 4: bad date"
    ]


def test_a_user_error_is_logged_without_traceback_and_an_unexpected_one_with(
    caplog: pytest.LogCaptureFixture,
) -> None:
    stats = ServiceStats()
    health = Health(["A", "B"], 60, stats)
    runner = CycleRunner(stats, health)

    def refused() -> Exception:
        return AccessError("Todoist refused the API token: copy a fresh one")

    with caplog.at_level(logging.INFO):
        assert not runner.cycle(FakeEngine("A", stats, fail=refused)).ok  # type: ignore[arg-type]
        assert not runner.cycle(FakeEngine("B", stats, fail=lambda: KeyError("x"))).ok  # type: ignore[arg-type]
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 2
    assert errors[0].getMessage() == (
        "A: cycle failed (fix this): Todoist refused the API token: copy a fresh one"
    )
    assert errors[0].exc_info is None
    assert errors[1].getMessage().startswith("B: cycle failed with an unexpected error: KeyError")
    assert errors[1].exc_info is not None
    assert 'journey_sync_cycle_failures_total{workflow="A"} 1' in health.metrics()


def test_a_stop_mid_cycle_is_not_a_failure(make_world: Callable[..., object]) -> None:
    world = make_world([lead_row("Ann", date(2026, 3, 1))])
    stop = StopFlag()
    engine = world.engine  # type: ignore[attr-defined]
    engine.sheet = GuardedSheet(engine.sheet, stop)
    engine.tasks = GuardedTasks(engine.tasks, stop)
    stop.request("SIGTERM")
    stats = ServiceStats()
    health = Health([engine.name], 60, stats)
    outcome = CycleRunner(stats, health).cycle(engine)
    assert outcome.stopped and not outcome.ok
    assert "journey_sync_cycle_failures_total" in health.metrics()
    assert f'journey_sync_cycles_total{{workflow="{engine.name}"}} 0' in health.metrics()


def test_dry_run_cycle_returns_the_plan_and_changes_nothing(
    make_world: Callable[..., object],
) -> None:
    world = make_world([lead_row("Ann", date(2026, 3, 1))])
    engine = world.engine  # type: ignore[attr-defined]
    outcome = CycleRunner(ServiceStats()).cycle(engine, dry_run=True)
    assert outcome.ok and outcome.plan is not None and outcome.report is not None
    assert outcome.report.dry_run and outcome.report.tasks_created > 0
    assert world.todoist.items == {}  # type: ignore[attr-defined]


# ------------------------------------------------------------------------- schedule


def _serve_for(daemon: Daemon, stop: StopFlag, seconds: float) -> float:
    threading.Timer(seconds, stop.request, args=("SIGTERM",)).start()
    started = time.monotonic()
    daemon.serve()  # in this (the main) thread, as in the real daemon
    return time.monotonic() - started


def _serve_until(
    daemon: Daemon, stop: StopFlag, done: Callable[[], bool], timeout: float = 10.0
) -> float:
    """Serve until ``done()`` holds (polled) or ``timeout`` passes; the seconds served."""

    def watch() -> None:
        deadline = time.monotonic() + timeout
        while not done() and time.monotonic() < deadline:
            time.sleep(0.01)
        stop.request("SIGTERM")

    threading.Thread(target=watch, daemon=True).start()
    started = time.monotonic()
    daemon.serve()
    return time.monotonic() - started


def test_each_workflow_runs_on_the_interval_and_a_failing_one_hurts_no_other(
    caplog: pytest.LogCaptureFixture,
) -> None:
    stats = ServiceStats()
    good = FakeEngine("good", stats)
    bad = FakeEngine("bad", stats, fail=lambda: RuntimeError("kaput"))
    health = Health(["good", "bad"], 0.25, stats)
    stop = StopFlag()
    daemon = Daemon([good, bad], CycleRunner(stats, health), stop, 0.25)  # type: ignore[list-item]
    with caplog.at_level(logging.INFO):
        # Until each ran twice and the failing one is reported (three 0.25 s intervals
        # without a success): a fixed 1.5 s gave one workflow a single run on a loaded
        # machine (tests on every core).
        took = _serve_until(
            daemon,
            stop,
            lambda: good.cycles >= 2 and bad.cycles >= 2 and "bad: unhealthy" in health.status()[1],
        )
    # It runs again and again, not once, and not in a busy loop.
    assert took < 3.0
    assert 2 <= good.cycles <= 9 and 2 <= bad.cycles <= 9
    assert 'journey_sync_cycle_failures_total{workflow="good"} 0' in health.metrics()
    assert health.metrics().count("kaput") == 0  # errors are in /healthz text, not metrics
    # Served past three 0.25 s intervals: the failing workflow is reported, alone.
    status = health.status()[1]
    assert "bad: unhealthy" in status and "last error: kaput" in status
    assert "good: ok" in status


def test_a_slow_cycle_never_overlaps_itself_and_late_runs_coalesce() -> None:
    stats = ServiceStats()
    slow = FakeEngine("slow", stats, seconds=0.5)
    stop = StopFlag()
    daemon = Daemon([slow], CycleRunner(stats), stop, 0.1)  # type: ignore[list-item]
    _serve_for(daemon, stop, 1.6)
    assert slow.max_running == 1
    # Five intervals pass during each cycle; coalescing runs them as one, not five.
    assert 2 <= slow.cycles <= 4


def test_a_stop_during_a_cycle_lets_it_finish_then_serve_returns() -> None:
    stats = ServiceStats()
    slow = FakeEngine("slow", stats, seconds=0.6)
    stop = StopFlag()
    daemon = Daemon([slow], CycleRunner(stats), stop, 10)  # type: ignore[list-item]
    took = _serve_for(daemon, stop, 0.2)  # the first cycle starts at once
    assert slow.cycles == 1 and 0.5 <= took < 1.5


# ------------------------------------------------------------ wiring and progress


class QuotaFrom:
    """A ``TaskGateway`` whose command batches from the ``refuse_from``-th on get Todoist's
    quota answer (after the retry budget)."""

    def __init__(self, inner: Any, refuse_from: int) -> None:
        self.inner = inner
        self.refuse_from = refuse_from
        self.batches = 0

    def changes(self, sync_token: str | None, take: Any = None) -> Any:
        return self.inner.changes(sync_token, take)

    def completed(self, *, project_id: str, since: Any) -> Any:
        return self.inner.completed(project_id=project_id, since=since)

    def apply(self, commands: Any) -> Any:
        self.batches += 1
        if self.batches >= self.refuse_from:
            raise ApiError("Todoist", 429, RATE_LIMITED)
        return self.inner.apply(commands)


class Monotonic:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_cycle_cut_short_by_the_quota_after_sending_work_counts_as_progress(
    make_world: Callable[..., Any],
) -> None:
    world = make_world([lead_row(f"Lead {n}", date(2026, 3, 2)) for n in range(12)])
    name = world.workflow.name
    clock = Monotonic()
    health = Health([name], 60, clock=clock, unhealthy_after=600)
    stop = StopFlag()
    todoist = QuotaFrom(world.todoist, refuse_from=2)

    def progress() -> None:
        health.record_progress(name)

    engine = Engine(
        world.workflow,
        GuardedSheet(world.sheet, stop, progress),
        GuardedTasks(todoist, stop, progress),
        world.state,
        clock=world.clock,
        new_id=world.new_id,
    )
    clock.now += 500
    outcome = CycleRunner(ServiceStats(), health).cycle(engine)
    assert not outcome.ok  # the quota cut the cycle short...
    assert todoist.batches == 2 and world.todoist.command_requests == 1  # ...after one batch
    clock.now += 500  # 1000 s after the start, 500 s after the accepted work
    healthy, text = health.status()
    assert healthy, text
    assert "last write accepted 500 s ago; the last cycle failed" in text
    clock.now += 101
    assert health.status()[0] is False  # and without more progress it turns unhealthy


def test_a_failing_cycle_that_sent_nothing_is_no_progress(
    make_world: Callable[..., Any],
) -> None:
    world = make_world([lead_row("Ada", date(2026, 3, 2))])
    name = world.workflow.name
    clock = Monotonic()
    health = Health([name], 60, clock=clock, unhealthy_after=600)
    stop = StopFlag()
    world.sheet.fail_next_apply = AccessError("the spreadsheet is not shared")
    engine = Engine(
        world.workflow,
        GuardedSheet(world.sheet, stop, lambda: health.record_progress(name)),
        GuardedTasks(world.todoist, stop, lambda: health.record_progress(name)),
        world.state,
        clock=world.clock,
        new_id=world.new_id,
    )
    clock.now += 500
    assert not CycleRunner(ServiceStats(), health).cycle(engine).ok
    assert world.todoist.command_requests == 0
    clock.now += 101
    healthy, text = health.status()
    assert not healthy and "last write accepted" not in text, text


def test_guards_report_accepted_writes_only() -> None:
    calls: list[str] = []

    class Sheet:
        def read(self) -> Any:
            return "snapshot"

        def apply(self, writes: SheetWrites) -> None:
            if writes.values and writes.values[0].value == "boom":
                raise AccessError("refused")

    class Tasks:
        def changes(self, sync_token: str | None, take: Any = None) -> Any:
            return None

        def completed(self, *, project_id: str, since: Any) -> Any:
            return ()

        def apply(self, commands: Any) -> Any:
            return ()

    stop = StopFlag()
    sheet = GuardedSheet(Sheet(), stop, lambda: calls.append("sheet"))  # type: ignore[arg-type]
    tasks = GuardedTasks(Tasks(), stop, lambda: calls.append("tasks"))  # type: ignore[arg-type]
    sheet.read()
    tasks.changes(None)
    sheet.apply(SheetWrites())  # nothing to write: no request, no progress
    tasks.apply([])
    assert calls == []
    sheet.apply(SheetWrites(values=(CellWrite(2, 3, 1),)))
    tasks.apply([CloseTask(uuid="u", task_id="1")])
    assert calls == ["sheet", "tasks"]
    with pytest.raises(AccessError):
        sheet.apply(SheetWrites(values=(CellWrite(2, 3, "boom"),)))
    assert calls == ["sheet", "tasks"]


def test_build_engines_gives_the_daemon_guarded_gateways(setup: Any) -> None:
    settings = load_settings(setup.env)
    workflows = load_workflows(settings.workflows)
    stop = StopFlag()
    seen: list[str] = []
    state = StateStore(":memory:")
    try:
        plain = build_engines(workflows, settings, state, ServiceStats())
        assert not isinstance(plain[0].sheet, GuardedSheet)
        engines = build_engines(
            workflows, settings, state, ServiceStats(), stop=stop, on_write=seen.append
        )
        assert [e.name for e in engines] == [w.name for w in workflows.workflows]
        engine = engines[0]
        assert isinstance(engine.sheet, GuardedSheet) and isinstance(engine.tasks, GuardedTasks)
        engine.run_cycle()  # against the sandbox: ids, tasks
        assert seen and set(seen) == {engine.name}
        stop.request("SIGTERM")
        with pytest.raises(ShutdownRequested):
            engine.run_cycle()
    finally:
        state.close()


def test_the_cycle_log_fields_carry_every_count_of_the_report() -> None:
    report = CycleReport("W", leads=3, tasks_moved=2, footer_written=True, failed_commands=["x"])
    fields = cycle_fields(report, dry_run=False)
    assert fields["event"] == "cycle" and fields["workflow"] == "W"
    assert fields["leads"] == 3 and fields["tasks_moved"] == 2 and fields["new_leads"] == 0
    assert fields["footer_written"] is True and fields["failed_commands"] == 1
    assert not {"dry_run", "duration", "figures", "problems"} & set(fields)
    assert cycle_fields(report, dry_run=True)["event"] == "dry_run"


def test_the_look_at_the_intake_file_asks_once_per_lead_add_lead_kept(tmp_path: Path) -> None:
    """The daemon's look for leads ``journey-sync add-lead`` kept (what the end-to-end
    ``test_a_lead_from_add_lead_gets_its_tasks_at_once_from_a_running_daemon`` sees as one
    more cycle), with its clock moved by hand instead of waiting a second per look: a kept
    lead asks for its workflow's cycle once; the cycle's own writes to the file (the lead
    written, the intake reopened) and later looks ask for nothing more."""
    settings = load_settings({"JOURNEY_SYNC_STATE": str(tmp_path / "state.db")})
    workflows = load_workflows(Path(__file__).parents[2] / "workflows.yaml").workflows
    (workflow,) = workflows
    now = [100.0]
    with contextlib.ExitStack() as stack:
        look = _IntakeFile(settings, workflows, stack, None, clock=lambda: now[0])
        assert look.kept_by_the_shell() == set()  # no intake file yet

        store = IntakeStore(intake_path(settings.state))
        stack.callback(store.close)
        day = datetime(2026, 12, 5, 9, 0, tzinfo=UTC)
        kept = add_lead(store, workflow, workflows, {"name": "Hal Quick"}, None, _no_sheet)
        assert kept.not_written is not None  # no sheet here: pending, for the daemon's cycle

        assert look.kept_by_the_shell() == set()  # within the second since the last look
        now[0] += _IntakeFile.EVERY
        assert look.kept_by_the_shell() == {workflow.name}
        # What the cycle does to the file: writes the lead into the sheet, and says so.
        store.written(kept.lead.lead_id, 12, day)
        for _ in range(3):
            now[0] += _IntakeFile.EVERY
            assert look.kept_by_the_shell() == set()

        # A second lead kept: one more cycle asked for, once.
        add_lead(store, workflow, workflows, {"name": "Ida Later"}, None, _no_sheet)
        now[0] += _IntakeFile.EVERY
        assert look.kept_by_the_shell() == {workflow.name}
        now[0] += _IntakeFile.EVERY
        assert look.kept_by_the_shell() == set()


def _no_sheet() -> Any:
    raise ServiceError("no sheet in this test")
