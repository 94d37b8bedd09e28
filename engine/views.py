"""Read models returned by the use cases: plain data, safe to use after the transaction."""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from engine.store.tickets import TicketRecord, WorkItem


@dataclass(frozen=True)
class TaskView:
    id: str
    ticket_number: str
    element_id: str
    name: str
    lane: str
    form: str | None
    state: str
    assignee: str | None
    created_at: datetime

    @classmethod
    def of(cls, row: WorkItem, ticket_number: str) -> TaskView:
        return cls(row.id, ticket_number, row.element_id, row.name, row.lane, row.form, row.state,
                   row.assignee, row.created_at)


@dataclass(frozen=True)
class EventView:
    seq: int
    at: datetime
    actor: str
    kind: str
    element_id: str | None
    element_name: str | None
    lane: str | None
    task_id: str | None
    data: dict[str, Any]
    hash: str | None  # None where withheld (a customer's trail)


@dataclass(frozen=True)
class TicketView:
    number: str
    status: str
    channel: str
    customer: str
    contact: dict[str, Any]
    registered_by: str
    subject: str
    description: str
    type: str | None
    impact: str | None
    urgency: str | None
    priority: str | None
    unit: str
    opened_at: datetime
    first_response_due: datetime | None
    resolved_at: datetime | None
    closed_at: datetime | None
    version: int
    definition_version: int
    current_steps: str
    current_lanes: list[str]
    next_timer_at: datetime | None
    stalled_reason: str | None
    step_failures: int
    ready_tasks: list[TaskView] = field(default_factory=list)

    @classmethod
    def of(cls, t: TicketRecord | Any, definition_version: int, ready: list[WorkItem]) -> TicketView:
        """From a ticket record, or from a row that has the ticket's columns (a list page's)."""
        return cls(
            number=t.number or "", status=t.status, channel=t.channel, customer=t.customer, contact=t.contact,
            registered_by=t.registered_by, subject=t.subject, description=t.description, type=t.type,
            impact=t.impact, urgency=t.urgency, priority=t.priority, unit=t.unit_code, opened_at=t.opened_at,
            first_response_due=t.first_response_due, resolved_at=t.resolved_at, closed_at=t.closed_at,
            version=t.version, definition_version=definition_version, current_steps=t.current_steps,
            current_lanes=[lane for lane in t.current_lanes.split(",") if lane], next_timer_at=t.next_timer_at,
            stalled_reason=t.stalled_reason, step_failures=t.step_failures,
            ready_tasks=[TaskView.of(r, t.number or "") for r in ready],
        )


# What a customer reads of each event: an allow-list of data keys per kind. What they said (their own
# lane's answers), what they were sent, and which way each decision went; of everything else only that it
# happened (when, which step, by whom). Variable names, digests, service results, internal ids and the
# chain's hashes are the team's (a hash of an event that holds internal notes would let a customer test
# guesses about them).
_CUSTOMER_KEYS: dict[str, tuple[str, ...]] = {
    "ticket_opened": ("channel", "contact", "customer", "registered_by", "subject", "description"),
    "gateway_taken": ("gateway", "branch"),
    "message_queued": ("channel", "purpose", "recipient", "subject", "body"),
}
_CUSTOMER_LANE_KEYS: dict[str, tuple[str, ...]] = {"task_completed": ("form",)}


def customer_trail(events: list[EventView], customer_lanes: set[str], recipients: set[str | None]) -> list[EventView]:
    """The trail as the ticket's customer reads it: only the data keys that are theirs, no hashes."""
    return [replace(event, data=_customer_data(event, customer_lanes, recipients), hash=None) for event in events
            if event.data.get("visibility") != "internal"]  # the team's notes are not even listed


def _customer_data(event: EventView, customer_lanes: set[str], recipients: set[str | None]) -> dict[str, Any]:
    keys = _CUSTOMER_KEYS.get(event.kind, ())
    if event.lane in customer_lanes:
        keys = keys or _CUSTOMER_LANE_KEYS.get(event.kind, ())
    if event.kind == "message_queued" and event.data.get("recipient") not in recipients:
        keys = ()  # a message to someone else (an agent, a webhook) is not theirs
    return {key: event.data[key] for key in keys if key in event.data}
