"""Step 1.1: register the ticket and acknowledge it with the unit's first-response expectation."""
from __future__ import annotations

from typing import Any

from engine.execution.clock import add_duration
from engine.execution.services import ServiceContext


def acknowledge_ticket(ctx: ServiceContext) -> dict[str, Any]:
    """Set the first-response deadline and tell the customer we have their request and when we will answer."""
    ticket, unit = ctx.ticket, ctx.unit
    ticket.first_response_due = add_duration(ticket.opened_at, unit.first_response)
    ctx.queue_message("acknowledgment", {"unit_name": unit.name, "opened_at": ticket.opened_at,
                                         "first_response_due": ticket.first_response_due})
    return {
        "ticket_number": ticket.number,
        "opened_at": ticket.opened_at.isoformat(),
        "first_response_due": ticket.first_response_due.isoformat(),
        "contact": ticket.contact,
    }
