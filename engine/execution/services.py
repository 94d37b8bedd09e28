"""The service-task handler contract: what a handler receives and how it is registered."""
from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import Connection

from engine.limits import MESSAGE_SUBJECT, clip
from engine.store.history import Journal, Where
from engine.store.tickets import TicketRecord, TicketStore, UnitPolicy


@dataclass(frozen=True)
class ComposedMessage:
    """A message as the customer will read it: a one-line subject, a plain text and its HTML alternative."""

    subject: str
    text: str
    html: str | None = None


class MessageComposer(Protocol):
    """Turns a kind of message and its facts into words (``mail.compose`` renders templates); the engine
    never writes customer-facing text itself."""

    def compose(self, kind: str, context: Mapping[str, Any]) -> ComposedMessage:
        """The message of ``kind`` for ``context`` (ticket number, subject, times, the time zone, ...)."""
        ...

    def new_message_id(self) -> str:
        """A fresh, globally unique RFC 5322 Message-ID, angle brackets included."""
        ...


class AnswerLinkMaker(Protocol):
    """Writes the links a customer clicks to answer the validation question without signing in
    (``engine.usecases.answer_links.AnswerLinkSigner``)."""

    def answer_urls(self, ticket_number: str, validation_round: int, respond_by: datetime) -> dict[str, str]:
        """``resolved_url`` and ``persists_url`` for this ticket's validation round, valid past ``respond_by``."""
        ...


WITHHELD_LINK = "[answer link, withheld from the history]"


def one_line(text: str) -> str:
    """``text`` with every line break and run of whitespace turned into one space: headers carry one line."""
    return " ".join(text.split())


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
    composer: MessageComposer | None = None
    links: AnswerLinkMaker | None = None

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

    @property
    def time_zone(self) -> str:
        """The zone the customer's times are written in: the unit's (an IANA name, e.g. Europe/Berlin)."""
        return self.unit.time_zone or "UTC"

    def answer_urls(self, validation_round: int, respond_by: datetime) -> dict[str, str]:
        """The customer's answer links for this round (none when no link signer is configured)."""
        if self.links is None or self.ticket.number is None:
            return {}
        return self.links.answer_urls(self.ticket.number, validation_round, respond_by)

    def queue_message(self, kind: str, context: Mapping[str, Any] | None = None, *, channel: str = "email",
                      recipient: str | None = None, payload: dict[str, Any] | None = None,
                      withheld: Iterable[str] = ()) -> int:
        """Compose a message of ``kind``, queue it for delivery after commit, record it in the ticket's history
        and return its outbox id. The composed words are stored, so history, outbox and what is sent agree,
        except the ``withheld`` context values (answer links): they act as the customer, so the history,
        which agents and auditors read, shows a placeholder instead."""
        if self.composer is None:
            raise LookupError("no message composer is configured: messages cannot be written")
        ticket = self.ticket
        facts = {"ticket_number": ticket.number, "ticket_subject": ticket.subject, "customer": ticket.customer,
                 "time_zone": self.time_zone, **(context or {})}
        composed = self.composer.compose(kind, facts)
        to = one_line(recipient or ticket.contact.get("email") or ticket.customer)
        subject = clip(one_line(composed.subject), MESSAGE_SUBJECT)  # a ticket's subject is in it: it must fit
        message_id = self.store.queue_message({
            "ticket_id": ticket.id, "channel": channel, "purpose": kind, "recipient": to, "subject": subject,
            "body": composed.text, "html": composed.html, "message_id": self.composer.new_message_id(),
            "payload": payload or {}, "state": "pending", "attempts": 0, "next_attempt_at": self.now,
            "created_at": self.now})
        recorded = composed.text
        for key in withheld:
            recorded = recorded.replace(str(facts[key]), WITHHELD_LINK)
        self.journal.record("message_queued", "system", self.now,
                            {"message_id": message_id, "purpose": kind, "channel": channel, "recipient": to,
                             "subject": subject, "body": recorded}, self.where)
        return message_id


Handler = Callable[..., Any]
"""handler(ctx: ServiceContext, **parameters) -> JSON-serialisable result."""


class ServiceRegistry:
    """Handlers keyed by the operator id the diagram's service tasks name."""

    def __init__(self, composer: MessageComposer | None = None, links: AnswerLinkMaker | None = None) -> None:
        self._handlers: dict[str, Handler] = {}
        self.composer = composer  # handed to every handler's context: the words of the messages they queue
        self.links = links  # and the signer of the customer's answer links

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
