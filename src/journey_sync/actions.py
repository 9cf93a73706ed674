"""Every decision a cycle can take, as one small frozen type.

Each action carries what it writes (sheet cells or a Todoist command), how it is
remembered in the state store once it has happened (``remember``), and how it reads in a
log line and in a dry run (``describe``). Planning (``plan.py``) only builds them; the
engine (``engine.py``) applies them by family, in the order that keeps "exactly once":

* ``SheetAction``: cells written into one lead's row. Addressed by lead, not by row
  number alone: after writing, the engine checks that the row still holds that lead
  (people sort and delete rows while a cycle runs) before remembering the action or
  doing anything in Todoist on its strength.
* ``TaskAction``: one Todoist command, remembered from Todoist's answer.
* ``MemoryAction``: a fact to remember, nothing to write.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import ClassVar, Protocol

from .dates import date_to_serial
from .ports import (
    AddTask,
    CellNote,
    CellValue,
    CellWrite,
    CloseTask,
    CommandResult,
    DeleteTask,
    Due,
    MoveTask,
    ReopenTask,
    TaskCommand,
    UpdateTask,
)
from .records import (
    ClosedBy,
    NoteKey,
    TaskRecord,
    TaskStatus,
    due_text,
    dump_fields,
    fields_text,
    task_fields,
    with_note_of,
)


class Remember(Protocol):
    """The state store's writes, inside one transaction (``state.Writer``)."""

    def put_lead(self, lead_id: str, fingerprint: tuple[str, str]) -> None: ...
    def task(self, lead_id: str, step_key: str) -> TaskRecord | None: ...
    def put_task(self, record: TaskRecord) -> None: ...
    def drop_task(self, lead_id: str, step_key: str) -> None: ...
    def set_mark(self, lead_id: str, stage: str, ours: bool) -> None: ...
    def set_mark_declined(self, lead_id: str, stage: str, declined: bool) -> None: ...
    def set_left_on(self, lead_id: str, value: str | None) -> None: ...
    def set_coach(self, lead_id: str) -> None: ...
    def set_note(self, key: NoteKey, text: str | None) -> None: ...
    def set_missing(self, lead_id: str, since: datetime | None) -> None: ...
    def set_copied(self, lead_id: str, copied: bool) -> None: ...


class Action:
    """One decision. ``heading`` groups actions in a dry run ("create task")."""

    heading: ClassVar[str] = ""
    # Planned only to keep the state store current: no write, no command, and not a
    # reason to call the plan "not empty".
    bookkeeping: ClassVar[bool] = False

    def describe(self) -> str:
        raise NotImplementedError

    def remember(self, store: Remember) -> None:
        """Record that the action happened."""


# ------------------------------------------------------------------- sheet


@dataclass(frozen=True, kw_only=True)
class SheetAction(Action):
    """Cells written into one lead's row; ``name``/``fingerprint``/``lead_id`` say whose."""

    row: int
    name: str
    fingerprint: tuple[str, str]
    lead_id: str | None  # what the row's Lead ID cell holds once the cycle's writes landed

    def cells(self) -> Sequence[CellWrite]:
        return ()

    def notes(self) -> Sequence[CellNote]:
        return ()

    def who(self) -> str:
        return f"{self.name!r} (row {self.row})"


@dataclass(frozen=True, kw_only=True)
class AssignId(SheetAction):
    column: int
    restored: bool = False  # a remembered lead's id given back to its row

    heading: ClassVar[str] = "write lead id"

    def cells(self) -> Sequence[CellWrite]:
        return (CellWrite(self.row, self.column, self.lead_id),)

    def describe(self) -> str:
        if self.restored:
            return f"give {self.who()} back its id {self.lead_id} (no new tasks)"
        return f"new lead {self.who()}"

    def remember(self, store: Remember) -> None:
        assert self.lead_id is not None
        store.put_lead(self.lead_id, self.fingerprint)
        store.set_missing(self.lead_id, None)


@dataclass(frozen=True, kw_only=True)
class WriteMark(SheetAction):
    stage: str
    column: int
    value: CellValue = 1  # 1, or TRUE to tick an unticked checkbox

    heading: ClassVar[str] = "write mark"

    def cells(self) -> Sequence[CellWrite]:
        return (CellWrite(self.row, self.column, self.value),)

    def describe(self) -> str:
        return f"{self.stage} for {self.who()}"

    def remember(self, store: Remember) -> None:
        assert self.lead_id is not None
        store.set_mark(self.lead_id, self.stage, True)


