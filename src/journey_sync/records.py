"""What journey-sync remembers of one workflow, as planning needs it. Pure data.

The state store (``state.py``) loads and saves these records; planning (``plan.py``)
reads them; folding Todoist's changes (``changes.py``) produces new ones. None of them
is the truth: every task carries its lead id and step key in its description (see
``task_marker``) and every lead its id in the sheet, so all of this can be rebuilt.
"""

from __future__ import annotations

import itertools
import json
import json.encoder
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Final, Literal

from .ports import Due

TaskStatus = Literal["open", "completed", "deleted"]

# Why journey-sync itself closed or deleted a task. A task closed for one of these
# reasons is not a person's completion: it never writes a stage mark, and it is reopened
# or re-created when the reason goes away.
HAND: Final = "hand"  # closed because a person typed the stage's mark in the sheet
HAND_DECLINED: Final = "hand-declined"  # ... and a person reopened it since: never closed again
LEAVE: Final = "leave"  # removed because the lead left the journey
LEAVE_DECLINED: Final = "leave-declined"  # ... closed, and a person reopened it: left open
MISSING: Final = "missing"  # removed because the lead's row was gone from the sheet
PAST: Final = "past"  # removed because a corrected lead date put this reminder in the past
STEP_REMOVED: Final = "step-removed"  # removed because its step left the workflow
ClosedBy = Literal[
    "hand", "hand-declined", "leave", "leave-declined", "missing", "past", "step-removed"
]

# The line journey-sync adds to every task's description: it is how a task is found again
# when the state database is lost (DESIGN: "the mapping can be rebuilt").
_MARKER = re.compile(r"journey-sync: lead (\S+) · step ([a-z][a-z0-9_]*)")


def task_marker(lead_id: str, step_key: str) -> str:
    return f"journey-sync: lead {lead_id} · step {step_key}"


def parse_marker(description: str) -> tuple[str, str] | None:
    match = _MARKER.search(description)
    return (match.group(1), match.group(2)) if match else None


# Why journey-sync closed a task, added to its marker line just before it closes it (with
# when): the state database is only a cache, and without this a task it closed (for a hand
# mark, a departure) would read as a person's completion once the database is lost.
_CLOSED_NOTES: Final = {
    HAND: "closed by journey-sync: the stage was marked by hand in the sheet",
    LEAVE: "closed by journey-sync: the lead left the journey",
}
_CLOSED = re.compile(
    r"journey-sync: lead \S+ · step [a-z][a-z0-9_]* · (closed by journey-sync: [^(\n]*?)"
    r"(?: \((\d{4}-\d\d-\d\d \d\d:\d\d) UTC\))?[ \t]*$",
    re.MULTILINE,
)
# A completion this long after the note (or more) is a person's: the task was reopened
# since (by them, or by journey-sync when the reason went) and completed again. The close
# goes out right after the note; a cycle waiting on Todoist's quota takes minutes.
CLOSED_NOTE_WINDOW: Final = timedelta(hours=6)


def with_closed_note(description: str, closed_by: str, at: datetime) -> str | None:
    """``description`` with the note that journey-sync closes the task for ``closed_by`` at
    ``at`` after its marker (None: no marker to note it on)."""
    note = _CLOSED_NOTES.get(closed_by)
    match = _MARKER.search(description)
    if note is None or match is None:
        return None
    stamp = at.astimezone(UTC).strftime("%Y-%m-%d %H:%M")
    rest = _CLOSED.match(description, match.start())
    end = rest.end() if rest else match.end()
    return (
        f"{description[: match.start()]}{match.group(0)} · {note} ({stamp} UTC){description[end:]}"
    )


def without_closed_note(description: str) -> str | None:
    """``description`` without journey-sync's closing note (None: it has none)."""
    match = _CLOSED.search(description)
    if match is None:
        return None
    start = description.rfind(" · closed by journey-sync:", 0, match.end())
    return description[:start] + description[match.end() :]


