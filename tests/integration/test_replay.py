"""Deterministic replay: every path reproduces its record; a changed input or a redeploy is handled."""
from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import func, select

from engine.errors import InvalidInput, NotFound
from engine.execution.clock import FakeClock
from engine.runtime import Runtime
from engine.store.models import HistoryEvent, OutboxMessage
from engine.usecases.audit import AuditService
from tests.conftest import (
    ASSESS_RESOLVE,
    CLASSIFY,
    CUSTOMER,
    FIX,
    INVESTIGATE,
    L1,
    L2,
    OWNER,
    PERSISTS,
    RESOLVED,
    SOLUTION,
    complete_current,
    intake,
)
from tests.integration.helpers import (
    escalate_to_validation,
    history_rows,
    kinds,
    rehash,
    runtime_with,
    tamper,
    ticket_row,
)
from ticketflow.composition import BUNDLED_DIAGRAM, deploy_file


def resolve_at_l1(runtime: Runtime, clock: FakeClock, number: str) -> None:
    for data in (CLASSIFY, ASSESS_RESOLVE, SOLUTION):
        complete_current(runtime, number, L1, data)
    complete_current(runtime, number, CUSTOMER, RESOLVED)


def escalate_and_fix(runtime: Runtime, clock: FakeClock, number: str) -> None:
    escalate_to_validation(runtime, number)
    complete_current(runtime, number, CUSTOMER, RESOLVED)


def persist_loops(count: int) -> Callable[[Runtime, FakeClock, str], None]:
    def play(runtime: Runtime, clock: FakeClock, number: str) -> None:
        escalate_to_validation(runtime, number)
        for _ in range(count):
            clock.advance(minutes=7)
            complete_current(runtime, number, CUSTOMER, PERSISTS)
            complete_current(runtime, number, L2, INVESTIGATE)
            complete_current(runtime, number, L2, FIX)
            complete_current(runtime, number, L1, SOLUTION)
        complete_current(runtime, number, CUSTOMER, RESOLVED)

    return play


def silent_customer(runtime: Runtime, clock: FakeClock, number: str) -> None:
    escalate_to_validation(runtime, number)
    due = runtime.get_ticket(number).next_timer_at
    assert due is not None
    clock.now = due
    clock.advance(seconds=1)
    for _ in range(3):
        assert runtime.fire_due_timers() == [number]
        clock.advance(days=3)
    task = runtime.get_ticket(number).ready_tasks[0]
    runtime.claim_task(task.id, CUSTOMER)
    runtime.release_task(task.id, CUSTOMER)
    complete_current(runtime, number, CUSTOMER, RESOLVED)


PATHS = {"l1_resolves": resolve_at_l1, "escalated_and_fixed": escalate_and_fix, "persists_once": persist_loops(1),
         "silent_customer": silent_customer, "persists_six_times": persist_loops(6)}


@pytest.mark.parametrize("path", PATHS)
def test_every_path_replays_consistent(runtime: Runtime, clock: FakeClock, path: str) -> None:
    number = runtime.open_ticket(intake(), CUSTOMER).number
    PATHS[path](runtime, clock, number)
    assert runtime.get_ticket(number).status == "closed"
    report = AuditService(runtime).replay(number)
    assert report.consistent and report.divergence is None, report.divergence
    head = ticket_row(runtime, number).history_seq
    assert report.events == head and [s.seq for s in report.steps] == list(range(1, head + 1))
    generated = [s for s in report.steps if s.outcome == "match"]
    assert {s.kind for s in generated} >= {"process_started", "task_ready", "task_completed", "service_called",
                                           "gateway_taken", "end_reached", "process_completed"}
    assert report.to_dict()["outcome"] == "consistent"
    json.dumps(report.to_dict())  # plain data all the way down


def test_reminders_are_replayed_at_their_recorded_times(runtime: Runtime, clock: FakeClock) -> None:
    number = runtime.open_ticket(intake(), CUSTOMER).number
    silent_customer(runtime, clock, number)
    steps = AuditService(runtime).replay(number).steps
    assert [s.outcome for s in steps if s.kind == "timer_fired"] == ["match"] * 3
    assert [s.outcome for s in steps if s.kind in ("task_claimed", "task_released", "message_queued")] == [
        "recorded"] * len([k for k in kinds(runtime, number) if k in ("task_claimed", "task_released",
                                                                        "message_queued")])