@dataclass(frozen=True, kw_only=True)
class ClearMark(SheetAction):
    stage: str
    column: int
    value: CellValue | None = None  # None clears; FALSE unticks a checkbox we ticked

    heading: ClassVar[str] = "clear mark"

    def cells(self) -> Sequence[CellWrite]:
        return (CellWrite(self.row, self.column, self.value),)

    def describe(self) -> str:
        return f"{self.stage} for {self.who()} (its task was reopened)"

    def remember(self, store: Remember) -> None:
        assert self.lead_id is not None
        store.set_mark(self.lead_id, self.stage, False)


@dataclass(frozen=True, kw_only=True)
class WriteLeftOn(SheetAction):
    column: int
    day: date

    heading: ClassVar[str] = "write left-on date"

    def cells(self) -> Sequence[CellWrite]:
        return (CellWrite(self.row, self.column, date_to_serial(self.day), as_date=True),)

    def describe(self) -> str:
        return f"{self.day.isoformat()} for {self.who()}"

    def remember(self, store: Remember) -> None:
        assert self.lead_id is not None
        store.set_left_on(self.lead_id, str(date_to_serial(self.day)))


@dataclass(frozen=True, kw_only=True)
class ClearLeftOn(SheetAction):
    column: int

    heading: ClassVar[str] = "clear left-on date"

    def cells(self) -> Sequence[CellWrite]:
        return (CellWrite(self.row, self.column, None),)

    def describe(self) -> str:
        return f"{self.who()} is back in the journey"

    def remember(self, store: Remember) -> None:
        assert self.lead_id is not None
        store.set_left_on(self.lead_id, None)


@dataclass(frozen=True, kw_only=True)
class WriteCoach(SheetAction):
    column: int
    coach: str

    heading: ClassVar[str] = "write coach"

    def cells(self) -> Sequence[CellWrite]:
        return (CellWrite(self.row, self.column, self.coach),)

    def describe(self) -> str:
        return f"{self.coach} for {self.who()}"

    def remember(self, store: Remember) -> None:
        assert self.lead_id is not None
        store.set_coach(self.lead_id)


@dataclass(frozen=True, kw_only=True)
class ClearFooterFigures(SheetAction):
    """The old footer's figures left in the stage cells of a lead typed over a footer
    row. A row action, not part of the footer: if rows move while the cycle runs, the
    clear must not land on another lead's marks."""

    columns: tuple[int, ...]

    heading: ClassVar[str] = "clear old footer figures"

    def cells(self) -> Sequence[CellWrite]:
        return tuple(CellWrite(self.row, column, None) for column in self.columns)

    def describe(self) -> str:
        return f"in {self.who()}: the old footer's figures, typed over"


@dataclass(frozen=True, kw_only=True)
class PlaceNote(SheetAction):
    """A note on one cell of the row (``text=""`` removes the note we placed)."""

    key: NoteKey
    column: int
    text: str

    heading: ClassVar[str] = "note"

    def notes(self) -> Sequence[CellNote]:
        return (CellNote(self.row, self.column, self.text),)

    def describe(self) -> str:
        if not self.text:
            return f"remove the note on {self.who()}: fixed"
        return f"{self.who()}: {self.text}"

    def remember(self, store: Remember) -> None:
        store.set_note(self.key, self.text or None)


# ------------------------------------------------------------------- Todoist


@dataclass(frozen=True, kw_only=True)
class TaskAction(Action):
    lead_id: str
    step_key: str
    name: str

    kind: ClassVar[str] = ""  # the kind of the pending command in the state store

    @property
    def task_id(self) -> str | None:
        return None

    def command(self, uuid: str, temp_id: str | None, project_id: str) -> TaskCommand:
        raise NotImplementedError

    def remember_result(self, store: Remember, result: CommandResult) -> None:
        """Record Todoist's "ok" for this command."""

    def who(self) -> str:
        return f"{self.step_key} of {self.name!r}"


