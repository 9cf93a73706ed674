"""Coaches get their leads' tasks: the name typed in "Name of coach" -> a collaborator of
the Todoist project, to whom the lead's open ``for: coach`` tasks are assigned. Pure.

The two directions never fight. Assigning a task in Todoist writes the assignee's name
into an empty coach cell (``plan.plan_coach``); a name in the cell assigns the coach tasks
that nobody reassigned by hand: a task is journey-sync's to (re)assign while its assignee
is none or the one journey-sync last set (``sent["responsible"]``). A person who gives a
task to someone else in Todoist keeps it that way.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from .records import TaskRecord
from .workflow import Workflow


@dataclass(frozen=True)
class Coach:
    """The coach the sheet names: a collaborator's id, or a note saying nobody matched."""

    name: str
    uid: str | None
    note: str | None = None


def _norm(text: str) -> str:
    return " ".join(text.split()).casefold()


def find_coach(
    workflow: Workflow,
    typed: str | None,
    collaborators: Mapping[str, str],
    emails: Mapping[str, str] | None = None,
) -> Coach | None:
    """The collaborator a coach cell names: by full name or by e-mail (case and spaces
    aside), directly or through the workflow's ``coaches:`` mapping."""
    if not typed or not typed.strip():
        return None
    mapping = {_norm(k): v for k, v in workflow.coaches.items()}
    wanted = _norm(mapping.get(_norm(typed), typed))
    for uid, name in sorted(collaborators.items()):
        if _norm(name) == wanted:
            return Coach(typed.strip(), uid)
    for uid, email in sorted((emails or {}).items()):
        if _norm(email) == wanted and uid in collaborators:
            return Coach(typed.strip(), uid)
    known = ", ".join(sorted(n for n in collaborators.values() if n)) or "none yet"
    return Coach(
        typed.strip(),
        None,
        f"journey-sync assigns this lead's coach tasks to the Todoist collaborator named "
        f"here, and finds nobody called {typed.strip()!r} among the project's collaborators "
        f"({known}). Type one of these names, or map this name to one under 'coaches:' in "
        "the workflow file. Share the project with the coach in Todoist first.",
    )


def assign_to(record: TaskRecord, coach: Coach) -> str | None:
    """The uid to assign this open coach task to, or None to leave it as it is."""
    if coach.uid is None or record.responsible_uid == coach.uid:
        return None
    if record.responsible_uid is None:
        return coach.uid
    ours = record.sent_fields.get("responsible")
    if ours is not None and record.responsible_uid == ours:
        return coach.uid  # journey-sync's earlier assignment: the coach changed
    return None  # reassigned by a person in Todoist: theirs
