"""A ticket that stalls anyway: agents see why in plain words, the worker retries with growing waits and
stops after a limit, an agent can retry it, and customers never read the system's internals."""
from __future__ import annotations

import sqlite3
from datetime import timedelta

import pytest

from engine.errors import Conflict, Forbidden
from engine.execution.clock import FakeClock
from engine.usecases.base import CUSTOMER_STALL_NOTE, MAX_STEP_FAILURES, STALL_RETRY
from tests.api.conftest import make_api
from tests.conftest import CLASSIFY, CUSTOMER, L1, intake
from tests.integration.helpers import kinds, runtime_with
from ticketflow.composition import deploy_file


def database_trouble(ctx: object) -> None:
    raise sqlite3.OperationalError("no such table: internal_acknowledgment_queue")


def test_retries_wait_twice_as_long_each_time_then_stop_and_an_agent_can_retry(sqlite_url: str,
                                                                                clock: FakeClock) -> None:
    broken = runtime_with(sqlite_url, clock, acknowledge_ticket=database_trouble)
    deploy_file(broken)
    number = broken.open_ticket(intake(), CUSTOMER).number
    waits = []
    for _ in range(MAX_STEP_FAILURES):
        ticket = broken.get_ticket(number)
        assert ticket.status == "stalled"
        if ticket.next_timer_at is None:
            break
        waits.append(ticket.next_timer_at - clock())
        clock.now = ticket.next_timer_at + timedelta(seconds=1)
        assert broken.fire_due_timers() == []  # the retry failed again
    assert waits == [STALL_RETRY * 2 ** n for n in range(MAX_STEP_FAILURES - 1)]
    stopped = broken.get_ticket(number)
    assert stopped.next_timer_at is None and kinds(broken, number).count("step_failed") == MAX_STEP_FAILURES
    assert "an agent can retry it" in (stopped.stalled_reason or "")
    assert (stopped.stalled_reason or "").startswith("The step 'Register ticket and send acknowledgment' could not")
    assert "internal_acknowledgment_queue" not in (stopped.stalled_reason or "")
    assert "the database refused the change" in (stopped.stalled_reason or "")
    clock.advance(days=30)
    assert broken.fire_due_timers() == []  # nothing is due any more

    healed = runtime_with(sqlite_url, clock)
    with pytest.raises(Forbidden):
        healed.retry_stalled(number, CUSTOMER)
    retried = healed.retry_stalled(number, L1)
    assert retried.status == "with_l1" and retried.stalled_reason is None
    assert [t.element_id for t in retried.ready_tasks] == ["classify_ticket"]
    assert healed.get_ticket(number).ready_tasks and kinds(healed, number)[-1] != "step_failed"
    with pytest.raises(Conflict):
        healed.retry_stalled(number, L1)


def test_a_success_after_failures_starts_the_count_afresh(sqlite_url: str, clock: FakeClock) -> None:
    broken = runtime_with(sqlite_url, clock, acknowledge_ticket=database_trouble)
    deploy_file(broken)
    number = broken.open_ticket(intake(), CUSTOMER).number
    clock.advance(minutes=6)
    assert broken.fire_due_timers() == []
    healed = runtime_with(sqlite_url, clock)
    clock.advance(minutes=11)
    assert healed.fire_due_timers() == [number]
    with healed.uow(read_only=True) as uow:
        failures = uow.connection.exec_driver_sql("SELECT step_failures FROM ticket").scalar()
    assert failures == 0 and healed.get_ticket(number).status == "with_l1"


def test_customers_read_that_the_team_is_on_it_never_the_reason(sqlite_url: str, clock: FakeClock) -> None:
    broken = runtime_with(sqlite_url, clock, acknowledge_ticket=database_trouble)
    deploy_file(broken)
    api = make_api(broken)
    opened = api.as_("alice").post("/api/v1/tickets", json={"subject": "Cannot log in",
                                                             "description": "The login page says no."})
    assert opened.status_code == 201 and opened.json["status"] == "stalled"
    assert opened.json["stalled_reason"] == CUSTOMER_STALL_NOTE
    number = opened.json["number"]
    assert api.as_("alice").get(f"/api/v1/tickets/{number}").json["stalled_reason"] == CUSTOMER_STALL_NOTE
    assert api.as_("alice").get("/api/v1/tickets").json["items"][0]["stalled_reason"] == CUSTOMER_STALL_NOTE
    agent_view = api.as_("lena").get(f"/api/v1/tickets/{number}").json["stalled_reason"]
    assert "the database refused the change" in agent_view and "internal_acknowledgment" not in agent_view


def test_a_failing_step_answers_502_in_plain_words_without_the_cause(sqlite_url: str, clock: FakeClock) -> None:
    def knowledge_base_down(ctx: object, query: str) -> None:
        raise sqlite3.OperationalError("disk I/O error at /var/lib/kb/secret.db")

    runtime = runtime_with(sqlite_url, clock, knowledge_base_search=knowledge_base_down)
    deploy_file(runtime)
    api = make_api(runtime)
    number = api.as_("alice").post("/api/v1/tickets", json={"subject": "Cannot log in",
                                                            "description": "The login page says no."}).json["number"]
    task = runtime.get_ticket(number).ready_tasks[0]
    answer = api.as_("lena").post(f"/api/v1/tasks/{task.id}/complete", json=CLASSIFY)
    assert answer.status_code == 502 and answer.mimetype == "application/problem+json"
    assert "secret.db" not in answer.get_data(as_text=True) and "OperationalError" not in answer.get_data(as_text=True)
    assert runtime.get_ticket(number).priority is None  # nothing changed




def test_the_api_retries_a_stalled_ticket_for_l1_and_refuses_customers(sqlite_url: str, clock: FakeClock) -> None:
    broken = runtime_with(sqlite_url, clock, acknowledge_ticket=database_trouble)
    deploy_file(broken)
    number = broken.open_ticket(intake(), CUSTOMER).number
    api = make_api(runtime_with(sqlite_url, clock))  # the cause is gone
    assert api.as_("alice").post(f"/api/v1/tickets/{number}/retry").status_code == 403
    retried = api.as_("lena").post(f"/api/v1/tickets/{number}/retry")
    assert retried.status_code == 200 and retried.json["status"] == "with_l1" and retried.json["step_failures"] == 0
    assert retried.headers["ETag"] == f'"{retried.json["version"]}"'
    again = api.as_("lena").post(f"/api/v1/tickets/{number}/retry")
    assert again.status_code == 409 and again.mimetype == "application/problem+json"
