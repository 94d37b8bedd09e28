"""The ticket's conversation: what the customer wrote (portal or email), what agents answered, their internal
notes, and the messages the outbox sent, in time order. Each change is one version-checked transaction that
appends its event (``message_received``, ``reply_posted``, ``note_posted``) to the ticket's history."""
from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Self

from engine import limits
from engine.access import Actor
from engine.errors import FieldError, Forbidden, InvalidInput, NotFound
from engine.execution import sla
from engine.execution.services import ServiceContext
from engine.store.conversation import AttachmentInfo, ConversationStore, EntryRow, OutboxLine
from engine.store.history import Journal, Where
from engine.store.tickets import TicketRecord, TicketStore

from .tickets import TicketUseCases

VISIBILITIES = ("public", "internal")
AGENTS = ("l1", "l2", "admin")
REPLY_KIND = "agent_reply"  # the outbox purpose and the template of an agent's public reply
BODY = limits.DESCRIPTION


@dataclass(frozen=True)
class ConversationItem:
    """One line of the conversation: an entry, or an email the outbox holds (``kind`` says which)."""

    kind: str  # entry | email
    id: int
    at: datetime
    author: str
    author_kind: str  # customer | agent | system
    direction: str  # inbound | outbound | internal
    visibility: str
    source: str  # portal | email | agent | answer_link | outbox
    subject: str | None
    text: str  # what people read
    body: str  # as received
    delivery: str | None  # an email's state: pending | held | delivered | dead
    flags: tuple[str, ...]  # customer_replied, from_other_address, auto_reply, after_close
    attachments: tuple[AttachmentInfo, ...]
    note: str | None


@dataclass(frozen=True)
class Conversation:
    """A ticket's conversation as its reader may see it; ``customer_replied`` when the customer's latest word
    came after the last thing the team sent."""

    number: str
    items: list[ConversationItem]
    customer_replied: bool


def digest(text: str) -> str:
    """The SHA-256 of a message's text, which the history keeps instead of the words."""
    return hashlib.sha256(text.encode()).hexdigest()


def entry_event(entry: EntryRow) -> dict[str, object]:
    """What the history says of an entry: which one, where from and to whom, and a digest of its words."""
    flags = [flag for flag in ("customer_replied", "from_other_address", "auto_reply", "after_close")
             if getattr(entry, flag)]
    return {"entry": entry.id, "source": entry.source, "visibility": entry.visibility, "flags": flags,
            "sha256": digest(entry.body)}


def body_problems(body: object, visibility: object) -> list[FieldError]:
    """What is wrong with a posted message, field by field."""
    problems = []
    if not isinstance(body, str) or not body.strip():
        problems.append(FieldError("/body", "write a message"))
    elif len(body) > BODY:
        problems.append(FieldError("/body", f"a message is at most {BODY} characters"))
    elif limits.unstorable(body):
        problems.append(FieldError("/body", f"the message {limits.unstorable(body)}"))
    if visibility not in VISIBILITIES:
        problems.append(FieldError("/visibility", "visibility must be 'public' or 'internal'"))
    return problems


