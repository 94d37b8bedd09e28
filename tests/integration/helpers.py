"""Helpers for integration tests: rows as plain data, and runtimes with a replaced handler."""
from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import func, select

from engine.config import DEFAULT_LANE_ROLES
from engine.execution.clock import FakeClock
from engine.execution.services import ServiceRegistry
from engine.runtime import Runtime, build_runtime
from engine.store.db import make_engine, session_factory
from engine.store.models import OutboxMessage, Ticket
from engine.store.uow import UnitOfWork
from engine.usecases.answer_links import AnswerLinkSigner
from mail.compose import TemplateComposer
from tasks import build_registry
from tests.conftest import ASSESS_ESCALATE, CLASSIFY, ESCALATE, FIX, INVESTIGATE, L1, L2, SOLUTION, complete_current


def runtime_with(url: str, clock: FakeClock, **overrides: Callable[..., Any]) -> Runtime:
    """A runtime over ``url`` whose handlers are the shipped ones except ``overrides``."""
    shipped = build_registry()
    registry = ServiceRegistry()
    for operator in shipped:
        registry.register(operator, overrides.get(operator, shipped.get(operator)))
    return build_runtime(session_factory(make_engine(url)), registry, DEFAULT_LANE_ROLES, clock,
                         composer=TemplateComposer(), links=AnswerLinkSigner("test-answer-links"))


def ticket_row(runtime: Runtime, number: str) -> Ticket:
    with runtime.uow() as uow:
        return uow.session.scalars(select(Ticket).where(Ticket.number == number)).one()


def outbox_purposes(runtime: Runtime, number: str) -> list[str]:
    with runtime.uow() as uow:
        ticket = uow.session.scalars(select(Ticket).where(Ticket.number == number)).one()
        return list(uow.session.scalars(select(OutboxMessage.purpose).where(
            OutboxMessage.ticket_id == ticket.id).order_by(OutboxMessage.id)))


def outbox_count(runtime: Runtime) -> int:
    with runtime.uow() as uow:
        return uow.session.scalar(select(func.count()).select_from(OutboxMessage)) or 0


def escalate_to_validation(runtime: Runtime, number: str) -> None:
    """Play the ticket from classification through escalation to the customer's validation task."""
    for actor, data in [(L1, CLASSIFY), (L1, ASSESS_ESCALATE), (L1, ESCALATE), (L2, INVESTIGATE), (L2, FIX),
                        (L1, SOLUTION)]:
        complete_current(runtime, number, actor, data)


def kinds(runtime: Runtime, number: str) -> list[str]:
    return [e.kind for e in runtime.ticket_history(number)]


# -- audit: tampering with the history directly in the database, as an operator could ------------
def history_rows(runtime: Runtime, number: str) -> list[Any]:
    """The ticket's history events as detached ORM rows, in seq order."""
    from engine.store.models import HistoryEvent

    with runtime.uow() as uow:
        ticket = uow.session.scalars(select(Ticket).where(Ticket.number == number)).one()
        return list(uow.session.scalars(select(HistoryEvent).where(HistoryEvent.ticket_id == ticket.id)
                                        .order_by(HistoryEvent.seq)))


def tamper(runtime: Runtime, sql: str, **params: Any) -> None:
    """Run raw SQL in its own transaction, bypassing the engine."""
    from sqlalchemy import text

    with runtime.uow() as uow, guards_lifted(uow):
        uow.session.execute(text(sql), params)


def rehash(runtime: Runtime, number: str, from_seq: int = 1, move_head: bool = True) -> None:
    """Recompute the chain from ``from_seq`` on (and the ticket's head), hiding edits from the chain check."""
    from engine.store.history import GENESIS, event_hash
    from engine.store.models import HistoryEvent

    with runtime.uow() as uow, guards_lifted(uow):
        session = uow.session
        ticket = session.scalars(select(Ticket).where(Ticket.number == number)).one()
        prev = GENESIS
        for event in session.scalars(select(HistoryEvent).where(HistoryEvent.ticket_id == ticket.id)
                                     .order_by(HistoryEvent.seq)):
            if event.seq >= from_seq:
                event.prev_hash = prev
                event.hash = event_hash(event)
            prev = event.hash
            last = event
        if move_head:
            session.execute(Ticket.__table__.update().where(Ticket.__table__.c.id == ticket.id).values(
                history_seq=last.seq, history_head=last.hash))


@contextmanager
def guards_lifted(uow: UnitOfWork) -> Iterator[None]:
    """Commit what the block changes with SQLite's append-only triggers dropped for this one transaction, as
    someone who can write the database file could do (the chain and the anchors must still catch it)."""
    from sqlalchemy import text

    session = uow.session
    triggers = session.execute(text("SELECT name, sql FROM sqlite_master WHERE type = 'trigger' "
                                    "AND sql LIKE '%is append-only%'")).all()
    for name, _ in triggers:
        session.execute(text(f'DROP TRIGGER "{name}"'))
    yield
    session.flush()
    for _, sql in triggers:
        session.execute(text(sql))  # DDL is transactional in SQLite: nobody else ever sees them gone
    uow.commit()
