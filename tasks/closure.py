"""Close the ticket, only after the customer explicitly confirmed resolution."""
from __future__ import annotations

from typing import Any

from engine.execution.services import ServiceContext


def record_closure(ctx: ServiceContext) -> dict[str, Any]:
    """Record the closing time and thank the customer for confirming."""
    ctx.ticket.closed_at = ctx.now
    ctx.queue_message("closure", {"closed_at": ctx.now})
    return {"closed_at": ctx.now.isoformat()}
