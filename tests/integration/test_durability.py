"""State that survives restarts, long loops, and compaction that changes nothing a user can see."""
from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from engine.execution import workflow_state
from engine.execution.clock import FakeClock
from engine.runtime import Runtime
from engine.store.models import Ticket
from tests.conftest import (
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
from tests.integration.helpers import ticket_row

SCRIPT = [(L1, CLASSIFY), (L1, ASSESS_ESCALATE), (L1, ESCALATE), (L2, INVESTIGATE), (L2, FIX), (L1, SOLUTION),
          (CUSTOMER, PERSISTS), (L2, INVESTIGATE), (L2, FIX), (L1, SOLUTION), (CUSTOMER, RESOLVED)]


def test_a_new_engine_over_the_same_database_continues_at_every_wait_state(
        runtime: Runtime, sqlite_url: str, runtimes) -> None:
    number = runtime.open_ticket(intake(), CUSTOMER).number
    for actor, data in SCRIPT:
        restarted = runtimes(sqlite_url)  # nothing shared in memory
        before = restarted.get_ticket(number)
        assert len(before.ready_tasks) == 1
        complete_current(restarted, number, actor, data)
    assert runtimes(sqlite_url).get_ticket(number).status == "closed"


def test_restart_between_reminders_keeps_the_timer(
        runtime: Runtime, sqlite_url: str, clock: FakeClock, runtimes) -> None:
    number = runtime.open_ticket(intake(), CUSTOMER).number
    for actor, data in SCRIPT[:6]:
        complete_current(runtime, number, actor, data)
    due = runtime.get_ticket(number).next_timer_at
    clock.now = due
    clock.advance(seconds=1)
    assert runtimes(sqlite_url).fire_due_timers() == [number]
    next_due = runtimes(sqlite_url).get_ticket(number).next_timer_at
    assert next_due is not None and (next_due - due).days == 3


def _loop(runtime: Runtime, number: str) -> None:
    complete_current(runtime, number, CUSTOMER, PERSISTS)
    complete_current(runtime, number, L2, INVESTIGATE)
    complete_current(runtime, number, L2, FIX)
    complete_current(runtime, number, L1, SOLUTION)


def test_ticket_going_round_the_persists_loop_500_times_stays_correct_and_bounded(runtime: Runtime) -> None:
    number = runtime.open_ticket(intake(), CUSTOMER).number
    for actor, data in SCRIPT[:6]:
        complete_current(runtime, number, actor, data)
    sizes = {}
    for loop in range(1, 501):
        _loop(runtime, number)
        if loop in (1, 100, 500):
            sizes[loop] = len(ticket_row(runtime, number).workflow)
    view = runtime.get_ticket(number)
    assert view.status == "awaiting_customer"  # open, and says so
    assert [t.element_id for t in view.ready_tasks] == ["test_and_confirm"]
    state = json.loads(ticket_row(runtime, number).workflow)
    assert len(state["tasks"]) < 40, "the task tree must be compacted at wait states"
    assert sizes[500] <= sizes[1] * 1.1, sizes  # stored state does not grow with the loop count
    assert complete_current(runtime, number, CUSTOMER, RESOLVED).status == "closed"


def _observable(runtime: Runtime, number: str) -> tuple:
    """Everything a user or auditor sees, minus ids and hashes that differ by construction."""
    events = [(e.seq, e.kind, e.element_id, e.lane, e.actor, json.dumps(e.data, sort_keys=True))
              for e in runtime.ticket_history(number)]
    view = runtime.get_ticket(number)
    return events, view.status, view.priority, view.current_steps, runtime.ticket_data(number)


def _play_with_reminders(runtime: Runtime, clock: FakeClock) -> str:
    number = runtime.open_ticket(intake(), CUSTOMER).number
    for actor, data in SCRIPT[:6]:
        complete_current(runtime, number, actor, data)
    for loop in range(6):
        clock.now = runtime.get_ticket(number).next_timer_at
        clock.advance(seconds=1 + loop)
        runtime.fire_due_timers()
        _loop(runtime, number)
    return number


def test_compaction_keeps_the_ticket_identical_to_an_uncompacted_run(
        tmp_path, clock: FakeClock, runtimes, monkeypatch: pytest.MonkeyPatch) -> None:
    from engine.store.db import upgrade
    from ticketflow.composition import deploy_file

    results = []
    for compacting in (True, False):
        url = f"sqlite:///{tmp_path / f'run_{compacting}.db'}"
        upgrade(url)
        run_clock = FakeClock(clock.now)
        if not compacting:
            monkeypatch.setattr(workflow_state, "compact", lambda workflow: 0)
        runtime = runtimes(url, run_clock)
        deploy_file(runtime)
        number = _play_with_reminders(runtime, run_clock)
        results.append((_observable(runtime, number), len(ticket_row(runtime, number).workflow)))
        monkeypatch.undo()
    (compacted, compacted_size), (full, full_size) = results
    assert compacted == full
    assert compacted_size < full_size / 2


def test_stored_state_holds_no_spec_and_round_trips(runtime: Runtime) -> None:
    number = runtime.open_ticket(intake(), CUSTOMER).number
    complete_current(runtime, number, L1, CLASSIFY)
    stored = ticket_row(runtime, number).workflow
    state = json.loads(stored)
    assert "spec" not in state and "subprocess_specs" not in state
    with runtime.uow() as uow:
        ticket = uow.session.scalars(select(Ticket).where(Ticket.number == number)).one()
        _, definition = runtime.definition_of(uow.session, ticket.definition_id)
    assert workflow_state.dump(workflow_state.restore(stored, definition)) == stored
