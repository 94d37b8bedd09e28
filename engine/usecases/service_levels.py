"""The worker's service-level checks: raise ``sla_at_risk`` at 75% and ``sla_breached`` at 100% of a target,
once per clock, one transaction per ticket, selecting tickets by their indexed ``sla_next_check_at``."""
from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from engine.errors import Conflict
from engine.execution import sla
from engine.store.history import Journal
from engine.store.tickets import TICKET, TicketRecord, TicketStore, UnitPolicy
from engine.store.webhooks import queue_events

from .base import RuntimeCore


class ServiceLevelUseCases(RuntimeCore):
    def check_service_levels(self, now: datetime | None = None, batch: int = 100,
                             stopping: Callable[[], bool] = lambda: False) -> list[str]:
        """Raise the at-risk and breached events due by ``now``; return the tickets that got one."""
        now = now or self.clock()
        with self.uow(read_only=True) as uow:
            due = list(uow.connection.execute(select(TICKET.c.id).where(
                TICKET.c.sla_next_check_at <= now, TICKET.c.status != "closed")
                .order_by(TICKET.c.sla_next_check_at).limit(batch)).scalars())
        raised = []
        for ticket_id in due:
            if stopping():
                break
            number = self._check_ticket(ticket_id, now)
            if number:
                raised.append(number)
        return raised

    def _check_ticket(self, ticket_id: int, now: datetime) -> str | None:
        with self.uow() as uow:
            store = TicketStore(uow.connection)
            ticket = store.ticket(ticket_id, skip_locked=True)
            unit = store.unit(ticket.unit_code) if ticket is not None else None
            if ticket is None or unit is None or ticket.sla_next_check_at is None or ticket.sla_next_check_at > now:
                return None  # another worker got there first, or nothing is due any more
            journal = Journal(ticket)
            warned = {e.data.get("clock") for e in store.events(ticket.id) if e.kind == "sla_at_risk"}
            for clock, due in sla.running(ticket):
                _raise_due(ticket, unit, journal, warned, clock, due, now)
            sla.schedule(ticket, unit, now, warned.__contains__)
            seen, events = ticket.version, journal.take()
            try:
                store.save(ticket, events)
                queue_events(uow.connection, ticket.id, ticket.number, events, self.lane_roles, now)
                uow.commit()
            except (Conflict, IntegrityError):
                return None  # a step moved the ticket meanwhile; it rescheduled the check itself
        self.workflows.moved(ticket.id, seen, ticket.version)  # only the row changed, not the workflow
        return ticket.number if events else None


def _raise_due(ticket: TicketRecord, unit: UnitPolicy, journal: Journal, warned: set[object], clock: str,
               due: datetime, now: datetime) -> None:
    """Record what the clock reached by ``now``: at risk (once), then breached (once)."""
    facts = {"clock": clock, "due": due.isoformat()}
    if clock not in warned and now >= sla.risk_instant(ticket, unit, clock, due):
        journal.record("sla_at_risk", "worker", now, facts)
        warned.add(clock)
        sla.worsen(ticket, "at_risk")
    if not getattr(ticket, f"{clock}_breached") and now >= due:
        journal.record("sla_breached", "worker", now, facts)
        setattr(ticket, f"{clock}_breached", True)
        sla.worsen(ticket, "breached")
