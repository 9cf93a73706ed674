"""The daemon as a real process against the sandbox (issue #5, points 1-4 and 7).

Each test runs ``journey-sync`` as a subprocess (the installed console script) against an
in-process ``Sandbox`` on a random port, with the environment ``write_workdir`` writes.
Everything a process prints is collected, and ``assert_clean`` checks that none of it
holds the Todoist token, the Google key's private parts or a bearer token.
"""

from __future__ import annotations

import json
import re
import signal
import socket
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from support.daemon import CYCLE_DONE, WORKFLOW, Service, Setup

pytestmark = pytest.mark.e2e


# ---------------------------------------------------------------- 1. run, --once, exit codes


def test_once_runs_one_cycle_and_exits_0_then_1_when_a_cycle_fails(setup: Setup) -> None:
    result = setup.run("run", "--once")
    assert result.returncode == 0, result.stderr
    assert len(re.findall(CYCLE_DONE, result.stderr)) == 1
    assert "12 leads (12 new)" in result.stderr
    assert setup.sandbox.todoist.project_named("Client journeys") is not None  # it ran
    refused = setup.run("run", "--once", TODOIST_API_TOKEN="not-the-token")
    assert refused.returncode == 1
    assert "Todoist refused the API token" in refused.stderr
    assert "Traceback" not in refused.stderr  # a UserError: its message, no traceback


def test_dry_run_prints_what_a_cycle_would_do_and_changes_nothing(setup: Setup) -> None:
    before = setup.sandbox.traffic.counts()
    result = setup.run("run", "--dry-run")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"{WORKFLOW}: [dry run] would do: 12 leads (12 new)")
    assert "would create task: " in result.stdout
    assert "... and " in result.stdout  # long lists are cut short
    after = setup.sandbox.traffic.counts()
    assert after.get("sheets_writes", 0) == before.get("sheets_writes", 0)
    assert setup.sandbox.todoist.project_named("Client journeys") is None


def test_an_invalid_workflow_stops_start_up_with_validates_messages(setup: Setup) -> None:
    path = Path(setup.env["JOURNEY_SYNC_WORKFLOWS"])
    path.write_text(path.read_text().replace("due: +0d", "due: tomorrow", 1))
    validate = setup.run("validate")
    result = setup.run("run")
    assert validate.returncode == result.returncode == 2
    assert result.stderr == validate.stderr
    # The location names the step by its key (validate's format since b8d6b36).
    assert re.search(r"workflows\.yaml:\d+: steps\[contact\]\.due", result.stderr)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"TODOIST_API_TOKEN": ""}, "No Todoist API token: set TODOIST_API_TOKEN"),
        (
            {"TODOIST_API_TOKEN_FILE": "/nonexistent/todoist_token"},
            "TODOIST_API_TOKEN_FILE is set to /nonexistent/todoist_token, which cannot be read",
        ),
        (
            {"GOOGLE_APPLICATION_CREDENTIALS": "/nonexistent/key.json"},
            "GOOGLE_APPLICATION_CREDENTIALS points at /nonexistent/key.json",
        ),
        ({"GOOGLE_APPLICATION_CREDENTIALS": ""}, "GOOGLE_APPLICATION_CREDENTIALS is not set"),
    ],
    ids=["no-token", "unreadable-token-file", "missing-key-file", "no-key-setting"],
)
def test_a_missing_secret_is_a_clear_error_at_start(
    setup: Setup, change: dict[str, str], message: str
) -> None:
    result = setup.run("run", **change)
    assert result.returncode == 2
    assert result.stderr.startswith(f"journey-sync: {message}")
    assert "Traceback" not in result.stderr


def test_a_token_file_is_read_like_a_docker_secret(setup: Setup) -> None:
    token_file = setup.workdir / "todoist_token"
    token_file.write_text(setup.env["TODOIST_API_TOKEN"] + "\n")
    result = setup.run(
        "run", "--once", TODOIST_API_TOKEN="", TODOIST_API_TOKEN_FILE=str(token_file)
    )
    assert result.returncode == 0, result.stderr


def test_a_second_run_on_the_same_state_file_exits_2(
    setup: Setup, service: Callable[..., Service]
) -> None:
    first = service()
    first.wait_for_log(CYCLE_DONE)
    second = setup.run("run", "--once")
    assert second.returncode == 2
    assert f"already using the state file {setup.env['JOURNEY_SYNC_STATE']}" in second.stderr
    assert f"(pid {first.process.pid})" in second.stderr
    assert first.stop()[0] == 0


