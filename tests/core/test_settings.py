"""Settings: typed, every bad one reported at once with what to do, secrets never shown."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from journey_sync.errors import SettingsError
from journey_sync.settings import (
    DEFAULT_SHEETS_API_URL,
    DEFAULT_TODOIST_API_URL,
    Secret,
    Settings,
    load_settings,
)

TOKEN = "0123456789abcdef-very-SECRET-token"


def test_an_empty_environment_gives_the_defaults() -> None:
    settings = load_settings({})
    assert settings.workflows == Path("workflows.yaml")
    assert settings.state == Path("journey-sync.db")
    assert settings.sheets_api_url == DEFAULT_SHEETS_API_URL
    assert settings.todoist_api_url == DEFAULT_TODOIST_API_URL
    assert (settings.interval_seconds, settings.health_port) == (60.0, 8080)
    assert (settings.log_format, settings.health_host) == ("text", "127.0.0.1")
    assert settings.shutdown_timeout_seconds == 8.0
    assert (settings.retry_attempts, settings.retry_delay_seconds) == (5, 1.0)
    assert settings.google_credentials is None and settings.todoist_token is None


def test_values_are_typed_trimmed_and_empty_ones_count_as_unset() -> None:
    settings = load_settings(
        {
            "JOURNEY_SYNC_WORKFLOWS": " /config/workflows.yaml ",
            "JOURNEY_SYNC_INTERVAL": "2.5",
            "JOURNEY_SYNC_HEALTH_PORT": "9000",
            "JOURNEY_SYNC_LOG_FORMAT": "JSON",
            "JOURNEY_SYNC_SHEETS_API_URL": "http://127.0.0.1:8765/",
            "JOURNEY_SYNC_STATE": "",
            "GOOGLE_APPLICATION_CREDENTIALS": "/run/secrets/google_key.json",
            "TODOIST_API_TOKEN": f"  {TOKEN}\n",
        }
    )
    assert settings.workflows == Path("/config/workflows.yaml")
    assert settings.interval_seconds == 2.5 and isinstance(settings.health_port, int)
    assert settings.health_port == 9000 and settings.log_format == "json"
    assert settings.sheets_api_url == "http://127.0.0.1:8765"
    assert settings.state == Path("journey-sync.db")
    assert settings.google_credentials == Path("/run/secrets/google_key.json")
    assert isinstance(settings.todoist_token, Secret)
    assert settings.require_todoist_token().reveal() == TOKEN


def test_a_mapping_given_is_the_only_source(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JOURNEY_SYNC_INTERVAL", "not a number")
    monkeypatch.setenv("TODOIST_API_TOKEN", TOKEN)
    settings = load_settings({})
    assert settings.interval_seconds == 60.0 and settings.todoist_token is None
    with pytest.raises(SettingsError, match="JOURNEY_SYNC_INTERVAL='not a number'"):
        load_settings()  # os.environ, when nothing is given


def test_every_bad_setting_is_reported_at_once_with_what_to_do() -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings(
            {
                "JOURNEY_SYNC_INTERVAL": "soon",
                "JOURNEY_SYNC_HEALTH_PORT": "-1",
                "JOURNEY_SYNC_LOG_FORMAT": "xml",
                "JOURNEY_SYNC_SHUTDOWN_TIMEOUT": "-3",
                "TODOIST_API_TOKEN_FILE": "/nonexistent/todoist_token",
            }
        )
    message = str(caught.value)
    assert message.startswith("5 settings need fixing:")
    lines = message.splitlines()[1:]
    assert lines == [
        "  - JOURNEY_SYNC_INTERVAL='soon' is not a number.",
        "  - JOURNEY_SYNC_HEALTH_PORT='-1' must be at least 0.",
        "  - JOURNEY_SYNC_LOG_FORMAT='xml': use 'text' or 'json'.",
        "  - TODOIST_API_TOKEN_FILE is set to /nonexistent/todoist_token, which cannot be read "
        "(No such file or directory): check the secret's mount and its permissions.",
        "  - JOURNEY_SYNC_SHUTDOWN_TIMEOUT='-3' must be at least 0.",
    ]


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"JOURNEY_SYNC_INTERVAL": "0.5"}, "JOURNEY_SYNC_INTERVAL='0.5' must be at least 1."),
        ({"JOURNEY_SYNC_INTERVAL": "nan"}, "JOURNEY_SYNC_INTERVAL='nan' is not a number."),
        (
            {"JOURNEY_SYNC_UNHEALTHY_AFTER": "0"},
            "JOURNEY_SYNC_UNHEALTHY_AFTER='0' must be at least 1.",
        ),
        (
            {"JOURNEY_SYNC_RETRY_ATTEMPTS": "2.5"},
            "JOURNEY_SYNC_RETRY_ATTEMPTS='2.5': use a whole number from 1 to 20.",
        ),
        (
            {"JOURNEY_SYNC_RETRY_ATTEMPTS": "0"},
            "JOURNEY_SYNC_RETRY_ATTEMPTS='0' must be at least 1.",
        ),
        (
            {"JOURNEY_SYNC_RETRY_DELAY": "-1"},
            "JOURNEY_SYNC_RETRY_DELAY='-1' must be at least 0.",
        ),
        (
            {"JOURNEY_SYNC_HEALTH_PORT": "70000"},
            "JOURNEY_SYNC_HEALTH_PORT='70000' is not a port: use 0 to 65535.",
        ),
    ],
)
def test_one_bad_setting_reads_as_one_sentence(env: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings(env)
    assert str(caught.value) == message


def test_the_token_comes_from_a_docker_secret_file(tmp_path: Path) -> None:
    secret = tmp_path / "todoist_token"
    secret.write_text(TOKEN + "\n", encoding="utf-8")
    # The file wins over a token in the environment (the image may carry a stale one).
    settings = load_settings(
        {"TODOIST_API_TOKEN_FILE": str(secret), "TODOIST_API_TOKEN": "older-token"}
    )
    assert settings.require_todoist_token().reveal() == TOKEN


def test_an_empty_secret_file_says_so(tmp_path: Path) -> None:
    secret = tmp_path / "todoist_token"
    secret.write_text("\n", encoding="utf-8")
    with pytest.raises(SettingsError) as caught:
        load_settings({"TODOIST_API_TOKEN_FILE": str(secret)})
    assert str(caught.value) == (
        f"TODOIST_API_TOKEN_FILE points at {secret}, which is empty: put the token in it."
    )


def test_a_missing_token_says_where_to_get_one() -> None:
    with pytest.raises(SettingsError, match="No Todoist API token: set TODOIST_API_TOKEN"):
        load_settings({}).require_todoist_token()


def test_a_secret_never_shows_in_repr_str_logs_or_errors(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    secret = tmp_path / "todoist_token"
    secret.write_text(TOKEN, encoding="utf-8")
    for env in ({"TODOIST_API_TOKEN": TOKEN}, {"TODOIST_API_TOKEN_FILE": str(secret)}):
        settings = load_settings(env)
        assert settings.todoist_token is not None
        shown = [
            repr(settings),
            str(settings),
            f"{settings.todoist_token}",
            repr(settings.model_dump()),
        ]
        with caplog.at_level(logging.INFO):
            logging.getLogger("test").info("settings: %s %r", settings, settings.todoist_token)
        shown.append(caplog.text)
        assert not [text for text in shown if TOKEN in text]
        with pytest.raises(SettingsError) as caught:  # the token beside bad settings
            load_settings({**env, "JOURNEY_SYNC_INTERVAL": "x", "JOURNEY_SYNC_LOG_FORMAT": "y"})
        assert TOKEN not in str(caught.value) and "2 settings need fixing" in str(caught.value)
        assert caught.value.__suppress_context__  # pydantic's error is not printed...
        assert TOKEN not in str(caught.value.__context__)  # ...and holds no token either
        assert TOKEN not in repr(caught.value.args)


def test_settings_are_frozen() -> None:
    settings = load_settings({})
    with pytest.raises(ValueError, match="frozen"):
        settings.interval_seconds = 1.0  # type: ignore[misc]
    assert isinstance(settings, Settings)
