"""A unit of work inside a request's deadline: the database stops a statement still running at it, a unit does not
begin or commit past it, and in every case the transaction rolls back (nothing changed), on SQLite and PostgreSQL.
The connection goes back to the pool without the deadline: the next unit runs as long as it needs."""
from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import func, select, text

from engine.context import begin_deadline, end_deadline
from engine.errors import DeadlineExceeded
from engine.execution.steps import Execution
from engine.runtime import Runtime
from engine.store.models import Ticket, User
from tests.conftest import CUSTOMER, intake
from ticketflow.composition import deploy_file

QUICKLY = 1.5  # seconds: a statement cut at a 50 ms deadline returns well within this, a slow one would not
# Statements that run for seconds unless stopped: PostgreSQL sleeps; SQLite counts to 10^8 (about ten seconds).
SLOW = {"postgresql": "SELECT pg_sleep(5)",
        "sqlite": "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 100000000) "
                  "SELECT count(*) FROM n"}
# Longer than the 50 ms deadline, short enough for a test: it must run to its end once the deadline is gone.
LONGER_THAN_THE_DEADLINE = {"postgresql": "SELECT pg_sleep(0.3)",
                            "sqlite": "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n "
                                      "WHERE i < 3000000) SELECT count(*) FROM n"}


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def runtime_on(request: pytest.FixtureRequest, sqlite_url: str, runtimes: Callable[..., Runtime]) -> Runtime:
    url = sqlite_url if request.param == "sqlite" else request.getfixturevalue("postgres_url")
    runtime = runtimes(url)
    deploy_file(runtime)
    return runtime


@contextmanager
def deadline(seconds: float) -> Iterator[None]:
    """What the web layer does around a request."""
    token = begin_deadline(seconds)
    try:
        yield
    finally:
        end_deadline(token)


def dialect(runtime: Runtime) -> str:
    return str(runtime.sessions.kw["bind"].dialect.name)


def users_named(runtime: Runtime, name: str) -> int:
    with runtime.uow(read_only=True) as uow:
        return int(uow.connection.execute(select(func.count()).where(User.name == name)).scalar_one())


def tickets(runtime: Runtime) -> int:
    with runtime.uow(read_only=True) as uow:
        return int(uow.connection.execute(select(func.count()).select_from(Ticket)).scalar_one())


def test_a_slow_statement_is_cut_at_the_deadline_and_what_the_unit_wrote_is_rolled_back(runtime_on: Runtime) -> None:
    began = time.monotonic()
    with deadline(0.05), pytest.raises(DeadlineExceeded) as raised, runtime_on.uow() as uow:
        uow.session.add(User(name="written-then-cut", role="customer", created_at=datetime.now(UTC)))
        uow.session.flush()  # the row is in the transaction before the slow statement starts
        uow.connection.execute(text(SLOW[dialect(runtime_on)]))
        uow.commit()
    assert time.monotonic() - began < QUICKLY
    assert "nothing was changed" in raised.value.detail
    assert users_named(runtime_on, "written-then-cut") == 0


def test_a_use_case_whose_steps_overrun_does_not_commit_late(runtime_on: Runtime,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    real_steps = Execution.run_engine_steps

    def slow_steps(self: Execution) -> None:
        time.sleep(0.2)  # the workflow's own Python work takes longer than the request may
        real_steps(self)

    monkeypatch.setattr(Execution, "run_engine_steps", slow_steps)
    with deadline(0.1), pytest.raises(DeadlineExceeded):
        runtime_on.open_ticket(intake(), CUSTOMER)
    monkeypatch.undo()
    assert tickets(runtime_on) == 0
    assert runtime_on.open_ticket(intake(), CUSTOMER).number  # without a deadline the same use case goes through
    assert tickets(runtime_on) == 1


def test_past_the_deadline_a_use_case_does_not_begin(runtime_on: Runtime) -> None:
    with deadline(0.01):
        time.sleep(0.02)
        with pytest.raises(DeadlineExceeded):
            runtime_on.open_ticket(intake(), CUSTOMER)
    assert tickets(runtime_on) == 0


def test_the_pooled_connection_after_a_cut_unit_has_no_deadline_left(runtime_on: Runtime) -> None:
    driver_connections: list[Any] = []
    with deadline(0.05), pytest.raises(DeadlineExceeded), runtime_on.uow() as uow:
        driver_connections.append(uow.connection.connection.dbapi_connection)
        uow.connection.execute(text(SLOW[dialect(runtime_on)]))
    time.sleep(0.06)  # the old deadline is well past: a handler or timeout left behind would cut at once
    with runtime_on.uow() as uow:
        driver_connections.append(uow.connection.connection.dbapi_connection)
        assert uow.connection.execute(text(LONGER_THAN_THE_DEADLINE[dialect(runtime_on)])).all()
        if dialect(runtime_on) == "postgresql":
            assert uow.connection.execute(text("SHOW statement_timeout")).scalar_one() == "0"
    assert driver_connections[0] is driver_connections[1]  # the same connection, reused from the pool
