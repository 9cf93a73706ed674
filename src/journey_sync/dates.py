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
    """A date typed as text, else None.

    Read: ISO (2026-03-31, or 2026/03/31); the workflow's declared format, also with ".",
    "-" or "/" between its numbers and a two-digit year (31.03.26 for %d/%m/%Y: the order
    is what is declared); a month by its English name, before or after the day (31 March
    2026, Mar 31, 2026, Tue 31 Mar 2026); each of them with a time after it, which a lead
    date does not need (31/03/2026 14:30). Sheets turns most typed dates into numbers, but
    not in a cell formatted as text, or a date pasted from an e-mail.

    Anything else is refused rather than guessed: 03/04/2026 is March in one country and
    April in another.
    """
    text = _TIME_AFTER.sub("", _WEEKDAY_BEFORE.sub("", text.strip())).strip()
    numbers = _NUMBERS.match(text)
    if numbers is not None:
        first, second, third = numbers.groups()
        if len(first) == 4:  # year first: only ever year, month, day
            return _day(first, second, third)
        order = _numeric_order(declared_format)
        if order is not None:
            fields = dict(zip(order, (first, second, third), strict=True))
            return _day(fields["Y"], fields["m"], fields["d"])
    named = _DAY_MONTH_YEAR.match(text) or _MONTH_DAY_YEAR.match(text)
    if named is not None:
        month = _MONTHS.get(named.group("month").casefold())
        if month is not None:
            return _day(named.group("year"), str(month), named.group("day"))
    if declared_format:
        try:
            return datetime.strptime(text, declared_format).date()
        except ValueError:
            return None
    return None


_WEEKDAY_BEFORE = re.compile(r"^(?:mon|tue|wed|thu|fri|sat|sun)[a-z]*\.?,?\s+", re.IGNORECASE)
_TIME_AFTER = re.compile(
    r"(?:,?\s+|T)\d{1,2}[:.]\d{2}(?::\d{2}(?:\.\d+)?)?\s*(?:[ap]\.?m\.?)?"
    r"\s*(?:Z|[+-]\d{2}:?\d{2})?$",
    re.IGNORECASE,
)
_NUMBERS = re.compile(r"^(\d{1,4})\s*[/.\-]\s*(\d{1,2})\s*[/.\-]\s*(\d{1,4})\.?$")
_DAY_MONTH_YEAR = re.compile(
    r"^(?P<day>\d{1,2})(?:st|nd|rd|th)?[\s\-./,]+(?P<month>[a-z]+)\.?[\s\-./,]+(?P<year>\d{4})$",
    re.IGNORECASE,
)
_MONTH_DAY_YEAR = re.compile(
    r"^(?P<month>[a-z]+)\.?[\s\-]+(?P<day>\d{1,2})(?:st|nd|rd|th)?,?\s+(?P<year>\d{4})$",
    re.IGNORECASE,
)
_MONTHS = {
    name: number
    for number, names in enumerate(
        (
            ("january", "jan"),
            ("february", "feb"),
            ("march", "mar"),
            ("april", "apr"),
            ("may",),
            ("june", "jun"),
            ("july", "jul"),
            ("august", "aug"),
            ("september", "sep", "sept"),
            ("october", "oct"),
            ("november", "nov"),
            ("december", "dec"),
        ),
        start=1,
    )
    for name in names
}
_NUMERIC_FORMAT = re.compile(r"^%([dmYy])([/.\-])%([dmYy])\2%([dmYy])$")


def _numeric_order(declared_format: str | None) -> tuple[str, str, str] | None:
    """The order of day, month and year in a declared format made of those three numbers
    (``%d/%m/%Y`` -> d, m, Y), or None."""
    match = _NUMERIC_FORMAT.match(declared_format or "")
    if match is None:
        return None
    order = tuple("Y" if f in "Yy" else f for f in (match[1], match[3], match[4]))
    return (order[0], order[1], order[2]) if sorted(order) == ["Y", "d", "m"] else None


def _day(year: str, month: str, day: str) -> date | None:
    """The date of those numbers as typed; a two-digit year is this century's."""
    if len(year) not in (2, 4) or len(month) > 2 or len(day) > 2:
        return None
    try:
        return date(int(year) + (2000 if len(year) == 2 else 0), int(month), int(day))
    except ValueError:
        return None
