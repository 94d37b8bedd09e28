"""Email in: one parsed message becomes a conversation entry on its ticket, or opens a ticket, in one transaction.

Threading: the message's In-Reply-To and References are looked up among our Message-IDs (the outbox's and the
conversation's own); failing that, a ``[T-000123]`` in the subject names the ticket. A reply from an address
that is not the ticket's customer's is kept as an internal note for L1 (never as the customer's words); an
auto-reply or bounce is recorded and answers nothing; a reply to a closed ticket is recorded and flagged.

A new ticket is opened by the same use case as the API (``open_ticket``), inside this message's transaction:
while it runs, its unit of work is a savepoint of ours, so a failed step rolls back only its own part and the
whole message still commits (or not) at once.
"""
from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import NestedTransaction
from sqlalchemy.exc import IntegrityError

from engine import limits
from engine.access import Actor
from engine.errors import Conflict
from engine.store.conversation import ConversationStore, EntryRow, NewAttachment
from engine.store.history import Journal
from engine.store.tickets import TicketRecord, TicketStore
from engine.store.uow import UnitOfWork
from engine.usecases.tickets import DeliveryKey, TicketIntake

from .channels import channel_actor, delivered_ticket, record_delivery
from .conversation import ConversationUseCases, entry_event

INTAKE = Actor("email intake", "l1")  # who registers a ticket that came in by email (recorded as registered_by)
TRIES = 3  # a version conflict with a step of the same ticket: read it again and record once more
_OUTER: ContextVar[UnitOfWork | None] = ContextVar("ticketflow_email_intake", default=None)


@dataclass(frozen=True)
class InboundEmail:
    """A received message as ``mail.intake`` read it: sender, threading, words and files."""

    message_id: str
    from_address: str
    from_name: str
    subject: str
    body: str  # the text as received (HTML-only mail: its text)
    shown: str  # quotes and signature stripped
    references: tuple[str, ...]  # In-Reply-To and References, newest first
    ticket_number: str | None  # the [T-000123] in the subject, if any
    auto_reply: bool
    attachments: tuple[NewAttachment, ...] = ()
    note: str | None = None  # what was not kept (parts over the limits), in words
    channel: str = "email"  # the channel a new ticket is registered as having come in by
    delivery: DeliveryKey | None = None  # a registered channel's signed webhook that carried it, if one did


@dataclass(frozen=True)
class IntakeOutcome:
    """What became of a message: opened | added | internal | recorded | duplicate; and the ticket, if any."""

    outcome: str
    ticket_number: str | None


@dataclass(frozen=True)
class UnreadableEmail:
    """A raw message that was not accepted, in plain words; ``too_large`` when only its size was the problem."""

    detail: str
    too_large: bool = False


class EmailIngest(Protocol):
    """Reads a raw RFC 5322 message a channel's signed webhook carried and receives it (``mail`` implements it)."""

    max_bytes: int  # the largest message it reads

    def __call__(self, raw: bytes, channel: str, webhook_id: str) -> IntakeOutcome | UnreadableEmail:
        ...


class _Savepoint(UnitOfWork):
    """A unit of work nested in the message's transaction: committing releases a savepoint, anything else rolls
    back to it."""

    def __init__(self, outer: UnitOfWork) -> None:
        super().__init__(outer._sessions)
        self.connection = outer.connection
        self._nested: NestedTransaction | None = None

    def __enter__(self) -> _Savepoint:
        self._nested = self.connection.begin_nested()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._nested is not None and self._nested.is_active:
            self._nested.rollback()

    def commit(self) -> None:
        if self._nested is not None:
            self._nested.commit()


