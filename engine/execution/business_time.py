"""Business time: a unit's clock counts only its working hours, in its own time zone, on its working days.

A ``BusinessCalendar`` is built from a unit: an IANA time zone, weekly hours (per weekday a list of
``"09:00-17:30"`` intervals, several per day allowed, ``24:00`` ends a day), and closed days (public holidays
of a country and subdivision from the ``holidays`` package, and/or all-day events of an iCalendar text, RRULE
included). A ``24x7`` calendar ignores hours and holidays: its business time is plain elapsed time.

Durations are ISO 8601 without years or months (``P1DT4H``, ``PT30M``). Hours, minutes and seconds count
business time. A day counts as one *business day*, as serious helpdesks do: ``P1D`` from a business moment is
the same business moment of the next business day (Friday 15:00 + ``P1D`` = Monday 15:00; from outside the
hours the start moves to the next opening first, so Friday 20:00 + ``P1D`` = Tuesday 09:00). Where the target
day has fewer hours than the moment's offset, the due time is that day's closing time. Weeks are refused:
write ``P5D``.

Instants in and out are timezone-aware; results are UTC. Intervals are laid on local wall-clock time and then
measured in real (UTC) time, so a day whose hours span a DST change counts its true length.
"""
from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_DURATION = re.compile(r"^P(?:(?P<days>\d+)D)?(?:T(?:(?P<hours>\d+)H)?(?:(?P<minutes>\d+)M)?(?:(?P<seconds>\d+)S)?)?$")
_INTERVAL = re.compile(r"^(\d{2}):(\d{2})-(\d{2}):(\d{2})$")
_SEARCH_DAYS = 3 * 366  # a calendar with no open day within three years is refused, not looped over
_DAY, _WEEK = timedelta(days=1), timedelta(days=7)
_DAYS_KEPT = 8 * 366  # days whose open intervals a calendar remembers (about 200 bytes each)
Minutes = tuple[int, int]  # an interval as minutes since local midnight, end exclusive (at most 1440)


@dataclass(frozen=True)
class Duration:
    """A business duration: whole business days, then business seconds."""

    days: int
    seconds: int

    def total(self) -> timedelta:
        """As plain elapsed time (what a 24x7 target means)."""
        return timedelta(days=self.days, seconds=self.seconds)


def parse_duration(text: str) -> Duration:
    """An ISO 8601 duration of days, hours, minutes and seconds; ValueError names what is wrong."""
    match = _DURATION.match(text.strip()) if isinstance(text, str) else None
    if match is None or text.strip() in ("P", "PT") or text.strip().endswith("T"):
        raise ValueError(f"{text!r} is not an ISO 8601 duration of days, hours and minutes (e.g. PT4H, P2D, P1DT4H)")
    parts = {k: int(v or 0) for k, v in match.groupdict().items()}
    return Duration(parts["days"], parts["hours"] * 3600 + parts["minutes"] * 60 + parts["seconds"])


def parse_interval(text: str) -> Minutes:
    """``"09:00-17:30"`` as minutes since midnight; ValueError when malformed or inverted."""
    match = _INTERVAL.match(text.strip()) if isinstance(text, str) else None
    if match is None:
        raise ValueError(f"{text!r} is not an interval like 09:00-17:30")
    h1, m1, h2, m2 = (int(g) for g in match.groups())
    start, end = h1 * 60 + m1, h2 * 60 + m2
    if h1 > 23 or m1 > 59 or m2 > 59 or end > 1440:
        raise ValueError(f"{text!r} is not a time of day (00:00 to 24:00)")
    if end <= start:
        raise ValueError(f"{text!r} ends before it starts")
    return start, end


def parse_week(hours: Mapping[str, Sequence[str]]) -> dict[int, list[Minutes]]:
    """Weekly hours by weekday name; ValueError on an unknown day, a bad interval or an overlap."""
    week: dict[int, list[Minutes]] = {}
    for day, intervals in hours.items():
        if day not in WEEKDAYS:
            raise ValueError(f"{day!r} is not a weekday; use {', '.join(WEEKDAYS)}")
        parsed = sorted(parse_interval(i) for i in intervals)
        for (_, end), (start, _) in zip(parsed, parsed[1:], strict=False):
            if start < end:
                raise ValueError(f"the hours of {day} overlap")
        week[WEEKDAYS.index(day)] = parsed
    return week


