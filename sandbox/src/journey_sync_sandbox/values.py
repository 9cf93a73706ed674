"""What a typed value becomes in a cell, and how a number is shown.

``parse_user_entered`` is ``valueInputOption=USER_ENTERED``: the recording
``gsheets_values_update_USER_ENTERED_number_coercion.json`` shows "0042" becoming the
number 42, "2,000,000.01" a number that keeps its thousands separators when
formatted, "= 1 / 1024" a formula; ``gsheets_values_update_USER_ENTERED_render_options.json``
shows "2020-01-01" becoming the date serial 43831 shown as "2020-01-01". A leading
apostrophe forces text, as in the Sheets UI.

``format_number`` is the FORMATTED_VALUE rendering; it covers the number formats a
lead sheet uses (General, ``#,##0.00``, ``0.0%``, date patterns) and falls back to
General for anything else.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from .formulas import format_general

EPOCH = date(1899, 12, 30)  # serial 0 in Sheets (and Excel's 1900 system after Feb 1900)

_NUMBER = re.compile(r"^[+-]?(?:\d{1,3}(?:,\d{3})+|\d+)?(?:\.\d+)?(?:[eE][+-]?\d+)?$")
_PERCENT = re.compile(r"^([+-]?(?:\d+)?(?:\.\d+)?)\s*%$")
_ISO_DATE = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})$")
_ISO_DATETIME = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})[ T](\d{1,2}):(\d{2})(?::(\d{2}))?$")
_US_DATE = re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{4})$")  # the en_US locale reads M/D/YYYY


@dataclass(frozen=True)
class Entry:
    """A typed value after parsing: a literal or a formula, and a suggested format."""

    value: float | str | bool | None = None
    formula: str | None = None
    number_format: Mapping[str, str] | None = None


def date_to_serial(day: date) -> int:
    return (day - EPOCH).days


def serial_to_date(serial: float) -> date:
    return EPOCH + timedelta(days=int(serial // 1))


def datetime_to_serial(moment: datetime) -> float:
    midnight = datetime.combine(moment.date(), datetime.min.time())
    fraction = (moment.replace(tzinfo=None) - midnight).total_seconds() / 86400
    return date_to_serial(moment.date()) + fraction


def parse_user_entered(text: str) -> Entry:
    """A string typed as if by a person (``USER_ENTERED``)."""
    if text.startswith("'"):
        return Entry(value=text[1:])
    if text.startswith("=") and len(text) > 1:
        return Entry(formula=text)
    stripped = text.strip()
    upper = stripped.upper()
    if upper in ("TRUE", "FALSE"):
        return Entry(value=upper == "TRUE")
    if stripped and _NUMBER.match(stripped) and any(c.isdigit() for c in stripped):
        number = float(stripped.replace(",", ""))
        if "," in stripped:
            decimals = len(stripped.split(".")[1]) if "." in stripped else 0
            pattern = "#,##0" + ("." + "0" * decimals if decimals else "")
            return Entry(value=number, number_format={"type": "NUMBER", "pattern": pattern})
        return Entry(value=number)
    percent = _PERCENT.match(stripped)
    if percent and any(c.isdigit() for c in percent.group(1)):
        number = float(percent.group(1)) / 100
        pattern = "0.00%" if "." in percent.group(1) else "0%"
        return Entry(value=number, number_format={"type": "PERCENT", "pattern": pattern})
    moment = _parse_date(stripped)
    if moment is not None:
        return moment
    return Entry(value=text)


def _parse_date(text: str) -> Entry | None:
    try:
        if match := _ISO_DATE.match(text):
            day = date(int(match[1]), int(match[2]), int(match[3]))
            return Entry(
                value=float(date_to_serial(day)),
                number_format={"type": "DATE", "pattern": "yyyy-mm-dd"},
            )
        if match := _US_DATE.match(text):
            day = date(int(match[3]), int(match[1]), int(match[2]))
            return Entry(
                value=float(date_to_serial(day)),
                number_format={"type": "DATE", "pattern": "M/d/yyyy"},
            )
        if match := _ISO_DATETIME.match(text):
            moment = datetime(
                int(match[1]),
                int(match[2]),
                int(match[3]),
                int(match[4]),
                int(match[5]),
                int(match[6] or 0),
            )
            return Entry(
                value=datetime_to_serial(moment),
                number_format={"type": "DATE_TIME", "pattern": "yyyy-mm-dd H:mm:ss"},
            )
    except ValueError:
        return None  # 2026-02-30 is text, as in Sheets
    return None


def is_date_format(number_format: Mapping[str, Any] | None) -> bool:
    if not number_format:
        return False
    return str(number_format.get("type")) in ("DATE", "TIME", "DATE_TIME")


# ----------------------------------------------------------------- rendering

_DEFAULT_PATTERNS = {"DATE": "M/d/yyyy", "DATE_TIME": "M/d/yyyy H:mm:ss", "TIME": "h:mm:ss am/pm"}
_MONTHS = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
]
_DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
_DATE_TOKEN = re.compile(
    r"yyyy|yy|mmmm|mmm|mm|m|MMMM|MMM|MM|M|dddd|ddd|dd|d|HH|H|hh|h|ss|s|am/pm|\"[^\"]*\"|.",
    re.DOTALL,
)


def format_number(number: float, number_format: Mapping[str, Any] | None) -> str:
    """A number as FORMATTED_VALUE shows it under ``number_format``."""
    if not number_format:
        return format_general(number)
    kind = str(number_format.get("type", "NUMBER"))
    pattern = str(number_format.get("pattern") or "")
    if kind in _DEFAULT_PATTERNS:
        return _format_date(number, pattern or _DEFAULT_PATTERNS[kind])
    if kind == "TEXT" or not pattern:
        return format_general(number)
    return _format_decimal(number, pattern)


def _format_decimal(number: float, pattern: str) -> str:
    section = pattern.split(";")[0]
    percent = "%" in section
    value = number * 100 if percent else number
    core = re.sub(r'"[^"]*"|[^#0.,]', "", section)
    integer, _, fraction = core.partition(".")
    decimals = len(fraction)
    grouped = "," in integer
    text = f"{abs(value):,.{decimals}f}" if grouped else f"{abs(value):.{decimals}f}"
    prefix = re.match(r'^((?:"[^"]*"|[^#0.,%])*)', section)
    literal = prefix.group(1).replace('"', "") if prefix else ""
    sign = "-" if value < 0 and float(text.replace(",", "")) != 0 else ""
    return f"{sign}{literal}{text}{'%' if percent else ''}"


def _format_date(serial: float, pattern: str) -> str:
    day = serial_to_date(serial)
    seconds = round((serial - int(serial // 1)) * 86400)
    hour, minute, second = seconds // 3600 % 24, seconds // 60 % 60, seconds % 60
    tokens = _DATE_TOKEN.findall(pattern)
    has_hours = any(t.lower().startswith("h") for t in tokens)
    twelve = any(t.lower() == "am/pm" for t in tokens)
    out: list[str] = []
    for index, token in enumerate(tokens):
        lower = token.lower()
        previous = tokens[index - 1].lower() if index else ""
        after_hour = previous.startswith("h") or (previous == ":" and index > 1)
        if lower == "yyyy":
            out.append(f"{day.year:04d}")
        elif lower == "yy":
            out.append(f"{day.year % 100:02d}")
        elif lower in ("mm", "m") and has_hours and after_hour:
            out.append(f"{minute:02d}" if lower == "mm" else str(minute))
        elif lower == "mmmm":
            out.append(_MONTHS[day.month - 1])
        elif lower == "mmm":
            out.append(_MONTHS[day.month - 1][:3])
        elif lower == "mm":
            out.append(f"{day.month:02d}")
        elif lower == "m":
            out.append(str(day.month))
        elif lower == "dddd":
            out.append(_DAYS[day.weekday()])
        elif lower == "ddd":
            out.append(_DAYS[day.weekday()][:3])
        elif lower == "dd":
            out.append(f"{day.day:02d}")
        elif lower == "d":
            out.append(str(day.day))
        elif lower in ("hh", "h"):
            shown = (hour % 12 or 12) if twelve else hour
            out.append(f"{shown:02d}" if lower == "hh" else str(shown))
        elif lower in ("ss", "s"):
            out.append(f"{second:02d}" if lower == "ss" else str(second))
        elif lower == "am/pm":
            out.append("AM" if hour < 12 else "PM")
        elif token.startswith('"'):
            out.append(token[1:-1])
        else:
            out.append(token)
    return "".join(out)
