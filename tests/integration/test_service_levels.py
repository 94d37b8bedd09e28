"""Service levels on real tickets: business-time due dates, the paused clock, at-risk and breached once each,
the first human public reply, and a unit's change reaching a running ticket at its next step."""
from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from engine.access import Actor
from engine.execution.clock import FakeClock
from engine.runtime import Runtime
from engine.store.history import NewEvent
from engine.store.models import OutboxMessage
from engine.store.tickets import TicketStore
from engine.store.webhooks import EVENT_TYPES, outbound_events
from engine.usecases.units import UnitAdmin
from tests.conftest import (
    ADMIN,
    ASSESS_ESCALATE,
    CLASSIFY,
    CUSTOMER,
    ESCALATE,
    FIX,
    INVESTIGATE,
    L1,
    L2,
    PERSISTS,
    RESOLVED,
    SOLUTION,
    complete_current,
    intake,
)
from tests.integration.helpers import escalate_to_validation, kinds, ticket_row

BERLIN_UNIT: dict[str, Any] = {
    "name": "EMEA support", "time_zone": "Europe/Berlin", "first_response": "PT4H", "response_window": "P3D",
    "hours": {day: ["09:00-17:00"] for day in ("mon", "tue", "wed", "thu", "fri")},
    "holidays": {"country": "DE", "subdivision": "BY"},
    "targets": {"P1": {"first_response": "PT1H", "resolution": "PT4H", "24x7": True},
                "P2": {"first_response": "PT2H", "resolution": "P1D"},
                "P3": {"first_response": "PT4H", "resolution": "P3D"},
                "P4": {"first_response": "P1D", "resolution": "P5D"},
                "P5": {"first_response": "P2D", "resolution": "P10D"}},
}


def messages(runtime: Runtime, number: str, purpose: str) -> list[str]:
    ticket_id = ticket_row(runtime, number).id
    with runtime.uow(read_only=True) as uow:
        return list(uow.session.scalars(select(OutboxMessage.body).where(
            OutboxMessage.ticket_id == ticket_id, OutboxMessage.purpose == purpose).order_by(OutboxMessage.id)))


def events(runtime: Runtime, number: str, kind: str) -> list[dict[str, Any]]:
    return [e.data for e in runtime.ticket_history(number) if e.kind == kind]


def test_the_acknowledgment_promises_the_first_response_in_business_time_in_the_units_zone(
        runtime: Runtime, clock: FakeClock) -> None:
    UnitAdmin(runtime).put_unit(ADMIN, "emea", BERLIN_UNIT)
    clock.now = datetime(2026, 3, 6, 15, 0, tzinfo=UTC)  # Friday 16:00 in Berlin: one business hour left
    number = _open(runtime, "emea")
    due = runtime.get_ticket(number).first_response_due
    # 1 hour on Friday, 3 on Monday from 09:00: Monday 12:00 in Berlin (11:00 UTC), not Friday 20:00.
    assert due == datetime(2026, 3, 9, 11, 0, tzinfo=UTC)
    (text,) = messages(runtime, number, "acknowledgment")
    assert "2026-03-09 12:00 Europe/Berlin" in text


def _open(runtime: Runtime, unit: str) -> str:
    request = intake()
    request = type(request)(**{**request.__dict__, "unit": unit})
    return runtime.open_ticket(request, CUSTOMER).number


def test_the_priority_recomputes_the_first_response_due_with_its_own_target(
        runtime: Runtime, clock: FakeClock) -> None:
    number = runtime.open_ticket(intake(), CUSTOMER).number  # Monday 09:00 UTC, unit general
    assert runtime.get_ticket(number).first_response_due == clock.now + timedelta(hours=4)  # the unit's default
    complete_current(runtime, number, L1, CLASSIFY)  # high impact, medium urgency: P2, PT2H and P1D
    row = ticket_row(runtime, number)
    assert row.priority == "P2"
    assert row.first_response_due == datetime(2026, 3, 2, 11, 0, tzinfo=UTC)
    assert row.resolution_due == datetime(2026, 3, 3, 9, 0, tzinfo=UTC)  # one business day
    assert row.first_response_at is None  # classifying is not a reply to the customer


def test_a_p1_target_is_24x7_across_the_weekend(runtime: Runtime, clock: FakeClock) -> None:
    clock.now = datetime(2026, 3, 6, 16, 0, tzinfo=UTC)  # Friday 16:00 UTC
    number = runtime.open_ticket(intake(), CUSTOMER).number
    complete_current(runtime, number, L1, {"type": "incident", "impact": "high", "urgency": "high"})
    row = ticket_row(runtime, number)
    assert row.priority == "P1"
    assert row.first_response_due == datetime(2026, 3, 6, 17, 0, tzinfo=UTC)
    assert row.resolution_due == datetime(2026, 3, 6, 20, 0, tzinfo=UTC)


