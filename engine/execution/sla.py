"""A ticket's two service-level clocks (first response, resolution) in its unit's business time.

The first-response clock runs from opening to the first human public reply; the resolution clock from opening
to the customer's confirmation, standing still while the customer's task "Test fix and confirm outcome" is
open (the business time paused is added to the resolution due time on resuming). Each clock is *at risk* at
75% of its target and *breached* at 100%; ``sla_state`` is the worst state reached so far (it never goes back).
``sla_next_check_at`` is the next instant the worker must look (``engine/usecases/service_levels.py``).
"""
from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from engine.execution.business_time import BusinessCalendar, closed_days, parse_week
from engine.store.tickets import TicketRecord, TicketStore, UnitPolicy
from engine.store.units import DEFAULT_HOURS, DEFAULT_TARGETS

AT_RISK = 0.75
CUSTOMER_TEST = "test_and_confirm"  # the customer's task while which the clocks pause
STATES = ("on_track", "at_risk", "breached")


def target(unit: UnitPolicy, priority: str | None, clock: str) -> str:
    """The unit's target duration of ``clock`` for ``priority`` (before a priority: the unit's default)."""
    targets = (unit.targets or DEFAULT_TARGETS).get(priority or "")
    if targets is None:
        return unit.first_response if clock == "first_response" else (unit.targets or DEFAULT_TARGETS)["P3"][clock]
    return str(targets[clock])


def calendar(unit: UnitPolicy, priority: str | None = None) -> BusinessCalendar:
    """The unit's business calendar; 24x7 when the priority's targets ignore hours and holidays."""
    targets = (unit.targets or DEFAULT_TARGETS).get(priority or "", {})
    return _calendar(unit.code, unit.time_zone, repr(unit.business_hours), unit.holiday_country,
                     unit.holiday_subdivision, unit.holiday_calendar, bool(targets.get("24x7")), unit)


_built: dict[tuple[object, ...], BusinessCalendar] = {}


def _calendar(code: str, zone: str, hours: str, country: str | None, subdivision: str | None, ical: str | None,
              always_open: bool, unit: UnitPolicy) -> BusinessCalendar:
    # Holiday tables are costly to build: one calendar per distinct unit setting, kept for the process.
    key = (code, zone, hours, country, subdivision, ical, always_open)
    if key not in _built:
        if len(_built) > 256:
            _built.clear()
        week = parse_week(unit.business_hours or DEFAULT_HOURS)
        _built[key] = BusinessCalendar(zone, week, closed_days(country, subdivision, ical), always_open)
    return _built[key]


def start(ticket: TicketRecord, unit: UnitPolicy, now: datetime) -> None:
    """Set the due times from the opening: first response (and, once prioritised, resolution)."""
    hours = calendar(unit, ticket.priority)
    if ticket.first_response_at is None:
        ticket.first_response_due = hours.add(ticket.opened_at, target(unit, ticket.priority, "first_response"))
    if ticket.priority is not None:
        due = hours.add(ticket.opened_at, target(unit, ticket.priority, "resolution"))
        ticket.resolution_due = hours.add_seconds(due, ticket.sla_paused_seconds) if ticket.sla_paused_seconds else due
    schedule(ticket, unit, now)


def first_response(ticket: TicketRecord, unit: UnitPolicy, at: datetime) -> None:
    """Record the first human public reply (once) and stop the first-response clock."""
    if ticket.first_response_at is not None:
        return
    ticket.first_response_at = at
    ticket.first_response_business_s = int(calendar(unit, ticket.priority).elapsed(ticket.opened_at, at)
                                            .total_seconds())
    if ticket.first_response_due is not None and at > ticket.first_response_due:
        ticket.first_response_breached = True
        worsen(ticket, "breached")
    schedule(ticket, unit, at)


def settle(ticket: TicketRecord, store: TicketStore, ready_elements: set[str], completed: bool,
           now: datetime) -> None:
    """At a wait state: pause, resume or stop the clocks (the unit is read only when one of them changes)."""
    unit = store.unit(ticket.unit_code) if changes(ticket, ready_elements, completed) else None
    if unit is None:
        return
    if completed:
        finish(ticket, unit, now)
    else:
        track_pause(ticket, unit, ready_elements, now)


def changes(ticket: TicketRecord, ready_elements: set[str], completed: bool) -> bool:
    """Whether this wait state pauses, resumes or ends the clocks (most steps do neither)."""
    if completed:
        return ticket.resolution_business_s is None
    waiting = CUSTOMER_TEST in ready_elements and ticket.closed_at is None
    return waiting != (ticket.sla_paused_since is not None)