class EmailIntake(ConversationUseCases):
    """Receives parsed email into the conversation (``ticketflow mail ingest``)."""

    def uow(self, read_only: bool = False) -> UnitOfWork:
        outer = _OUTER.get()
        return _Savepoint(outer) if outer is not None and not read_only else super().uow(read_only)

    def receive(self, mail: InboundEmail) -> IntakeOutcome:
        """Record ``mail``: on its ticket, as a new ticket, or (an unmatched auto-reply) on none. A message a
        channel's webhook carried is received once per (channel, webhook-id): a copy answers the first one's ticket."""
        key = mail.delivery
        earlier = self._delivered(key) if key is not None else None
        if earlier is not None:
            return IntakeOutcome("duplicate", earlier)
        try:
            received = self._receive_retrying(mail)
        except IntegrityError:  # a copy that arrived at the same moment wrote the delivery key first
            earlier = self._delivered(key) if key is not None else None
            if earlier is None:
                raise
            return IntakeOutcome("duplicate", earlier)
        if key is not None and received.outcome == "duplicate":  # a copy at the same moment recorded it first
            return IntakeOutcome("duplicate", self._delivered(key))
        return received

    def _receive_retrying(self, mail: InboundEmail) -> IntakeOutcome:
        for _ in range(TRIES - 1):
            try:
                return self._receive(mail)
            except Conflict:
                continue  # a step of the same ticket committed meanwhile: thread it again
        return self._receive(mail)

    def _delivered(self, key: DeliveryKey) -> str | None:
        with super().uow(read_only=True) as uow:
            return delivered_ticket(uow.connection, key)

    def _receive(self, mail: InboundEmail) -> IntakeOutcome:
        now = self.clock()
        with super().uow() as uow:
            store, conversation = TicketStore(uow.connection), ConversationStore(uow.connection)
            ticket = self._thread(store, conversation, mail)
            if ticket is None and mail.auto_reply:
                outcome = "recorded" if self._record(conversation, mail, None, now) else "duplicate"
                uow.commit()
                return IntakeOutcome(outcome, None)
            entry = self._record(conversation, mail, ticket, now)
            if entry is None:
                return IntakeOutcome("duplicate", None)  # rolled back: nothing of this attempt is kept
            opened = ticket is None
            if ticket is None:
                ticket = self._open_here(uow, store, mail)
                conversation.place(entry.id or 0, ticket.id, entry.visibility, False)
            seen = ticket.version
            try:
                self._post_received(store, ticket, entry)
                if mail.delivery is not None and not opened:  # opening the ticket wrote the key of its delivery
                    record_delivery(uow.connection, mail.delivery, ticket.id, now)
                uow.commit()
            except BaseException:
                if opened:
                    self.workflows.moved(ticket.id, seen, -1)  # forget the workflow of a ticket never committed
                raise
        self.workflows.moved(ticket.id, seen, ticket.version)
        outcome = "opened" if opened else "internal" if entry.visibility == "internal" else "added"
        return IntakeOutcome(outcome, ticket.number)

    def _post_received(self, store: TicketStore, ticket: TicketRecord, entry: EntryRow) -> None:
        journal = Journal(ticket)
        journal.record("message_received", limits.clip(entry.author, limits.PERSON_NAME), entry.at,
                       {**entry_event(entry), "channel": "email"})
        store.save(ticket, journal.take())

    def _thread(self, store: TicketStore, conversation: ConversationStore, mail: InboundEmail) -> TicketRecord | None:
        """The ticket this message answers: by its reply headers, else by the number in its subject."""
        ticket_id = conversation.ticket_of_message_ids(list(mail.references))
        if ticket_id is not None:
            return store.ticket(ticket_id)
        return store.ticket_by_number(mail.ticket_number) if mail.ticket_number else None

    def _record(self, conversation: ConversationStore, mail: InboundEmail, ticket: TicketRecord | None,
                now: datetime) -> EntryRow | None:
        """Insert the entry (None when this Message-ID was recorded before) with its attachments."""
        entry = self._entry(conversation, mail, ticket, now)
        if conversation.add(entry) is None:
            return None
        conversation.attach(entry.id or 0, mail.attachments)
        return entry

    def _entry(self, conversation: ConversationStore, mail: InboundEmail, ticket: TicketRecord | None,
               now: datetime) -> EntryRow:
        address = mail.from_address
        entry = EntryRow(None, ticket.id if ticket else None, now, address, "system", "inbound", "internal", "email",
                         limits.clip(mail.subject, limits.MESSAGE_SUBJECT), mail.body, mail.shown, mail.message_id,
                         limits.clip(address, limits.CONTACT_DETAIL), auto_reply=mail.auto_reply, note=mail.note)
        if mail.auto_reply:
            return entry  # recorded, read by nobody but the team, answers nothing
        if ticket is None:
            entry.author, entry.author_kind = self._customer_of(conversation, mail), "customer"
            entry.visibility = "public"
        elif address.lower() in self._customer_addresses(conversation, ticket):
            entry.author, entry.author_kind, entry.visibility = ticket.customer, "customer", "public"
            entry.customer_replied, entry.after_close = True, ticket.status == "closed"
        else:
            entry.from_other_address, entry.after_close = True, ticket.status == "closed"
        return entry

    @staticmethod
    def _customer_addresses(conversation: ConversationStore, ticket: TicketRecord) -> set[str]:
        known = {ticket.contact.get("email"), conversation.email_of_user(ticket.customer)}
        return {address.lower() for address in known if isinstance(address, str) and address}

    @staticmethod
    def _customer_of(conversation: ConversationStore, mail: InboundEmail) -> str:
        """The sender as a customer: the user with this email address, else the address itself."""
        user = conversation.user_by_email(mail.from_address)
        return user[0] if user is not None and user[1] == "customer" else mail.from_address

    def _open_here(self, uow: UnitOfWork, store: TicketStore, mail: InboundEmail) -> TicketRecord:
        """Open the ticket through the API's use case, in this transaction."""
        customer = self._customer_of(ConversationStore(uow.connection), mail)
        contact = {"email": limits.clip(mail.from_address, limits.CONTACT_DETAIL)}
        if mail.from_name:
            contact["name"] = limits.clip(mail.from_name, limits.CONTACT_DETAIL)
        token = _OUTER.set(uow)
        try:
            key = mail.delivery  # a registered channel's webhook opens the ticket as that channel, on it
            actor = channel_actor(key.channel) if key is not None else INTAKE
            view = self.open_ticket(intake_of(mail, customer, contact), actor, key)
        finally:
            _OUTER.reset(token)
        ticket = store.ticket_by_number(view.number)
        assert ticket is not None, "the ticket opened in this transaction"
        return ticket


def intake_of(mail: InboundEmail, customer: str, contact: dict[str, Any]) -> TicketIntake:
    """The ticket a new message asks for: its subject, and its words as the description (at least 10 characters,
    as every channel's are)."""
    subject = mail.subject.strip() or "(no subject)"
    if len(subject) < 3:
        subject = f"{subject} (by email)"
    description = mail.shown.strip() or mail.body.strip()
    if len(description) < 10:
        description = f"{description}\n\n(sent by email: {subject})".strip()
    return TicketIntake(subject=limits.clip(subject, limits.SUBJECT), description=limits.clip(description,
                        limits.DESCRIPTION), customer=limits.clip(customer, limits.PERSON_NAME), contact=contact,
                        channel=mail.channel)
