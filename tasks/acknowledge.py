"""Step 1.1: register the ticket and acknowledge it with the unit's first-response expectation."""
from __future__ import annotations

from typing import Any

from engine.execution import sla
from engine.execution.services import ServiceContext


def acknowledge_ticket(ctx: ServiceContext) -> dict[str, Any]:
    """Start the service-level clocks and tell the customer we have their request and when we will answer.

    The priority is not known yet: the due time is the unit's default first-response target, counted in the
    unit's business hours; deriving the priority recomputes it with that priority's target.
    """
    ticket, unit = ctx.ticket, ctx.unit
    sla.start(ticket, unit, ctx.now)
    assert ticket.first_response_due is not None
    ctx.queue_message("acknowledgment", {"unit_name": unit.name, "opened_at": ticket.opened_at,
                                         "first_response_due": ticket.first_response_due})
    return {
        "ticket_number": ticket.number,
        "opened_at": ticket.opened_at.isoformat(),
        "first_response_due": ticket.first_response_due.isoformat(),
        "contact": ticket.contact,
    }
