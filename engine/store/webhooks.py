"""Outbound webhook events: what a step's history events mean to a subscriber, and the outbox rows that carry
them, written in the step's own transaction.

The meaning is read from history kinds, service operators and lane roles, never from element ids, so a process
owner who redraws the diagram keeps the events as long as the same operators and lanes do the work. The active
subscriptions are one indexed query, cached per process for ``CACHE_SECONDS`` (and dropped at once when this
process changes a subscription): a step with no subscriber pays one dictionary look-up and nothing else.
"""
from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.engine import URL

from engine.store.driver import Driver
from engine.store.history import NewEvent

EVENT_TYPES = ("ticket.opened", "ticket.classified", "ticket.escalated", "ticket.resolution_applied",
               "ticket.validation_requested", "ticket.reminder_sent", "ticket.reopened", "ticket.closed",
               "task.ready", "task.completed", "ticket.sla_at_risk", "ticket.sla_breached")
# Service operators whose call is itself the event (the handlers in tasks/ by operator id).
OPERATOR_EVENTS = {"priority_matrix": "ticket.classified", "notify_resolution": "ticket.resolution_applied",
                   "request_customer_validation": "ticket.validation_requested",
                   "send_reminder": "ticket.reminder_sent", "record_closure": "ticket.closed"}
CACHE_SECONDS = 2.0
CHANNEL = "webhook"

_SQL_ACTIVE = "SELECT id, url, event_types FROM webhook_subscription WHERE disabled = ? AND deleted = ?"
_ROW_COLUMNS = ("ticket_id", "channel", "purpose", "recipient", "subject", "body", "message_id", "payload", "state",
                "attempts", "next_attempt_at", "created_at", "subscription_id")
_SQL_QUEUE = (f"INSERT INTO outbox ({', '.join(_ROW_COLUMNS)}) "
              f"VALUES ({', '.join('?' * len(_ROW_COLUMNS))})")


@dataclass(frozen=True, slots=True)
class ActiveSubscription:
    id: int
    url: str
    event_types: frozenset[str]


@dataclass(frozen=True, slots=True)
class OutboundEvent:
    """One event as a subscriber receives it: ``{type, timestamp, data}``."""

    type: str
    timestamp: datetime
    data: dict[str, Any]

    def body(self) -> str:
        """The JSON text that is signed and sent, fixed when queued (every attempt sends the same bytes)."""
        return json.dumps({"type": self.type, "timestamp": self.timestamp.isoformat(), "data": self.data},
                          sort_keys=True, separators=(",", ":"), ensure_ascii=False)


# -- which subscriptions listen (cached) ---------------------------------------------------------
_cache: dict[URL, tuple[float, tuple[ActiveSubscription, ...]]] = {}
_cache_lock = threading.Lock()


def active_subscriptions(connection: Connection) -> tuple[ActiveSubscription, ...]:
    """The enabled subscriptions of this database, at most ``CACHE_SECONDS`` old."""
    key, now = connection.engine.url, time.monotonic()
    cached = _cache.get(key)
    if cached is not None and cached[0] > now:
        return cached[1]
    sql = Driver.of(connection)
    rows = sql.execute(_SQL_ACTIVE, (False, False)).fetchall()
    found = tuple(ActiveSubscription(row[0], row[1], frozenset(sql.json_out(row[2]) or ())) for row in rows)
    with _cache_lock:
        _cache[key] = (now + CACHE_SECONDS, found)
    return found


def forget_subscriptions(connection: Connection) -> None:
    """Drop the cached subscriptions of this database (a subscription was added, removed or disabled)."""
    with _cache_lock:
        _cache.pop(connection.engine.url, None)


