"""Which lead each row is. Pure: no I/O.

A lead's identity is its id in the ``Lead ID`` column, written once by journey-sync. But
people clear cells, delete and re-add columns, and move rows by copy and paste, so an id
cell cannot be the only memory: journey-sync also remembers each lead's name and lead date
(its fingerprint). The rules, in the order they apply:

1. A row whose id journey-sync remembers is that lead, unless its name is nothing like the
   lead's and its date is another too (the row cleared and reused: rule 4). Of several
   such rows (a row copied with its id), the first keeps the id; the others are held with
   a note asking a person to decide (delete one, or type NEW in the Lead ID cell of a
   different client), and get no tasks until then.
2. A row without an id, with an id that is a copy of another row's, or with an id
   journey-sync never gave out, whose name and date match exactly one remembered lead that
   is not in the sheet any more (its id cell cleared, its column deleted and re-added, its
   row deleted after a copy was pasted) gets that lead's id back: no new tasks. So does a
   row whose id cell holds another lead's id while its name and date are exactly this
   lead's (rows sorted without the hidden id column, two id cells swapped): its id cell is
   put right.
3. A row that matches more than one such lead, or is identical (name and date) to a lead
   still present under its own id, is held with a note: a person decides. So is a row
   without an id whose name, or whose lead date, is that of a lead gone from the sheet
   with its journey still open (its id cleared while its date, or its name, was retyped);
   by lead date only when the names are alike (``names_alike``): a new client typed the
   day a row was deleted is a new lead.
4. Anything else is a new lead and gets a new id (``NEW`` typed in the id cell forces it).
   Of two new rows with the same name and date (typed twice before a cycle), the first is
   the lead and the second is held, as under rule 3.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from difflib import SequenceMatcher
from functools import cached_property

from .dates import serial_to_date
from .records import Memory
from .sheet import Lead, SheetModel

# What a person types in the Lead ID cell to say "this is a different client".
NEW_LEAD_WORD = "new"


@dataclass(frozen=True)
class Placed:
    """A lead row and the id it has once this cycle's writes land."""

    lead: Lead
    lead_id: str
    fresh: bool = False  # a new id, written this cycle
    restored: bool = False  # a remembered id given back, written this cycle

    @property
    def id_written(self) -> bool:
        return self.fresh or self.restored


@dataclass(frozen=True)
class Held:
    """A row that may be an existing lead or a new one: a person decides."""

    lead: Lead
    reason: str
    # Remembered leads out of the sheet that this row may be (by name only): kept while a
    # person decides.
    namesakes: tuple[str, ...] = ()

    @property
    def key(self) -> str:
        name, day = self.lead.fingerprint()
        return f"?{name}|{day}"


@dataclass(frozen=True)
class Identities:
    placed: tuple[Placed, ...]
    held: tuple[Held, ...]
    # Remembered leads a held row may be: not "missing" while a person decides.
    claimed: frozenset[str] = field(default_factory=frozenset)

    # Worked out once per object: a task ticked on a settled sheet plans with the very
    # identities of the last plan (``plan.PlanMemo.identify``).

    @cached_property
    def present_ids(self) -> frozenset[str]:
        """The ids of the leads placed in the sheet."""
        return frozenset(p.lead_id for p in self.placed)

    @cached_property
    def lead_of(self) -> Mapping[str, Lead]:
        """Each placed lead's row, by its id."""
        return {p.lead_id: p.lead for p in self.placed}