@dataclass(frozen=True, kw_only=True)
class CreateTask(TaskAction):
    content: str
    description: str
    due: Due
    planned: str | None = None
    priority: int = 1
    labels: tuple[str, ...] = ()
    # The lead's id is written into the sheet in this same cycle: the task is created only
    # once that write is known to sit in the lead's row.
    needs_id_written: bool = False
    version: str | None = None  # the version of the step it comes from (template.py)

    heading: ClassVar[str] = "create task"
    kind: ClassVar[str] = "add"

    def command(self, uuid: str, temp_id: str | None, project_id: str) -> TaskCommand:
        assert temp_id is not None
        return AddTask(
            uuid,
            temp_id,
            project_id,
            self.content,
            self.description,
            self.due,
            self.priority,
            self.labels,
        )

    def remember_result(self, store: Remember, result: CommandResult) -> None:
        # Interned: the state store keeps every record, and dues repeat across leads.
        sent = due_text(self.due)
        sent = sent if sent is None else sys.intern(sent)
        seen = fields_text(self.content, self.description, self.priority, self.labels)
        store.put_task(
            TaskRecord(
                self.lead_id,
                self.step_key,
                result.new_id,
                "open",
                planned=self.planned,
                sent_due=sent,
                due=sent,
                seen=seen,
                sent=_with_version(seen, self.version) if self.version else None,
            )
        )

    def describe(self) -> str:
        return f"{self.content!r} due {self.due.day.isoformat()} ({self.who()})"


def _with_version(dumped: str, version: str) -> str:
    """``dump_fields({**fields, "v": version})`` from ``dump_fields(fields)``: the keys are
    sorted and "v" sorts after every field's, so it goes last (one encoding per created
    task instead of two; onboarding creates 120,000)."""
    if dumped == "{}":
        return "{" + _version_tail(version)
    return dumped[:-1] + "," + _version_tail(version)


@functools.lru_cache(maxsize=1024)
def _version_tail(version: str) -> str:
    return dump_fields({"v": version})[1:]  # '"v":"..."}'


assert max(task_fields("", "", 1, ())) < "v", "_with_version puts v last"


@dataclass(frozen=True, kw_only=True)
class _ExistingTask(TaskAction):
    existing_task_id: str
    why: str

    @property
    def task_id(self) -> str | None:
        return self.existing_task_id

    def _update(
        self, store: Remember, status: TaskStatus | None, closed_by: ClosedBy | None, **more: str
    ) -> None:
        record = store.task(self.lead_id, self.step_key)
        if record is None or record.task_id != self.existing_task_id:
            return
        changes: dict[str, object] = {"closed_by": closed_by, **more}
        if status is not None:
            changes["status"] = status
        store.put_task(replace(record, **changes))  # type: ignore[arg-type]

    def describe(self) -> str:
        return f"{self.who()} ({self.why})"


@dataclass(frozen=True, kw_only=True)
class CloseTaskAction(_ExistingTask):
    closed_by: ClosedBy = "hand"

    heading: ClassVar[str] = "complete task"
    kind: ClassVar[str] = "close"

    def command(self, uuid: str, temp_id: str | None, project_id: str) -> TaskCommand:
        # Done for good, a recurring task too (item_complete; a tick, item_close, would move
        # it to its next date and remind again): a departed lead's, or one whose stage a
        # person marked by hand ("nobody is reminded twice").
        return CloseTask(uuid, self.existing_task_id, for_good=True)

    def remember_result(self, store: Remember, result: CommandResult) -> None:
        self._update(store, "completed", self.closed_by)


@dataclass(frozen=True, kw_only=True)
class DeleteTaskAction(_ExistingTask):
    closed_by: ClosedBy = "leave"

    heading: ClassVar[str] = "remove task"
    kind: ClassVar[str] = "delete"

    def command(self, uuid: str, temp_id: str | None, project_id: str) -> TaskCommand:
        return DeleteTask(uuid, self.existing_task_id)

    def remember_result(self, store: Remember, result: CommandResult) -> None:
        self._update(store, "deleted", self.closed_by)


@dataclass(frozen=True, kw_only=True)
class ReopenTaskAction(_ExistingTask):
    heading: ClassVar[str] = "reopen task"
    kind: ClassVar[str] = "reopen"

    def command(self, uuid: str, temp_id: str | None, project_id: str) -> TaskCommand:
        return ReopenTask(uuid, self.existing_task_id)

    def remember_result(self, store: Remember, result: CommandResult) -> None:
        self._update(store, "open", None)