# ------------------------------------------------------------------- 1. signals


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_while_idle_exits_0_at_once(
    service: Callable[..., Service], sig: signal.Signals
) -> None:
    running = service(JOURNEY_SYNC_INTERVAL="30")
    running.wait_for_log(CYCLE_DONE)
    code, took = running.stop(sig)
    assert code == 0 and took < 3
    assert f"journey-sync stopped ({sig.name})" in running.output


def test_sigterm_mid_cycle_finishes_the_request_in_flight_then_exits_0(
    setup: Setup, service: Callable[..., Service]
) -> None:
    running = service()
    running.wait_for_log(CYCLE_DONE)
    # Hold the next cycle's first request, as if the service were slow to answer.
    setup.sandbox.pause()
    held = setup.sandbox.traffic.counts()
    running.wait_for(lambda: setup.sandbox.held_requests > 0, 20, "the next cycle's request")
    running.process.send_signal(signal.SIGTERM)
    running.wait_for_log("received SIGTERM: finishing the request in flight")
    assert running.process.poll() is None  # waiting for its request, not killed
    started = time.monotonic()
    setup.sandbox.resume()
    code = running.process.wait(timeout=10)
    assert code == 0 and time.monotonic() - started < 3
    assert "cycle stopped between two requests, for shutdown" in running.output
    # The held request was answered; no request was started after the signal.
    after = setup.sandbox.traffic.counts()
    assert sum(after.values()) - sum(held.values()) <= 1


def test_sigterm_exits_0_within_the_shutdown_timeout_even_when_a_request_hangs(
    setup: Setup, service: Callable[..., Service]
) -> None:
    running = service(JOURNEY_SYNC_SHUTDOWN_TIMEOUT="2")
    running.wait_for_log(CYCLE_DONE)
    setup.sandbox.pause()  # and never resume: the request in flight hangs
    running.wait_for(lambda: setup.sandbox.held_requests > 0, 20, "the next cycle's request")
    code, took = running.stop()
    setup.sandbox.resume()
    assert code == 0 and 1.5 < took < 5
    assert "exiting anyway" in running.output


# ------------------------------------------------------------------ 2. logs


def test_text_logs_one_line_per_cycle_with_requests_and_warnings(setup: Setup) -> None:
    sheet = setup.sandbox.spreadsheet
    assert sheet is not None
    leads = sheet.worksheet("Leads")
    leads.set_cell(3, leads.header_column("Date of lead"), "next Tuesday", raw=True)
    result = setup.run("run", "--once")
    assert result.returncode == 0, result.stderr
    lines = result.stderr.splitlines()
    cycle = [ln for ln in lines if CYCLE_DONE in ln]
    assert len(cycle) == 1
    assert re.search(r" INFO +journey_sync\.daemon: ", cycle[0])
    assert re.search(r"requests: sheets \d+, todoist \d+", cycle[0])
    assert "12 leads (12 new)" in cycle[0] and "1 notes placed" in cycle[0]
    flagged = [ln for ln in lines if " WARNING " in ln and "flagged row 3" in ln]
    assert len(flagged) == 1, result.stderr


def test_json_logs_are_one_object_per_line(setup: Setup) -> None:
    result = setup.run("run", "--once", JOURNEY_SYNC_LOG_FORMAT="json")
    assert result.returncode == 0, result.stderr
    records = [json.loads(line) for line in result.stderr.splitlines()]
    cycles = [r for r in records if r.get("event") == "cycle"]
    assert len(cycles) == 1
    cycle = cycles[0]
    assert cycle["workflow"] == WORKFLOW and cycle["level"] == "info"
    assert cycle["leads"] == 12 and cycle["tasks_created"] > 0
    assert cycle["requests"]["sheets"] >= 1 and cycle["requests"]["todoist"] >= 1
    assert cycle["duration_seconds"] >= 0
    refused = setup.run(
        "run", "--once", JOURNEY_SYNC_LOG_FORMAT="json", TODOIST_API_TOKEN="wrong-token-1234"
    )
    failed = [json.loads(line) for line in refused.stderr.splitlines()]
    assert [r["event"] for r in failed if "event" in r] == ["cycle_failed"]
    assert "Todoist refused the API token" in failed[-1]["error"]
    assert "traceback" not in failed[-1]


