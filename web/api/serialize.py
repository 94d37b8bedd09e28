"""Read models as the API's JSON documents (the shapes /openapi.json describes)."""
from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from engine.store.models import ProcessDefinition
from engine.usecases.tasks import TaskDetail
from engine.views import EventView, TaskView, TicketView


def when(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def task_json(task: TaskView) -> dict[str, Any]:
    return {"id": task.id, "ticket": task.ticket_number, "element_id": task.element_id, "name": task.name,
            "lane": task.lane, "form": task.form, "state": task.state, "assignee": task.assignee,
            "created_at": when(task.created_at), "href": f"/api/v1/tasks/{task.id}"}


def ticket_json(ticket: TicketView, trail: list[EventView] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "number": ticket.number, "status": ticket.status, "subject": ticket.subject,
        "description": ticket.description, "channel": ticket.channel, "customer": ticket.customer,
        "contact": ticket.contact, "registered_by": ticket.registered_by, "unit": ticket.unit,
        "classification": {"type": ticket.type, "impact": ticket.impact, "urgency": ticket.urgency,
                           "priority": ticket.priority},
        "priority": ticket.priority,
        "current_steps": [s for s in ticket.current_steps.split(", ") if s],
        "current_lanes": ticket.current_lanes,
        "ready_tasks": [task_json(t) for t in ticket.ready_tasks],
        "opened_at": when(ticket.opened_at), "first_response_due": when(ticket.first_response_due),
        "resolved_at": when(ticket.resolved_at), "closed_at": when(ticket.closed_at),
        "next_timer_at": when(ticket.next_timer_at), "stalled_reason": ticket.stalled_reason,
        "step_failures": ticket.step_failures,
        "version": ticket.version, "definition_version": ticket.definition_version,
        "href": f"/api/v1/tickets/{ticket.number}",
    }
    if trail is not None:
        body["trail"] = [event_json(e) for e in trail]
    return body


def event_json(event: EventView) -> dict[str, Any]:
    return {"seq": event.seq, "at": when(event.at), "actor": event.actor, "kind": event.kind,
            "element_id": event.element_id, "element_name": event.element_name, "lane": event.lane,
            "task_id": event.task_id, "data": event.data, "hash": event.hash}


def task_detail_json(detail: TaskDetail) -> dict[str, Any]:
    ticket = ticket_json(detail.ticket)
    summary = {k: ticket[k] for k in ("number", "status", "subject", "description", "customer", "channel",
                                      "classification", "priority", "current_steps", "version", "href")}
    return {**task_json(detail.task), "ticket_summary": summary,
            "form_schema": {"schema": detail.schema, "ui_schema": detail.ui_schema},
            "context": detail.context, "prefill": detail.prefill,
            "actions": {"claim": f"/api/v1/tasks/{detail.task.id}/claim",
                        "release": f"/api/v1/tasks/{detail.task.id}/release",
                        "complete": f"/api/v1/tasks/{detail.task.id}/complete"}}


def definition_json(row: ProcessDefinition, active: Mapping[str, int]) -> dict[str, Any]:
    """A deployed version; ``active`` maps each process key to its active version number."""
    return {"key": row.key, "version": row.version, "sha256": row.sha256, "deployed_by": row.deployed_by,
            "deployed_at": when(row.deployed_at), "forms": sorted(row.forms),
            "active": active.get(row.key) == row.version}
