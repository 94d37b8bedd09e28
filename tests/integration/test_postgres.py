"""The same engine over a real PostgreSQL connection: paths, concurrency, search, append-only history."""
from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from engine.errors import Conflict
from engine.execution.clock import FakeClock
from engine.execution.steps import Execution
from engine.runtime import Runtime
from engine.store.knowledge import search
from tests.conftest import ASSESS_RESOLVE, CLASSIFY, CUSTOMER, L1, RESOLVED, SOLUTION, complete_current, intake
from tests.integration.helpers import escalate_to_validation, kinds
from ticketflow.composition import deploy_file

pytestmark = pytest.mark.postgres


@pytest.fixture
def pg_runtime(postgres_url: str, runtimes) -> Runtime:
    runtime = runtimes(postgres_url)
    deploy_file(runtime)
    return runtime


def test_known_problem_is_resolved_at_first_level_on_postgresql(pg_runtime: Runtime) -> None:
    number = pg_runtime.open_ticket(intake(), CUSTOMER).number
    for data in (CLASSIFY, ASSESS_RESOLVE, SOLUTION):
        complete_current(pg_runtime, number, L1, data)
    assert complete_current(pg_runtime, number, CUSTOMER, RESOLVED).status == "closed"


def test_two_agents_completing_the_same_task_at_once_one_wins_one_conflicts(
        postgres_url: str, runtimes, monkeypatch: pytest.MonkeyPatch) -> None:
    agents = [runtimes(postgres_url) for _ in range(2)]
    deploy_file(agents[0])
    number = agents[0].open_ticket(intake(), CUSTOMER).number
    task_id = agents[0].get_ticket(number).ready_tasks[0].id
    both_loaded = threading.Barrier(2, timeout=10)
    original_init = Execution.__init__

    def load_then_wait(self: Execution, *args, **kwargs) -> None:
        original_init(self, *args, **kwargs)
        both_loaded.wait()  # both transactions have read the same ticket version and workflow

    monkeypatch.setattr(Execution, "__init__", load_then_wait)
    outcomes: list[object] = []

    def complete(runtime: Runtime, impact: str) -> None:
        try:
            outcomes.append(runtime.complete_task(task_id, {**CLASSIFY, "impact": impact}, L1))
        except Conflict as exc:
            outcomes.append(exc)

    threads = [threading.Thread(target=complete, args=(a, i)) for a, i in zip(agents, ("high", "low"), strict=True)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    conflicts = [o for o in outcomes if isinstance(o, Conflict)]
    assert len(outcomes) == 2 and len(conflicts) == 1, outcomes
    assert kinds(agents[0], number).count("task_completed") == 1
    winner = next(o for o in outcomes if not isinstance(o, Conflict))
    assert agents[0].get_ticket(number).priority == winner.priority  # the winner's data, nobody else's


def test_two_agents_claiming_the_same_task_at_once_one_gets_it(postgres_url: str, runtimes) -> None:
    agents = [runtimes(postgres_url) for _ in range(2)]
    deploy_file(agents[0])
    number = agents[0].open_ticket(intake(), CUSTOMER).number
    task_id = agents[0].get_ticket(number).ready_tasks[0].id
    start = threading.Barrier(2, timeout=10)
    outcomes: list[object] = []

    def claim(runtime: Runtime, name: str) -> None:
        start.wait()
        try:
            outcomes.append(runtime.claim_task(task_id, L1.__class__(name, "l1")))
        except Conflict as exc:
            outcomes.append(exc)

    threads = [threading.Thread(target=claim, args=(a, n)) for a, n in zip(agents, ("lena", "lars"), strict=True)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(type(o).__name__ for o in outcomes) == ["Conflict", "TaskView"]
    assert kinds(agents[0], number).count("task_claimed") == 1


def test_reminders_fire_on_postgresql(pg_runtime: Runtime, clock: FakeClock) -> None:
    number = pg_runtime.open_ticket(intake(), CUSTOMER).number
    escalate_to_validation(pg_runtime, number)
    clock.now = pg_runtime.get_ticket(number).next_timer_at + timedelta(seconds=1)
    assert pg_runtime.fire_due_timers() == [number]
    assert pg_runtime.get_ticket(number).status == "awaiting_customer"


def test_knowledge_base_search_ranks_published_up_to_date_articles(pg_runtime: Runtime, clock: FakeClock) -> None:
    from pathlib import Path

    from engine.usecases.knowledge import import_kb_file

    import_kb_file(pg_runtime, Path(__file__).parents[2] / "ticketflow" / "data" / "demo_kb.json")
    with pg_runtime.uow() as uow:
        matches = search(uow.connection, "login fails: invalid token after password reset", clock())
        assert matches and matches[0].slug == "reset-token-cache"
        assert not search(uow.connection, "invoice pdf logo", clock())  # only an unpublished draft matches
        assert not search(uow.connection, "vpn disconnects", clock())  # past its review date


def test_history_is_append_only_in_the_database_itself(pg_runtime: Runtime) -> None:
    pg_runtime.open_ticket(intake(), CUSTOMER)
    for statement in ("UPDATE history_event SET actor = 'mallory'", "DELETE FROM history_event"):
        with pg_runtime.uow() as uow, pytest.raises(DBAPIError, match="append-only"):
            uow.session.execute(text(statement))
