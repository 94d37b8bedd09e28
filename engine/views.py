"""Read models returned by the use cases: plain data, safe to use after the transaction."""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from engine.store.models import HistoryEvent
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
    hash: str

    @classmethod
    def of(cls, e: HistoryEvent) -> EventView:
        return cls(e.seq, e.at, e.actor, e.kind, e.element_id, e.element_name, e.lane, e.task_id, e.data, e.hash)


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
            stalled_reason=t.stalled_reason, ready_tasks=[TaskView.of(r, t.number or "") for r in ready],
        )


# What a customer reads of each event kind: everything of what they said or were told, the branch a
# decision took, and of the rest only that it happened (when, which step, by whom).
_CUSTOMERS_OWN = frozenset({"ticket_opened", "process_completed", "timer_fired"})
_GATEWAY_KEYS = ("gateway", "branch", "target")


def customer_trail(events: list[EventView], customer_lanes: set[str], recipients: set[str | None]) -> list[EventView]:
    """The trail as the ticket's customer reads it: internal work notes withheld (``data`` left empty)."""
    shown = []
    for event in events:
        data = event.data
        if event.kind == "gateway_taken":
            data = {key: data[key] for key in _GATEWAY_KEYS if key in data}
        elif event.kind == "message_queued":
            data = data if data.get("recipient") in recipients else {}
        elif event.kind not in _CUSTOMERS_OWN and event.lane not in customer_lanes:
            data = {}
        shown.append(event if data is event.data else replace(event, data=data))
    return shown
