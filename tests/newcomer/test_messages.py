"""Messages say what to do: a one-shot run promises no next cycle, the deleted-project error
names the state file, and report names the workflows that exist."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from journey_sync import cli
from journey_sync.errors import for_one_shot, naming_state_file

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = (ROOT / "workflows.yaml").read_text()

# The service's own wording, as the adapters and the engine write it, and a one-shot run's.
SERVICE_MESSAGES = [
    (
        "Todoist is unavailable; the next cycle will try again",
        "Todoist is unavailable; run the command again",
    ),
    (
        "Could not reach Todoist at http://127.0.0.1:9 (refused); the next cycle will try again",
        "Could not reach Todoist at http://127.0.0.1:9 (refused); run the command again",
    ),
    (
        "Google Sheets answered 503: unavailable after 5 attempts: the next cycle will retry.",
        "Google Sheets answered 503: unavailable after 5 attempts: run the command again.",
    ),
    (
        "enable the Sheets API, wait a minute, and the next cycle will\nretry.",
        "enable the Sheets API, wait a minute, and run the command again.",
    ),
    (
        "not resent blindly: the next cycle re-reads the sheet",
        "not resent blindly: the next run re-reads the sheet",
    ),
    (
        "restore it and journey-sync carries on at the next cycle.",
        "restore it and journey-sync carries on at the next run.",
    ),
]


@pytest.mark.parametrize(("message", "worded"), SERVICE_MESSAGES)
def test_one_shot_wording_promises_no_next_cycle(message: str, worded: str) -> None:
    assert for_one_shot(message) == worded


def test_deleted_project_message_names_the_state_file() -> None:
    engine_text = (
        "the Todoist project 'Client journeys' (id 6X7) no longer exists: restore it from "
        "Todoist, or delete the state file to start a new project."
    )
    assert naming_state_file(engine_text, "/data/journey-sync.db") == (
        "the Todoist project 'Client journeys' (id 6X7) no longer exists: restore it from "
        "Todoist, or delete the state file (/data/journey-sync.db) to start a new project."
    )
    once = naming_state_file(engine_text, "/data/journey-sync.db")
    assert naming_state_file(once, "/data/journey-sync.db") == once  # never twice


def test_run_logs_are_reworded_on_every_journey_sync_logger(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    wording = cli._Wording(one_shot=True, state_file=Path("/data/journey-sync.db"))
    logger = logging.getLogger("journey_sync.test_messages_probe")
    with cli._worded(wording):
        logger.error(
            "%s: cycle failed (%s): %s",
            "Studio",
            "the next cycle retries",
            "Todoist is unavailable; the next cycle will try again",
            extra={"fields": {"error": "Todoist is unavailable; the next cycle will try again"}},
        )
        logging.getLogger("journey_sync").error("or delete the state file to start anew")
    logger.error("after the run: %s", "the next cycle will retry")
    first, second, after = caplog.records
    assert first.getMessage() == (
        "Studio: cycle failed (run the command again): "
        "Todoist is unavailable; run the command again"
    )
    assert first.fields == {"error": "Todoist is unavailable; run the command again"}  # type: ignore[attr-defined]
    assert second.getMessage() == "or delete the state file (/data/journey-sync.db) to start anew"
    assert after.getMessage() == "after the run: the next cycle will retry"  # filter removed


def test_the_service_keeps_its_wording_but_names_the_state_file(
    caplog: pytest.LogCaptureFixture,
) -> None:
    wording = cli._Wording(one_shot=False, state_file=Path("/data/journey-sync.db"))
    with cli._worded(wording):
        logging.getLogger("journey_sync.test_messages_probe").error(
            "x: the next cycle will retry; or delete the state file"
        )
    [record] = caplog.records
    assert record.getMessage() == (
        "x: the next cycle will retry; or delete the state file (/data/journey-sync.db)"
    )


def test_report_unknown_workflow_exits_2_naming_the_workflows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    start = EXAMPLE.index("  - name: Studio client journey")
    second = EXAMPLE[start:].replace("name: Studio client journey", "name: Second studio")
    path = tmp_path / "workflows.yaml"
    path.write_text(EXAMPLE + second.replace("worksheet: Leads", "worksheet: Leads 2"))
    monkeypatch.setenv("JOURNEY_SYNC_WORKFLOWS", str(path))

    assert cli.main(["report", "--workflow", "nope"]) == 2

    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.strip() == (
        f"journey-sync: no workflow is named 'nope' in {path}; its workflows: "
        "'Studio client journey', 'Second studio'"
    )
