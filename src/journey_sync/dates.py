"""Due-date arithmetic and the spreadsheet's date serial numbers. Pure functions."""

from __future__ import annotations

import calendar
import re
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from .ports import Due
from .workflow import Offset, Step

# Google Sheets (like Lotus 1-2-3 and Excel after it) counts days from 30 December 1899.
SHEETS_EPOCH = date(1899, 12, 30)
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def add_offset(day: date, offset: Offset) -> date:
    """``day`` plus the offset. Calendar months clamp to the month's end: 31 Jan + 1m = 28/29 Feb."""
    if offset.unit == "d":
        return day + timedelta(days=offset.amount)
    if offset.unit == "w":
        return day + timedelta(weeks=offset.amount)
    months = day.month - 1 + offset.amount
    year, month = day.year + months // 12, months % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def move_off_weekend(day: date, policy: str) -> date:
    """Saturday and Sunday move to Monday (``next_weekday``) or Friday (``previous_weekday``)."""
    weekday = day.weekday()  # Monday is 0
    if weekday < 5 or policy == "keep":
        return day
    if policy == "next_weekday":
        return day + timedelta(days=7 - weekday)
    return day - timedelta(days=weekday - 4)


def due_day(step: Step, lead_date: date) -> date:
    return move_off_weekend(add_offset(lead_date, step.due), step.weekend)


def due_for(step: Step, day: date, zone: ZoneInfo) -> Due:
    """The Todoist due of ``step`` on ``day``: all-day, or at the step's time in ``zone``.

    A wall-clock time that does not exist (skipped by a spring-forward change) is moved
    forward by the gap, as a person would read "10:00" on that morning; zoneinfo's fold=0
    does exactly that when the aware time is normalised through UTC.
    """
    if step.time is None:
        return Due(day=day)
    local = datetime.combine(day, step.time).replace(tzinfo=zone)
    normalised = local.astimezone(ZoneInfo("UTC")).astimezone(zone)
    return Due(day=normalised.date(), at=normalised, timezone=zone.key)


def today_in(zone: ZoneInfo, now: datetime) -> date:
    """The business's calendar day at ``now`` (an aware datetime)."""
    return now.astimezone(zone).date()


def serial_to_date(serial: float) -> date:
    """A Sheets date serial number (days since 1899-12-30; fractions are the time) to a date."""
    return SHEETS_EPOCH + timedelta(days=int(serial // 1))


def date_to_serial(day: date) -> int:
    return (day - SHEETS_EPOCH).days


def parse_text_date(text: str, declared_format: str | None) -> date | None:
    """A date typed as text: ISO (2026-03-31) or the workflow's declared format, else None.

    Anything else is refused rather than guessed: 03/04/2026 is March in one country and
    April in another.
    """
    text = text.strip()
    if _ISO_DATE.match(text):
        try:
            return date.fromisoformat(text)
        except ValueError:
            return None
    if declared_format:
        try:
            return datetime.strptime(text, declared_format).date()
        except ValueError:
            return None
    return None