# -- from history events to outbound events ------------------------------------------------------
class _Reading:
    """Reads one step's events in order, remembering whose task completed last (to tell escalation apart)."""

    def __init__(self, number: str, lane_roles: Mapping[str, str]) -> None:
        self.number = number
        self.lane_roles = lane_roles
        self.last_role: str | None = None
        self.closed = False
        self.found: list[OutboundEvent] = []

    def add(self, kind: str, event: NewEvent, **facts: Any) -> None:
        if kind == "ticket.closed":
            if self.closed:
                return  # record_closure and the process's end in one step are one closing
            self.closed = True
        data = {"ticket": self.number, "sequence": event.seq, **facts}
        self.found.append(OutboundEvent(kind, event.at, data))

    def read(self, event: NewEvent) -> None:
        role = self.lane_roles.get(event.lane or "")
        if event.kind == "ticket_opened":
            data = event.data
            self.add("ticket.opened", event, subject=data.get("subject"), channel=data.get("channel"),
                     unit=data.get("unit"))
        elif event.kind == "service_called":
            self._service(event)
        elif event.kind == "process_completed":
            self.add("ticket.closed", event)
        elif event.kind in ("sla_at_risk", "sla_breached"):  # the worker's service-level checks
            self.add("ticket." + event.kind, event, clock=event.data.get("clock"), due=event.data.get("due"))
        elif event.kind == "task_completed":
            self.add("task.completed", event, **_task_facts(event), by=event.actor)
            form = event.data.get("form") or {}
            if role == "customer" and isinstance(form, dict) and form.get("validation_outcome") == "persists":
                self.add("ticket.reopened", event, step=event.element_name)
            self.last_role = role
        elif event.kind == "task_ready":
            if role == "l2" and self.last_role == "l1":
                self.add("ticket.escalated", event, step=event.element_name)
            self.add("task.ready", event, **_task_facts(event))

    def _service(self, event: NewEvent) -> None:
        data = event.data
        kind = OPERATOR_EVENTS.get(str(data.get("operator")))
        if kind == "ticket.classified":
            inputs = data.get("inputs") or {}
            self.add(kind, event, type=inputs.get("ticket_type"), impact=inputs.get("impact"),
                     urgency=inputs.get("urgency"), priority=data.get("result"))
        elif kind == "ticket.reminder_sent":
            result = data.get("result")
            self.add(kind, event, reminder=result.get("reminder") if isinstance(result, dict) else None)
        elif kind is not None:
            self.add(kind, event)


def _task_facts(event: NewEvent) -> dict[str, Any]:
    return {"task": event.task_id, "step": event.element_name, "lane": event.lane}


def outbound_events(number: str, events: Iterable[NewEvent], lane_roles: Mapping[str, str]) -> list[OutboundEvent]:
    """The outbound events a step's history events amount to, in history order."""
    reading = _Reading(number, lane_roles)
    for event in events:
        reading.read(event)
    return reading.found


def queue_events(connection: Connection, ticket_id: int, number: str | None, events: Sequence[NewEvent],
                 lane_roles: Mapping[str, str], now: datetime) -> int:
    """Write one outbox row per (subscription, event) the step's ``events`` amount to; return how many."""
    if not events or number is None:
        return 0
    subscriptions = active_subscriptions(connection)
    if not subscriptions:
        return 0
    sql = Driver.of(connection)
    rows = [(ticket_id, CHANNEL, event.type, subscription.url, event.type, event.body(), f"msg_{uuid.uuid4().hex}",
             sql.json_in({"sequence": event.data["sequence"]}), "pending", 0, sql.time_in(now), sql.time_in(now),
             subscription.id)
            for event in outbound_events(number, events, lane_roles)
            for subscription in subscriptions if event.type in subscription.event_types]
    if rows:
        sql.execute_many(_SQL_QUEUE, rows)
    return len(rows)


# -- delivery bookkeeping -------------------------------------------------------------------------
_SQL_ATTEMPT = ("INSERT INTO webhook_attempt (outbox_id, subscription_id, attempt, at, status_code, latency_ms, error) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)")
_SQL_DISABLE = "UPDATE webhook_subscription SET disabled = ?, disabled_reason = ? WHERE id = ? AND disabled = ?"


def record_attempt(connection: Connection, outbox_id: int, subscription_id: int, attempt: int, at: datetime,
                   status: int | None, latency_ms: int, error: str | None) -> None:
    """Keep one delivery attempt for the subscription's delivery history."""
    sql = Driver.of(connection)
    sql.execute(_SQL_ATTEMPT, (outbox_id, subscription_id, attempt, sql.time_in(at), status, latency_ms, error))


def disable_subscription(connection: Connection, subscription_id: int, reason: str) -> None:
    """Stop queuing events for a subscription (its receiver said it is gone), saying why."""
    Driver.of(connection).execute(_SQL_DISABLE, (True, reason, subscription_id, False))
    forget_subscriptions(connection)
