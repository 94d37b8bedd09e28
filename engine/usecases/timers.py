"""Background steps: fire due timers and retry stalled tickets, one transaction per ticket."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from engine.errors import Conflict, SandboxViolation, StepFailed
from engine.store.history import Journal
from engine.store.tickets import TICKET, TicketStore

from .base import RuntimeCore


class TimerUseCases(RuntimeCore):
    def fire_due_timers(self, now: datetime | None = None, batch: int = 100) -> list[str]:
        """Fire every timer due by ``now`` and retry stalled tickets; one transaction per ticket."""
        now = now or self.clock()
        with self.uow(read_only=True) as uow:
            due = list(uow.connection.execute(select(TICKET.c.id).where(
                TICKET.c.next_timer_at < now, TICKET.c.status != "closed")
                .order_by(TICKET.c.next_timer_at).limit(batch)).scalars())
        fired = []
        for ticket_id in due:
            number = self._advance(ticket_id, now)
            if number:
                fired.append(number)
        return fired

    def _advance(self, ticket_id: int, now: datetime) -> str | None:
        with self.uow() as uow:
            store = TicketStore(uow.connection)
            # On PostgreSQL, workers on any host skip a ticket another one is advancing.
            ticket = store.ticket(ticket_id, skip_locked=True)
            if ticket is None or ticket.next_timer_at is None or ticket.next_timer_at >= now:
                return None  # another worker got there first
            _, definition = self.definition_of(uow.connection, ticket.definition_id)
            execution = self._execution(store, ticket, definition, now)
            try:
                if ticket.status == "stalled":
                    ticket.stalled_reason = None
                    execution.record("step_retried", "worker", {})
                    execution.run_engine_steps()
                else:
                    execution.fire_timers()
            except (StepFailed, SandboxViolation) as failure:
                uow.connection.rollback()
                self._record_failure(ticket_id, failure, now)
                return None
            try:
                execution.save()
                uow.commit()
            except (Conflict, IntegrityError):
                return None  # someone else moved the ticket on; the next round looks again
        self.workflows.put(ticket.id, ticket.version, execution.workflow)
        return ticket.number

    def _record_failure(self, ticket_id: int, failure: Exception, now: datetime) -> None:
        with self.uow() as uow:
            store = TicketStore(uow.connection)
            ticket = store.ticket(ticket_id)
            assert ticket is not None
            journal = Journal(ticket)
            self._stall(ticket, journal, failure, now)
            store.save(ticket, journal.take())
            uow.commit()
