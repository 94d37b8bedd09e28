"""Step 4.1: proactive follow-up each time the customer's response window passes."""
from __future__ import annotations

from typing import Any

from engine.execution.clock import add_duration
from engine.execution.services import ServiceContext


def send_reminder(ctx: ServiceContext) -> dict[str, Any]:
    """Remind the customer (reminder n) that we are waiting for their answer; the ticket stays open."""
    number = ctx.store.count_messages(ctx.ticket.id, "follow_up") + 1
    respond_by = add_duration(ctx.now, ctx.unit.response_window)
    ctx.queue_message("follow_up", {"reminder": number, "respond_by": respond_by})
    return {"reminder": number}
