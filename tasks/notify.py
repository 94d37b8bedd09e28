"""Step 3A.2 and 4.1: tell the customer what was done, then ask them to test it within the window."""
from __future__ import annotations

from typing import Any

from engine.execution import sla
from engine.execution.clock import add_duration
from engine.execution.services import ServiceContext


def notify_resolution(ctx: ServiceContext, message: str, steps: list[str]) -> dict[str, Any]:
    """Send the agent's plain-words message with the numbered steps the customer performs to confirm."""
    ctx.ticket.resolved_at = ctx.now
    sla.first_response(ctx.ticket, ctx.unit, ctx.now)  # the resolution notice is a human public reply too
    message_id = ctx.queue_message("resolution", {"message": message, "steps": list(steps)})
    return {"message_id": message_id, "steps": len(steps)}


def request_customer_validation(ctx: ServiceContext) -> dict[str, Any]:
    """Ask the customer to test the fix and answer within the unit's response window."""
    unit = ctx.unit
    respond_by = add_duration(ctx.now, unit.response_window)
    # Round n is the n-th request: the links answer this round only, and a later fix's request supersedes them.
    validation_round = ctx.store.count_messages(ctx.ticket.id, "validation_request") + 1
    links = ctx.answer_urls(validation_round, respond_by)
    ctx.queue_message("validation_request", {"respond_by": respond_by, "response_window": unit.response_window,
                                             **links}, withheld=links)
    # The diagram's timers read these (reminders from respond_by on, every reminder_every; L1's follow-up call once
    # the unit's follow_up_after-th reminder went unanswered for a cadence): a unit's change needs no redeploy.
    every = unit.reminder_every or unit.response_window
    follow_up_at = respond_by
    for _ in range(max(unit.follow_up_after, 1)):
        follow_up_at = add_duration(follow_up_at, every)
    return {"response_window": unit.response_window, "respond_by": respond_by.isoformat(),
            "reminder_cycle": f"{respond_by.isoformat()}/{every}", "follow_up_at": follow_up_at.isoformat()}
