"""The outbox as an admin sees it: what each message says, to whom, its state and attempts, the last error;
and a retry, recorded in the ticket's history under the admin's name."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, func, select

from engine.access import Actor
from engine.errors import Conflict, FieldError, Forbidden, InvalidInput, NotFound
from engine.store.conversation import ConversationStore
from engine.store.history import Journal
from engine.store.models import NOT_DELIVERED, OutboxMessage, Ticket
from engine.store.outbox import OutboxStore
from engine.store.tickets import TicketStore

from .base import RuntimeCore

STATES = ("pending", "held", "delivered", "dead")
OUTBOX = OutboxMessage.__table__
TICKETS = Ticket.__table__


@dataclass(frozen=True)
class MessageView:
    """One outbox message as the admin pages and API show it."""

    id: int
    ticket: str | None
    purpose: str
    recipient: str
    subject: str
    text: str
    html: str | None
    state: str
    attempts: int
    next_attempt_at: datetime
    last_error: str | None
    delivery_response: str | None
    message_id: str
    in_reply_to: str | None
    created_at: datetime
    sent_at: datetime | None

    def to_dict(self) -> dict[str, Any]:
        return {key: value.isoformat() if isinstance(value, datetime) else value
                for key, value in asdict(self).items()}


_COLUMNS = (OUTBOX.c.id, TICKETS.c.number, OUTBOX.c.purpose, OUTBOX.c.recipient, OUTBOX.c.subject, OUTBOX.c.body,
            OUTBOX.c.html, OUTBOX.c.state, OUTBOX.c.attempts, OUTBOX.c.next_attempt_at, OUTBOX.c.last_error,
            OUTBOX.c.delivery_response, OUTBOX.c.message_id, OUTBOX.c.in_reply_to, OUTBOX.c.created_at,
            OUTBOX.c.sent_at)


class OutboxAdmin:
    """List, show and retry outbox messages (admins only)."""

    def __init__(self, runtime: RuntimeCore) -> None:
        self.runtime = runtime

    def list_messages(self, actor: Actor, state: str | None = None, limit: int = 50,
                      offset: int = 0) -> tuple[list[MessageView], int]:
        """The newest messages first, optionally in one state; and how many there are in all."""
        _admin_only(actor)
        if state is not None and state not in STATES:
            raise InvalidInput("the outbox cannot be listed", [
                FieldError("/state", f"must be one of {', '.join(STATES)}")])
        query = select(*_COLUMNS).select_from(OUTBOX.outerjoin(TICKETS, TICKETS.c.id == OUTBOX.c.ticket_id))
        count = select(func.count()).select_from(OUTBOX)
        if state is not None:
            wanted = OUTBOX.c.state == state if state == "delivered" else and_(OUTBOX.c.state == state, NOT_DELIVERED)
            query, count = query.where(wanted), count.where(wanted)
        with self.runtime.uow(read_only=True) as uow:
            rows = uow.session.execute(query.add_columns(OUTBOX.c.ticket_id)
                                       .order_by(OUTBOX.c.id.desc()).limit(limit).offset(offset)).all()
            total = uow.session.scalar(count) or 0
            return _with_recorded_words(uow.connection, rows), total

    def message(self, actor: Actor, message: int) -> MessageView:
        """One message, or NotFound."""
        _admin_only(actor)
        query = select(*_COLUMNS).select_from(OUTBOX.outerjoin(TICKETS, TICKETS.c.id == OUTBOX.c.ticket_id))
        with self.runtime.uow(read_only=True) as uow:
            row = uow.session.execute(query.where(OUTBOX.c.id == message).add_columns(OUTBOX.c.ticket_id)).first()
            if row is None:
                raise NotFound(f"message {message} does not exist")
            return _with_recorded_words(uow.connection, [row])[0]

    def retry(self, actor: Actor, message: int) -> MessageView:
        """Make a held, dead or waiting message due now, with a fresh retry schedule; recorded in its ticket's
        history under the admin's name. A delivered message, or one being sent right now, is refused."""
        _admin_only(actor)
        for _ in range(3):
            try:
                self._retry_once(actor, message)
                break
            except Conflict as conflict:
                if "changed by someone else" not in conflict.detail:
                    raise
        return self.message(actor, message)

    def _retry_once(self, actor: Actor, message: int) -> None:
        with self.runtime.uow() as uow:
            requeue(uow.connection, message, actor, self.runtime.clock(), Requeue(
                f"message {message}", "retry", "message_retry_requested", "message_id", "purpose"))
            uow.commit()


@dataclass(frozen=True)
class Requeue:
    """How one kind of outbox row is named when it is sent again: in refusals, and in its ticket's history."""

    what: str  # "message 7", "webhook delivery 7"
    verb: str  # "retry", "redeliver"
    event: str  # the history event recorded
    id_key: str  # the event's key for the row id
    purpose_key: str  # and for the row's purpose (a message's kind, a webhook's event type)


def requeue(connection: Connection, row: int, actor: Actor, now: datetime, naming: Requeue) -> None:
    """Make outbox row ``row`` due now on a fresh schedule and record it in its ticket's history, in the caller's
    transaction. A delivered row, or one being sent right now, is refused; a missing one does not exist."""
    outbox, store = OutboxStore(connection), TicketStore(connection)
    found = outbox.state(row)
    if found is None:
        raise NotFound(f"{naming.what} does not exist")
    state, attempts, ticket_id, purpose = found
    if state == "delivered":
        raise Conflict(f"{naming.what} was already delivered; there is nothing to {naming.verb}")
    if not outbox.retry(row, now):
        raise Conflict(f"{naming.what} is being sent right now; look again in a minute")
    ticket = store.ticket(ticket_id) if ticket_id is not None else None
    if ticket is not None:
        journal = Journal(ticket)
        journal.record(naming.event, actor.name, now, {
            naming.id_key: row, naming.purpose_key: purpose, "previous_state": state, "attempts": attempts})
        store.save(ticket, journal.take())


def _view(row: Any) -> MessageView:
    return MessageView(*row[:len(_COLUMNS)])


def _with_recorded_words(connection: Connection, rows: Sequence[Any]) -> list[MessageView]:
    """Views of ``rows`` (each ending with its ticket id); an archived message's subject and words, which the
    outbox no longer keeps, read from its ticket's history (one read per ticket)."""
    views = [_view(row) for row in rows]
    archived = {row.ticket_id for row, view in zip(rows, views, strict=True)
                if view.text == "" and row.ticket_id is not None}
    if not archived:
        return views
    store = ConversationStore(connection)
    recorded = {ticket: store.recorded_messages(ticket) for ticket in archived}
    filled = []
    for row, view in zip(rows, views, strict=True):
        words = recorded.get(row.ticket_id, {}).get(view.id)
        filled.append(replace(view, subject=view.subject or words.subject, text=words.body) if words else view)
    return filled


def _admin_only(actor: Actor) -> None:
    if actor.role != "admin":
        raise Forbidden("only admins look after the outbox")
