"""Settings from the environment (pydantic-settings), with secrets from files (Docker secrets).

Every setting is typed and checked at once: a start-up with three bad settings names all
three, each with what to do. Secrets are held as ``Secret`` (a pydantic ``SecretStr``), so
that printing settings, logging them or putting them in an exception never shows the value;
``TODOIST_API_TOKEN_FILE`` names a file holding the token (a Docker secret).

The environment (or the mapping given to ``load_settings``) is the only source: no ``.env``
file and no secrets folder are read behind the caller's back.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal, cast

from pydantic import (
    AliasChoices,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
)
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from .errors import SettingsError

DEFAULT_SHEETS_API_URL = "https://sheets.googleapis.com"
DEFAULT_TODOIST_API_URL = "https://api.todoist.com"
DEFAULT_TODOIST_OAUTH_URL = "https://todoist.com"


class Secret(SecretStr):
    """A string that never shows itself in ``repr``, ``str``, f-strings or errors."""

    def reveal(self) -> str:
        return self.get_secret_value()

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__


# Durations in seconds: field -> (variable, smallest value allowed).
_SECONDS = {
    "interval_seconds": ("JOURNEY_SYNC_INTERVAL", 1.0),
    "shutdown_timeout_seconds": ("JOURNEY_SYNC_SHUTDOWN_TIMEOUT", 0.0),
    "unhealthy_after_seconds": ("JOURNEY_SYNC_UNHEALTHY_AFTER", 1.0),
    "missing_grace_seconds": ("JOURNEY_SYNC_MISSING_GRACE", 0.0),
    "retry_delay_seconds": ("JOURNEY_SYNC_RETRY_DELAY", 0.0),
}


class Settings(BaseSettings):
    """What the service needs to know; each field is read from the variable named beside it."""

    model_config = SettingsConfigDict(frozen=True, extra="ignore", validate_default=True)

    workflows: Path = Field(Path("workflows.yaml"), validation_alias="JOURNEY_SYNC_WORKFLOWS")
    state: Path = Field(Path("journey-sync.db"), validation_alias="JOURNEY_SYNC_STATE")
    sheets_api_url: str = Field(
        DEFAULT_SHEETS_API_URL, validation_alias="JOURNEY_SYNC_SHEETS_API_URL"
    )
    todoist_api_url: str = Field(
        DEFAULT_TODOIST_API_URL, validation_alias="JOURNEY_SYNC_TODOIST_API_URL"
    )
    interval_seconds: float = Field(60.0, validation_alias="JOURNEY_SYNC_INTERVAL")
    health_port: int = Field(8080, validation_alias="JOURNEY_SYNC_HEALTH_PORT")
    log_format: Literal["text", "json"] = Field("text", validation_alias="JOURNEY_SYNC_LOG_FORMAT")
    google_credentials: Path | None = Field(None, validation_alias="GOOGLE_APPLICATION_CREDENTIALS")
    todoist_token_value: Secret | None = Field(None, validation_alias="TODOIST_API_TOKEN")
    todoist_token_from_file: Secret | None = Field(None, validation_alias="TODOIST_API_TOKEN_FILE")
    # Where the health endpoint listens. Loopback by default so a developer's machine does
    # not publish it; the container image sets 0.0.0.0 so the port can be published.
    health_host: str = Field("127.0.0.1", validation_alias="JOURNEY_SYNC_HEALTH_HOST")
    # How long SIGTERM/SIGINT wait for the cycle in flight before exiting anyway (the state
    # store survives an exit at any point). Below Docker's default 10 s stop grace period.
    shutdown_timeout_seconds: float = Field(8.0, validation_alias="JOURNEY_SYNC_SHUTDOWN_TIMEOUT")
    # /healthz turns unhealthy once no cycle succeeded or made progress for this long (or
    # three intervals, if longer). Longer than Todoist's 15-minute quota window, so a first
    # onboarding that waits one out is not reported unhealthy.
    unhealthy_after_seconds: float = Field(1200.0, validation_alias="JOURNEY_SYNC_UNHEALTHY_AFTER")
    # How long a lead's row may be missing from the sheet before its open tasks are
    # removed: long enough for a person to undo a deletion (or paste a moved row back).
    missing_grace_seconds: float = Field(86400.0, validation_alias="JOURNEY_SYNC_MISSING_GRACE")
    # How a request that failed for a passing reason (a 429, a 5xx, a dropped connection)
    # is tried again within a cycle: this many attempts in all, waiting about this long
    # before the second (doubled each time, with jitter; a Retry-After header wins). Past
    # that the cycle fails with a clear line and the next cycle starts over.
    retry_attempts: int = Field(5, validation_alias="JOURNEY_SYNC_RETRY_ATTEMPTS")
    retry_delay_seconds: float = Field(1.0, validation_alias="JOURNEY_SYNC_RETRY_DELAY")
    # The intake (POST /leads, POST /todoist/webhook): its own port, off (0) by default,
    # meant to be reached through a reverse proxy with TLS; the health port stays private.
    intake_port: int = Field(0, validation_alias="JOURNEY_SYNC_INTAKE_PORT")
    intake_host: str = Field("127.0.0.1", validation_alias="JOURNEY_SYNC_INTAKE_HOST")
    intake_token_value: Secret | None = Field(None, validation_alias="JOURNEY_SYNC_INTAKE_TOKEN")
    intake_token_from_file: Secret | None = Field(
        None, validation_alias="JOURNEY_SYNC_INTAKE_TOKEN_FILE"
    )
    # Keys for plain HTML forms (?key=...), comma-separated: they allow adding leads only.
    intake_form_keys: Secret | None = Field(None, validation_alias="JOURNEY_SYNC_INTAKE_FORM_KEYS")
    intake_rate_per_minute: float = Field(30.0, validation_alias="JOURNEY_SYNC_INTAKE_RATE")
    # Reverse proxies (addresses or networks, comma-separated) whose X-Forwarded-For is
    # believed, so that the rate limit counts the real client and not the proxy.
    intake_trusted_proxies: str = Field("", validation_alias="JOURNEY_SYNC_INTAKE_PROXIES")
    # The Todoist app (OAuth and webhooks): its client id and secret.
    todoist_client_id: str | None = Field(None, validation_alias="TODOIST_CLIENT_ID")
    todoist_client_secret_value: Secret | None = Field(
        None, validation_alias="TODOIST_CLIENT_SECRET"
    )
    todoist_client_secret_from_file: Secret | None = Field(
        None, validation_alias="TODOIST_CLIENT_SECRET_FILE"
    )
    todoist_oauth_url: str = Field(
        DEFAULT_TODOIST_OAUTH_URL, validation_alias="JOURNEY_SYNC_TODOIST_OAUTH_URL"
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # load_settings hands over the environment it was given (os.environ by default).
        return (init_settings,)

    # ------------------------------------------------------------------ checks
    # Each names the variable and says what to do; pydantic collects every failure.

    @field_validator("intake_port", mode="before")
    @classmethod
    def _intake_port(cls, value: object) -> int:
        port = _number("JOURNEY_SYNC_INTAKE_PORT", value, minimum=0.0)
        if port > 65535:
            raise ValueError(f"JOURNEY_SYNC_INTAKE_PORT={value!r} is not a port: use 0 to 65535.")
        return int(port)

    @field_validator("intake_rate_per_minute", mode="before")
    @classmethod
    def _intake_rate(cls, value: object) -> float:
        return _number("JOURNEY_SYNC_INTAKE_RATE", value, minimum=1.0)

    @field_validator("intake_token_from_file", "todoist_client_secret_from_file", mode="before")
    @classmethod
    def _secret_file(cls, value: object, info: ValidationInfo) -> object:
        if value is None:
            return None
        name = {
            "intake_token_from_file": "JOURNEY_SYNC_INTAKE_TOKEN_FILE",
            "todoist_client_secret_from_file": "TODOIST_CLIENT_SECRET_FILE",
        }[str(info.field_name)]
        path = str(value)
        try:
            secret = Path(path).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ValueError(
                f"{name} is set to {path}, which cannot be read ({exc.strerror}): check the "
                "secret's mount and its permissions."
            ) from None
        if not secret:
            raise ValueError(f"{name} points at {path}, which is empty: put the secret in it.")
        return secret

    @field_validator("sheets_api_url", "todoist_api_url", "todoist_oauth_url", mode="before")
    @classmethod
    def _url(cls, value: object) -> object:
        return value.rstrip("/") if isinstance(value, str) else value

    @field_validator(*_SECONDS, mode="before")
    @classmethod
    def _seconds(cls, value: object, info: ValidationInfo) -> float:
        name, minimum = _SECONDS[str(info.field_name)]
        return _number(name, value, minimum=minimum)

    @field_validator("retry_attempts", mode="before")
    @classmethod
    def _attempts(cls, value: object) -> int:
        attempts = _number("JOURNEY_SYNC_RETRY_ATTEMPTS", value, minimum=1.0)
        if attempts != int(attempts) or attempts > 20:
            raise ValueError(
                f"JOURNEY_SYNC_RETRY_ATTEMPTS={value!r}: use a whole number from 1 to 20."
            )
        return int(attempts)

    @field_validator("health_port", mode="before")
    @classmethod
    def _port(cls, value: object) -> int:
        port = _number("JOURNEY_SYNC_HEALTH_PORT", value, minimum=0.0)
        if port > 65535:
            raise ValueError(f"JOURNEY_SYNC_HEALTH_PORT={value!r} is not a port: use 0 to 65535.")
        return int(port)

    @field_validator("log_format", mode="before")
    @classmethod
    def _log_format(cls, value: object) -> str:
        text = str(value).strip().lower()
        if text not in ("text", "json"):
            raise ValueError(f"JOURNEY_SYNC_LOG_FORMAT={text!r}: use 'text' or 'json'.")
        return text

    @field_validator("todoist_token_from_file", mode="before")
    @classmethod
    def _token_file(cls, value: object) -> object:
        if value is None:
            return None
        path = str(value)
        try:
            token = Path(path).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ValueError(
                f"TODOIST_API_TOKEN_FILE is set to {path}, which cannot be read "
                f"({exc.strerror}): check the secret's mount and its permissions."
            ) from None
        if not token:
            raise ValueError(
                f"TODOIST_API_TOKEN_FILE points at {path}, which is empty: put the token in it."
            )
        return token

    # ------------------------------------------------------------------ use

    @property
    def todoist_token(self) -> Secret | None:
        """The token from TODOIST_API_TOKEN_FILE if set, else from TODOIST_API_TOKEN."""
        return self.todoist_token_from_file or self.todoist_token_value

    @property
    def intake_token(self) -> Secret | None:
        """From JOURNEY_SYNC_INTAKE_TOKEN_FILE if set, else JOURNEY_SYNC_INTAKE_TOKEN."""
        return self.intake_token_from_file or self.intake_token_value

    @property
    def todoist_client_secret(self) -> Secret | None:
        """From TODOIST_CLIENT_SECRET_FILE if set, else TODOIST_CLIENT_SECRET."""
        return self.todoist_client_secret_from_file or self.todoist_client_secret_value

    def form_keys(self) -> tuple[str, ...]:
        raw = self.intake_form_keys.reveal() if self.intake_form_keys is not None else ""
        return tuple(k.strip() for k in raw.split(",") if k.strip())

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
        token = self.todoist_token
        if token is None:
            raise SettingsError(
                "No Todoist API token: set TODOIST_API_TOKEN, or TODOIST_API_TOKEN_FILE to a "
                "file holding it (Todoist: Settings > Integrations > Developer > API token)."
            )
        return token


def _number(name: str, value: object, *, minimum: float) -> float:
    raw = value
    try:
        number = float(str(value).strip()) if not isinstance(value, int | float) else value
    except ValueError:
        raise ValueError(f"{name}={raw!r} is not a number.") from None
    if number != number:  # NaN
        raise ValueError(f"{name}={raw!r} is not a number.")
    if number < minimum:
        raise ValueError(f"{name}={raw!r} must be at least {minimum:g}.")
    return float(number)


#: The variables Settings reads (empty ones count as unset, as a shell's ``X=`` does).
VARIABLES = frozenset(
    str(alias)
    for field in Settings.model_fields.values()
    for alias in (
        field.validation_alias.choices
        if isinstance(field.validation_alias, AliasChoices)
        else [field.validation_alias]
    )
    if alias is not None
)


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Read settings; secrets are checked only when a command needs them.

    Every bad setting is reported in one ``SettingsError``, one line each, without values of
    secrets.
    """
    env = os.environ if env is None else env
    given = {name: env[name].strip() for name in VARIABLES if env.get(name, "").strip()}
    try:
        return Settings(**cast(dict[str, Any], given))
    except ValidationError as exc:
        raise SettingsError(_explain(exc)) from None


def _explain(exc: ValidationError) -> str:
    problems: list[str] = []
    for error in exc.errors(include_input=False, include_url=False):
        cause = (error.get("ctx") or {}).get("error")
        if isinstance(cause, ValueError):
            problems.append(str(cause))
        else:  # a type pydantic checked itself: name the variable, never the value
            where = ".".join(str(part) for part in error["loc"])
            problems.append(f"{where}: {error['msg']}.")
    if len(problems) == 1:
        return problems[0]
    return f"{len(problems)} settings need fixing:\n" + "\n".join(f"  - {p}" for p in problems)
