"""The "needs attention" page: tickets whose automated step keeps failing, for L1 agents and admins, with
the reason in plain words and a button to retry now."""
from __future__ import annotations

from flask import flash, redirect, render_template, url_for
from werkzeug.wrappers import Response

from engine.errors import Conflict, Forbidden, SandboxViolation, StepFailed
from engine.usecases.tickets import TicketFilter
from web.pages.views import me, pages, runtime, signed_in

STALLED = TicketFilter(status="stalled")
SHOWN = 200


def attention_only() -> None:
    if me().role not in ("l1", "admin"):
        raise Forbidden("L1 agents and admins look after tickets whose automated steps fail")


def stalled_count() -> int:
    """How many tickets are stalled (an indexed count; the inbox shows it to those who can act on it)."""
    return runtime().list_tickets(me().actor, STALLED, limit=1)[1] if me().role in ("l1", "admin") else 0


@pages.get("/needs-attention")
@signed_in
def needs_attention() -> str:
    attention_only()
    tickets, total = runtime().list_tickets(me().actor, STALLED, limit=SHOWN)
    return render_template("needs_attention.html", tickets=tickets, total=total)


@pages.post("/tickets/<number>/retry")
@signed_in
def retry_ticket(number: str) -> Response:
    attention_only()
    try:
        ticket = runtime().retry_stalled(number, me().actor)
    except Conflict:
        flash(f"Ticket {number} is no longer stalled: someone or the worker got there first.")
    except (StepFailed, SandboxViolation):
        flash(f"Ticket {number}: the step failed again. It stays on this list.")
    else:
        flash(f"Ticket {number} is moving again." if ticket.status != "stalled"
              else f"Ticket {number}: the step failed again. It stays on this list.")
    return redirect(url_for("pages.needs_attention"))
