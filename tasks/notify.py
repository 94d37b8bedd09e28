"""Step 3A.2 and 4.1: tell the customer what was done, then ask them to test it within the window."""
from __future__ import annotations

from typing import Any

from engine.execution.clock import add_duration
from engine.execution.services import ServiceContext


def notify_resolution(ctx: ServiceContext, message: str, steps: list[str]) -> dict[str, Any]:
    ticket = ctx.ticket
    ticket.resolved_at = ctx.now
    to_do = "".join(f"\n  {n}. {step}" for n, step in enumerate(steps, start=1))
    body = f"Hello,\n\n{message}\n"
    if to_do:
        body += f"\nTo confirm the fix on your side, please:{to_do}\n"
    message_id = ctx.queue_message("resolution", f"[{ticket.number}] Resolution applied: {ticket.subject}", body)
    return {"message_id": message_id, "steps": len(steps)}


def request_customer_validation(ctx: ServiceContext) -> dict[str, Any]:
    ticket, unit = ctx.ticket, ctx.unit
    respond_by = add_duration(ctx.now, unit.response_window)
    ctx.queue_message(
        "validation_request",
        f"[{ticket.number}] Please confirm the fix: {ticket.subject}",
        "Hello,\n\nthe resolution has been applied. Please reproduce the scenario that originally failed "
        f"and tell us whether the issue is resolved or still persists, by {respond_by:%Y-%m-%d %H:%M UTC}.\n"
        f"Your ticket {ticket.number} stays open until you confirm.",
    )
    # The diagram's reminder timer reads the window from here: a unit's SLA change needs no redeploy.
    return {"response_window": unit.response_window, "respond_by": respond_by.isoformat()}
