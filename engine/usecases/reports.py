"""The summary report: what the support team did over a range of days, read from ticket columns in one read-only
transaction (no workflow is loaded, no history scanned).

The range is whole UTC days, ``from`` and ``to`` both included (default: the last 30 days, today included).
Which tickets each figure counts:

- **opened** / **closed**: tickets whose ``opened_at`` / ``closed_at`` falls in the range, per day and in all;
- **backlog**: per day, the tickets opened before the end of that day (midnight UTC) and not closed by then;
- **outcomes**, **times** and **SLA attainment** are over one cohort, *the tickets closed in the range*:
  first-contact resolution rate = closed with no escalation to L2 and no "issue persists" answer / closed;
  escalation rate = closed that were escalated at least once / closed; persists (reopen) rate = closed whose
  customer answered "issue persists" at least once / closed; reminders sent and follow-ups done = sums over
  the same tickets; median and p90 time to first response and to resolution = of the business seconds
  recorded on those tickets (time waiting for the customer excluded; tickets without a value left out);
  SLA attainment per priority = share of those tickets (of that priority) whose first-response clock, whose
  resolution clock, and whose both clocks were not breached;
- **knowledge**: uses = a ticket used an article to resolve, in the range; drafts created = articles created
  in the range (of which from a ticket's resolution); published = articles first published in the range;
  deflections = customers who found their answer in an article and opened no ticket.
With a unit or priority filter every figure counts only tickets of that unit / priority; knowledge figures
count uses by such tickets and articles produced from such tickets, and deflections (tied to no ticket) are
not reported (null). A rate whose cohort is empty is null, never 0.
"""
from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from engine.access import Actor
from engine.errors import FieldError, Forbidden, InvalidInput, NotFound
from engine.store import reports as sql
from engine.store.reports import Cohort, Knowledge, Scope

from .base import READ_ROLES, RuntimeCore

PRIORITIES = ("P1", "P2", "P3", "P4", "P5")
DEFAULT_DAYS = 30
MAX_DAYS = 3653  # ten years, leap days included
EARLIEST, LATEST = date(1970, 1, 1), date(2999, 12, 31)
OUTCOMES = ("first_contact_resolved", "escalated", "persisted", "reminders", "follow_ups")
NO_TICKET = Cohort(0, 0, 0, 0, 0, 0, 0, 0, 0)
_ISO_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")


@dataclass(frozen=True)
class ReportQuery:
    """The report's parameters as a caller gives them: ISO dates, a unit code, a priority (each may be absent)."""

    start: str | None = None  # "from"
    end: str | None = None  # "to"
    unit: str | None = None
    priority: str | None = None


@dataclass(frozen=True)
class DayFigures:
    day: date
    opened: int
    closed: int
    backlog: int  # open at the end of the day


@dataclass(frozen=True)
class Duration:
    """A business-time figure: how many closed tickets recorded it, its median and p90 in seconds."""

    measured: int
    median_s: float | None
    p90_s: float | None


@dataclass(frozen=True)
class SlaFigures:
    priority: str
    closed: int
    first_response_met: int
    resolution_met: int
    both_met: int

    @property
    def rates(self) -> dict[str, float | None]:
        return {"first_response_rate": rate(self.first_response_met, self.closed),
                "resolution_rate": rate(self.resolution_met, self.closed),
                "both_rate": rate(self.both_met, self.closed)}


@dataclass(frozen=True)
class SummaryReport:
    start: date
    end: date
    unit: str | None
    priority: str | None
    open_at_start: int
    days: list[DayFigures]
    outcomes: Cohort  # all the closed tickets, whatever their priority
    first_response: Duration
    resolution: Duration
    sla: list[SlaFigures]
    knowledge: Knowledge

    @property
    def opened(self) -> int:
        return sum(d.opened for d in self.days)

    @property
    def closed(self) -> int:
        return sum(d.closed for d in self.days)

    @property
    def open_at_end(self) -> int:
        return self.days[-1].backlog if self.days else self.open_at_start

    @property
    def rates(self) -> dict[str, float | None]:
        o = self.outcomes
        return {"first_contact_resolution_rate": rate(o.first_contact_resolved, o.closed),
                "escalation_rate": rate(o.escalated, o.closed), "persists_rate": rate(o.persisted, o.closed)}

    def to_dict(self) -> dict[str, Any]:
        """The report as JSON-ready data (dates as ISO strings, rates as fractions, durations in seconds)."""
        return {
            "scope": {"from": self.start.isoformat(), "to": self.end.isoformat(), "days": len(self.days),
                      "time_zone": "UTC", "unit": self.unit, "priority": self.priority},
            "tickets": {"opened": self.opened, "closed": self.closed, "open_at_start": self.open_at_start,
                        "open_at_end": self.open_at_end},
            "series": [{"day": d.day.isoformat(), "opened": d.opened, "closed": d.closed, "backlog": d.backlog}
                       for d in self.days],
            # the cohort's size is tickets.closed, not repeated here
            "outcomes": {**{k: v for k, v in asdict(self.outcomes).items() if k in OUTCOMES}, **self.rates},
            "times": {"first_response": asdict(self.first_response), "resolution": asdict(self.resolution)},
            "sla": [{**asdict(row), **row.rates} for row in self.sla],
            "knowledge": asdict(self.knowledge),
        }


def rate(part: int, whole: int) -> float | None:
    return part / whole if whole else None


