"""Business time: weekends, public holidays (holidays package and iCalendar), DST changes, zones, and 24x7."""
from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from engine.execution.business_time import (
    WEEKDAYS,
    BusinessCalendar,
    check_calendar,
    closed_days,
    parse_duration,
    parse_week,
)

OFFICE = parse_week({day: ["09:00-17:00"] for day in WEEKDAYS[:5]})
BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
CLOSURES = """BEGIN:VCALENDAR
VERSION:2.0
PRODID:-//ticketflow tests//EN
BEGIN:VEVENT
UID:summer-closure@example.com
DTSTAMP:20260101T000000Z
DTSTART;VALUE=DATE:20260803
DTEND;VALUE=DATE:20260805
RRULE:FREQ=YEARLY
SUMMARY:Company summer days
END:VEVENT
END:VCALENDAR
"""


def at(zone: ZoneInfo, year: int, month: int, day: int, hour: int, minute: int) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=zone).astimezone(UTC)


def test_four_business_hours_from_friday_afternoon_end_on_monday_morning() -> None:
    office = BusinessCalendar("UTC", OFFICE)
    friday = datetime(2026, 3, 6, 15, 0, tzinfo=UTC)
    assert office.add(friday, "PT4H") == datetime(2026, 3, 9, 11, 0, tzinfo=UTC)
    assert office.elapsed(friday, datetime(2026, 3, 9, 11, 0, tzinfo=UTC)) == timedelta(hours=4)


def test_a_business_day_is_the_same_business_moment_of_the_next_business_day() -> None:
    office = BusinessCalendar("UTC", OFFICE)
    assert office.add(datetime(2026, 3, 6, 15, 0, tzinfo=UTC), "P1D") == datetime(2026, 3, 9, 15, 0, tzinfo=UTC)
    # From outside the hours counting starts at the next opening: Friday evening + P1D is Tuesday's opening.
    assert office.add(datetime(2026, 3, 6, 20, 0, tzinfo=UTC), "P1D") == datetime(2026, 3, 10, 9, 0, tzinfo=UTC)
    assert office.add(datetime(2026, 3, 2, 10, 0, tzinfo=UTC), "P1DT2H") == datetime(2026, 3, 3, 12, 0, tzinfo=UTC)


def test_a_public_holiday_of_the_units_country_and_region_is_skipped() -> None:
    bavaria = BusinessCalendar("Europe/Berlin", OFFICE, closed_days("DE", "BY", None))
    # Thursday 24 Dec 16:00: one hour left; 25 and 26 Dec are holidays, 27 is a Sunday: Monday 28 Dec.
    start = at(BERLIN, 2026, 12, 24, 16, 0)
    assert bavaria.add(start, "PT4H") == at(BERLIN, 2026, 12, 28, 12, 0)
    # Epiphany (6 Jan) is a holiday in Bavaria but not in Berlin.
    berlin = BusinessCalendar("Europe/Berlin", OFFICE, closed_days("DE", "BE", None))
    assert bavaria.add(at(BERLIN, 2026, 1, 5, 16, 0), "PT2H") == at(BERLIN, 2026, 1, 7, 10, 0)
    assert berlin.add(at(BERLIN, 2026, 1, 5, 16, 0), "PT2H") == at(BERLIN, 2026, 1, 6, 10, 0)


def test_the_all_day_events_of_an_icalendar_close_the_unit_every_year_they_recur() -> None:
    check_calendar(CLOSURES)
    office = BusinessCalendar("UTC", OFFICE, closed_days(None, None, CLOSURES))
    # 2026: Mon 3 and Tue 4 Aug closed (DTEND is exclusive); Friday 31 Jul 16:00 + 2h = Wednesday 10:00.
    assert office.add(datetime(2026, 7, 31, 16, 0, tzinfo=UTC), "PT2H") == datetime(2026, 8, 5, 10, 0, tzinfo=UTC)
    # 2027, by the yearly rule: Tue 3 and Wed 4 Aug closed.
    assert office.add(datetime(2027, 8, 2, 16, 0, tzinfo=UTC), "PT2H") == datetime(2027, 8, 5, 10, 0, tzinfo=UTC)


def test_a_timed_event_is_refused_as_a_closing_day() -> None:
    timed = CLOSURES.replace("DTSTART;VALUE=DATE:20260803", "DTSTART:20260803T090000Z").replace(
        "DTEND;VALUE=DATE:20260805", "DTEND:20260803T120000Z")
    with pytest.raises(ValueError, match="not an all-day event"):
        check_calendar(timed)


def test_hours_across_the_spring_dst_change_count_their_wall_clock_length() -> None:
    office = BusinessCalendar("Europe/Berlin", OFFICE)
    # Friday 27 March 16:00 CET; clocks go forward on Sunday 29 March; Monday 09:00 CEST is 07:00 UTC.
    friday = at(BERLIN, 2026, 3, 27, 16, 0)
    due = office.add(friday, "PT2H")
    assert due == at(BERLIN, 2026, 3, 30, 10, 0)
    assert due == datetime(2026, 3, 30, 8, 0, tzinfo=UTC)
    assert office.elapsed(friday, due) == timedelta(hours=2)


