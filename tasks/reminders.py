"""Step 4.1: proactive follow-up each time the customer's response window passes."""
from __future__ import annotations

from typing import Any

from engine.execution.clock import add_duration
from engine.execution.services import ServiceContext


def send_reminder(ctx: ServiceContext) -> dict[str, Any]:
    """Remind the customer (reminder n) that we are waiting for their answer; the ticket stays open."""
    number = ctx.store.count_messages(ctx.ticket.id, "follow_up") + 1
    ctx.ticket.reminders = number
    unit = ctx.unit
    respond_by = add_duration(ctx.now, unit.reminder_every or unit.response_window)  # the next reminder's time
    # A reminder answers the round of the latest validation request; its links live on past the new due time.
    links = ctx.answer_urls(ctx.store.count_messages(ctx.ticket.id, "validation_request"), respond_by)
    ctx.queue_message("follow_up", {"reminder": number, "respond_by": respond_by, **links}, withheld=links)
    return {"reminder": number}
