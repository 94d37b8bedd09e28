"""The rows a step writes straight through the driver are the rows the ORM reads, on SQLite and on
PostgreSQL; and the migrated schema is the schema the models describe."""
from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import select

from engine.execution.clock import FakeClock
from engine.runtime import Runtime
from engine.store.db import make_engine
from engine.store.history import events, verify_chain
from engine.store.models import Base, HumanTask, OutboxMessage, Ticket
from engine.store.tickets import TicketStore
from tests.conftest import CUSTOMER, L1, PERSISTS, intake
from tests.integration.helpers import escalate_to_validation
from ticketflow.composition import deploy_file

# With microseconds and not on a whole second: every timestamp must survive both ways exactly.
ODD_MOMENT = datetime(2026, 3, 2, 9, 0, 7, 654321, tzinfo=UTC)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, sqlite_url: str) -> str:
    return sqlite_url if request.param == "sqlite" else request.getfixturevalue("postgres_url")


def test_rows_written_by_a_step_read_back_identically_through_the_orm(
        database_url: str, runtimes: Callable[..., Runtime]) -> None:
    clock = FakeClock(ODD_MOMENT)
    runtime = runtimes(database_url, clock)
    deploy_file(runtime)
    number = runtime.open_ticket(intake(), CUSTOMER).number
    clock.advance(minutes=3, microseconds=111)
    escalate_to_validation(runtime, number)
    clock.advance(days=1)
    answered = runtime.complete_task(runtime.get_ticket(number).ready_tasks[0].id, PERSISTS, CUSTOMER)

    with runtime.uow(read_only=True) as uow:
        orm = uow.session.scalars(select(Ticket).where(Ticket.number == number)).one()
        record = TicketStore(uow.connection).ticket_by_number(number)
        assert record is not None
        for column in Ticket.__table__.c:
            assert getattr(record, column.name) == getattr(orm, column.name), column.name
        assert orm.opened_at == ODD_MOMENT and orm.contact == {"email": "alice@example.com"}
        assert orm.first_response_at == ODD_MOMENT + timedelta(minutes=3, microseconds=111)
        assert orm.version == answered.version and orm.priority == "P2"

        orm_events = events(uow.session, orm.id)
        driver_events = TicketStore(uow.connection).events(orm.id)
        assert [(e.seq, e.at, e.kind, e.data, e.hash) for e in orm_events] == \
               [(e.seq, e.at, e.kind, e.data, e.hash) for e in driver_events]
        assert verify_chain(uow.session, orm).ok

        ready = uow.session.scalars(select(HumanTask).where(HumanTask.ticket_id == orm.id,
                                                            HumanTask.state == "ready")).all()
        assert [(t.id, t.element_id, t.created_at) for t in ready] == \
               [(t.id, t.element_id, t.created_at) for t in TicketStore(uow.connection).ready_tasks(orm.id)]
        assert ready[0].element_id == "investigate_root_cause" and ready[0].created_at == clock.now

        messages = uow.session.scalars(select(OutboxMessage).where(OutboxMessage.ticket_id == orm.id)).all()
        assert messages[0].purpose == "acknowledgment" and messages[0].created_at == ODD_MOMENT
        assert all(m.payload == {} and m.state == "pending" for m in messages)


def test_a_claim_written_by_the_driver_is_what_the_orm_reads(database_url: str,
                                                             runtimes: Callable[..., Runtime]) -> None:
    clock = FakeClock(ODD_MOMENT)
    runtime = runtimes(database_url, clock)
    deploy_file(runtime)
    task_id = runtime.open_ticket(intake(), CUSTOMER).ready_tasks[0].id
    claimed = runtime.claim_task(task_id, L1)
    with runtime.uow(read_only=True) as uow:
        row = uow.session.get(HumanTask, task_id)
        assert row is not None
        assert (row.assignee, row.claimed_at) == ("lena", ODD_MOMENT) == (claimed.assignee, ODD_MOMENT)


def test_the_migrated_schema_is_the_one_the_models_describe(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        with engine.connect() as connection:
            differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    finally:
        engine.dispose()
    # Full-text search lives outside the models: SQLite's FTS5 shadow tables, PostgreSQL's tsvector.
    unexplained = [d for d in differences if not _full_text(d)]
    assert unexplained == []


def _full_text(difference: tuple) -> bool:
    kind, *rest = difference
    if kind == "remove_table":
        return rest[0].name.startswith("kb_article_fts") or "_fts" in rest[0].name
    if kind in ("remove_column", "remove_index"):
        return "search" in str(rest)
    return False
