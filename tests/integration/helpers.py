"""Helpers for integration tests: rows as plain data, and runtimes with a replaced handler."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import func, select

from engine.clock import FakeClock
from engine.config import DEFAULT_LANE_ROLES
from engine.runtime import Runtime, build_runtime
from engine.services import ServiceRegistry
from engine.store.db import make_engine, session_factory
from engine.store.models import OutboxMessage, Ticket
from tasks import build_registry
from tests.conftest import ASSESS_ESCALATE, CLASSIFY, ESCALATE, FIX, INVESTIGATE, L1, L2, SOLUTION, complete_current


def runtime_with(url: str, clock: FakeClock, **overrides: Callable[..., Any]) -> Runtime:
    """A runtime over ``url`` whose handlers are the shipped ones except ``overrides``."""
    shipped = build_registry()
    registry = ServiceRegistry()
    for operator in shipped:
        registry.register(operator, overrides.get(operator, shipped.get(operator)))
    return build_runtime(session_factory(make_engine(url)), registry, DEFAULT_LANE_ROLES, clock)


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
