"""One error hierarchy for journey-sync.

``UserError`` and its children carry a message that *is* the fix; the command line prints
it without a traceback. ``ApiError`` keeps the status and body of a failed HTTP answer and
survives a body that is not JSON. No message ever contains a token, a key or an
``Authorization`` header: adapters build messages from what they know, never by echoing
a request.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


class JourneySyncError(Exception):
    """Base of every error journey-sync raises on purpose."""


class UserError(JourneySyncError):
    """Something the person running journey-sync can fix; the message says how."""


@dataclass(frozen=True)
class ConfigProblem:
    """One thing wrong with a workflow file, located as precisely as we can."""

    file: str
    line: int | None
    field: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line is not None else self.file
        return (
            f"{where}: {self.field}: {self.message}" if self.field else f"{where}: {self.message}"
        )


class WorkflowFileError(UserError):
    """The workflow file is invalid; every problem is listed, one per line."""

    def __init__(self, problems: list[ConfigProblem]):
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


class SettingsError(UserError):
    """A setting (environment variable or secret file) is missing or unreadable."""


class SheetLayoutError(UserError):
    """The worksheet does not have the columns the workflow maps."""


class ServiceError(JourneySyncError):
    """A remote service failed in a way that retrying in the next cycle may fix."""


class ApiError(ServiceError):
    """An HTTP answer that was not a success, after any retries."""

    def __init__(self, service: str, status: int, message: str, body: object = None):
        self.service = service
        self.status = status
        self.body = body
        super().__init__(f"{service} answered {status}: {message}")


class AccessError(UserError):
    """Credentials were refused or a resource is not shared/found: a person must act."""


# Phrases that promise another cycle, and what a one-shot run (``run --once``, ``--dry-run``,
# which exits after its cycle) says instead. Most specific first.
_NEXT_CYCLE = (
    (
        re.compile(r"the\s+next\s+cycle\s+(?:will\s+retry|will\s+try\s+again|retries)"),
        "run the command again",
    ),
    (re.compile(r"\bthe\s+next\s+cycle\b"), "the next run"),
)
_DELETE_STATE = re.compile(r"\bdelete\s+the\s+state\s+file\b(?! \()")


def for_one_shot(text: str) -> str:
    """A message written for the service (``the next cycle will retry``) as a one-shot run
    must say it: nothing runs again by itself, so the person runs the command again."""
    for pattern, replacement in _NEXT_CYCLE:
        text = pattern.sub(replacement, text)
    return text


def naming_state_file(text: str, state_file: str) -> str:
    """``delete the state file`` -> ``delete the state file (/data/journey-sync.db)``."""
    return _DELETE_STATE.sub(lambda _: f"delete the state file ({state_file})", text)
