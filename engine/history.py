"""Append-only, hash-chained ticket history, and its verification."""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from .store.models import HistoryEvent, Ticket

GENESIS = "0" * 64


def canonical(fields: dict[str, Any]) -> bytes:
    """The bytes an event's hash covers: sorted keys, no whitespace, UTF-8."""
    return json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str).encode()


def event_hash(event: HistoryEvent) -> str:
    fields = {
        "ticket_id": event.ticket_id, "seq": event.seq, "at": event.at.isoformat(), "actor": event.actor,
        "kind": event.kind, "element_id": event.element_id, "element_name": event.element_name,
        "lane": event.lane, "task_id": event.task_id, "data": event.data, "prev_hash": event.prev_hash,
    }
    return hashlib.sha256(canonical(fields)).hexdigest()


@dataclass(frozen=True)
class Where:
    """Where in the diagram an event happened."""

    element_id: str | None = None
    element_name: str | None = None
    lane: str | None = None
    task_id: str | None = None


def record(session: Session, ticket: Ticket, kind: str, actor: str, at: datetime,
           data: dict[str, Any] | None = None, where: Where = Where()) -> HistoryEvent:
    """Append one event to the ticket's chain; the ticket row's version lock serialises appends."""
    event = HistoryEvent(
        ticket_id=ticket.id, seq=ticket.history_seq + 1, at=at, actor=actor, kind=kind,
        element_id=where.element_id, element_name=where.element_name, lane=where.lane,
        task_id=where.task_id, data=json.loads(canonical(data or {})), prev_hash=ticket.history_head or GENESIS,
    )
    event.hash = event_hash(event)
    ticket.history_seq = event.seq
    ticket.history_head = event.hash
    session.add(event)
    return event


def events(session: Session, ticket_id: int, until_seq: int | None = None) -> list[HistoryEvent]:
    query = select(HistoryEvent).where(HistoryEvent.ticket_id == ticket_id)
    if until_seq is not None:
        query = query.where(HistoryEvent.seq <= until_seq)
    return list(session.scalars(query.order_by(HistoryEvent.seq)))


@dataclass(frozen=True)
class ChainCheck:
    ok: bool
    checked: int
    problem: str | None = None
    seq: int | None = None


def verify_chain(session: Session, ticket: Ticket) -> ChainCheck:
    """Recompute the chain; name the first event that was edited, removed, reordered or inserted."""
    prev = GENESIS
    rows = events(session, ticket.id)
    for expected_seq, event in enumerate(rows, start=1):
        if event.seq != expected_seq:
            return ChainCheck(False, expected_seq - 1, f"event {expected_seq} is missing or out of order "
                              f"(found seq {event.seq})", expected_seq)
        if event.prev_hash != prev:
            return ChainCheck(False, expected_seq - 1, f"event {event.seq} does not link to event "
                              f"{event.seq - 1}: removed, reordered or inserted", event.seq)
        if event_hash(event) != event.hash:
            return ChainCheck(False, expected_seq - 1, f"event {event.seq} ({event.kind}) was altered", event.seq)
        prev = event.hash
    if len(rows) != ticket.history_seq or prev != (ticket.history_head or GENESIS):
        return ChainCheck(False, len(rows), f"the chain ends at event {len(rows)} but the ticket recorded "
                          f"{ticket.history_seq}: trailing events removed", len(rows) + 1)
    return ChainCheck(True, len(rows))