def test_replay_calls_no_handler_and_writes_nothing(sqlite_url: str, clock: FakeClock) -> None:
    live = runtime_with(sqlite_url, clock)
    deploy_file(live)
    number = live.open_ticket(intake(), CUSTOMER).number
    escalate_and_fix(live, clock, number)

    def explode(*_: object, **__: object) -> None:
        raise AssertionError("a handler ran during replay")

    handlers = ("acknowledge_ticket", "priority_matrix", "knowledge_base_search", "notify_resolution",
                "request_customer_validation", "send_reminder", "record_closure")
    auditing = runtime_with(sqlite_url, clock, **dict.fromkeys(handlers, explode))
    try:
        with auditing.uow() as uow:
            before = [uow.session.scalar(select(func.count()).select_from(t)) for t in (HistoryEvent, OutboxMessage)]
        assert AuditService(auditing).replay(number).consistent
        with auditing.uow() as uow:
            after = [uow.session.scalar(select(func.count()).select_from(t)) for t in (HistoryEvent, OutboxMessage)]
        assert after == before
    finally:
        live.close()
        auditing.close()


def test_a_stalled_then_retried_ticket_replays_consistent(sqlite_url: str, clock: FakeClock) -> None:
    from tasks.acknowledge import acknowledge_ticket

    calls = []

    def flaky_acknowledge(ctx, **params):  # type: ignore[no-untyped-def]
        calls.append(1)
        if len(calls) == 1:
            raise ConnectionError("mail relay unreachable")
        return acknowledge_ticket(ctx, **params)

    runtime = runtime_with(sqlite_url, clock, acknowledge_ticket=flaky_acknowledge)
    try:
        deploy_file(runtime)
        number = runtime.open_ticket(intake(), CUSTOMER).number
        assert runtime.get_ticket(number).status == "stalled"
        clock.advance(minutes=6)
        assert runtime.fire_due_timers() == [number]
        resolve_at_l1(runtime, clock, number)
        assert {"step_failed", "step_retried"} <= set(kinds(runtime, number))
        report = AuditService(runtime).replay(number)
        assert report.consistent, report.divergence
        assert AuditService(runtime).as_of(number, 2).status == "stalled"
    finally:
        runtime.close()


def test_an_altered_service_result_is_a_divergence_even_with_a_recomputed_chain(
        runtime: Runtime) -> None:
    number = runtime.open_ticket(intake(), CUSTOMER).number
    resolve_at_l1(runtime, FakeClock(runtime.clock()), number)
    priority = next(e for e in history_rows(runtime, number)
                    if e.kind == "service_called" and e.data["operator"] == "priority_matrix")
    altered = {**priority.data, "result": "P5"}
    tamper(runtime, "UPDATE history_event SET data = :d WHERE ticket_id = :t AND seq = :s",
           d=json.dumps(altered), t=priority.ticket_id, s=priority.seq)
    rehash(runtime, number, from_seq=priority.seq)
    audit = AuditService(runtime)
    assert audit.verify_ticket(number).ok  # the chain alone cannot tell
    report = audit.replay(number)
    divergence = report.divergence
    assert not report.consistent and divergence is not None
    assert divergence.seq > priority.seq and "priority" in divergence.reason
    assert divergence.expected is not None and divergence.actual is not None
    assert divergence.expected["seq"] == divergence.seq
    assert divergence.expected["data"]["data_digest"]["priority"] != divergence.actual["data"]["data_digest"][
        "priority"]


def test_an_edited_form_submission_is_a_divergence(runtime: Runtime) -> None:
    number = runtime.open_ticket(intake(), CUSTOMER).number
    resolve_at_l1(runtime, FakeClock(runtime.clock()), number)
    assess = next(e for e in history_rows(runtime, number)
                  if e.kind == "task_completed" and e.element_id == "assess_first_level")
    forged = {"form": {**assess.data["form"], "resolve_at_first_level": False}}
    tamper(runtime, "UPDATE history_event SET data = :d WHERE ticket_id = :t AND seq = :s",
           d=json.dumps(forged), t=assess.ticket_id, s=assess.seq)
    rehash(runtime, number, from_seq=assess.seq)
    divergence = AuditService(runtime).replay(number).divergence
    assert divergence is not None and divergence.seq == assess.seq + 1  # the gateway now takes the other branch
    assert divergence.expected and divergence.expected["kind"] == "gateway_taken"
    assert divergence.actual and divergence.actual["data"]["branch"] != divergence.expected["data"]["branch"]


def test_a_removed_engine_event_is_a_divergence(runtime: Runtime) -> None:
    number = runtime.open_ticket(intake(), CUSTOMER).number
    resolve_at_l1(runtime, FakeClock(runtime.clock()), number)
    gateway = next(e for e in history_rows(runtime, number) if e.kind == "gateway_taken")
    tamper(runtime, "DELETE FROM history_event WHERE ticket_id = :t AND seq = :s", t=gateway.ticket_id, s=gateway.seq)
    tamper(runtime, "UPDATE history_event SET seq = seq - 1 WHERE ticket_id = :t AND seq > :s",
           t=gateway.ticket_id, s=gateway.seq)
    rehash(runtime, number, from_seq=gateway.seq)
    divergence = AuditService(runtime).replay(number).divergence
    assert divergence is not None and divergence.seq == gateway.seq
    assert divergence.actual and divergence.actual["kind"] == "gateway_taken"