def test_the_resolution_notice_is_the_first_response_and_the_clock_pauses_while_the_customer_tests(
        runtime: Runtime, clock: FakeClock) -> None:
    number = runtime.open_ticket(intake(), CUSTOMER).number
    for actor, form in ((L1, CLASSIFY), (L1, ASSESS_ESCALATE), (L1, ESCALATE), (L2, INVESTIGATE), (L2, FIX)):
        clock.advance(minutes=30)
        complete_current(runtime, number, actor, form)
    clock.advance(minutes=30)  # Monday 12:00
    complete_current(runtime, number, L1, SOLUTION)
    row = ticket_row(runtime, number)
    assert row.first_response_at == datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
    assert row.first_response_business_s == 3 * 3600 and row.first_response_breached is True  # P2: 2 hours
    assert row.sla_paused_since == row.first_response_at and row.sla_next_check_at is None
    due_before = row.resolution_due
    assert due_before is not None
    clock.advance(days=1)  # Tuesday 12:00: 8 business hours pass while the customer tests
    complete_current(runtime, number, CUSTOMER, PERSISTS)
    row = ticket_row(runtime, number)
    assert row.sla_paused_since is None and row.sla_paused_seconds == 8 * 3600
    assert row.resolution_due == due_before + timedelta(hours=8)  # pushed by the 8 paused business hours
    assert row.persists == 1 and row.escalations == 1
    for actor, form in ((L2, INVESTIGATE), (L2, FIX), (L1, SOLUTION)):
        clock.advance(minutes=30)
        complete_current(runtime, number, actor, form)
    clock.advance(hours=2)
    complete_current(runtime, number, CUSTOMER, RESOLVED)
    row = ticket_row(runtime, number)
    assert row.status == "closed" and row.sla_next_check_at is None
    # Opened Monday 09:00; 3h to the notice, paused 24h (8 business), 1.5h of work, paused 2h: 4.5h counted.
    assert row.resolution_business_s == int(4.5 * 3600)
    assert row.resolution_breached is False


def test_at_risk_and_breached_are_raised_once_each_per_clock_by_the_worker(
        runtime: Runtime, clock: FakeClock) -> None:
    number = runtime.open_ticket(intake(), CUSTOMER).number  # Monday 09:00
    complete_current(runtime, number, L1, CLASSIFY)  # P2: first response due 11:00, at risk from 10:30
    assert ticket_row(runtime, number).sla_next_check_at == datetime(2026, 3, 2, 10, 30, tzinfo=UTC)
    clock.now = datetime(2026, 3, 2, 10, 29, tzinfo=UTC)
    assert runtime.check_service_levels() == []
    clock.now = datetime(2026, 3, 2, 10, 31, tzinfo=UTC)
    assert runtime.check_service_levels() == [number]
    assert runtime.check_service_levels() == []
    assert ticket_row(runtime, number).sla_state == "at_risk"
    clock.now = datetime(2026, 3, 2, 11, 1, tzinfo=UTC)
    assert runtime.check_service_levels() == [number]
    assert runtime.check_service_levels() == []
    row = ticket_row(runtime, number)
    assert row.sla_state == "breached" and row.first_response_breached
    first = {"clock": "first_response", "due": "2026-03-02T11:00:00+00:00"}
    assert events(runtime, number, "sla_at_risk") == [first]
    assert events(runtime, number, "sla_breached") == [first]
    # The resolution clock (P2: one business day, due Tuesday 09:00) is next: at risk at 75%, Monday 15:00.
    assert row.sla_next_check_at == datetime(2026, 3, 2, 15, 0, tzinfo=UTC)
    clock.now = datetime(2026, 3, 3, 9, 1, tzinfo=UTC)
    assert runtime.check_service_levels() == [number]
    assert [e["clock"] for e in events(runtime, number, "sla_at_risk")] == ["first_response", "resolution"]
    assert [e["clock"] for e in events(runtime, number, "sla_breached")] == ["first_response", "resolution"]
    assert ticket_row(runtime, number).sla_next_check_at is None
    assert runtime.check_service_levels() == []


def test_the_service_level_events_become_webhook_events(runtime: Runtime, clock: FakeClock) -> None:
    assert {"ticket.sla_at_risk", "ticket.sla_breached"} <= set(EVENT_TYPES)
    number = runtime.open_ticket(intake(), CUSTOMER).number
    complete_current(runtime, number, L1, CLASSIFY)
    clock.now = datetime(2026, 3, 2, 11, 1, tzinfo=UTC)
    runtime.check_service_levels()
    ticket_id = ticket_row(runtime, number).id
    with runtime.uow(read_only=True) as uow:
        recorded = TicketStore(uow.connection).events(ticket_id)
    new = [NewEvent(1, e.seq, e.at, e.actor, e.kind, e.element_id, e.element_name, e.lane, e.task_id,
                    json.dumps(e.data), "", "") for e in recorded if e.kind.startswith("sla_")]
    found = outbound_events(number, new, runtime.lane_roles)
    assert [(f.type, f.data["clock"]) for f in found] == [("ticket.sla_at_risk", "first_response"),
                                                         ("ticket.sla_breached", "first_response")]