class ConversationUseCases(TicketUseCases):
    """Reading and writing a ticket's conversation (and, for email intake, opening tickets: see ``email_in``)."""

    @classmethod
    def over(cls, core: TicketUseCases) -> Self:
        """These use cases over the parts of an existing runtime: same database, handlers, cache and clock."""
        made = cls(core.sessions, core.loader, core.registry, core.lane_roles, core.clock, core.workflows)
        made._definitions = core._definitions  # parsed once per process, whoever asks
        return made

    def conversation(self, number: str, reader: Actor) -> Conversation:
        """The ticket's conversation in time order; a customer sees public entries and their own emails only."""
        with self.uow(read_only=True) as uow:
            ticket = self._readable(TicketStore(uow.connection).ticket_by_number(number), number, reader)
            store = ConversationStore(uow.connection)
            entries, emails = store.entries(ticket.id), store.outbox(ticket.id)
        if reader.role == "customer":
            entries = [e for e in entries if e.visibility == "public"]
            to_customer = {ticket.contact.get("email"), ticket.customer}
            emails = [m for m in emails if m.recipient in to_customer]
        return Conversation(number, merge(entries, emails), customer_replied(entries, emails))

    def post_message(self, number: str, body: str, visibility: str, actor: Actor) -> ConversationItem:
        """An agent's public reply (emailed to the customer) or internal note, or a customer's public message."""
        problems = body_problems(body, visibility)
        if problems:
            raise InvalidInput("the message cannot be posted", problems)
        if actor.role == "customer" and visibility != "public":
            raise Forbidden("customers post public messages; internal notes are the team's")
        if actor.role not in (*AGENTS, "customer"):
            raise Forbidden(f"role '{actor.role}' reads conversations but does not write in them")
        now = self.clock()
        with self.uow() as uow:
            store = TicketStore(uow.connection)
            ticket = self._readable(store.ticket_by_number(number), number, actor)
            journal = Journal(ticket)
            entry = self._post(store, ticket, journal, written(ticket, actor, body, visibility, now))
            seen = ticket.version
            store.save(ticket, journal.take())
            uow.commit()
        self.workflows.moved(ticket.id, seen, ticket.version)  # a message changes rows, never the workflow
        return as_item(entry, None)

    def _post(self, store: TicketStore, ticket: TicketRecord, journal: Journal, entry: EntryRow) -> EntryRow:
        conversation = ConversationStore(store.connection)
        conversation.add(entry)
        kind = {"inbound": "message_received", "outbound": "reply_posted"}.get(entry.direction, "note_posted")
        journal.record(kind, limits.clip(entry.author, limits.PERSON_NAME), entry.at, entry_event(entry))
        if entry.direction == "outbound":
            context = ServiceContext(store, ticket, entry.at, Where(), journal, self.composer)
            entry.outbox_id = context.queue_message(REPLY_KIND, {"message": entry.body, "agent": entry.author})
            conversation.link_outbox(entry.id or 0, entry.outbox_id)
            unit = store.unit(ticket.unit_code)
            if ticket.first_response_at is None and unit is not None:
                sla.first_response(ticket, unit, entry.at)  # the first human public reply stops that clock
        return entry

    def attachment(self, attachment_id: int, reader: Actor) -> tuple[str, str, bytes]:
        """(filename, detected content type, bytes) of an attachment its reader may see; else NotFound."""
        with self.uow(read_only=True) as uow:
            found = ConversationStore(uow.connection).attachment(attachment_id)
            ticket = TicketStore(uow.connection).ticket(found[3]) if found and found[3] is not None else None
            if found is None or ticket is None or not self._may_read(reader, ticket) or (
                    reader.role == "customer" and found[4] != "public"):
                raise NotFound(f"attachment {attachment_id} does not exist")
            return found[0], found[1], found[2]


def written(ticket: TicketRecord, actor: Actor, body: str, visibility: str, now: datetime) -> EntryRow:
    """The entry a person posts from a page or the API."""
    after_close = ticket.status == "closed"
    if actor.role == "customer":
        return EntryRow(None, ticket.id, now, actor.name, "customer", "inbound", "public", "portal", None, body,
                        body.strip(), customer_replied=True, after_close=after_close)
    direction = "outbound" if visibility == "public" else "internal"
    return EntryRow(None, ticket.id, now, actor.name, "agent", direction, visibility, "agent", None, body,
                    body.strip())


def as_item(entry: EntryRow, delivery: str | None) -> ConversationItem:
    flags = tuple(f for f in ("customer_replied", "from_other_address", "auto_reply", "after_close")
                  if getattr(entry, f))
    return ConversationItem("entry", entry.id or 0, entry.at, entry.author, entry.author_kind, entry.direction,
                            entry.visibility, entry.source, entry.subject, entry.shown, entry.body, delivery, flags,
                            tuple(entry.attachments), entry.note)


def email_item(line: OutboxLine) -> ConversationItem:
    return ConversationItem("email", line.id, line.at, "ticketflow", "system", "outbound", "public", "outbox",
                            line.subject, line.body, line.body, line.state, (), (), None)


def merge(entries: Sequence[EntryRow], emails: Sequence[OutboxLine]) -> list[ConversationItem]:
    """Entries and emails in time order; an agent's reply carries its email's delivery state instead of
    being listed twice."""
    state = {line.id: line.state for line in emails}
    replied = {entry.outbox_id for entry in entries if entry.outbox_id is not None}
    items = [as_item(entry, state.get(entry.outbox_id or -1)) for entry in entries]
    items += [email_item(line) for line in emails if line.id not in replied]
    return sorted(items, key=lambda item: (item.at, item.kind != "entry", item.id))


def customer_replied(entries: Sequence[EntryRow], emails: Sequence[OutboxLine]) -> bool:
    """Whether the customer's latest public word came after the last thing the team sent them."""
    theirs = [e.at for e in entries if e.customer_replied and e.visibility == "public"]
    ours = [e.at for e in entries if e.direction == "outbound"] + [m.at for m in emails]
    return bool(theirs) and (not ours or max(theirs) > max(ours))