class BusinessCalendar:
    """Open hours in a zone, less closed days; ``always_open`` (24x7) counts every second."""

    def __init__(self, zone: str, week: Mapping[int, Sequence[Minutes]],
                 closed: Callable[[date], bool] = lambda _day: False, always_open: bool = False) -> None:
        self.zone = ZoneInfo(zone)
        self.week = {day: list(intervals) for day, intervals in week.items()}
        self.closed = closed
        self.always_open = always_open
        # Each day's open intervals, worked out once: a clock paused for months walks every day of the pause, and
        # every ticket of the unit walks the same days (zone and holiday look-ups dominate otherwise).
        self._days: dict[date, list[tuple[datetime, datetime]]] = {}
        self._day_totals: dict[date, timedelta] = {}
        # Running totals of whole days from ``_since``: ``_running[i]`` is the business time of the i days before
        # ``_since + i``, so the whole days of a long span cost one subtraction, not a walk.
        self._since: date | None = None
        self._running: list[timedelta] = [timedelta()]

    # -- the open intervals ---------------------------------------------------------------------
    def is_business_day(self, day: date) -> bool:
        return bool(self.week.get(day.weekday())) and not self.closed(day)

    def intervals(self, day: date) -> list[tuple[datetime, datetime]]:
        """The day's open intervals as UTC instants (none on a closed day). Do not change the list: it is kept."""
        known = self._days.get(day)
        if known is None:
            if len(self._days) >= _DAYS_KEPT:
                self._days.clear()
                self._day_totals.clear()
            known = self._days[day] = self._open_intervals(day)
        return known

    def _open_intervals(self, day: date) -> list[tuple[datetime, datetime]]:
        if not self.is_business_day(day):
            return []
        midnight = datetime.combine(day, time(0), self.zone)
        return [(_wall(midnight, start), _wall(midnight, end)) for start, end in self.week[day.weekday()]]

    def whole_days(self, first: date, last: date) -> timedelta:
        """The business time of the whole days from ``first`` up to, not including, ``last``."""
        if last <= first:
            return timedelta()
        if self._since is None or first < self._since or (last - first).days > _DAYS_KEPT:
            if (last - first).days > _DAYS_KEPT:  # longer than the running totals keep: walk it
                return sum((self.day_total(first + timedelta(days=i)) for i in range((last - first).days)),
                           timedelta())
            self._since, self._running = first, [timedelta()]
        while len(self._running) <= (last - self._since).days:
            if len(self._running) > _DAYS_KEPT:
                self._since, self._running = first, [timedelta()]
                continue
            self._running.append(self._running[-1] + self.day_total(self._since + timedelta(len(self._running) - 1)))
        return self._running[(last - self._since).days] - self._running[(first - self._since).days]

    def day_total(self, day: date) -> timedelta:
        """The business time of a whole day."""
        total = self._day_totals.get(day)
        if total is None:
            total = self._day_totals[day] = sum((closes - opens for opens, closes in self.intervals(day)),
                                                timedelta())
        return total

    def _days_from(self, instant: datetime) -> Iterator[date]:
        first = instant.astimezone(self.zone).date()
        for offset in range(_SEARCH_DAYS):
            yield first + timedelta(days=offset)
        raise ValueError("the calendar has no working hours within three years")

    # -- arithmetic -----------------------------------------------------------------------------
    def add(self, start: datetime, duration: str | Duration) -> datetime:
        """The instant ``duration`` of business time after ``start`` (UTC)."""
        span = parse_duration(duration) if isinstance(duration, str) else duration
        start = _aware(start)
        if self.always_open:
            return start + span.total()
        moment = self.add_seconds(start, 0)
        if span.days:
            moment = self._add_days(moment, span.days)
        return self.add_seconds(moment, span.seconds) if span.seconds else moment

    def add_seconds(self, start: datetime, seconds: float) -> datetime:
        """The instant ``seconds`` of business time after ``start``; 0 gives the next open moment."""
        start = _aware(start)
        if self.always_open:
            return start + timedelta(seconds=seconds)
        left = timedelta(seconds=seconds)
        day = start.astimezone(self.zone).date()
        give_up = day + timedelta(days=_SEARCH_DAYS)
        while day < give_up:
            hours = self.intervals(day)
            if not hours or hours[0][0] >= start:  # from here on whole days: pass a week, or a day, at a time
                week = self.whole_days(day, day + _WEEK)
                if week < left:
                    left, day = left - week, day + _WEEK
                    continue
                if self.day_total(day) < left:
                    left, day = left - self.day_total(day), day + _DAY
                    continue
            for opens, closes in hours:
                if closes <= start:
                    continue
                begin = max(start, opens)
                if left <= closes - begin:
                    return begin + left
                left -= closes - begin
            day += _DAY
        raise ValueError("the calendar has no working hours within three years")

    def _add_days(self, moment: datetime, days: int) -> datetime:
        """The same business moment ``days`` business days later (clamped to that day's closing time)."""
        day = moment.astimezone(self.zone).date()
        offset = self.elapsed(self.intervals(day)[0][0], moment)
        for _ in range(days):
            day = next(d for d in self._days_from(_noon(day + timedelta(days=1), self.zone))
                       if self.is_business_day(d))
        hours = self.intervals(day)
        if offset >= sum((closes - opens for opens, closes in hours), timedelta()):
            return hours[-1][1]
        return self.add_seconds(hours[0][0], offset.total_seconds())

    def elapsed(self, start: datetime, end: datetime) -> timedelta:
        """Business time between two instants (zero when ``end`` is not after ``start``)."""
        start, end = _aware(start), _aware(end)
        if end <= start:
            return timedelta()
        if self.always_open:
            return end - start
        last = end.astimezone(self.zone).date()
        first = start.astimezone(self.zone).date()
        total = self.whole_days(first + timedelta(days=1), last)  # the days between the two
        for day in {first, last}:
            for opens, closes in self.intervals(day):
                overlap = min(closes, end) - max(opens, start)
                if overlap > timedelta():
                    total += overlap
        return total


