"""Step 4.1: proactive follow-up each time the customer's response window passes."""
from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from engine.services import ServiceContext
from engine.store.models import OutboxMessage


def send_reminder(ctx: ServiceContext) -> dict[str, Any]:
    ticket = ctx.ticket
    sent_before = ctx.session.scalar(select(func.count()).select_from(OutboxMessage).where(
        OutboxMessage.ticket_id == ticket.id, OutboxMessage.purpose == "follow_up")) or 0
    number = sent_before + 1
    ctx.queue_message(
        "follow_up",
        f"[{ticket.number}] Reminder {number}: is the issue resolved? {ticket.subject}",
        "Hello,\n\nwe have not yet heard whether the fix works for you. Please reproduce the original "
        f"scenario and tell us whether the issue is resolved or persists. Ticket {ticket.number} stays open "
        "until you confirm.",
    )
    return {"reminder": number}