def track_pause(ticket: TicketRecord, unit: UnitPolicy, ready_elements: set[str], now: datetime) -> None:
    """Pause the resolution clock while the customer's test task is open; resume it when it is not."""
    waiting = CUSTOMER_TEST in ready_elements and ticket.closed_at is None
    if waiting and ticket.sla_paused_since is None:
        ticket.sla_paused_since = now
        schedule(ticket, unit, now)
    elif not waiting and ticket.sla_paused_since is not None:
        hours = calendar(unit, ticket.priority)
        paused = int(hours.elapsed(ticket.sla_paused_since, now).total_seconds())
        ticket.sla_paused_seconds += paused
        ticket.sla_paused_since = None
        if ticket.resolution_due is not None and paused:
            ticket.resolution_due = hours.add_seconds(ticket.resolution_due, paused)
        schedule(ticket, unit, now)


def finish(ticket: TicketRecord, unit: UnitPolicy, at: datetime) -> None:
    """The customer confirmed: record the resolution's business time and stop every clock."""
    if ticket.resolution_business_s is not None:
        return
    hours = calendar(unit, ticket.priority)
    if ticket.sla_paused_since is not None:  # the customer's answer ends the last wait too
        paused = int(hours.elapsed(ticket.sla_paused_since, at).total_seconds())
        ticket.sla_paused_seconds += paused
        ticket.sla_paused_since = None
        if ticket.resolution_due is not None and paused:
            ticket.resolution_due = hours.add_seconds(ticket.resolution_due, paused)
    elapsed = hours.elapsed(ticket.opened_at, at).total_seconds()
    ticket.resolution_business_s = max(int(elapsed) - ticket.sla_paused_seconds, 0)
    if ticket.resolution_due is not None and at > ticket.resolution_due:
        ticket.resolution_breached = True
        worsen(ticket, "breached")
    ticket.sla_next_check_at = None


def running(ticket: TicketRecord) -> list[tuple[str, datetime]]:
    """The clocks still running, with their due times (none while paused or after confirmation)."""
    clocks = []
    if ticket.first_response_at is None and ticket.first_response_due is not None:
        clocks.append(("first_response", ticket.first_response_due))
    if ticket.sla_paused_since is None and ticket.resolution_business_s is None and ticket.resolution_due is not None:
        clocks.append(("resolution", ticket.resolution_due))
    return clocks


def risk_instant(ticket: TicketRecord, unit: UnitPolicy, clock: str, due: datetime) -> datetime:
    """75% of the clock's target in business time (pauses so far excluded)."""
    hours = calendar(unit, ticket.priority)
    paused = ticket.sla_paused_seconds if clock == "resolution" else 0
    whole = hours.elapsed(ticket.opened_at, due).total_seconds() - paused
    return hours.add_seconds(ticket.opened_at, AT_RISK * whole + paused)


def schedule(ticket: TicketRecord, unit: UnitPolicy, now: datetime,
             warned: Callable[[str], bool] | None = None) -> None:
    """Set ``sla_next_check_at``: the next 75% or 100% instant of a running clock. Without ``warned`` (which
    says whether a clock's at-risk was raised), a passed 75% instant is looked at by the worker at once."""
    instants = []
    for clock, due in running(ticket):
        if getattr(ticket, f"{clock}_breached"):
            continue
        risk = risk_instant(ticket, unit, clock, due)
        if risk > now:
            instants.append(risk)
        elif warned is None or not warned(clock):
            instants.append(now)
        else:
            instants.append(due)
    ticket.sla_next_check_at = min(instants) if instants else None


def worsen(ticket: TicketRecord, state: str) -> None:
    if STATES.index(state) > STATES.index(ticket.sla_state):
        ticket.sla_state = state


# The counters reports read, by the element whose completion they count (and the answer that counts).
_COUNTED = {"escalate_to_l2": "escalations", "follow_up_with_customer": "follow_ups"}


def count_completion(ticket: TicketRecord, element_id: str, data: object) -> None:
    """Count an escalation, a follow-up call, or a customer's "issue persists" answer."""
    counter = _COUNTED.get(element_id)
    if counter is not None:
        setattr(ticket, counter, getattr(ticket, counter) + 1)
    elif element_id == CUSTOMER_TEST and isinstance(data, dict) and data.get("validation_outcome") == "persists":
        ticket.persists += 1
