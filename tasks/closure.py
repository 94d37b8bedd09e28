"""Close the ticket, only after the customer explicitly confirmed resolution."""
from __future__ import annotations

from typing import Any

from engine.execution.services import ServiceContext


def record_closure(ctx: ServiceContext) -> dict[str, Any]:
    ticket = ctx.ticket
    ticket.closed_at = ctx.now
    ctx.queue_message("closure", f"[{ticket.number}] Closed: {ticket.subject}",
                      f"Hello,\n\nthank you for confirming. Ticket {ticket.number} is now closed.")
    return {"closed_at": ctx.now.isoformat()}
