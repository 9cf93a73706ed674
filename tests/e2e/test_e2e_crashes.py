"""Exactly once and nothing lost, across kill -9 and a lost state database, with
``journey-sync run`` and ``journey-sync sandbox serve`` as separate processes."""

from __future__ import annotations

import random
import sqlite3
import time
from pathlib import Path

import pytest

from support.e2e import (
    Api,
    Process,
    Procs,
    cycles_done,
    start_daemon,
    start_sandbox,
    wait_cycles,
    wait_for,
)

pytestmark = pytest.mark.e2e


def _exactly_once(api: Api) -> set[tuple[str, str]]:
    """Every (lead, step) that has a task; fails if any has two."""
    by_key = api.tasks_by_key()
    twice = {key: [t["id"] for t in tasks] for key, tasks in by_key.items() if len(tasks) > 1}
    assert not twice, f"duplicate tasks: {twice}"
    return set(by_key)


def _tasks_recorded(state: Path) -> int:
    """How many tasks the daemon has recorded so far (only to time a kill)."""
    try:
        with sqlite3.connect(f"file:{state}?mode=ro", uri=True, timeout=0.05) as db:
            return int(db.execute("SELECT count(*) FROM tasks").fetchone()[0])
    except sqlite3.Error:
        return 0


def _kill_at_random_point(daemon: Process, state: Path, rng: random.Random) -> None:
    """SIGKILL once the daemon has recorded a random number more tasks (then a random
    few ms later: mid-batch, between a batch's uuids being stored and its answer, or
    while the sheet is written), or after a random delay if there is nothing left."""
    # First, the daemon under way (on a loaded machine its start-up alone can outlast the
    # random delay below, and every kill would land before onboarding began): its first
    # task recorded, or a cycle done (nothing left to create).
    begin = _tasks_recorded(state)
    started = time.monotonic()
    while (
        daemon.alive
        and time.monotonic() < started + 30
        and _tasks_recorded(state) == begin
        and "cycle done" not in daemon.output()
    ):
        time.sleep(0.003)
    target = _tasks_recorded(state) + rng.randrange(50, 700)
    deadline = time.monotonic() + rng.uniform(0.3, 1.5)
    while daemon.alive and time.monotonic() < deadline:
        if _tasks_recorded(state) >= target:
            break
        time.sleep(0.003)
    time.sleep(rng.uniform(0, 0.015))
    daemon.kill()


def _wait_started(daemon: Process) -> None:
    wait_for(
        "the daemon to start",
        lambda: "journey-sync started" in daemon.output() or not daemon.alive,
        timeout=20,
        every=0.01,
    )
    assert daemon.alive, daemon.output()[-3000:]


def test_kill_9_at_random_points_while_onboarding_200_leads_leaves_exactly_one_task_each(
    procs: Procs, tmp_path: Path
) -> None:
    _, env = start_sandbox(procs, tmp_path, leads=200, seed=42)
    api = Api(env)
    rng = random.Random(20240501)
    state = Path(env["JOURNEY_SYNC_STATE"])
    expected_total = 0
    partial = []
    for _round in range(6):
        daemon = start_daemon(procs, tmp_path, env)
        _wait_started(daemon)
        _kill_at_random_point(daemon, state, rng)
        assert daemon.proc.returncode == -9, daemon.output()[-3000:]
        partial.append(len(api.open_tasks()))
    daemon = start_daemon(procs, tmp_path, env)
    leads = wait_for(
        "every lead to have an id",
        lambda: (leads := api.leads()) and all(x.lead_id for x in leads) and leads,
        timeout=30,
    )
    assert len(leads) == 200
    assert len({x.lead_id for x in leads}) == 200
    expected = api.expected_pairs(leads)
    expected_total = len(expected)
    wait_for(
        "every (lead, step) to have its task",
        lambda: _exactly_once(api) == expected,
        timeout=60,
        every=0.5,
    )
    wait_cycles(daemon, 2, timeout=20)  # and it stays so
    assert _exactly_once(api) == expected
    assert len(api.open_tasks()) == expected_total
    # The kills did land mid-onboarding (some rounds left it half done).
    assert any(0 < n < expected_total for n in partial), partial
    output = daemon.output()
    assert "second task" not in output  # the engine never even saw a duplicate
    daemon.terminate()
    api.close()


def test_a_deleted_state_database_loses_no_mark_and_duplicates_no_task(
    procs: Procs, tmp_path: Path
) -> None:
    _, env = start_sandbox(procs, tmp_path, leads=20, seed=7)
    api = Api(env)
    daemon = start_daemon(procs, tmp_path, env)
    leads = wait_for(
        "onboarding",
        lambda: (
            (leads := api.leads())
            and all(x.lead_id for x in leads)
            and _exactly_once(api) == api.expected_pairs(leads)
            and leads
        ),
        timeout=30,
    )
    ids_before = {x.name: x.lead_id for x in leads}
    first, second, third, fourth = leads[:4]
    assert first.lead_id and second.lead_id and third.lead_id and fourth.lead_id
    # Staff work: two ticks in Todoist and a 1 typed by hand.
    api.close_task(api.tasks_of(first.lead_id)["contact"]["id"])
    api.close_task(api.tasks_of(first.lead_id)["book_meeting"]["id"])
    api.close_task(api.tasks_of(second.lead_id)["contact"]["id"])
    api.put(api.cell_a1(third.row, "Client meeting booked"), [["1"]])
    hand_closed = api.tasks_of(third.lead_id)["book_meeting"]["id"]

    marks = {
        (first.name, "Client contacted"),
        (first.name, "Client meeting booked"),
        (second.name, "Client contacted"),
        (third.name, "Client meeting booked"),
    }

    def marked(pairs: set[tuple[str, str]]) -> bool:
        by_name = {x.name: x for x in api.leads()}
        return all(by_name[name].cells.get(header) == 1 for name, header in pairs)

    wait_for("the marks", lambda: marked(marks), timeout=15)
    wait_for("the hand mark's task closed", lambda: api.task(hand_closed)["checked"], timeout=15)

    assert daemon.terminate() == 0
    state = Path(env["JOURNEY_SYNC_STATE"])
    for path in state.parent.glob(state.name + "*"):  # the database, -wal and -shm
        path.unlink()
    assert not state.exists()
    # Done while the service was down: must be in the sheet after the restart.
    api.close_task(api.tasks_of(fourth.lead_id)["contact"]["id"])
    marks.add((fourth.name, "Client contacted"))

    daemon = start_daemon(procs, tmp_path, env)
    wait_for("every mark, old and new", lambda: marked(marks), timeout=20)
    wait_cycles(daemon, 3, timeout=20)
    assert marked(marks)
    now = api.leads()
    assert {x.name: x.lead_id for x in now} == ids_before  # no lead got a new id
    assert _exactly_once(api) == api.expected_pairs(now)
    assert api.task(hand_closed)["checked"] is True
    assert cycles_done(daemon) >= 3
    assert "Traceback" not in daemon.output()
    daemon.terminate()
    api.close()