def test_nothing_secret_in_any_output_even_when_the_token_is_refused(
    setup: Setup, service: Callable[..., Service]
) -> None:
    """Every run above checks its own output; this one looks harder at the failing paths."""
    setup.run("run", "--once")
    setup.run("run", "--once", TODOIST_API_TOKEN="refused-token-5678")
    setup.run("run", "--once", JOURNEY_SYNC_LOG_FORMAT="json", TODOIST_API_TOKEN="refused-9")
    setup.sandbox.fail_next("sheets", 401, count=3)
    setup.run("run", "--once")
    setup.sandbox.fail_next("oauth", 400, count=3)
    setup.run("run", "--once", JOURNEY_SYNC_LOG_FORMAT="json")
    setup.run("doctor")
    setup.run("doctor", TODOIST_API_TOKEN="refused-token-5678")
    running = service()
    running.wait_for_log(CYCLE_DONE)
    running.stop()
    everything = "\n".join([*setup.outputs, running.output])
    assert "Todoist refused the API token" in everything
    setup.assert_clean(everything)
    # The refused tokens are secrets too: they were the configured token of their run.
    assert "refused-token-5678" not in everything and "refused-9" not in everything


# --------------------------------------------------------------- 3. health and metrics


def test_health_is_200_after_a_good_cycle_and_503_when_the_services_are_gone(
    setup: Setup, service: Callable[..., Service]
) -> None:
    running = service(JOURNEY_SYNC_UNHEALTHY_AFTER="4")
    running.wait_for(lambda: running.get("/healthz")[0] == 200, 20, "healthz 200")
    running.wait_for_log(CYCLE_DONE)
    status, body = running.get("/healthz")
    assert body.startswith("ok\n") and f"{WORKFLOW}: ok: last successful cycle" in body
    health = setup.run("health", "--url", running.url("/healthz"))
    assert health.returncode == 0 and health.stdout.startswith("ok")
    status, metrics = running.get("/metrics")
    assert status == 200
    for pattern in [
        rf'journey_sync_cycles_total{{workflow="{WORKFLOW}"}} [1-9]',
        rf'journey_sync_cycle_failures_total{{workflow="{WORKFLOW}"}} 0',
        r'journey_sync_requests_total{service="sheets"} [1-9]',
        r'journey_sync_requests_total{service="todoist"} [1-9]',
        r'journey_sync_retries_total{service="todoist"} \d',
        rf'journey_sync_leads{{workflow="{WORKFLOW}",stage="contacted"}} 0',
        rf'journey_sync_last_success_timestamp_seconds{{workflow="{WORKFLOW}"}} 1\d{{9}}(\.\d+)?\n',
    ]:
        assert re.search(pattern, metrics), pattern
    # The services go away: after JOURNEY_SYNC_UNHEALTHY_AFTER (4 s) without a good cycle
    # or an accepted write, 503.
    setup.sandbox.stop()
    running.wait_for(lambda: running.get("/healthz")[0] == 503, 15, "healthz 503")
    status, body = running.get("/healthz")
    assert f"{WORKFLOW}: unhealthy: last successful cycle" in body
    assert "more than 4.0 s" in body
    health = setup.run("health", "--url", running.url("/healthz"))
    assert health.returncode == 1 and "unhealthy" in health.stdout
    # A stop during the back-off between retries is as quick as any other.
    code, took = running.stop()
    assert code == 0 and took < 3


def test_health_command_reads_the_port_setting(
    setup: Setup, service: Callable[..., Service]
) -> None:
    running = service()
    running.wait_for(lambda: running.get("/healthz")[0] == 200, 20, "healthz 200")
    assert setup.run("health", JOURNEY_SYNC_HEALTH_PORT=str(running.port)).returncode == 0
    running.stop()
    gone = setup.run("health", JOURNEY_SYNC_HEALTH_PORT=str(running.port))
    assert gone.returncode == 1 and "no answer from" in gone.stderr


def test_a_health_port_in_use_is_a_start_up_error(setup: Setup) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = setup.run("run", JOURNEY_SYNC_HEALTH_PORT=str(port))
    assert result.returncode == 2
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr
