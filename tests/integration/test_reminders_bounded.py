"""Reminders while a customer stays silent: the stored state and the task tree stay flat, and nothing seen changes."""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from engine.audit.replay import Replayer
from engine.execution import workflow_state
from engine.execution.clock import FakeClock
from engine.runtime import Runtime
from engine.store.db import upgrade
from engine.usecases.audit import AuditService, _recorded, _ticket
from tests.conftest import (
    CUSTOMER,
    FIX,
    INVESTIGATE,
    L1,
    L2,
    PERSISTS,
    RESOLVED,
    SOLUTION,
    START,
    complete_current,
    intake,
)
from tests.integration.helpers import escalate_to_validation, kinds, runtime_with, ticket_row
from ticketflow.composition import deploy_file

SILENT = 300  # reminders in a row before the customer answers
LATER = 2  # reminders of the second wait, before the customer confirms
BACK_TO_THE_CUSTOMER = ((L2, INVESTIGATE), (L2, FIX), (L1, SOLUTION))


@dataclass
class StoredState:
    """The stored workflow after a reminder: its JSON size and its number of tasks."""

    size: int
    tasks: int


@dataclass
class SilentTicket:
    runtime: Runtime
    number: str
    states: dict[int, StoredState]  # after reminder n of the first wait
    timers: list[tuple[datetime, datetime]]  # (fired at its due time, the next one due)


def stored_state(runtime: Runtime, number: str) -> StoredState:
    state = ticket_row(runtime, number).workflow
    return StoredState(len(state), len(json.loads(state)["tasks"]))


def fire_reminder(runtime: Runtime, clock: FakeClock, number: str) -> tuple[datetime, datetime]:
    """Move the fake clock past the ticket's next timer and fire it; return its due time and the next."""
    due = runtime.get_ticket(number).next_timer_at
    assert due is not None
    clock.now = due
    clock.advance(seconds=1)
    assert runtime.fire_due_timers() == [number]
    following = runtime.get_ticket(number).next_timer_at
    assert following is not None
    return due, following


def answer_persists_then_resolved(runtime: Runtime, clock: FakeClock, number: str, later: int) -> None:
    """The customer says the issue persists, L2 and L1 fix it again, ``later`` reminders, then resolved."""
    complete_current(runtime, number, CUSTOMER, PERSISTS)
    for actor, form in BACK_TO_THE_CUSTOMER:
        complete_current(runtime, number, actor, form)
    for _ in range(later):
        fire_reminder(runtime, clock, number)
    assert complete_current(runtime, number, CUSTOMER, RESOLVED).status == "closed"  # type: ignore[attr-defined]


@pytest.fixture(scope="module")
def silent(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """One ticket that waits through 300 reminders, then is answered and closed; built once."""
    url = f"sqlite:///{tmp_path_factory.mktemp('silent') / 'ticketflow.db'}"
    upgrade(url)
    clock = FakeClock(START)
    runtime = runtime_with(url, clock)
    try:
        deploy_file(runtime)
        number = runtime.open_ticket(intake(), CUSTOMER).number
        escalate_to_validation(runtime, number)
        ticket = SilentTicket(runtime, number, {}, [])
        for reminder in range(1, SILENT + 1):
            ticket.timers.append(fire_reminder(runtime, clock, number))
            ticket.states[reminder] = stored_state(runtime, number)
        answer_persists_then_resolved(runtime, clock, number, LATER)
        yield ticket
    finally:
        runtime.close()


def test_the_stored_state_after_300_reminders_stays_within_a_small_constant_of_its_size_after_the_follow_up_call(
        silent: SilentTicket) -> None:
    # L1's follow-up call (once the unit's 3 reminders went unanswered) adds its branch once; from then on, flat.
    settled = silent.states[5]
    assert [t.element_id for t in silent.runtime.get_ticket(silent.number).ready_tasks] == []  # closed at the end
    for reminder in range(6, SILENT + 1):
        state = silent.states[reminder]
        assert state.size <= settled.size + 64, (reminder, state, settled)  # the count's digits, no more
        assert state.tasks <= settled.tasks, (reminder, state, settled)
    assert settled.tasks < 30


def test_every_reminder_leaves_the_next_one_pending_one_response_window_later(silent: SilentTicket) -> None:
    assert len(silent.timers) == SILENT
    for due, following in silent.timers:
        assert following == due + timedelta(days=3)


def test_after_300_reminders_the_ticket_closes_with_the_customers_answer_and_the_reminders_count(
        silent: SilentTicket) -> None:
    runtime, number = silent.runtime, silent.number
    assert runtime.get_ticket(number).status == "closed"
    data = runtime.ticket_data(number)
    assert data["validation_outcome"] == "resolved"
    assert data["customer_comment"] == PERSISTS["customer_comment"]
    # The process end merges the end data of the last wait's spent reminder branches, as SpiffWorkflow does
    # without pruning: the last reminder's branch is still waiting and is cancelled, the one before counts.
    assert data["follow_up"] == {"reminder": SILENT + LATER - 1}
    assert kinds(runtime, number).count("timer_fired") == SILENT + LATER + 1  # and L1's follow-up call, once
    sent = [e.data["result"] for e in runtime.ticket_history(number)
            if e.kind == "service_called" and e.data.get("operator") == "send_reminder"]
    assert sent == [{"reminder": n} for n in range(1, SILENT + LATER + 1)]


def test_the_whole_history_of_300_reminders_replays_consistent(silent: SilentTicket) -> None:
    report = AuditService(silent.runtime).replay(silent.number)
    assert report.consistent, report.divergence


def test_a_stored_state_survives_the_json_round_trip_with_its_reminder_timer_pending(
        tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'ticketflow.db'}"
    upgrade(url)
    clock = FakeClock(START)
    runtime = runtime_with(url, clock)
    try:
        deploy_file(runtime)
        number = runtime.open_ticket(intake(), CUSTOMER).number
        escalate_to_validation(runtime, number)
        for _ in range(5):
            fire_reminder(runtime, clock, number)
        row = ticket_row(runtime, number)
        with runtime.uow() as uow:
            _, definition = runtime.definition_of(uow.session, row.definition_id)
        restored = workflow_state.restore(row.workflow, definition)
        assert json.loads(workflow_state.dump(restored)) == json.loads(row.workflow)
        # The timers (the follow-up call's signal boundary waits for the customer's answer, not for a time).
        pending = [datetime.fromisoformat(e.value) for e in restored.waiting_events() if isinstance(e.value, str)]
        due = runtime.get_ticket(number).next_timer_at
        assert due is not None and pending == [due]
    finally:
        runtime.close()


def _observable(runtime: Runtime, number: str) -> tuple[Any, ...]:
    """Everything a user or auditor sees, minus ids and hashes that differ by construction."""
    events = [(e.seq, e.kind, e.element_id, e.lane, e.actor, e.at, json.dumps(e.data, sort_keys=True))
              for e in runtime.ticket_history(number)]
    view = runtime.get_ticket(number)
    return events, view.status, view.current_steps, runtime.ticket_data(number)


def _play_with_reminders(url: str) -> tuple[tuple[Any, ...], int]:
    clock = FakeClock(START)
    runtime = runtime_with(url, clock)
    try:
        deploy_file(runtime)
        number = runtime.open_ticket(intake(), CUSTOMER).number
        escalate_to_validation(runtime, number)
        for _ in range(6):
            fire_reminder(runtime, clock, number)
        largest = stored_state(runtime, number).size
        answer_persists_then_resolved(runtime, clock, number, 3)
        return _observable(runtime, number), largest
    finally:
        runtime.close()


def test_pruning_the_reminders_changes_nothing_a_user_or_an_auditor_sees(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    results = []
    for pruning in (True, False):
        url = f"sqlite:///{tmp_path / f'run_{pruning}.db'}"
        upgrade(url)
        if not pruning:
            monkeypatch.setattr(workflow_state, "compact", partial(workflow_state.compact, prune=False))
        results.append(_play_with_reminders(url))
        monkeypatch.undo()
    (pruned, pruned_size), (kept, kept_size) = results
    assert pruned == kept
    assert pruned_size < kept_size


def _replays(runtime: Runtime, number: str, prune: bool, until: int | None = None) -> bool:
    with runtime.uow() as uow:
        ticket = _ticket(uow.session, number)
        _, definition = runtime.definition_of(uow.session, ticket.definition_id)
        outcome = Replayer(number, definition, runtime.lane_roles, _recorded(uow.session, ticket.id), until,
                           prune=prune).run()
    return outcome.divergence is None


def test_a_ticket_stored_before_pruning_continues_and_its_whole_history_replays_consistent(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"sqlite:///{tmp_path / 'ticketflow.db'}"
    upgrade(url)
    clock = FakeClock(START)
    monkeypatch.setattr(workflow_state, "compact", partial(workflow_state.compact, prune=False))
    before = runtime_with(url, clock)  # the engine as it was: every spent reminder branch is stored
    deploy_file(before)
    number = before.open_ticket(intake(), CUSTOMER).number
    escalate_to_validation(before, number)
    for _ in range(20):
        fire_reminder(before, clock, number)
    unpruned = stored_state(before, number)
    assert unpruned.tasks > 4 * 20
    stored_before = len(before.ticket_history(number))
    before.close()
    monkeypatch.undo()

    after = runtime_with(url, clock)  # a restart: the state is read back as stored, nothing kept in memory
    try:
        fire_reminder(after, clock, number)
        assert stored_state(after, number).tasks < 30  # the next wait state prunes what the old one kept
        answer_persists_then_resolved(after, clock, number, 2)
        assert after.ticket_data(number)["validation_outcome"] == "resolved"
        assert kinds(after, number).count("timer_fired") == 24  # 23 reminders and L1's follow-up call
        assert AuditService(after).replay(number).consistent
        assert _replays(after, number, prune=False)  # the old way agrees with the record too
        assert _replays(after, number, prune=True, until=stored_before)
    finally:
        after.close()
