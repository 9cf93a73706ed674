"""Due-date arithmetic: offsets, month-end clamping, weekends, time zones across DST."""

from __future__ import annotations

import calendar
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from journey_sync.dates import (
    add_offset,
    date_to_serial,
    due_for,
    move_off_weekend,
    parse_text_date,
    serial_to_date,
)
from journey_sync.workflow import Offset, Step

days = st.dates(min_value=date(1990, 1, 1), max_value=date(2100, 12, 31))


def step(**kw: object) -> Step:
    return Step.model_validate({"key": "s", "content": "x", "due": "+0d", **kw})


@pytest.mark.parametrize(
    ("start", "offset", "expected"),
    [
        (date(2026, 1, 31), "+1m", date(2026, 2, 28)),
        (date(2028, 1, 31), "+1m", date(2028, 2, 29)),
        (date(2026, 3, 31), "+1m", date(2026, 4, 30)),
        (date(2026, 8, 31), "+6m", date(2027, 2, 28)),
        (date(2026, 2, 28), "+12m", date(2027, 2, 28)),
        (date(2028, 2, 29), "+12m", date(2029, 2, 28)),
        (date(2026, 12, 15), "+1m", date(2027, 1, 15)),
        (date(2026, 3, 2), "+2w", date(2026, 3, 16)),
        (date(2026, 3, 2), "+0d", date(2026, 3, 2)),
    ],
)
def test_offsets_clamp_months_to_month_end(start: date, offset: str, expected: date) -> None:
    assert add_offset(start, Offset.parse(offset)) == expected


@given(days, st.integers(min_value=0, max_value=36))
def test_month_offset_lands_in_the_right_month_and_never_past_its_end(
    start: date, months: int
) -> None:
    result = add_offset(start, Offset.parse(f"+{months}m"))
    assert (result.year * 12 + result.month) - (start.year * 12 + start.month) == months
    assert result.day == min(start.day, calendar.monthrange(result.year, result.month)[1])


@given(days, st.integers(min_value=0, max_value=400))
def test_day_and_week_offsets_are_exact(start: date, n: int) -> None:
    assert add_offset(start, Offset.parse(f"+{n}d")) == start + timedelta(days=n)
    assert add_offset(start, Offset.parse(f"+{n}w")) == start + timedelta(weeks=n)


@given(days)
def test_weekend_policy_moves_to_the_nearest_weekday_in_its_direction(day: date) -> None:
    forward = move_off_weekend(day, "next_weekday")
    backward = move_off_weekend(day, "previous_weekday")
    assert forward.weekday() < 5 and backward.weekday() < 5
    assert 0 <= (forward - day).days <= 2
    assert 0 <= (day - backward).days <= 2
    assert move_off_weekend(day, "keep") == day
    if day.weekday() < 5:
        assert forward == backward == day


def test_saturday_moves_to_monday_or_friday() -> None:
    saturday = date(2026, 3, 7)
    assert move_off_weekend(saturday, "next_weekday") == date(2026, 3, 9)
    assert move_off_weekend(saturday, "previous_weekday") == date(2026, 3, 6)


def test_timed_due_keeps_wall_clock_time_across_daylight_saving() -> None:
    zone = ZoneInfo("Europe/London")
    s = step(time="10:00")
    before = due_for(s, date(2026, 3, 27), zone)  # GMT
    after = due_for(s, date(2026, 3, 30), zone)  # BST
    assert before.at is not None and after.at is not None
    assert before.at.hour == after.at.hour == 10
    assert before.at.utcoffset() == timedelta(0)
    assert after.at.utcoffset() == timedelta(hours=1)
    assert after.timezone == "Europe/London"


def test_time_in_the_spring_forward_gap_moves_forward() -> None:
    zone = ZoneInfo("Europe/London")
    due = due_for(step(time="01:30"), date(2026, 3, 29), zone)  # 01:00-02:00 does not exist
    assert due.at is not None and due.at.time() == time(2, 30)