def with_note_of(noted: str, description: str) -> str:
    """``description`` carrying the closing note ``noted`` carries (or none, if it has
    none): the note goes with a new description written in the same cycle."""
    plain = without_closed_note(description)
    base = description if plain is None else plain
    match = _CLOSED.search(noted)
    marker = _MARKER.search(base)
    if match is None or marker is None:
        return base
    note = noted[noted.rfind(" · closed by journey-sync:", 0, match.end()) : match.end()]
    return base[: marker.end()] + note + base[marker.end() :]


def parse_closed_by(description: str, completed_at: datetime | None) -> ClosedBy | None:
    """Why journey-sync closed a task completed at ``completed_at``, as its description
    notes it (None: not noted, or completed again by a person long after the note)."""
    match = _CLOSED.search(description)
    if match is None:
        return None
    if match.group(2) and completed_at is not None:
        noted = datetime.strptime(match.group(2), "%Y-%m-%d %H:%M").replace(tzinfo=UTC)
        if not -timedelta(minutes=5) <= completed_at - noted <= CLOSED_NOTE_WINDOW:
            return None
    for closed_by, note in _CLOSED_NOTES.items():
        if match.group(1).strip() == note:
            return closed_by  # type: ignore[return-value]
    return None


# What ``due_text`` adds to a recurring due's text.
RECURRING_DUE: Final = " recurring"


def due_text(due: Due | None) -> str | None:
    """A due as one comparable string: the day, or the UTC instant of a timed due."""
    if due is None:
        return None
    text = (
        due.day.isoformat()
        if due.at is None
        else due.at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    )
    # A recurring due is never one journey-sync sent: a person set it, which makes the
    # task rescheduled by a person (never moved or removed for a corrected lead date or
    # an edited step, which would drop the recurrence).
    return text + RECURRING_DUE if due.recurring else text


# Slots: the state store keeps every task record in the process (120,000 at 10,000 leads),
# and a record without a __dict__ is about a third smaller.
@dataclass(frozen=True, slots=True)
class TaskRecord:
    lead_id: str
    step_key: str
    task_id: str | None
    status: TaskStatus
    responsible_uid: str | None = None
    # The due the template gives from the lead date (before the backfill rule moved an
    # overdue step to today): a change means the lead date (or the template) changed.
    planned: str | None = None
    sent_due: str | None = None  # the due journey-sync last sent to Todoist
    due: str | None = None  # the due Todoist last reported
    closed_by: ClosedBy | None = None
    # What Todoist last reported of the task's content, description, priority and labels,
    # and what journey-sync last sent (plus the step version and the coach it assigned),
    # as JSON text (see ``task_fields``): a field that differs was changed by a person.
    seen: str | None = None
    sent: str | None = None

    @property
    def rescheduled_by_person(self) -> bool:
        return self.sent_due is not None and self.due != self.sent_due

    @property
    def seen_fields(self) -> dict[str, object]:
        return _loads(self.seen)

    @property
    def sent_fields(self) -> dict[str, object]:
        return _loads(self.sent)


# A record's ``seen`` is usually ``sent`` without its step version (what journey-sync sent
# is what Todoist reports back): 20 MB of text at 10,000 leads held twice. Such a ``seen``
# is kept as this marker and given back, the very same text, from ``sent`` when read.
_AS_SENT: Final = object()
_VERSION_KEY: Final = ',"v":"'
_SEEN_SLOT: Final[Any] = TaskRecord.__dict__["seen"]
_SENT_SLOT: Final[Any] = TaskRecord.__dict__["sent"]


def _seen_from_sent(sent: str) -> str | None:
    """``sent`` without its last key (the version, which sorts last), or None."""
    cut = sent.rfind(_VERSION_KEY)
    return sent[:cut] + "}" if cut > 0 and sent.endswith('"}') else None


class _Seen:
    """``TaskRecord.seen``: the text as set, or, when it is ``sent`` without the version,
    that text made again from ``sent`` (see ``_AS_SENT``)."""

    def __get__(self, record: object, owner: type | None = None) -> Any:
        if record is None:
            return self
        value = _SEEN_SLOT.__get__(record, owner)
        if value is _AS_SENT:
            return _seen_from_sent(_SENT_SLOT.__get__(record, owner))
        return value

    def __set__(self, record: object, value: object) -> None:
        _SEEN_SLOT.__set__(record, value)


