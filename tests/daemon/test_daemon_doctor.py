"""``journey-sync doctor`` against the sandbox: all green, then each failure provoked once
(issue #5, point 5). Each provoked run must fail exactly the check at fault, say what to do,
and skip (not fail) the checks that depend on it."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest

from journey_sync_sandbox.oauth import ServiceAccount
from support.daemon import WORKFLOW, Setup

pytestmark = pytest.mark.e2e


def _lines(output: str, label: str) -> list[str]:
    return [line for line in output.splitlines() if line.startswith(f"{label}  ")]


def test_doctor_passes_every_check_on_a_good_set_up(setup: Setup) -> None:
    result = setup.run("doctor")
    assert result.returncode == 0, result.stdout + result.stderr
    oks = _lines(result.stdout, "ok")
    assert [line.split(":")[0] for line in oks] == [
        "ok    workflow file",
        "ok    Google key",
        f"ok    [{WORKFLOW}] spreadsheet",
        f"ok    [{WORKFLOW}] worksheet",
        f"ok    [{WORKFLOW}] headers",
        "ok    Todoist token",
        f"ok    [{WORKFLOW}] Todoist project",
        f"ok    [{WORKFLOW}] time zone",
        "ok    state database",
    ]
    assert "token obtained" in oks[1]
    assert "will be created" in result.stdout  # the project, before the first cycle
    assert result.stdout.rstrip().endswith("all 9 checks passed.")
    # After a cycle the project exists and doctor says so.
    assert setup.run("run", "--once").returncode == 0
    again = setup.run("doctor")
    assert again.returncode == 0 and "'Client journeys' present (id " in again.stdout


def _edit_workflow(setup: Setup, old: str, new: str) -> None:
    path = Path(setup.env["JOURNEY_SYNC_WORKFLOWS"])
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))


def wrong_token(setup: Setup) -> dict[str, str]:
    return {"TODOIST_API_TOKEN": "not-the-right-token"}


def unshared_sheet(setup: Setup) -> dict[str, str]:
    assert setup.sandbox.spreadsheet is not None
    setup.sandbox.spreadsheet.unshare(setup.sandbox.service_account.client_email)
    return {}


def missing_worksheet(setup: Setup) -> dict[str, str]:
    _edit_workflow(setup, "worksheet: Leads", "worksheet: Leeds")
    return {}


def missing_header(setup: Setup) -> dict[str, str]:
    _edit_workflow(setup, "name: Client name", "name: Customer name")
    return {}


def key_of_another_account(setup: Setup) -> dict[str, str]:
    stranger = ServiceAccount.generate(client_email="stranger@elsewhere.iam.gserviceaccount.com")
    key = stranger.write_key_file(setup.workdir / "stranger.json", f"{setup.sandbox.url}/token")
    return {"GOOGLE_APPLICATION_CREDENTIALS": str(key)}


def not_a_key(setup: Setup) -> dict[str, str]:
    key = setup.workdir / "garbage.json"
    key.write_text("this is not JSON")
    return {"GOOGLE_APPLICATION_CREDENTIALS": str(key)}


def unwritable_state_dir(setup: Setup) -> dict[str, str]:
    # Tests run as root, for whom permissions do not stop a write: a *file* where the
    # state folder should be stops anyone.
    blocker = setup.workdir / "not-a-folder"
    blocker.write_text("")
    return {"JOURNEY_SYNC_STATE": str(blocker / "journey-sync.db")}


def invalid_workflow(setup: Setup) -> dict[str, str]:
    _edit_workflow(setup, "time_zone: Europe/London", "time_zone: Europe/Londres")
    return {}


CASES: list[tuple[Callable[[Setup], dict[str, str]], str, str, list[str]]] = [
    (wrong_token, "Todoist token", "Todoist refused the API token", ["Todoist project"]),
    (
        unshared_sheet,
        f"[{WORKFLOW}] spreadsheet",
        "not shared with the service account journey-sync@sandbox-project.iam."
        "gserviceaccount.com: open the sheet, Share, add that e-mail as Editor",
        ["worksheet", "headers"],
    ),
    (
        missing_worksheet,
        f"[{WORKFLOW}] worksheet",
        "Worksheet 'Leeds' not found",
        ["headers"],
    ),
    (missing_header, f"[{WORKFLOW}] headers", "Customer name", []),
    (
        key_of_another_account,
        "Google key",
        "Google refused the service account key",
        ["spreadsheet", "worksheet", "headers"],
    ),
    (not_a_key, "Google key", "is not a JSON key file", ["spreadsheet", "worksheet", "headers"]),
    (unwritable_state_dir, "state database", "is not a folder", []),
    (
        invalid_workflow,
        "workflow file",
        "'Europe/Londres' is not an IANA time zone",
        ["spreadsheet", "worksheet", "headers", "Todoist project", "time zone"],
    ),
]


@pytest.mark.parametrize(
    ("provoke", "check", "says", "skipped"), CASES, ids=[case[0].__name__ for case in CASES]
)
def test_doctor_fails_the_check_at_fault_and_says_what_to_do(
    setup: Setup,
    provoke: Callable[[Setup], dict[str, str]],
    check: str,
    says: str,
    skipped: list[str],
) -> None:
    env = provoke(setup)
    result = setup.run("doctor", **env)
    assert result.returncode == 1, result.stdout
    failed = _lines(result.stdout, "FAIL")
    assert len(failed) == 1, result.stdout
    assert failed[0].startswith(f"FAIL  {check}: "), result.stdout
    assert says in result.stdout
    skips = _lines(result.stdout, "skip")
    for name in skipped:
        # Dependent checks are skipped, or (for an invalid workflow) not listed at all.
        assert not any(
            re.search(rf"^ok +(\[.*\] )?{re.escape(name)}:", line)
            for line in result.stdout.splitlines()
        ), name
    if check != "workflow file":
        assert len(skips) == len(skipped), result.stdout
    assert "check(s) failed" in result.stdout


def test_doctor_reads_the_state_read_only_and_names_a_file_that_is_not_a_state_database(
    setup: Setup,
) -> None:
    garbage = setup.workdir / "garbage.db"
    garbage.write_bytes(b"this is not an SQLite database\n" * 200)
    before = garbage.read_bytes()
    result = setup.run("doctor", JOURNEY_SYNC_STATE=str(garbage))
    assert result.returncode == 1, result.stdout
    failed = _lines(result.stdout, "FAIL")
    assert len(failed) == 1 and failed[0].startswith("FAIL  state database: "), result.stdout
    assert "is not a journey-sync state database" in result.stdout
    assert garbage.read_bytes() == before  # doctor never writes the state file
    assert sorted(p.name for p in setup.workdir.glob("garbage.db*")) == ["garbage.db"]
