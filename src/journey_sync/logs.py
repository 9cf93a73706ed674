"""The daemon's logs: one line per record, human-readable or JSON, with secrets redacted.

Redaction is a ``logging.Filter`` on the handler, not on a logger: a logger's filters only
see records logged through that very logger, while a handler's see every record that
reaches it, including those of httpx, google-auth, gspread and APScheduler. It rewrites the
record in place (message, traceback text, stack, structured fields), so whichever formatter
runs next can only ever see the redacted text.

What is redacted: every value given to ``Redactor`` (the Todoist token, the Google key's
``private_key`` and ``private_key_id``) in the forms it may take in text (as is, JSON- or
repr-escaped, and each line of a PEM body), plus anything that looks like an
``Authorization: Bearer ...`` value, a Google access token or a PEM private key block,
whatever its origin.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import threading
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from .settings import Settings

REDACTED = "[redacted]"

# Shorter "secrets" would shred ordinary words out of every line; no real token is this short.
MIN_SECRET_LENGTH = 4
# A PEM body line this long is random base64 (key material), never an ordinary word.
MIN_PEM_LINE = 16

_PATTERNS = (
    # An Authorization header value, however it got into the text.
    re.compile(r"(?i)\b(bearer)\s+[A-Za-z0-9._~+/=-]+"),
    # Google OAuth access tokens.
    re.compile(r"\bya29\.[A-Za-z0-9._-]+"),
    # A whole PEM private key, or what is left of one in a truncated message.
    re.compile(
        r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?(?:-----END [A-Z ]*PRIVATE KEY-----|\Z)", re.S
    ),
)

# The formatters' own library loggers are chatty at INFO (one line per HTTP request, one per
# scheduled job): the daemon's own cycle line already says what was sent.
_QUIET_LOGGERS = ("httpx", "httpcore", "urllib3", "google", "gspread")

# Marks the handler ``configure_logging`` installs, so a second call replaces it (tests run
# the daemon several times in one process).
_HANDLER_NAME = "journey-sync"


class Redactor:
    """Replaces known secret values, and things that look like secrets, in text."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._values: list[str] = []
        self._lock = threading.Lock()
        for secret in secrets:
            self.add(secret)

    def add(self, secret: str) -> None:
        forms = {secret, secret.strip()}
        # The same value inside a JSON document or a Python repr (a dict in a message).
        forms.add(json.dumps(secret)[1:-1])
        forms.add(repr(secret)[1:-1])
        if "\n" in secret:
            # A PEM key may appear line by line (a wrapped message, a partial dump).
            forms.update(
                line.strip()
                for line in secret.splitlines()
                if len(line.strip()) >= MIN_PEM_LINE and not line.startswith("-----")
            )
        with self._lock:
            values = {*self._values, *(f for f in forms if len(f) >= MIN_SECRET_LENGTH)}
            # Longest first, so that a value containing another is replaced whole.
            self._values = sorted(values, key=len, reverse=True)

    def redact(self, text: str) -> str:
        for value in self._values:
            if value in text:
                text = text.replace(value, REDACTED)
        for pattern in _PATTERNS:
            text = pattern.sub(_replacement, text)
        return text

    def redact_value(self, value: object) -> object:
        """``redact`` applied to every string inside lists and dicts (structured fields)."""
        if isinstance(value, str):
            return self.redact(value)
        if isinstance(value, Mapping):
            return {k: self.redact_value(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self.redact_value(v) for v in value]
        return value


def _replacement(match: re.Match[str]) -> str:
    # Keep the word "Bearer" so a reader still sees what kind of thing was there.
    if match.lastindex and match.group(1):
        return f"{match.group(1)} {REDACTED}"
    return REDACTED


class RedactingFilter(logging.Filter):
    """Rewrites each record so that no formatter can see a secret."""

    def __init__(self, redactor: Redactor) -> None:
        super().__init__()
        self.redactor = redactor

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a bad format string must not lose the record
            message = f"{record.msg!r} {record.args!r}"
        record.msg = self.redactor.redact(message)
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.redactor.redact(record.exc_text)
        if record.stack_info:
            record.stack_info = self.redactor.redact(record.stack_info)
        fields = getattr(record, "fields", None)
        if isinstance(fields, Mapping):
            record.fields = self.redactor.redact_value(fields)
        return True


def _timestamp(record: logging.LogRecord) -> str:
    moment = datetime.fromtimestamp(record.created, UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


class TextFormatter(logging.Formatter):
    """``2026-03-02T12:00:00.000Z INFO    journey_sync.daemon: message``."""

    def format(self, record: logging.LogRecord) -> str:
        line = f"{_timestamp(record)} {record.levelname:<7} {record.name}: {record.getMessage()}"
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            line += "\n" + record.exc_text
        if record.stack_info:
            line += "\n" + record.stack_info
        return line


class JsonFormatter(logging.Formatter):
    """One JSON object per line; a record's ``fields`` (``extra={"fields": {...}}``) are
    merged in at the top level, so log collectors can filter on them."""

    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "time": _timestamp(record),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, Mapping):
            for key, value in fields.items():
                data.setdefault(str(key), value)
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            data["traceback"] = record.exc_text
        if record.stack_info:
            data["stack"] = record.stack_info
        return json.dumps(data, ensure_ascii=False, default=str)


def secret_values(settings: Settings) -> list[str]:
    """The secret values this configuration holds: the token and the key's private parts.

    An unreadable or malformed key file gives nothing here; loading it for real reports
    the problem (with a message that does not quote it).
    """
    values: list[str] = []
    if settings.todoist_token is not None:
        values.append(settings.todoist_token.reveal())
    if settings.google_credentials is not None:
        values.extend(key_file_secrets(settings.google_credentials))
    for secret in (settings.intake_token, settings.todoist_client_secret):
        if secret is not None:
            values.append(secret.reveal())
    values.extend(settings.form_keys())
    return values


def key_file_secrets(path: Path) -> list[str]:
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    if not isinstance(info, dict):
        return []
    return [
        value
        for name in ("private_key", "private_key_id", "client_secret", "refresh_token")
        if isinstance(value := info.get(name), str) and value
    ]


def configure_logging(
    log_format: str, redactor: Redactor, stream: IO[str] | None = None
) -> logging.Handler:
    """Send every record to ``stream`` (stderr) as text or JSON lines, secrets redacted."""
    root = logging.getLogger()
    for old in [h for h in root.handlers if h.get_name() == _HANDLER_NAME]:
        root.removeHandler(old)
        old.close()
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.set_name(_HANDLER_NAME)
    handler.addFilter(RedactingFilter(redactor))
    handler.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter())
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    for name in _QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    # APScheduler warns at every tick a slow cycle overlaps; the daemon says it once itself.
    logging.getLogger("apscheduler").setLevel(logging.ERROR)
    _route_uncaught_exceptions()
    return handler


def _route_uncaught_exceptions() -> None:
    """Uncaught exceptions go through logging (and so through redaction), not raw stderr."""
    log = logging.getLogger("journey_sync")

    def hook(kind: type[BaseException], value: BaseException, tb: TracebackType | None) -> None:
        log.critical("unexpected error", exc_info=(kind, value, tb))

    def thread_hook(args: threading.ExceptHookArgs) -> None:
        if args.exc_type is SystemExit or args.exc_value is None:
            return
        name = args.thread.name if args.thread is not None else "?"
        log.error(
            "unexpected error in thread %s",
            name,
            exc_info=(args.exc_type, args.exc_value, args.exc_traceback),
        )

    sys.excepthook = hook
    threading.excepthook = thread_hook
