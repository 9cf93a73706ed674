"""Settings from the environment, with secrets from files (Docker secrets) where given.

Secrets are held as ``Secret`` so that printing settings, logging them or putting them in
an exception never shows the value.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from .errors import SettingsError

DEFAULT_SHEETS_API_URL = "https://sheets.googleapis.com"
DEFAULT_TODOIST_API_URL = "https://api.todoist.com"


class Secret:
    """A string that never shows itself in ``repr``, ``str`` or f-strings."""

    __slots__ = ("_value",)

    def __init__(self, value: str):
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


@dataclass(frozen=True)
class Settings:
    workflows: Path
    state: Path
    sheets_api_url: str
    todoist_api_url: str
    interval_seconds: float
    health_port: int
    log_format: str  # "text" or "json"
    google_credentials: Path | None
    todoist_token: Secret | None
    # Where the health endpoint listens. Loopback by default so a developer's machine does
    # not publish it; the container image sets 0.0.0.0 so the port can be published.
    health_host: str = "127.0.0.1"
    # How long SIGTERM/SIGINT wait for the cycle in flight before exiting anyway (the state
    # store survives an exit at any point). Below Docker's default 10 s stop grace period.
    shutdown_timeout_seconds: float = 8.0

    def require_google_credentials(self) -> Path:
        if self.google_credentials is None:
            raise SettingsError(
                "GOOGLE_APPLICATION_CREDENTIALS is not set: set it to the path of the Google "
                "service account key file (JSON) that the sheet is shared with."
            )
        if not self.google_credentials.is_file():
            raise SettingsError(
                f"GOOGLE_APPLICATION_CREDENTIALS points at {self.google_credentials}, which is "
                "not a readable file: check the path (and the volume or secret mount)."
            )
        return self.google_credentials

    def require_todoist_token(self) -> Secret:
        if self.todoist_token is None:
            raise SettingsError(
                "No Todoist API token: set TODOIST_API_TOKEN, or TODOIST_API_TOKEN_FILE to a "
                "file holding it (Todoist: Settings > Integrations > Developer > API token)."
            )
        return self.todoist_token


def _read_secret_file(name: str, path: str) -> Secret:
    try:
        value = Path(path).read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise SettingsError(
            f"{name} is set to {path}, which cannot be read ({exc.strerror}): check the "
            "secret's mount and its permissions."
        ) from None
    if not value:
        raise SettingsError(f"{name} points at {path}, which is empty: put the token in it.")
    return Secret(value)


def _number(env: Mapping[str, str], name: str, default: float, *, minimum: float) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise SettingsError(f"{name}={raw!r} is not a number.") from None
    if value < minimum:
        raise SettingsError(f"{name}={raw!r} must be at least {minimum:g}.")
    return value


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Read settings; secrets are checked only when a command needs them."""
    env = os.environ if env is None else env
    token: Secret | None = None
    if env.get("TODOIST_API_TOKEN_FILE", "").strip():
        token = _read_secret_file("TODOIST_API_TOKEN_FILE", env["TODOIST_API_TOKEN_FILE"].strip())
    elif env.get("TODOIST_API_TOKEN", "").strip():
        token = Secret(env["TODOIST_API_TOKEN"].strip())
    creds = env.get("GOOGLE_APPLICATION_CREDENTIALS", "").strip()
    log_format = env.get("JOURNEY_SYNC_LOG_FORMAT", "text").strip().lower() or "text"
    if log_format not in ("text", "json"):
        raise SettingsError(f"JOURNEY_SYNC_LOG_FORMAT={log_format!r}: use 'text' or 'json'.")
    return Settings(
        workflows=Path(env.get("JOURNEY_SYNC_WORKFLOWS", "").strip() or "workflows.yaml"),
        state=Path(env.get("JOURNEY_SYNC_STATE", "").strip() or "journey-sync.db"),
        sheets_api_url=(
            env.get("JOURNEY_SYNC_SHEETS_API_URL", "").strip() or DEFAULT_SHEETS_API_URL
        ).rstrip("/"),
        todoist_api_url=(
            env.get("JOURNEY_SYNC_TODOIST_API_URL", "").strip() or DEFAULT_TODOIST_API_URL
        ).rstrip("/"),
        interval_seconds=_number(env, "JOURNEY_SYNC_INTERVAL", 60.0, minimum=1.0),
        health_port=int(_number(env, "JOURNEY_SYNC_HEALTH_PORT", 8080, minimum=0)),
        log_format=log_format,
        google_credentials=Path(creds) if creds else None,
        todoist_token=token,
        health_host=env.get("JOURNEY_SYNC_HEALTH_HOST", "").strip() or "127.0.0.1",
        shutdown_timeout_seconds=_number(env, "JOURNEY_SYNC_SHUTDOWN_TIMEOUT", 8.0, minimum=0.0),
    )