def test_a_24x7_day_over_the_dst_change_is_23_real_hours_but_business_hours_are_wall_clock() -> None:
    always = BusinessCalendar("Europe/Berlin", parse_week({d: ["00:00-24:00"] for d in WEEKDAYS}))
    saturday = at(BERLIN, 2026, 3, 28, 12, 0)
    assert always.elapsed(saturday, at(BERLIN, 2026, 3, 29, 12, 0)) == timedelta(hours=23)


def test_the_same_instant_is_in_hours_in_one_zone_and_closed_in_another() -> None:
    berlin = BusinessCalendar("Europe/Berlin", OFFICE)
    new_york = BusinessCalendar("America/New_York", OFFICE)
    instant = datetime(2026, 3, 10, 15, 0, tzinfo=UTC)  # 16:00 in Berlin, 11:00 in New York
    assert berlin.add(instant, "PT2H") == at(BERLIN, 2026, 3, 11, 10, 0)
    assert new_york.add(instant, "PT2H") == at(NEW_YORK, 2026, 3, 10, 13, 0)
    assert berlin.elapsed(instant, instant + timedelta(hours=6)) == timedelta(hours=1)
    assert new_york.elapsed(instant, instant + timedelta(hours=6)) == timedelta(hours=6)


def test_a_24x7_target_ignores_hours_and_holidays() -> None:
    around_the_clock = BusinessCalendar("Europe/Berlin", OFFICE, closed_days("DE", "BY", None), always_open=True)
    christmas_eve = at(BERLIN, 2026, 12, 24, 22, 0)
    assert around_the_clock.add(christmas_eve, "PT4H") == christmas_eve + timedelta(hours=4)
    assert around_the_clock.elapsed(christmas_eve, christmas_eve + timedelta(days=2)) == timedelta(days=2)


def test_several_intervals_a_day_leave_the_lunch_break_out() -> None:
    split = BusinessCalendar("UTC", parse_week({"mon": ["08:00-12:00", "13:00-17:00"]}))
    monday = datetime(2026, 3, 2, 11, 0, tzinfo=UTC)
    assert split.add(monday, "PT2H") == datetime(2026, 3, 2, 14, 0, tzinfo=UTC)
    assert split.elapsed(monday, datetime(2026, 3, 2, 14, 0, tzinfo=UTC)) == timedelta(hours=2)


@pytest.mark.parametrize(("hours", "message"), [
    ({"mon": ["09:00-12:00", "11:00-17:00"]}, "overlap"),
    ({"mon": ["17:00-09:00"]}, "ends before it starts"),
    ({"mon": ["9-17"]}, "not an interval"),
    ({"mon": ["09:00-25:00"]}, "not a time of day"),
    ({"monday": ["09:00-17:00"]}, "not a weekday"),
])
def test_bad_weekly_hours_are_refused_with_the_reason(hours: dict[str, list[str]], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_week(hours)


@pytest.mark.parametrize("text", ["4 hours", "P", "PT", "P1W", "P1M", "PT4", "4H", ""])
def test_a_duration_that_is_not_iso_8601_days_hours_minutes_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="ISO 8601"):
        parse_duration(text)


def test_naive_instants_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        BusinessCalendar("UTC", OFFICE).add(datetime(2026, 3, 2, 9, 0), "PT1H")  # noqa: DTZ001


def walked(calendar: BusinessCalendar, start: datetime, end: datetime) -> timedelta:
    """Business time between two instants the plain way: every day's open intervals, one day after another."""
    total, day = timedelta(), start.astimezone(calendar.zone).date()
    while day <= end.astimezone(calendar.zone).date():
        for opens, closes in calendar._open_intervals(day):
            total += max(min(closes, end) - max(opens, start), timedelta())
        day += timedelta(days=1)
    return total


def test_long_spans_from_the_running_totals_agree_with_walking_every_day() -> None:
    # A clock paused for months (a silent customer) takes its whole days from running totals; they must agree
    # with the plain walk, over DST changes, holidays and spans that start before the totals began.
    rng = random.Random(7)
    lunch = parse_week({day: ["08:30-12:00", "13:00-18:15"] for day in WEEKDAYS[:6]})
    for calendar in (BusinessCalendar("Europe/Berlin", OFFICE, closed_days("DE", "BY", CLOSURES)),
                     BusinessCalendar("America/New_York", lunch, closed_days("US", None, None))):
        base = datetime(2026, 1, 1, tzinfo=UTC)
        for _ in range(60):
            start = base + timedelta(minutes=rng.randrange(0, 3 * 365 * 1440))
            end = start + timedelta(minutes=rng.randrange(0, 700 * 1440))
            assert calendar.elapsed(start, end) == walked(calendar, start, end)
            assert calendar.elapsed(calendar.add_seconds(start, 0), calendar.add_seconds(start, 3600 * 700)) \
                == timedelta(hours=700)