def identify(model: SheetModel, memory: Memory, new_id: Callable[[], str]) -> Identities:
    remembered = memory.leads
    rows_by_id: dict[str, list[Lead]] = {}
    leads = [lead for lead in model.leads if not lead.computed_date]
    for lead in leads:
        if lead.lead_id is not None and lead.lead_id.casefold() != NEW_LEAD_WORD:
            rows_by_id.setdefault(lead.lead_id, []).append(lead)

    remembered_by_fingerprint: dict[tuple[str, str], list[str]] = {}
    for lead_id, fingerprint in remembered.items():
        remembered_by_fingerprint.setdefault(fingerprint, []).append(lead_id)

    def single_absent_match(lead: Lead) -> str | None:
        """The one remembered lead, not in the sheet under its id, that this row is."""
        matches = [
            i for i in remembered_by_fingerprint.get(lead.fingerprint(), ()) if i not in rows_by_id
        ]
        return matches[0] if len(matches) == 1 else None

    placed: dict[int, Placed] = {}  # row -> placement
    held: dict[int, Held] = {}
    unplaced, id_lost = _rows_whose_id_moved(
        rows_by_id, remembered, remembered_by_fingerprint, leads
    )
    for lead_id, rows in rows_by_id.items():
        known = remembered.get(lead_id)
        if known is None:
            # An id journey-sync does not remember: a lost state file (keep it), or an id
            # that landed in a wrong row (rule 2 may give the row its own id back).
            keeper, rest = rows[0], rows[1:]
            if single_absent_match(keeper) is None:
                placed[keeper.row] = Placed(keeper, lead_id)
            else:
                unplaced.append(keeper)
        else:
            same = [r for r in rows if r.fingerprint() == known]
            keeper = (same or rows)[0]
            rest = [r for r in rows if r is not keeper]
            if not same and _reused(keeper, known):
                # Cleared and typed over for another client (the hidden id cell left
                # behind): a new lead; the old one is gone from the sheet (its open tasks
                # go after the grace period, as for a deleted row).
                unplaced.append(keeper)
            else:
                placed[keeper.row] = Placed(keeper, lead_id)
        for copy in rest:
            if copy.fingerprint() == keeper.fingerprint():
                held[copy.row] = Held(
                    copy,
                    f"This row looks like a copy of row {keeper.row} ({keeper.name.strip()!r}, "
                    f"Lead ID {lead_id}). journey-sync does nothing for it until a person "
                    "decides: delete one of the two rows, or, if this is a different client, "
                    f"type {NEW_LEAD_WORD.upper()} in its Lead ID cell.",
                )
            else:
                unplaced.append(copy)
    waiting = {lead.row for lead in unplaced}
    for lead in leads:
        if lead.row not in placed and lead.row not in held and lead.row not in waiting:
            unplaced.append(lead)
    unplaced.sort(key=lambda lead: lead.row)

    present = {p.lead_id for p in placed.values()}
    absent_by_fingerprint: dict[tuple[str, str], list[str]] = {}
    for lead_id, fingerprint in remembered.items():
        if lead_id not in present:
            absent_by_fingerprint.setdefault(fingerprint, []).append(lead_id)
    present_fingerprints = {p.lead.fingerprint(): p for p in placed.values()}
    # Remembered leads out of the sheet with their journey still open, by name and by
    # lead date. (Built at the first row that needs them: most cycles have none.)
    active_absent: tuple[dict[str, list[str]], dict[str, list[str]]] | None = None

    def absent_namesakes(lead: Lead, part: int) -> list[str]:
        """Such leads with this row's name (``part`` 0: the same client whose id was
        cleared while their date was changed, or a new one) or with its lead date (``part``
        1: whose id was cleared while their name was retyped, or a new one)."""
        nonlocal active_absent
        if active_absent is None:
            active = {r.lead_id for r in memory.tasks.values() if r.status == "open"}
            active_absent = ({}, {})
            for lead_id, (name, day) in remembered.items():
                if lead_id not in present and lead_id in active:
                    active_absent[0].setdefault(name, []).append(lead_id)
                    active_absent[1].setdefault(day, []).append(lead_id)
        return active_absent[part].get(lead.fingerprint()[part], [])

    claims: dict[str, list[Lead]] = {}
    for lead in unplaced:
        forced_new = (lead.lead_id or "").casefold() == NEW_LEAD_WORD
        candidates = [] if forced_new else absent_by_fingerprint.get(lead.fingerprint(), [])
        if len(candidates) == 1:
            claims.setdefault(candidates[0], []).append(lead)
        elif len(candidates) > 1:
            held[lead.row] = Held(
                lead,
                f"{len(candidates)} earlier leads have this name and lead date "
                f"({', '.join(sorted(candidates))}). Type the right one's id in the Lead ID "
                f"cell, or {NEW_LEAD_WORD.upper()} if this is a new client.",
            )
        elif not forced_new and lead.fingerprint() in present_fingerprints:
            twin = present_fingerprints[lead.fingerprint()]
            held[lead.row] = Held(
                lead,
                f"Row {twin.lead.row} already has a lead with this name and lead date "
                f"(Lead ID {twin.lead_id}). Delete this row if it is a copy, or type "
                f"{NEW_LEAD_WORD.upper()} in its Lead ID cell if it is a different client.",
            )
        elif (
            not forced_new
            and (lead.lead_id is None or lead.row in id_lost)
            and (namesakes := absent_namesakes(lead, 0))
        ):
            which = ", ".join(
                f"{i} (lead date {_day_text(remembered[i][1])})" for i in sorted(namesakes)
            )
            held[lead.row] = Held(
                lead,
                f"This row has no Lead ID and its client name matches an earlier lead whose "
                f"row is no longer in the sheet: {which}. If it is that client, type that id "
                f"in its Lead ID cell (its tasks move to this row's date); if it is a new "
                f"client, type {NEW_LEAD_WORD.upper()}. Nothing is created until then.",
                namesakes=tuple(namesakes),
            )
        elif (
            not forced_new
            and (lead.lead_id is None or lead.row in id_lost)
            and (
                same_day := [
                    i
                    for i in absent_namesakes(lead, 1)
                    if names_alike(remembered[i][0], lead.fingerprint()[0])
                ]
            )
        ):
            which = ", ".join(f"{i} ({remembered[i][0]!r})" for i in sorted(same_day))
            held[lead.row] = Held(
                lead,
                f"This row has no Lead ID and its lead date matches an earlier lead whose "
                f"row is no longer in the sheet: {which}. If it is that client (the name "
                f"retyped), type that id in its Lead ID cell; if it is a new client, type "
                f"{NEW_LEAD_WORD.upper()}. Nothing is created until then.",
                namesakes=tuple(same_day),
            )
        else:
            placed[lead.row] = Placed(lead, new_id(), fresh=True)
            # The same client typed twice before a cycle: the second row is held, as it
            # would be had a cycle run between the two.
            present_fingerprints.setdefault(lead.fingerprint(), placed[lead.row])
    claimed: set[str] = set()
    for lead_id, leads in claims.items():
        if len(leads) == 1:
            placed[leads[0].row] = Placed(leads[0], lead_id, restored=True)
            continue
        claimed.add(lead_id)
        for lead in leads:
            held[lead.row] = Held(
                lead,
                f"Rows {', '.join(str(x.row) for x in leads)} all match the earlier lead "
                f"{lead_id}. Keep its id in one of them (type {lead_id} in its Lead ID cell) "
                f"and delete the copies, or type {NEW_LEAD_WORD.upper()} for a new client.",
            )
    for h in held.values():
        claimed.update(absent_by_fingerprint.get(h.lead.fingerprint(), []))
        claimed.update(h.namesakes)
    return Identities(
        placed=tuple(sorted(placed.values(), key=lambda p: p.lead.row)),
        held=tuple(sorted(held.values(), key=lambda h: h.lead.row)),
        claimed=frozenset(claimed),
    )