@given(
    days,
    st.sampled_from(["Europe/London", "America/New_York", "Australia/Sydney", "Asia/Kolkata"]),
    st.times(),
)
def test_timed_due_is_that_wall_time_whenever_it_exists(
    day: date, zone_name: str, at: time
) -> None:
    zone = ZoneInfo(zone_name)
    at = at.replace(microsecond=0, second=0)
    due = due_for(step(time=at.strftime("%H:%M")), day, zone)
    assert due.at is not None and due.at.tzinfo is not None
    local = datetime.combine(day, at).replace(tzinfo=zone)
    roundtrip = local.astimezone(ZoneInfo("UTC")).astimezone(zone)
    if roundtrip.replace(tzinfo=None) == local.replace(tzinfo=None):  # the time exists that day
        assert due.at.replace(tzinfo=None) == datetime.combine(day, at)


def test_all_day_due_has_no_time() -> None:
    due = due_for(step(), date(2026, 3, 2), ZoneInfo("Europe/London"))
    assert due.day == date(2026, 3, 2) and due.at is None


@given(days)
def test_serial_numbers_round_trip(day: date) -> None:
    assert serial_to_date(date_to_serial(day)) == day


def test_serial_number_epoch_matches_sheets() -> None:
    # Sheets shows 45658 as 2025-01-01 (and 1 as 1899-12-31).
    assert serial_to_date(45658) == date(2025, 1, 1)
    assert serial_to_date(45658.75) == date(2025, 1, 1)  # a time of day does not change the date


def test_text_dates_only_iso_or_the_declared_format() -> None:
    assert parse_text_date("2026-03-31", None) == date(2026, 3, 31)
    assert parse_text_date(" 31/03/2026 ", "%d/%m/%Y") == date(2026, 3, 31)
    assert parse_text_date("03/04/2026", None) is None  # ambiguous: never guessed
    assert parse_text_date("next tuesday", "%d/%m/%Y") is None
    assert parse_text_date("2026-02-30", None) is None


@pytest.mark.parametrize(
    ("typed", "declared", "day"),
    [
        # The declared format's order, whatever the separator; a two-digit year.
        ("31.03.2026", "%d/%m/%Y", date(2026, 3, 31)),
        ("31-03-2026", "%d/%m/%Y", date(2026, 3, 31)),
        ("31/03/26", "%d/%m/%Y", date(2026, 3, 31)),
        ("03/31/2026", "%m/%d/%Y", date(2026, 3, 31)),
        ("2026/03/31", None, date(2026, 3, 31)),  # year first: only ever y/m/d
        ("2026-3-1", None, date(2026, 3, 1)),
        # A month by its name: no order to guess.
        ("31 March 2026", None, date(2026, 3, 31)),
        ("31st March 2026", None, date(2026, 3, 31)),
        ("March 31, 2026", None, date(2026, 3, 31)),
        ("Mar 31 2026", None, date(2026, 3, 31)),
        ("31-Mar-2026", None, date(2026, 3, 31)),
        ("Tuesday, 31 March 2026", None, date(2026, 3, 31)),
        ("1 Sept 2026", None, date(2026, 9, 1)),
        # A time after the date (pasted from an e-mail or a form's timestamp).
        ("31/03/2026 14:30", "%d/%m/%Y", date(2026, 3, 31)),
        ("2026-03-31T14:30:00Z", None, date(2026, 3, 31)),
        ("2026-03-31 2:30 PM", None, date(2026, 3, 31)),
    ],
)
def test_dates_as_people_type_them_are_read(typed: str, declared: str | None, day: date) -> None:
    assert parse_text_date(typed, declared) == day


@pytest.mark.parametrize(
    ("typed", "declared"),
    [
        ("03/04/2026", None),  # day or month first: never guessed without a declared format
        ("31.03.2026", None),
        ("31/03/2026 14:30", None),
        ("32/01/2026", "%d/%m/%Y"),
        ("31 Foo 2026", None),
        ("1/2/3", "%d/%m/%Y"),
        ("12/2026", "%d/%m/%Y"),
        ("2026-02-30", None),
        ("soon", "%d/%m/%Y"),
    ],
)
def test_dates_that_cannot_be_read_without_a_guess_are_refused(
    typed: str, declared: str | None
) -> None:
    assert parse_text_date(typed, declared) is None
