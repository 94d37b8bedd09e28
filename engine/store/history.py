"""Append-only, hash-chained ticket history, and its verification."""
from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from json.encoder import encode_basestring as _encode_string
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.context import current_request_id
from engine.store.models import HistoryEvent, Ticket
from engine.store.packing import event_data

GENESIS = "0" * 64
LINK_CHARS = 12  # how much of its predecessor's hash an event stores (see ``link``)
# The data member naming the request (or worker round) an event was recorded in; not replayed. Only the first event
# a transaction records on a ticket names it: the events after it without one were recorded by the same request.
REQUEST_ID = "request_id"


def canonical(fields: dict[str, Any]) -> bytes:
    """The bytes an event's hash covers: sorted keys, no whitespace, UTF-8."""
    return json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str).encode()


_HASHED = ("ticket_id", "seq", "at", "actor", "kind", "element_id", "element_name", "lane", "task_id", "data",
           "prev_hash")


def chain_hash(fields: Mapping[str, Any]) -> str:
    """The hash of one event: its columns (``at`` as ISO 8601) and its predecessor's whole hash."""
    covered = {name: fields[name] for name in _HASHED}
    covered["at"] = covered["at"].isoformat()
    return hashlib.sha256(canonical(covered)).hexdigest()


def event_hash(event: Any, predecessor: str | None = None) -> str:
    """``event``'s hash as it should be, given its predecessor's whole hash (by default the link it stores,
    which is the whole hash in events recorded before links were shortened)."""
    fields = {name: getattr(event, name) for name in _HASHED if name != "data"}
    fields["data"] = _data(event)
    if predecessor is not None:
        fields["prev_hash"] = predecessor
    return chain_hash(fields)


def _data(event: Any) -> Any:
    """The data of an event: a model with ``data``, or a history row's two columns (``engine.store.packing``)."""
    if hasattr(event, "data"):
        return event.data
    return event_data(event.stored_data, event.packed)


def link(predecessor: str) -> str:
    """What an event stores of its predecessor's hash: the first ``LINK_CHARS`` hex digits.

    The event's own hash covers the predecessor's whole hash, so the chain is as strong as with the whole
    hash stored; the stored prefix only says which event it follows, for naming what broke (unique within a
    ticket: 48 bits). It saves 52 bytes an event. Events recorded before this store the whole hash, and
    ``links_to`` accepts both.
    """
    return predecessor[:LINK_CHARS]


def links_to(stored: str, predecessor: str) -> bool:
    """Whether an event that stores ``stored`` as its link follows the event whose hash is ``predecessor``."""
    return len(stored) >= LINK_CHARS and predecessor.startswith(stored)


@dataclass(frozen=True)
class Where:
    """Where in the diagram an event happened."""

    element_id: str | None = None
    element_name: str | None = None
    lane: str | None = None
    task_id: str | None = None


class Chained(Protocol):
    """What a journal needs of a ticket: its id and the head of its chain."""

    id: int
    history_seq: int
    history_head: str


@dataclass(frozen=True, slots=True)
class NewEvent:
    """An event recorded in this transaction, not yet inserted; ``data_json`` is its canonical data."""

    ticket_id: int
    seq: int
    at: datetime
    actor: str
    kind: str
    element_id: str | None
    element_name: str | None
    lane: str | None
    task_id: str | None
    data_json: str
    prev_hash: str  # the stored link: the start of the predecessor's hash (see ``link``)
    hash: str

    @property
    def data(self) -> dict[str, Any]:
        return json.loads(self.data_json)  # type: ignore[no-any-return]


def _scalar(value: str | int | None) -> str:
    """A string, int or None as ``json.dumps(value, ensure_ascii=False)`` writes it."""
    if value is None:
        return "null"
    if isinstance(value, str):
        return _encode_string(value)
    return str(int(value))


class Journal:
    """The events one transaction appends to a ticket's chain, hashed as they come and inserted at save.

    Appends are serialised by the ticket row's version check: two transactions that start from the
    same head cannot both commit.
    """

    def __init__(self, ticket: Chained) -> None:
        self.ticket = ticket
        self.pending: list[NewEvent] = []
        self._named: str | None = None  # the request id an event of this journal already carries

    def record(self, kind: str, actor: str, at: datetime, data: dict[str, Any] | None = None,
               where: Where = Where()) -> NewEvent:
        ticket = self.ticket
        seq, prev_hash = ticket.history_seq + 1, ticket.history_head or GENESIS
        request_id = current_request_id()
        if request_id is not None and request_id != self._named:  # operators match the history to the logs by it
            data, self._named = {**(data or {}), REQUEST_ID: request_id}, request_id
        data_json = canonical(data or {}).decode()
        # The same bytes as chain_hash() of these fields (sorted keys, compact, UTF-8), assembled
        # without encoding the data twice; tests/unit/test_history.py holds the two together.
        covered = (f'{{"actor":{_scalar(actor)},"at":{_scalar(at.isoformat())},"data":{data_json},'
                   f'"element_id":{_scalar(where.element_id)},"element_name":{_scalar(where.element_name)},'
                   f'"kind":{_scalar(kind)},"lane":{_scalar(where.lane)},"prev_hash":{_scalar(prev_hash)},'
                   f'"seq":{seq},"task_id":{_scalar(where.task_id)},"ticket_id":{_scalar(ticket.id)}}}')
        event = NewEvent(ticket.id, seq, at, actor, kind, where.element_id, where.element_name, where.lane,
                         where.task_id, data_json, link(prev_hash), hashlib.sha256(covered.encode()).hexdigest())
        ticket.history_seq, ticket.history_head = seq, event.hash
        self.pending.append(event)
        return event

    def take(self) -> list[NewEvent]:
        """The events recorded since the last take, in order (the caller inserts them)."""
        taken, self.pending = self.pending, []
        return taken


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
        if not links_to(event.prev_hash, prev):
            return ChainCheck(False, expected_seq - 1, f"event {event.seq} does not link to event "
                              f"{event.seq - 1}: removed, reordered or inserted", event.seq)
        if event_hash(event, prev) != event.hash:
            return ChainCheck(False, expected_seq - 1, f"event {event.seq} ({event.kind}) was altered", event.seq)
        prev = event.hash
    if len(rows) != ticket.history_seq or prev != (ticket.history_head or GENESIS):
        return ChainCheck(False, len(rows), f"the chain ends at event {len(rows)} but the ticket recorded "
                          f"{ticket.history_seq}: trailing events removed", len(rows) + 1)
    return ChainCheck(True, len(rows))