@dataclass(frozen=True, kw_only=True)
class MoveTaskAction(_ExistingTask):
    due: Due
    planned: str | None = None

    heading: ClassVar[str] = "move task"
    kind: ClassVar[str] = "move"

    def command(self, uuid: str, temp_id: str | None, project_id: str) -> TaskCommand:
        return MoveTask(uuid, self.existing_task_id, self.due)

    def remember_result(self, store: Remember, result: CommandResult) -> None:
        sent = due_text(self.due) or ""
        record = store.task(self.lead_id, self.step_key)
        if record is None or record.task_id != self.existing_task_id:
            return
        store.put_task(replace(record, planned=self.planned, sent_due=sent, due=sent))

    def describe(self) -> str:
        return f"{self.who()} to {self.due.day.isoformat()} ({self.why})"


# ------------------------------------------------------------------- memory only


@dataclass(frozen=True)
class RememberLead(Action):
    """A lead's name or date changed (or it is seen for the first time after a lost state)."""

    lead_id: str
    fingerprint: tuple[str, str]

    bookkeeping: ClassVar[bool] = True

    def describe(self) -> str:
        return f"remember {self.lead_id} as {self.fingerprint[0]!r}"

    def remember(self, store: Remember) -> None:
        store.put_lead(self.lead_id, self.fingerprint)


@dataclass(frozen=True)
class ForgetMark(Action):
    """A mark we wrote is gone: a person removed it (``declined``: do not write it again for
    the same completion), or its task was reopened and the person cleared it first."""

    lead_id: str
    stage: str
    declined: bool

    heading: ClassVar[str] = "forget mark"

    def describe(self) -> str:
        return f"{self.stage} of {self.lead_id}: removed by a person"

    def remember(self, store: Remember) -> None:
        store.set_mark(self.lead_id, self.stage, False)
        if self.declined:
            store.set_mark_declined(self.lead_id, self.stage, True)


@dataclass(frozen=True)
class LeadCopied(Action):
    """A lead's row was seen copied (``copied``), or its copy is resolved: one row again,
    holding every mark journey-sync wrote."""

    lead_id: str
    copied: bool

    bookkeeping: ClassVar[bool] = True

    def describe(self) -> str:
        if self.copied:
            return f"lead {self.lead_id}: its row was copied"
        return f"lead {self.lead_id}: one row again"

    def remember(self, store: Remember) -> None:
        store.set_copied(self.lead_id, self.copied)


@dataclass(frozen=True)
class AllowMark(Action):
    """A mark a person removed may be written again: its task was reopened since."""

    lead_id: str
    stage: str

    heading: ClassVar[str] = "allow mark"

    def describe(self) -> str:
        return f"{self.stage} of {self.lead_id}: may be marked again"

    def remember(self, store: Remember) -> None:
        store.set_mark_declined(self.lead_id, self.stage, False)


@dataclass(frozen=True)
class UpdateTaskRecord(Action):
    """A remembered task changes meaning without a command (e.g. a person reopened a task
    journey-sync had closed for a hand mark: it is theirs now, never closed again)."""

    record: TaskRecord
    why: str

    heading: ClassVar[str] = "remember"

    def describe(self) -> str:
        return f"{self.record.step_key} of {self.record.lead_id}: {self.why}"

    def remember(self, store: Remember) -> None:
        store.put_task(self.record)


@dataclass(frozen=True)
class DropNote(Action):
    """A note we placed on a row that is no longer in the sheet: forget it."""

    key: NoteKey

    bookkeeping: ClassVar[bool] = True

    def describe(self) -> str:
        return f"forget the note on {self.key[0]}"

    def remember(self, store: Remember) -> None:
        store.set_note(self.key, None)


@dataclass(frozen=True)
class LeadMissing(Action):
    """A remembered lead with open tasks is not in the sheet (``since``: first missed)."""

    lead_id: str
    name: str
    since: datetime | None  # None: it is back

    heading: ClassVar[str] = "lead missing"

    def describe(self) -> str:
        if self.since is None:
            return f"{self.name!r} ({self.lead_id}) is back in the sheet"
        return (
            f"{self.name!r} ({self.lead_id}) is not in the sheet since {self.since:%Y-%m-%d %H:%M}"
        )

    def remember(self, store: Remember) -> None:
        store.set_missing(self.lead_id, self.since)


@dataclass(frozen=True)
class ForgetLeftOn(Action):
    """The left-on date we wrote was changed by a person: it is theirs now."""

    lead_id: str

    bookkeeping: ClassVar[bool] = True

    def describe(self) -> str:
        return f"the left-on date of {self.lead_id} is a person's now"

    def remember(self, store: Remember) -> None:
        store.set_left_on(self.lead_id, None)


