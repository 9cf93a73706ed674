"""The services going away and pushing back, with ``journey-sync run`` as a process.

``journey-sync sandbox serve`` cannot keep its state across a restart (every start seeds
a new spreadsheet, Todoist account and service-account key), and has no quota option.
So these two tests run the sandbox in-process, in a thread of the test (``Sandbox``:
``stop()``/``start()`` on the same port keeps its state; ``pause()``/``resume()``;
``Quota``), while journey-sync is still a separate process talking HTTP to it.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest

from journey_sync_sandbox.quota import Quota
from journey_sync_sandbox.server import Sandbox
from support.e2e import (
    Api,
    Procs,
    read_env,
    start_daemon,
    wait_cycles,
    wait_for,
)

pytestmark = pytest.mark.e2e


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    started = Sandbox()
    try:
        yield started.start(0)
    finally:
        started.stop()


def _onboarded(api: Api) -> bool:
    leads = api.leads()
    if not leads or not all(x.lead_id for x in leads):
        return False
    by_key = api.tasks_by_key()
    assert all(len(t) == 1 for t in by_key.values())
    return set(by_key) == api.expected_pairs(leads)


def _type_in_the_sheets_app(sandbox: Sandbox, name: str, day: date) -> None:
    """A person types a lead in the Sheets web app (which works while the API path from
    the daemon is down): the one edit these tests make without the HTTP API."""
    assert sandbox.spreadsheet is not None
    sheet = sandbox.spreadsheet.worksheet("Leads")
    name_col, date_col = sheet.header_column("Client name"), sheet.header_column("Date of lead")
    last = max(
        row
        for row in range(2, sheet.row_count + 1)
        if sheet.value(row, name_col) not in (None, "")
        and sheet.value(row, date_col) not in (None, "")
    )
    if sheet.value(last + 1, name_col) not in (None, ""):
        sheet.insert_rows(last + 1)  # the footer sits right under the leads
    sheet.set_cell(last + 1, name_col, name)
    sheet.set_cell(last + 1, date_col, day.isoformat())


def test_the_daemon_rides_out_a_sandbox_outage_and_catches_up(
    procs: Procs, sandbox: Sandbox, tmp_path: Path
) -> None:
    sandbox.write_workdir(tmp_path, leads=8, seed=5)
    env = read_env(tmp_path / "env")
    api = Api(env)
    # The outage is the point, not the back-off's seconds: retries come quickly and give up
    # after three attempts, so the cycle fails (and the next starts) within a second.
    daemon = start_daemon(
        procs, tmp_path, env, JOURNEY_SYNC_RETRY_ATTEMPTS="3", JOURNEY_SYNC_RETRY_DELAY="0.05"
    )
    wait_for("onboarding", lambda: _onboarded(api), timeout=30)
    port = sandbox.port

    # 1. The services are gone (connections refused) for longer than the retry budget.
    sandbox.stop()
    before = daemon.output().count("cycle failed")
    wait_for(
        "a failed cycle logged",
        lambda: daemon.output().count("cycle failed") > before or not daemon.alive,
        timeout=45,
    )
    assert daemon.alive, daemon.output()[-3000:]
    _type_in_the_sheets_app(sandbox, "Olivia Outage", api.today())
    sandbox.start()  # same port, same state
    assert sandbox.port == port
    lead = wait_for(
        "the lead typed during the outage to get an id",
        lambda: next((x for x in api.leads() if x.name == "Olivia Outage" and x.lead_id), None),
        timeout=45,
    )
    assert lead.lead_id is not None
    lead_id = lead.lead_id
    wait_for(
        "its tasks",
        lambda: set(api.tasks_of(lead_id)) == api.expected_steps(api.today()),
        timeout=20,
    )
    assert _onboarded(api)

    # 2. The services hang (requests held) for longer than the interval, then answer.
    sandbox.pause()
    paused_at = time.monotonic()
    wait_for(
        "a while",
        lambda: time.monotonic() - paused_at > 1.5 or not daemon.alive,
        timeout=10,
    )
    assert daemon.alive
    sandbox.resume()
    wait_cycles(daemon, 2, timeout=30)

    output = daemon.output()
    failures = [line for line in output.splitlines() if "cycle failed" in line]
    assert failures, output[-3000:]
    # A connection failure is an expected failure: one line that says what happened and
    # that the next cycle retries, never a traceback.
    assert all("the next cycle retries" in line for line in failures), failures
    assert any("Could not reach" in line or "connect" in line.lower() for line in failures)
    assert "Traceback" not in output
    assert daemon.alive
    assert daemon.terminate() == 0
    api.close()


def _bucket(method: str, service: str) -> str:
    if service == "sheets":
        return "sheets read" if method == "GET" else "sheets write"
    return service


def test_quotas_make_the_daemon_back_off_honouring_retry_after_and_finish(
    procs: Procs, tmp_path: Path
) -> None:
    quota = Quota(
        sheets_reads_per_minute=2,
        sheets_writes_per_minute=1,
        # Windows of a second (Retry-After is whole seconds, so never less): honouring it
        # is the point, not the length of the wait.
        sheets_window_seconds=1,
        todoist_requests=3,
        todoist_window_seconds=1,
    )
    with Sandbox(quota=quota) as sandbox:
        sandbox.write_workdir(tmp_path, leads=40, seed=9)
        env = read_env(tmp_path / "env")
        daemon = start_daemon(procs, tmp_path, env)
        # Only the daemon talks to the sandbox until it is done: its log says when.
        wait_for(
            "the onboarding cycle",
            lambda: "40 leads (40 new)" in daemon.output() or not daemon.alive,
            timeout=60,
            every=0.5,
        )
        assert daemon.alive, daemon.output()[-3000:]
        wait_cycles(daemon, 3, timeout=40)  # quiet cycles: a read each, every second
        assert daemon.terminate() == 0
        log = sandbox.traffic.log()

        # The daemon was refused, by both services.
        refused = [e for e in log if e.status == 429]
        assert {e.service for e in refused} == {"sheets", "todoist"}, refused
        # It honoured Retry-After: the request after a 429 came once the window had
        # refilled, so it was never refused twice in a row in the same bucket.
        last: dict[str, int] = {}
        for entry in log:
            if entry.service not in ("sheets", "todoist"):
                continue
            bucket = _bucket(entry.method, entry.service)
            assert not (entry.status == 429 and last.get(bucket) == 429), (bucket, log)
            last[bucket] = entry.status
        output = daemon.output()
        assert "retries)" in output  # the cycle lines count the retries
        assert "cycle failed" not in output
        assert "Traceback" not in output

        # And it finished: every task, exactly once. Checked after the daemon stopped, and
        # not metered: the quota's (injectable) clock moves a whole window on at each
        # request, so the checks are never refused and never wait.
        # (Starting two windows on: the window of the daemon's last requests may be spent,
        # and a check inside it would be refused.)
        windows = itertools.count(time.monotonic() + 2.0, 1.0)
        quota.clock = lambda: float(next(windows))
        api = Api(env)
        assert _onboarded(api)
        assert len(api.leads()) == 40
        api.close()