def _wall(midnight: datetime, minutes: int) -> datetime:
    """Local wall-clock ``minutes`` after ``midnight`` (24:00 is the next midnight), as UTC."""
    day = midnight.date() + timedelta(days=minutes // 1440)
    local = datetime.combine(day, time((minutes % 1440) // 60, minutes % 60), midnight.tzinfo)
    return local.astimezone(UTC)


def _noon(day: date, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, time(12), zone)


def _aware(instant: datetime) -> datetime:
    if instant.tzinfo is None:
        raise ValueError("business time needs timezone-aware instants")
    return instant.astimezone(UTC)


# -- closed days ------------------------------------------------------------------------------------
def public_holidays(country: str, subdivision: str | None = None) -> Callable[[date], bool]:
    """Whether a day is a public holiday of ``country`` (ISO 3166 code) and ``subdivision``."""
    import holidays  # a large package: imported when a unit names a country

    calendar = holidays.country_holidays(country, subdiv=subdivision)
    return lambda day: day in calendar


def calendar_closures(text: str) -> Callable[[date], bool]:
    """Whether a day is covered by an all-day event of the iCalendar ``text`` (RRULEs expanded per year)."""
    parsed = _parse_calendar(text)
    closed_in_year = lru_cache(maxsize=16)(lambda year: _closed_days(parsed, year))
    return lambda day: day in closed_in_year(day.year)


def check_calendar(text: str) -> None:
    """Raise ValueError unless ``text`` is an iCalendar whose events are all-day (dates, not times)."""
    for event in _parse_calendar(text).walk("VEVENT"):
        start = event.get("DTSTART")
        if start is None or isinstance(start.dt, datetime):
            raise ValueError(f"the event {str(event.get('SUMMARY', '?'))!r} is not an all-day event: "
                             "closing days are whole days")


def _parse_calendar(text: str):  # type: ignore[no-untyped-def]  # icalendar's Calendar
    from icalendar import Calendar

    try:
        return Calendar.from_ical(text)
    except ValueError as exc:
        raise ValueError(f"the holiday calendar is not valid iCalendar text ({exc})") from None


def _closed_days(parsed, year: int) -> frozenset[date]:  # type: ignore[no-untyped-def]
    import recurring_ical_events

    days: set[date] = set()
    for event in recurring_ical_events.of(parsed).between(date(year, 1, 1), date(year + 1, 1, 1)):
        first = event["DTSTART"].dt
        last = event["DTEND"].dt if event.get("DTEND") is not None else first + timedelta(days=1)
        first, last = _as_date(first), _as_date(last)
        days.update(first + timedelta(days=n) for n in range(max((last - first).days, 1)))
    return frozenset(days)


def _as_date(value: date | datetime) -> date:
    return value.date() if isinstance(value, datetime) else value


def closed_days(country: str | None, subdivision: str | None, ical: str | None) -> Callable[[date], bool]:
    """The union of a country's public holidays and a calendar's closing days."""
    checks = ([public_holidays(country, subdivision)] if country else []) + ([calendar_closures(ical)] if ical else [])
    return lambda day: any(check(day) for check in checks)