# ------------------------------------------------------------------- journeys that change


@dataclass(frozen=True, kw_only=True)
class UpdateTaskAction(_ExistingTask):
    """Fields of an open task changed by journey-sync (``item_update``): a template edit
    (``template``: counted against ``max_template_changes``) and/or the lead's coach."""

    content: str | None = None
    description: str | None = None
    priority: int | None = None
    labels: tuple[str, ...] | None = None
    due: Due | None = None
    planned: str | None = None  # with ``due``: the template's due it follows
    responsible_uid: str | None = None
    coach: str | None = None  # the coach's name, for the log
    version: str | None = None  # the step version the task follows once updated
    template: bool = False
    due_from_template: bool = False  # the due changed because the step's offset/time did
    # The description notes why journey-sync closes the task, just before it does (see
    # ``records.with_closed_note``): sent with the close, not instead of it.
    closing_note: bool = False

    heading: ClassVar[str] = "update task"
    kind: ClassVar[str] = "update"

    def fields(self) -> list[str]:
        names = ("content", "description", "priority", "labels", "due")
        return [n for n in names if getattr(self, n) is not None]

    def command(self, uuid: str, temp_id: str | None, project_id: str) -> TaskCommand:
        return UpdateTask(
            uuid,
            self.existing_task_id,
            content=self.content,
            description=self.description,
            priority=self.priority,
            labels=self.labels,
            due=self.due,
            responsible_uid=self.responsible_uid,
        )

    def remember_result(self, store: Remember, result: CommandResult) -> None:
        record = store.task(self.lead_id, self.step_key)
        if record is None or record.task_id != self.existing_task_id:
            return
        sent, seen = record.sent_fields, record.seen_fields
        for name in ("content", "description", "priority", "labels"):
            value = getattr(self, name)
            if value is None:
                continue
            if name == "description" and self.closing_note:
                # Only the note is journey-sync's: what it last sent gets the same note
                # (or loses it), so a description a person reworded stays theirs.
                seen[name] = value
                before = sent.get(name)
                if isinstance(before, str):
                    sent[name] = with_note_of(value, before)
                continue
            sent[name] = seen[name] = sorted(value) if name == "labels" else value
        if self.version is not None:
            sent["v"] = self.version
        changes: dict[str, object] = {"sent": dump_fields(sent), "seen": dump_fields(seen)}
        if self.responsible_uid is not None:
            sent["responsible"] = self.responsible_uid
            changes["sent"] = dump_fields(sent)
            changes["responsible_uid"] = self.responsible_uid
        if self.due is not None:
            due = due_text(self.due)
            changes.update(planned=self.planned, sent_due=due, due=due)
        store.put_task(replace(record, **changes))  # type: ignore[arg-type]

    def describe(self) -> str:
        parts = self.fields()
        if self.responsible_uid is not None:
            parts.append(f"assigned to {self.coach or self.responsible_uid}")
        return f"{self.who()}: {', '.join(parts)} ({self.why})"


@dataclass(frozen=True, kw_only=True)
class TemplateDeleteAction(DeleteTaskAction):
    """An open task removed because its step left the workflow (``on_step_removed:
    delete``) or a new offset put a reminder in the past."""

    template: bool = True
    due_from_template: bool = False

    heading: ClassVar[str] = "remove task (journey changed)"


@dataclass(frozen=True)
class RekeyTask(Action):
    """A step was renamed (``renamed_from``): its task record lives on under the new key."""

    old: TaskRecord
    new: TaskRecord

    heading: ClassVar[str] = "rename step"

    def describe(self) -> str:
        return f"{self.old.step_key} of {self.old.lead_id} is now {self.new.step_key}"

    def remember(self, store: Remember) -> None:
        store.drop_task(self.old.lead_id, self.old.step_key)
        store.put_task(self.new)


@dataclass(frozen=True)
class TemplateSummary(Action):
    """What a template edit does to one step, counted (a dry run's "per step" lines)."""

    step_key: str
    counts: tuple[tuple[str, int], ...]
    held: bool = False

    heading: ClassVar[str] = "change journey"
    bookkeeping: ClassVar[bool] = True

    def describe(self) -> str:
        counted = ", ".join(f"{n} {what}" for what, n in self.counts)
        held = " (held: waiting for `journey-sync apply-template`)" if self.held else ""
        return f"step {self.step_key}: {counted}{held}"