def _reused(row: Lead, known: tuple[str, str]) -> bool:
    """A row under a remembered id whose name is nothing like its lead's and whose lead
    date is another: cleared and typed over for a new client, not that lead corrected (a
    name or a date retyped alone, or a name's typo fixed with the date, stays the lead;
    so does a name or date cleared, to be retyped)."""
    name, day = row.fingerprint()
    return bool(name and day and known[0] and day != known[1] and not names_alike(known[0], name))


def names_alike(a: str, b: str) -> bool:
    """Whether name ``b`` may be ``a`` retyped: a typo fixed (``Jonh`` for ``John``), a
    name added or changed (``Ann Lee-Smith``, ``Ann Smith``, ``Annie Leigh`` for ``Ann Lee``). A lead typed
    the same day as one deleted from the sheet is no reason to hold it; a name like the
    deleted one's is."""
    words_a = {w for w in re.findall(r"\w+", a.casefold()) if len(w) > 1}
    words_b = {w for w in re.findall(r"\w+", b.casefold()) if len(w) > 1}
    if words_a & words_b:
        return True
    return SequenceMatcher(None, a.casefold(), b.casefold()).ratio() >= 0.6


def _rows_whose_id_moved(
    rows_by_id: dict[str, list[Lead]],
    remembered: Mapping[str, tuple[str, str]],
    by_fingerprint: Mapping[tuple[str, str], list[str]],
    leads: Sequence[Lead],
) -> tuple[list[Lead], set[int]]:
    """Rows whose id cell belongs to another row: taken out of ``rows_by_id`` (in place)
    and returned, to be identified by their name and date (rule 2), with the rows of those
    whose id is simply not theirs (identified as rows without an id).

    Sorting a selection that leaves out the (often hidden) Lead ID column moves names,
    dates and marks but not the ids; so does swapping two id cells. A row under lead X's
    id whose name and date are not X's:
    - is lead Y when they are exactly Y's (Y not in the sheet under its own id with its own
      name and date): its id cell gets Y's id back;
    - is not X when X's exact name and date are in one other row (that row is X), and is
      then identified like a row without an id (a new lead typed before the sort, say);
    - else is X, renamed or its date corrected.
    A move is kept only if its lead is left without a row holding its id (else there would
    be two rows for it): moves are undone until that holds.
    """
    strong = {
        lead_id
        for lead_id, rows in rows_by_id.items()
        if lead_id in remembered and any(r.fingerprint() == remembered[lead_id] for r in rows)
    }
    rows_by_fingerprint: dict[tuple[str, str], list[Lead]] = {}
    for lead in leads:
        rows_by_fingerprint.setdefault(lead.fingerprint(), []).append(lead)
    moves: dict[int, tuple[str, str | None, Lead]] = {}  # row -> (its id, the lead it is, row)
    for lead_id, rows in rows_by_id.items():
        known = remembered.get(lead_id)
        if known is None:
            continue
        for row in rows:
            fingerprint = row.fingerprint()
            if fingerprint == known:
                continue
            others = [i for i in by_fingerprint.get(fingerprint, ()) if i != lead_id]
            if len(others) == 1 and others[0] not in strong:
                moves[row.row] = (lead_id, others[0], row)
                continue
            if lead_id in strong:
                continue  # a copy of a row still in the sheet: the copy rules decide
            elsewhere = [r for r in rows_by_fingerprint.get(known, ()) if r is not row]
            if len(elsewhere) == 1 and not _someone_else(elsewhere[0], lead_id, remembered):
                moves[row.row] = (lead_id, None, row)  # its id belongs to that row
    while moves:
        staying = {
            lead_id for lead_id, rows in rows_by_id.items() if any(r.row not in moves for r in rows)
        }
        undo = [
            number
            for number, (cell, target, _) in moves.items()
            if (target if target is not None else cell) in staying
        ]
        if not undo:
            break
        for number in undo:
            del moves[number]
    for lead_id in {cell for cell, _, _ in moves.values()}:
        kept = [r for r in rows_by_id[lead_id] if r.row not in moves]
        if kept:
            rows_by_id[lead_id] = kept
        else:
            del rows_by_id[lead_id]
    lost = {number for number, (_, target, _) in moves.items() if target is None}
    return [row for _, _, row in moves.values()], lost


def _someone_else(row: Lead, lead_id: str, remembered: Mapping[str, tuple[str, str]]) -> bool:
    """Whether ``row`` holds the id of another lead whose name and date it has."""
    other = row.lead_id
    return (
        other is not None
        and other != lead_id
        and other in remembered
        and remembered[other] == row.fingerprint()
    )


def _day_text(day: str) -> str:
    """A remembered lead date (the cell's text: a serial number, or what was typed)."""
    try:
        return serial_to_date(float(day)).isoformat()
    except (ValueError, OverflowError):
        return day