def test_replay_after_a_redeploy_uses_the_pinned_version(runtime: Runtime, tmp_path: Path) -> None:
    number = runtime.open_ticket(intake(), CUSTOMER).number
    complete_current(runtime, number, L1, CLASSIFY)
    changed = tmp_path / "support_ticket.bpmn"
    changed.write_bytes(BUNDLED_DIAGRAM.read_bytes().replace(b'name="Assess known resolution"',
                                                             b'name="Assess a known resolution (v2)"'))
    (tmp_path / "forms").symlink_to(BUNDLED_DIAGRAM.parent / "forms")
    assert deploy_file(runtime, changed, OWNER) == (2, True)
    for data in (ASSESS_RESOLVE, SOLUTION):
        complete_current(runtime, number, L1, data)
    complete_current(runtime, number, CUSTOMER, RESOLVED)
    newer = runtime.open_ticket(intake(), CUSTOMER).number
    complete_current(runtime, newer, L1, CLASSIFY)
    audit = AuditService(runtime)
    old_report, new_report = audit.replay(number), audit.replay(newer)
    assert (old_report.consistent, old_report.definition_version) == (True, 1)
    assert (new_report.consistent, new_report.definition_version) == (True, 2)
    # Each was compared with names its own version gives: v2's would not have matched the old record.
    assert {s.element_name for s in old_report.steps if s.element_id == "assess_first_level"} == {
        "Assess known resolution"}
    assert {s.element_name for s in new_report.steps if s.element_id == "assess_first_level"} == {
        "Assess a known resolution (v2)"}


def test_until_stops_after_the_transaction_of_that_event(runtime: Runtime) -> None:
    number = runtime.open_ticket(intake(), CUSTOMER).number
    resolve_at_l1(runtime, FakeClock(runtime.clock()), number)
    events = history_rows(runtime, number)
    classified = next(e.seq for e in events if e.kind == "task_completed")  # starts a transaction
    report = AuditService(runtime).replay(number, until=classified)
    next_input = next(e.seq for e in events if e.kind == "task_completed" and e.seq > classified)
    assert report.consistent and report.until == classified
    assert report.steps[-1].seq == next_input - 1 == report.events  # the whole transaction, no further
    assert AuditService(runtime).replay(number, until=len(events)).events == len(events)


@pytest.mark.parametrize("until", [0, -3, 10_000, "5"])
def test_bad_until_is_refused(runtime: Runtime, until: object) -> None:
    number = runtime.open_ticket(intake(), CUSTOMER).number
    with pytest.raises(InvalidInput):
        AuditService(runtime).replay(number, until=until)  # type: ignore[arg-type]


def test_unknown_ticket_is_not_found(runtime: Runtime) -> None:
    with pytest.raises(NotFound):
        AuditService(runtime).replay("T-424242")
    with pytest.raises(NotFound):
        AuditService(runtime).as_of("T-424242", 1)


def test_as_of_gives_status_data_ready_tasks_and_where_the_ticket_was(runtime: Runtime) -> None:
    number = runtime.open_ticket(intake(), CUSTOMER).number
    resolve_at_l1(runtime, FakeClock(runtime.clock()), number)
    events = history_rows(runtime, number)
    audit = AuditService(runtime)
    first_ready = next(e for e in events if e.kind == "task_ready")
    opened = audit.as_of(number, first_ready.seq)
    assert (opened.status, opened.current_elements) == ("with_l1", ("classify_ticket",))
    assert [(t.element_id, t.lane, t.task_id) for t in opened.ready_tasks] == [
        ("classify_ticket", "L1 Support", first_ready.task_id)]
    assert opened.event.kind == "task_ready" and "priority" not in opened.data
    waiting = next(e for e in events if e.kind == "task_ready" and e.element_id == "test_and_confirm")
    customer = audit.as_of(number, waiting.seq)
    assert customer.status == "awaiting_customer" and customer.data["priority"] == "P2"
    assert "test_and_confirm" in customer.current_elements and "derive_priority" in customer.visited_elements
    end = audit.as_of(number, len(events))
    assert (end.status, end.ready_tasks, end.consistent) == ("closed", (), True)
    json.dumps(end.to_dict())
    with pytest.raises(InvalidInput):
        audit.as_of(number, len(events) + 1)