def test_a_public_reply_is_the_first_response(runtime: Runtime, clock: FakeClock) -> None:
    from engine.usecases.conversation import ConversationUseCases

    number = runtime.open_ticket(intake(), CUSTOMER).number
    complete_current(runtime, number, L1, CLASSIFY)
    clock.advance(minutes=45)
    ConversationUseCases.over(runtime).post_message(number, "We are looking at it now.", "public", L1)
    row = ticket_row(runtime, number)
    assert row.first_response_at == datetime(2026, 3, 2, 9, 45, tzinfo=UTC)
    assert row.first_response_business_s == 45 * 60 and not row.first_response_breached


def test_a_units_change_reaches_a_running_ticket_at_its_next_step(runtime: Runtime, clock: FakeClock) -> None:
    number = runtime.open_ticket(intake(), CUSTOMER).number
    admin = UnitAdmin(runtime)
    general, version = admin.unit("general")
    changed = copy.deepcopy(general)
    changed["targets"]["P2"]["first_response"] = "PT30M"
    changed["time_zone"] = "America/New_York"
    admin.put_unit(ADMIN, "general", changed, version)
    complete_current(runtime, number, L1, CLASSIFY)
    # Opened Monday 09:00 UTC = 04:00 in New York; the hours start at 09:00 there (14:00 UTC): due 14:30 UTC.
    assert ticket_row(runtime, number).first_response_due == datetime(2026, 3, 2, 14, 30, tzinfo=UTC)


def test_the_follow_up_call_appears_after_the_unanswered_reminders_and_goes_away_when_the_customer_answers(
        runtime: Runtime, clock: FakeClock) -> None:
    admin = UnitAdmin(runtime)
    general, version = admin.unit("general")
    admin.put_unit(ADMIN, "general", {**general, "follow_up_after": 2, "reminder_every": "P1D"}, version)
    number = runtime.open_ticket(intake(), CUSTOMER).number
    escalate_to_validation(runtime, number)
    ready = [t.element_id for t in runtime.get_ticket(number).ready_tasks]
    assert ready == ["test_and_confirm"]
    clock.advance(days=3, seconds=1)  # the window passes: reminder 1
    assert runtime.fire_due_timers() == [number]
    clock.advance(days=1)  # reminder 2
    runtime.fire_due_timers()
    assert [t.element_id for t in runtime.get_ticket(number).ready_tasks] == ["test_and_confirm"]
    clock.advance(days=1)  # reminder 3: the second one went unanswered for a day
    runtime.fire_due_timers()
    view = runtime.get_ticket(number)
    assert sorted(t.element_id for t in view.ready_tasks) == ["follow_up_with_customer", "test_and_confirm"]
    assert view.status != "closed" and ticket_row(runtime, number).reminders == 3
    follow_up = next(t for t in view.ready_tasks if t.element_id == "follow_up_with_customer")
    assert follow_up.lane == "L1 Support"
    complete_current(runtime, number, CUSTOMER, RESOLVED)
    view = runtime.get_ticket(number)
    assert view.status == "closed" and view.ready_tasks == []
    assert runtime.list_tasks() == []  # the follow-up call is no longer on L1's worklist
    assert "end_reached" in kinds(runtime, number)


def test_l1s_follow_up_call_is_recorded_and_the_ticket_stays_open_for_the_customers_answer(
        runtime: Runtime, clock: FakeClock) -> None:
    number = runtime.open_ticket(intake(), CUSTOMER).number
    escalate_to_validation(runtime, number)
    for _ in range(4):  # the general unit: reminders every 3 days, L1 asked once 3 went unanswered
        clock.advance(days=3, seconds=1)
        runtime.fire_due_timers()
    call = {"follow_up_channel": "phone", "follow_up_outcome": "needs_more_time",
            "follow_up_notes": "Reached Alice; she tests on Friday after the release."}
    complete_current(runtime, number, L1, call)
    view = runtime.get_ticket(number)
    assert view.status == "awaiting_customer"
    assert [t.element_id for t in view.ready_tasks] == ["test_and_confirm"]
    assert ticket_row(runtime, number).follow_ups == 1
    assert complete_current(runtime, number, CUSTOMER, RESOLVED).status == "closed"  # type: ignore[attr-defined]


def test_an_incomplete_follow_up_record_is_refused_and_changes_nothing(runtime: Runtime, clock: FakeClock) -> None:
    from engine.errors import InvalidInput

    number = runtime.open_ticket(intake(), CUSTOMER).number
    escalate_to_validation(runtime, number)
    for _ in range(4):
        clock.advance(days=3, seconds=1)
        runtime.fire_due_timers()
    version = ticket_row(runtime, number).version
    task = next(t for t in runtime.get_ticket(number).ready_tasks if t.element_id == "follow_up_with_customer")
    with pytest.raises(InvalidInput):
        runtime.complete_task(task.id, {"follow_up_channel": "carrier pigeon"}, Actor("lena", "l1"))
    assert ticket_row(runtime, number).version == version
