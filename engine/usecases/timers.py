"""Background steps: fire due timers and retry stalled tickets, one transaction per ticket."""
from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from engine.access import Actor
from engine.errors import Conflict, Forbidden, SandboxViolation, StepFailed
from engine.store.history import Journal
from engine.store.tickets import TICKET, TicketStore
from engine.views import TicketView

from .base import RuntimeCore, failed_step_name


class TimerUseCases(RuntimeCore):
    def fire_due_timers(self, now: datetime | None = None, batch: int = 100,
                        stopping: Callable[[], bool] = lambda: False) -> list[str]:
        """Fire every timer due by ``now`` and retry stalled tickets; one transaction per ticket. When
        ``stopping()`` turns true (a worker asked to stop) the round ends after the ticket in hand."""
        now = now or self.clock()
        with self.uow(read_only=True) as uow:
            due = list(uow.connection.execute(select(TICKET.c.id).where(
                TICKET.c.next_timer_at < now, TICKET.c.status != "closed")
                .order_by(TICKET.c.next_timer_at).limit(batch)).scalars())
        fired = []
        for ticket_id in due:
            if stopping():
                break
            number = self._advance(ticket_id, now)
            if number:
                fired.append(number)
        return fired

    def retry_stalled(self, number: str, actor: Actor) -> TicketView:
        """Retry a stalled ticket's step now, also one the worker stopped retrying (L1 and admins)."""
        if actor.role not in ("l1", "admin"):
            raise Forbidden("only L1 agents and admins retry a stalled ticket")
        with self.uow(read_only=True) as uow:
            ticket = self._readable(TicketStore(uow.connection).ticket_by_number(number), number, actor)
        if ticket.status != "stalled":
            raise Conflict(f"ticket {number} is not stalled; there is nothing to retry")
        self._advance(ticket.id, self.clock(), due_only=False, actor=actor.name)
        with self.uow(read_only=True) as uow:
            store = TicketStore(uow.connection)
            retried = store.ticket(ticket.id)
            assert retried is not None
            info, _ = self.definition_of(uow.connection, retried.definition_id)
            return TicketView.of(retried, info.version, store.ready_tasks(retried.id))

    def _advance(self, ticket_id: int, now: datetime, due_only: bool = True, actor: str = "worker") -> str | None:
        with self.uow() as uow:
            store = TicketStore(uow.connection)
            # On PostgreSQL, workers on any host skip a ticket another one is advancing.
            ticket = store.ticket(ticket_id, skip_locked=True)
            if ticket is None or (due_only and (ticket.next_timer_at is None or ticket.next_timer_at >= now)):
                return None  # another worker got there first
            _, definition = self.definition_of(uow.connection, ticket.definition_id)
            execution = self._execution(store, ticket, definition, now)
            try:
                if ticket.status == "stalled":
                    ticket.stalled_reason = None
                    execution.record("step_retried", actor, {"attempt": ticket.step_failures + 1})
                execution.fire_timers()  # also re-runs the engine steps a stalled ticket is stuck before
            except (StepFailed, SandboxViolation) as failure:
                uow.connection.rollback()
                self._record_failure(ticket_id, failure, now, failed_step_name(definition, failure))
                return None
            ticket.step_failures = 0
            try:
                execution.save()
                uow.commit()
            except (Conflict, IntegrityError):
                return None  # someone else moved the ticket on; the next round looks again
        self.workflows.put(ticket.id, ticket.version, execution.workflow)
        return ticket.number

    def _record_failure(self, ticket_id: int, failure: Exception, now: datetime, step_name: str | None) -> None:
        with self.uow() as uow:
            store = TicketStore(uow.connection)
            ticket = store.ticket(ticket_id)
            assert ticket is not None
            journal = Journal(ticket)
            self._stall(ticket, journal, failure, now, step_name)
            store.save(ticket, journal.take())
            uow.commit()
