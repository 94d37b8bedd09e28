"""Step 1.1: register the ticket and acknowledge it with the unit's first-response expectation."""
from __future__ import annotations

from typing import Any

from engine.execution.clock import add_duration
from engine.execution.services import ServiceContext


def acknowledge_ticket(ctx: ServiceContext) -> dict[str, Any]:
    ticket, unit = ctx.ticket, ctx.unit
    ticket.first_response_due = add_duration(ticket.opened_at, unit.first_response)
    due = ticket.first_response_due.strftime("%Y-%m-%d %H:%M UTC")
    ctx.queue_message(
        "acknowledgment",
        f"[{ticket.number}] We received your request: {ticket.subject}",
        f"Hello,\n\nwe have registered your request as ticket {ticket.number} "
        f"(opened {ticket.opened_at:%Y-%m-%d %H:%M UTC}).\n"
        f"{unit.name} will respond by {due}.\n\nPlease quote {ticket.number} in any reply.",
    )
    return {
        "ticket_number": ticket.number,
        "opened_at": ticket.opened_at.isoformat(),
        "first_response_due": ticket.first_response_due.isoformat(),
        "contact": ticket.contact,
    }