class _Sent:
    """``TaskRecord.sent``; setting it keeps ``seen`` as ``_AS_SENT`` when that gives the
    very same text back (``__init__`` sets ``seen`` first)."""

    def __get__(self, record: object, owner: type | None = None) -> Any:
        if record is None:
            return self
        return _SENT_SLOT.__get__(record, owner)

    def __set__(self, record: object, value: object) -> None:
        try:
            seen = _SEEN_SLOT.__get__(record)
        except AttributeError:  # not set yet
            _SENT_SLOT.__set__(record, value)
            return
        if seen is _AS_SENT:  # as it reads now, before sent changes
            seen = _seen_from_sent(_SENT_SLOT.__get__(record))
        _SENT_SLOT.__set__(record, value)
        if type(seen) is str and type(value) is str and _seen_from_sent(value) == seen:
            _SEEN_SLOT.__set__(record, _AS_SENT)
        else:
            _SEEN_SLOT.__set__(record, seen)


def seen_is(record: TaskRecord, text: str) -> bool:
    """``record.seen == text``, without making a ``seen`` kept as ``_AS_SENT`` again from
    ``sent`` (the fold asks this of every task Todoist lists: 120,000 in an echo)."""
    value = _SEEN_SLOT.__get__(record)
    if value is not _AS_SENT:
        return bool(value == text)
    sent = _SENT_SLOT.__get__(record)  # "...,"v":"..."}": seen is all before ,"v" plus "}"
    return (
        len(text) == sent.rfind(_VERSION_KEY) + 1
        and text[-1:] == "}"
        and sent.startswith(text[:-1])
    )


_SEEN: Final = _Seen()
TaskRecord.seen = _SEEN  # type: ignore[assignment,misc]
TaskRecord.sent = _Sent()  # type: ignore[assignment,misc]


# The slots' own setters, for ``stored_record``.
_SLOT_SETTERS: Final[tuple[Callable[[object, object], None], ...]] = tuple(
    TaskRecord.__dict__[name].__set__
    for name in (
        "lead_id",
        "step_key",
        "task_id",
        "status",
        "responsible_uid",
        "planned",
        "sent_due",
        "due",
        "closed_by",
    )
)
_new_record: Final = object.__new__


def stored_record(
    lead_id: str,
    step_key: str,
    task_id: str | None,
    status: TaskStatus,
    responsible_uid: str | None,
    planned: str | None,
    sent_due: str | None,
    due: str | None,
    closed_by: ClosedBy | None,
    seen: str | None,
    sent: str | None,
) -> TaskRecord:
    """``TaskRecord(...)`` of all its fields, the very same record (``seen`` kept as
    ``_AS_SENT`` under the same rule as ``_Sent.__set__``), made at half the cost: the
    frozen dataclass's ``__init__`` sets each slot through ``object.__setattr__`` and
    ``sent`` through its descriptor, 0.32 s for the 120,000 records the state store loads
    at 10,000 leads; this sets the slots directly (0.16 s). tests/core/test_records.py
    checks it against the constructor."""
    record = _new_record(TaskRecord)
    s_lead, s_step, s_task, s_status, s_uid, s_planned, s_sent_due, s_due, s_closed = _SLOT_SETTERS
    s_lead(record, lead_id)
    s_step(record, step_key)
    s_task(record, task_id)
    s_status(record, status)
    s_uid(record, responsible_uid)
    s_planned(record, planned)
    s_sent_due(record, sent_due)
    s_due(record, due)
    s_closed(record, closed_by)
    _SENT_SLOT.__set__(record, sent)
    if type(seen) is str and type(sent) is str and _seen_from_sent(sent) == seen:
        _SEEN_SLOT.__set__(record, _AS_SENT)
    else:
        _SEEN_SLOT.__set__(record, seen)
    return record