class ReportService:
    """The summary report for agents, process owners, auditors and admins."""

    def __init__(self, runtime: RuntimeCore) -> None:
        self.runtime = runtime

    def summary(self, actor: Actor, query: ReportQuery) -> SummaryReport:
        """The figures of ``query``'s range and filters; InvalidInput names each bad parameter."""
        if actor.role not in READ_ROLES:
            raise Forbidden("reports are for the support team, process owners and auditors")
        start, end = self._range(query)
        priority = _priority(query.priority)
        unit = query.unit
        scope = Scope(_midnight(start), _midnight(end + timedelta(days=1)), unit, priority)
        with self.runtime.uow(read_only=True) as uow:
            connection = uow.connection
            if unit is not None and not sql.unit_exists(connection, unit):
                raise NotFound(f"unit '{unit[:50]}' does not exist")
            opened, closed = sql.per_day(connection, scope, "opened_at"), sql.per_day(connection, scope, "closed_at")
            open_at_start = sql.open_at(connection, scope, scope.start)
            cohorts, times = sql.closed_by_priority(connection, scope), sql.quantiles(connection, scope)
            knowledge = sql.knowledge(connection, scope)
        return SummaryReport(start, end, unit, priority, open_at_start,
                             list(_days(start, end, open_at_start, opened, closed)),
                             sum(cohorts.values(), NO_TICKET), _duration(*times["first_response_business_s"]),
                             _duration(*times["resolution_business_s"]), _sla_table(cohorts, priority), knowledge)

    def units(self) -> list[tuple[str, str]]:
        """The units a report can be limited to: (code, name), by name."""
        with self.runtime.uow(read_only=True) as uow:
            return sql.unit_names(uow.connection)

    def _range(self, query: ReportQuery) -> tuple[date, date]:
        errors: list[FieldError] = []
        # An empty parameter is a bad date, not a missing one (the page leaves empty fields out).
        end = self.runtime.clock().astimezone(UTC).date() if query.end is None else _day(query.end, "to", errors)
        start = None if query.start is None else _day(query.start, "from", errors)
        if end is None or errors:
            raise InvalidInput("the report's range is not valid", errors)
        start = start or end - timedelta(days=DEFAULT_DAYS - 1)
        if end < start:
            raise InvalidInput("the report's range is reversed", [FieldError("/to", "'to' is before 'from'")])
        if (end - start).days + 1 > MAX_DAYS:
            raise InvalidInput("the report's range is too long", [
                FieldError("/to", f"'to' is more than ten years ({MAX_DAYS} days) after 'from'")])
        return start, end


def _day(raw: str, name: str, errors: list[FieldError]) -> date | None:
    """An ISO date ``YYYY-MM-DD`` between 1970 and 2999, or an error naming parameter ``name``."""
    try:
        if not _ISO_DAY.fullmatch(raw):
            raise ValueError
        day = date.fromisoformat(raw)
    except ValueError:
        errors.append(FieldError(f"/{name}", f"'{name}' must be a date written YYYY-MM-DD"))
        return None
    if not EARLIEST <= day <= LATEST:
        errors.append(FieldError(f"/{name}", f"'{name}' must be between {EARLIEST} and {LATEST}"))
        return None
    return day


def _priority(raw: str | None) -> str | None:
    if raw is None:
        return None
    if raw not in PRIORITIES:
        raise InvalidInput("unknown priority", [
            FieldError("/priority", f"'priority' must be one of {', '.join(PRIORITIES)}")])
    return raw


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(), tzinfo=UTC)


def _days(start: date, end: date, backlog: int, opened: dict[date, int],
          closed: dict[date, int]) -> Iterator[DayFigures]:
    """Every day of the range, empty ones included, with the backlog carried from the day before."""
    day = start
    while day <= end:
        backlog += opened.get(day, 0) - closed.get(day, 0)
        yield DayFigures(day, opened.get(day, 0), closed.get(day, 0), backlog)
        day += timedelta(days=1)


def _duration(measured: int, values: dict[float, float | None]) -> Duration:
    return Duration(measured, values[0.5], values[0.9])


def _sla_table(cohorts: dict[str | None, Cohort], only: str | None) -> list[SlaFigures]:
    """One row per priority (all five, or the filtered one), zeros where no ticket closed."""
    rows = []
    for priority in PRIORITIES:
        if only in (None, priority):
            c = cohorts.get(priority, NO_TICKET)
            rows.append(SlaFigures(priority, c.closed, c.first_response_met, c.resolution_met, c.both_met))
    return rows


def long_rows(report: SummaryReport) -> Iterator[tuple[str, str, str]]:
    """The report in tidy long form, (figure, dimension, value): totals have no dimension, a series' rows the
    day, the SLA rows the priority; an unknown value (an empty cohort's rate) is an empty string."""
    data = report.to_dict()
    for section in ("tickets", "outcomes", "knowledge"):
        for name, value in data[section].items():
            yield name, "", _cell(value)
    for name, figure in data["times"].items():
        for key, value in figure.items():
            yield f"{name}_{key}", "", _cell(value)
    for point in data["series"]:
        for name in ("opened", "closed", "backlog"):
            yield f"{name}_per_day", point["day"], _cell(point[name])
    for row in data["sla"]:
        for name, value in row.items():
            if name != "priority":
                yield f"sla_{name}", row["priority"], _cell(value)


def _cell(value: object) -> str:
    return "" if value is None else str(value)
