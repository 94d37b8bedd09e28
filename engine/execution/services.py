"""The service-task handler contract: what a handler receives and how it is registered."""
from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from engine.limits import MESSAGE_SUBJECT, clip
from engine.store.history import Journal, Where
from engine.store.tickets import TicketRecord, TicketStore, UnitPolicy


@dataclass
class ServiceContext:
    """Everything a handler may touch: the ticket's rows, within the step's transaction.

    Handlers read and write rows and queue outbox messages; they never commit and never send.
    """

    store: TicketStore
    ticket: TicketRecord
    now: datetime
    where: Where
    journal: Journal

    @property
    def connection(self) -> Connection:
        """For a handler's own queries, in the step's transaction."""
        return self.store.connection

    @property
    def unit(self) -> UnitPolicy:
        unit = self.store.unit(self.ticket.unit_code)
        if unit is None:
            raise LookupError(f"unit '{self.ticket.unit_code}' is not configured")
        return unit

    def queue_message(self, purpose: str, subject: str, body: str, *, channel: str = "email",
                      recipient: str | None = None, payload: dict[str, Any] | None = None) -> int:
        """Queue a message for delivery after commit, record it in the ticket's history, return its id."""
        to = recipient or self.ticket.contact.get("email") or self.ticket.customer
        subject = clip(subject, MESSAGE_SUBJECT)  # handlers prefix the ticket's subject: it must still fit
        message_id = self.store.queue_message({
            "ticket_id": self.ticket.id, "channel": channel, "purpose": purpose, "recipient": to,
            "subject": subject, "body": body, "payload": payload or {}, "state": "pending", "attempts": 0,
            "next_attempt_at": self.now, "created_at": self.now})
        self.journal.record("message_queued", "system", self.now,
                            {"message_id": message_id, "purpose": purpose, "channel": channel, "recipient": to,
                             "subject": subject, "body": body}, self.where)
        return message_id


Handler = Callable[..., Any]
"""handler(ctx: ServiceContext, **parameters) -> JSON-serialisable result."""


class ServiceRegistry:
    """Handlers keyed by the operator id the diagram's service tasks name."""

    def __init__(self) -> None:
        self._handlers: dict[str, Handler] = {}

    def register(self, operator: str, handler: Handler) -> None:
        if operator in self._handlers:
            raise ValueError(f"operator '{operator}' is already registered")
        self._handlers[operator] = handler

    def get(self, operator: str) -> Handler:
        try:
            return self._handlers[operator]
        except KeyError:
            raise LookupError(f"no handler registered for operator '{operator}'") from None

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._handlers))
