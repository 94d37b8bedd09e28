"""What the ticket and task pages show beside the ticket itself: the work in sections, the service-level
clocks, the folded timeline, status in words, and for a repeated step the earlier rounds beside the form.

The views (web/pages/views.py) call these and render; nothing here writes.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from flask import g

from engine.access import Actor
from engine.runtime import Runtime
from engine.usecases.tasks import TaskDetail
from engine.usecases.ticket_work import Clocks, ticket_facts
from engine.views import EventView, TicketView
from web.auth import directory
from web.formatting import zone
from web.pages.ticket_work import (
    Entry,
    Record,
    Section,
    Step,
    customer_timeline,
    previous_rounds,
    readable_context,
    timeline,
    work_sections,
)

# Status as the customer reads it: three plain answers to "where is my ticket?".
CUSTOMER_STATUS = {"awaiting_customer": "Waiting for your answer", "closed": "Solved"}
WORKING = "We are working on it"
# Status as the team reads it, in the procedure's words.
TEAM_STATUS = {"new": "New", "with_l1": "With L1 Support", "with_l2": "With L2 Support",
               "awaiting_customer": "Waiting for the customer", "waiting": "Waiting for a timer or a message",
               "stalled": "Stalled: an automatic step keeps failing", "closed": "Closed"}
SLA_WORDS = {"on_track": "On track", "at_risk": "At risk", "breached": "Breached"}
VALIDATION_STEP = "test_and_confirm"  # the customer's question: did the fix solve it?
# What a customer's task tells them, labelled for them (the forms' titles speak to the agent who filled them in).
CUSTOMER_LABELS = {"customer_message": "Our message", "customer_steps": "Please check it like this",
                   "response_window": "Time to answer", "respond_by": "Please answer by"}


def status_words(status: str, for_customer: bool) -> str:
    """A ticket status in words: plain for customers, the procedure's lanes for the team."""
    if for_customer:
        return CUSTOMER_STATUS.get(status, WORKING)
    return TEAM_STATUS.get(status) or status.replace("_", " ").capitalize()


def viewer_zone() -> ZoneInfo:
    """The signed-in person's zone: their own, else their unit's, else UTC."""
    user = g.get("user")
    if user is None:
        return zone(None)
    return zone(directory().time_zone_of(user.name))


@dataclass(frozen=True)
class TicketWork:
    """The ticket page's reading of the ticket."""

    sections: list[Section]
    steps: list[Step]
    clocks: Clocks | None  # the team's; customers get none
    sla: str
    unit_time_zone: str
    question: CustomerQuestion | None  # the validation question, for the customer on their own page


@dataclass(frozen=True)
class CustomerQuestion:
    """The validation task as the customer answers it on the ticket page (the email link asks the same)."""

    task_id: str
    subject: str
    message: str
    steps: list[str]
    respond_by: Any
    ticket_version: int
    assignee: str | None


def ticket_work(runtime: Runtime, actor: Actor, ticket: TicketView, trail: list[EventView]) -> TicketWork:
    """Sections, timeline and clocks of ``ticket`` for ``actor`` (who may read it: the view checked)."""
    facts = ticket_facts(runtime, ticket.number, actor)
    customer = actor.role == "customer"
    sections = work_sections(trail, facts.forms)
    if customer:
        sections = [s for s in sections if s.id == "customer"]  # only what they answered themselves
        for section in sections:
            section.heading = "Your answers"
    steps = customer_timeline(trail, actor.name) if customer else timeline(trail)
    return TicketWork(sections, steps, None if customer else facts.clocks,
                      SLA_WORDS.get(facts.clocks.state, facts.clocks.state), facts.unit_time_zone,
                      customer_question(runtime, actor, ticket) if customer else None)


def customer_question(runtime: Runtime, actor: Actor, ticket: TicketView) -> CustomerQuestion | None:
    task = next((t for t in ticket.ready_tasks if t.element_id == VALIDATION_STEP), None)
    if task is None:
        return None
    detail = runtime.task_detail(task.id, actor)
    request = detail.context.get("validation_request") or {}
    steps = detail.context.get("customer_steps")
    return CustomerQuestion(task.id, ticket.subject, str(detail.context.get("customer_message") or ""),
                            [str(s) for s in steps] if isinstance(steps, list) else [],
                            request.get("respond_by") if isinstance(request, dict) else None,
                            ticket.version, task.assignee)


# -- the task page --------------------------------------------------------------------------------
@dataclass(frozen=True)
class TaskReading:
    """What the task page shows beside the form: earlier steps' findings and this step's earlier rounds."""

    found: list[Entry]
    earlier_rounds: list[Record]
    prefill: dict[str, Any]


def task_reading(runtime: Runtime, actor: Actor, detail: TaskDetail, labels: dict[str, str],
                 hidden: tuple[str, ...]) -> TaskReading:
    """The task's context in words, and on a repeated pass the earlier rounds instead of a silent prefill.

    The procedure sends a persisting issue back to L2 to investigate and confirm the root cause anew;
    a form prefilled with the last round's cause and fix would let that refuted answer be sent again as
    if new. So a repeated step starts empty and the earlier rounds are shown beside it, to copy what
    still holds on purpose.
    """
    trail = runtime.ticket_history(detail.ticket.number, actor)
    facts = ticket_facts(runtime, detail.ticket.number, actor)
    words = {name: title for form in facts.forms.values() for name, title in form.fields.items()}
    earlier = previous_rounds(trail, detail.task.element_id, facts.forms) if detail.task.state == "ready" else []
    context = {k: v for k, v in detail.context.items() if k not in hidden}
    said = {**labels, **words, **(CUSTOMER_LABELS if actor.role == "customer" else {})}
    return TaskReading(readable_context(context, said), earlier,
                       {} if earlier else detail.prefill)