def task_fields(
    content: str, description: str, priority: int, labels: tuple[str, ...] | list[str]
) -> dict[str, object]:
    """The fields of a task a template sets (and a person may change), comparable."""
    return {
        "content": content,
        "description": description,
        "priority": priority,
        "labels": sorted(labels),
    }


# One encoder for every dump: ``json.dumps`` with options builds a new ``JSONEncoder`` per
# call (onboarding 10,000 leads dumps 120,000 task records' fields).
_FIELDS_ENCODER: Final = json.JSONEncoder(sort_keys=True, ensure_ascii=False, separators=(",", ":"))

# json's own string encoder (the C one where present), as json.dumps(ensure_ascii=False) uses.
_string: Final[Callable[[str], str]] = json.encoder.encode_basestring


def dump_fields(fields: Mapping[str, object]) -> str:
    return _FIELDS_ENCODER.encode(fields)


def fields_text(
    content: str, description: str, priority: int, labels: tuple[str, ...] | list[str]
) -> str:
    """``dump_fields(task_fields(...))`` of a task's fields, the same text built directly
    (``json.dumps`` with ``sort_keys`` costs a second for the 120,000 tasks of an echo or
    an onboarding). Anything but plain strings and an int priority goes the general way."""
    if not labels and type(priority) is int:  # most tasks: no labels to check and sort
        return (
            f'{{"content":{_string(content)},"description":{_string(description)},'
            f'"labels":[],"priority":{priority}}}'
        )
    if type(priority) is not int or not all(type(x) is str for x in labels):
        return dump_fields(task_fields(content, description, priority, labels))
    return (
        f'{{"content":{_string(content)},"description":{_string(description)},'
        f'"labels":[{",".join(map(_string, sorted(labels)))}],"priority":{priority}}}'
    )


def _loads(text: str | None) -> dict[str, object]:
    if not text:
        return {}
    try:
        value = json.loads(text)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


NoteKey = tuple[str, str]  # (lead key, field): lead key is a lead id, or "?name|date"


_STAMPS = itertools.count(1)


def next_stamp() -> int:
    """A number larger than any given before in this process (``Memory.stamps``)."""
    return next(_STAMPS)


@dataclass(frozen=True)
class Memory:
    """What the state store remembers of one workflow."""

    leads: Mapping[str, tuple[str, str]] = field(default_factory=dict)  # id -> fingerprint
    tasks: Mapping[tuple[str, str], TaskRecord] = field(default_factory=dict)
    marks_written: frozenset[tuple[str, str]] = frozenset()  # (lead id, stage key)
    # Marks we wrote that a person then removed: not written again for the same completion.
    marks_removed: frozenset[tuple[str, str]] = frozenset()
    left_on_written: Mapping[str, str] = field(default_factory=dict)  # lead id -> value text
    coach_written: frozenset[str] = frozenset()
    notes: Mapping[NoteKey, str] = field(default_factory=dict)  # notes we placed
    collaborators: Mapping[str, str] = field(default_factory=dict)  # uid -> name
    collaborator_emails: Mapping[str, str] = field(default_factory=dict)  # uid -> e-mail
    missing_since: Mapping[str, datetime] = field(default_factory=dict)  # id -> first missed
    # Leads whose row was seen twice (a copy, held) and whose copy is not resolved yet.
    copied: frozenset[str] = frozenset()
    project_id: str | None = None
    # The template hash ``journey-sync apply-template`` confirmed (a held change goes out).
    template_confirmed: str | None = None
    # What changed for which lead, for planning to reuse the last plan of the others
    # (``plan.PlanMemo``): lead id -> a stamp (``next_stamp``) taken when anything
    # remembered of it last changed (its tasks, marks, coach, departure day, notes...;
    # absent: nothing since the state was loaded), within ``epoch``, one load of the state
    # (None: no such record kept, as for a Memory built by hand: every lead is compared).
    stamps: Mapping[str, int] = field(default_factory=dict)
    epoch: object | None = None

    def tasks_of(self, lead_id: str) -> list[TaskRecord]:
        return [r for (lead, _), r in self.tasks.items() if lead == lead_id]
