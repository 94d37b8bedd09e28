"""Step 4.1: proactive follow-up each time the customer's response window passes."""
from __future__ import annotations

from typing import Any

from engine.execution.services import ServiceContext


def send_reminder(ctx: ServiceContext) -> dict[str, Any]:
    ticket = ctx.ticket
    number = ctx.store.count_messages(ticket.id, "follow_up") + 1
    ctx.queue_message(
        "follow_up",
        f"[{ticket.number}] Reminder {number}: is the issue resolved? {ticket.subject}",
        "Hello,\n\nwe have not yet heard whether the fix works for you. Please reproduce the original "
        f"scenario and tell us whether the issue is resolved or persists. Ticket {ticket.number} stays open "
        "until you confirm.",
    )
    return {"reminder": number}
