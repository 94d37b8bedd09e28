"""Step 1.2: priority from the ITIL impact x urgency matrix, recorded with both inputs."""
from __future__ import annotations

from engine.execution import sla
from engine.execution.services import ServiceContext

LEVELS = ("high", "medium", "low")
# Row: impact, column: urgency. Equal-weight 3x3 matrix giving P1 (critical) .. P5 (planning).
MATRIX = {
    ("high", "high"): "P1", ("high", "medium"): "P2", ("high", "low"): "P3",
    ("medium", "high"): "P2", ("medium", "medium"): "P3", ("medium", "low"): "P4",
    ("low", "high"): "P3", ("low", "medium"): "P4", ("low", "low"): "P5",
}


def priority_for(impact: str, urgency: str) -> str:
    try:
        return MATRIX[(impact, urgency)]
    except KeyError:
        raise ValueError(f"impact and urgency must each be one of {LEVELS}, got {impact!r}, {urgency!r}") from None


def priority_matrix(ctx: ServiceContext, ticket_type: str, impact: str, urgency: str) -> str:
    priority = priority_for(impact, urgency)
    ticket = ctx.ticket
    ticket.type, ticket.impact, ticket.urgency, ticket.priority = ticket_type, impact, urgency, priority
    sla.start(ticket, ctx.unit, ctx.now)  # the priority's own targets (and its 24x7 flag) from the opening on
    return priority
