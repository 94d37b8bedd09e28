"""Every path of the procedure, driven through the real engine on SQLite."""
from __future__ import annotations

from engine.execution.clock import FakeClock
from engine.runtime import Runtime
from tests.conftest import (
    ASSESS_RESOLVE,
    CLASSIFY,
    CUSTOMER,
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
from tests.integration.helpers import escalate_to_validation, kinds, outbox_purposes, ticket_row


def test_opening_registers_acknowledges_and_waits_for_classification(runtime: Runtime) -> None:
    view = runtime.open_ticket(intake(), CUSTOMER)
    assert view.number == "T-000001"
    assert view.status == "with_l1"
    assert [t.element_id for t in view.ready_tasks] == ["classify_ticket"]
    assert view.first_response_due is not None and view.first_response_due > view.opened_at
    assert outbox_purposes(runtime, view.number) == ["acknowledgment"]
    assert kinds(runtime, view.number)[:2] == ["ticket_opened", "process_started"]


def test_known_problem_is_resolved_at_first_level(runtime: Runtime) -> None:
    number = runtime.open_ticket(intake(), CUSTOMER).number
    complete_current(runtime, number, L1, CLASSIFY)
    complete_current(runtime, number, L1, ASSESS_RESOLVE)
    view = complete_current(runtime, number, L1, SOLUTION)
    assert view.status == "awaiting_customer" and view.current_lanes == ["Customer"]
    view = complete_current(runtime, number, CUSTOMER, RESOLVED)
    assert view.status == "closed" and view.closed_at is not None and view.ready_tasks == []
    assert (view.type, view.impact, view.urgency, view.priority) == ("incident", "high", "medium", "P2")
    assert outbox_purposes(runtime, number) == ["acknowledgment", "resolution", "validation_request", "closure"]
    steps = [e.element_id for e in runtime.ticket_history(number) if e.kind == "task_completed"]
    assert steps == ["classify_ticket", "assess_first_level", "apply_solution", "test_and_confirm"]
    gateways = [e.data["branch"] for e in runtime.ticket_history(number) if e.kind == "gateway_taken"]
    assert gateways == ["Yes: known solution at L1", "Yes: confirmed resolved"]


def test_escalated_ticket_is_fixed_by_l2_then_applied_and_documented_by_l1(runtime: Runtime) -> None:
    number = runtime.open_ticket(intake(), CUSTOMER).number
    escalate_to_validation(runtime, number)
    lanes = [(e.element_id, e.lane) for e in runtime.ticket_history(number) if e.kind == "task_completed"]
    assert lanes == [("classify_ticket", "L1 Support"), ("assess_first_level", "L1 Support"),
                     ("escalate_to_l2", "L1 Support"), ("investigate_root_cause", "L2 Support"),
                     ("apply_definitive_fix", "L2 Support"), ("apply_solution", "L1 Support")]
    assert complete_current(runtime, number, CUSTOMER, RESOLVED).status == "closed"


def test_l2_sees_the_full_triage_context_from_l1(runtime: Runtime) -> None:
    number = runtime.open_ticket(intake(), CUSTOMER).number
    complete_current(runtime, number, L1, CLASSIFY)
    complete_current(runtime, number, L1, {"resolve_at_first_level": False, "assessment": "Needs server logs."})
    from tests.conftest import ESCALATE

    complete_current(runtime, number, L1, ESCALATE)
    data = runtime.ticket_data(number)
    assert data["troubleshooting_steps"] == ESCALATE["troubleshooting_steps"]
    assert (data["type"], data["priority"]) == ("incident", "P2")
    assert data["description"].startswith("The login page")


def test_persists_answer_returns_ticket_directly_to_l2(runtime: Runtime) -> None:
    number = runtime.open_ticket(intake(), CUSTOMER).number
    escalate_to_validation(runtime, number)
    view = complete_current(runtime, number, CUSTOMER, PERSISTS)
    assert [(t.element_id, t.lane) for t in view.ready_tasks] == [("investigate_root_cause", "L2 Support")]
    assert view.status == "with_l2"
    assert runtime.ticket_data(number)["customer_comment"] == "Still failing for me."


def test_persisting_twice_then_confirmed_closes_the_ticket(runtime: Runtime) -> None:
    number = runtime.open_ticket(intake(), CUSTOMER).number
    escalate_to_validation(runtime, number)
    for _ in range(2):
        complete_current(runtime, number, CUSTOMER, PERSISTS)
        complete_current(runtime, number, L2, INVESTIGATE)
        complete_current(runtime, number, L2, FIX)
        complete_current(runtime, number, L1, SOLUTION)
    assert complete_current(runtime, number, CUSTOMER, RESOLVED).status == "closed"
    branches = [e.data["branch"] for e in runtime.ticket_history(number) if e.kind == "gateway_taken"]
    assert branches.count("No: issue persists") == 2


def test_silent_customer_gets_a_reminder_each_window_and_the_ticket_stays_open(
        runtime: Runtime, clock: FakeClock) -> None:
    number = runtime.open_ticket(intake(), CUSTOMER).number
    escalate_to_validation(runtime, number)
    due = runtime.get_ticket(number).next_timer_at
    assert due is not None
    clock.now = due
    assert runtime.fire_due_timers() == []  # not yet past the window
    clock.advance(seconds=1)
    for expected in (1, 2, 3):
        assert runtime.fire_due_timers() == [number]
        assert outbox_purposes(runtime, number).count("follow_up") == expected
        clock.advance(days=3)  # the unit's response window (P3D)
    view = runtime.get_ticket(number)
    assert view.status == "awaiting_customer" and view.closed_at is None
    assert [t.element_id for t in view.ready_tasks] == ["test_and_confirm"]
    assert kinds(runtime, number).count("timer_fired") == 3
    # A late answer still works, and then no reminder follows.
    assert complete_current(runtime, number, CUSTOMER, RESOLVED).status == "closed"
    clock.advance(days=30)
    assert runtime.fire_due_timers() == []


def test_ticket_opened_by_l1_for_an_informal_request_records_the_agent(runtime: Runtime) -> None:
    from dataclasses import replace

    phoned = replace(intake(customer="bob"), channel="phone", contact={"phone": "+49 30 1234567"})
    view = runtime.open_ticket(phoned, L1)
    assert (view.channel, view.registered_by, view.customer) == ("phone", "lena", "bob")
    opened = runtime.ticket_history(view.number)[0]
    assert opened.data["registered_by"] == "lena" and opened.data["channel"] == "phone"
    assert ticket_row(runtime, view.number).contact == {"phone": "+49 30 1234567"}
