"""Benchmark section: email in, messages per second through ``EmailIntake.receive`` (run by ``bench.outbox``).

Each message takes the path of ``ticketflow mail ingest`` in process: ``read_message`` (parse, strip quotes,
detect attachment types), then ``EmailIntake.over(runtime).receive`` (thread it, record it, or open a ticket
through the same use case as the API, in one transaction). The command builds one runtime per message (one
process per mail); here one runtime serves them all, so the figure leaves out interpreter start-up.

The stream is made from the hand-written corpus in tests/data/mail, each with a Message-ID of its own: about
half open tickets (plain, HTML-only, Latin-1, Shift_JIS, from 40 customers); about half are replies threaded by
In-Reply-To to an earlier ticket's acknowledgment (Gmail, Outlook, Apple Mail, a signature, attachments; one in
twenty from a stranger's address); a few are auto-replies and bounces. Only the intake is timed, not the
look-up of each new ticket's acknowledgment that later replies quote.
"""
from __future__ import annotations

import random
import re
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from engine.runtime import Runtime

MESSAGES = 1000
CORPUS = Path(__file__).resolve().parents[1] / "tests" / "data" / "mail"
NEW = ("new_request.eml", "html_only.eml", "latin1.eml", "shift_jis.eml")
REPLIES = ("gmail_reply.eml", "outlook_reply.eml", "apple_mail_reply.eml", "signature.eml", "attachments.eml")
CUSTOMERS = 40


@dataclass(frozen=True)
class Thread:
    """An opened ticket as its customer's replies address it."""

    number: str
    sender: bytes  # the From header's value
    answers: str  # the Message-ID a reply quotes in In-Reply-To: the ticket's acknowledgment


@dataclass
class Stream:
    """The messages of one run, made as it goes: a reply needs a ticket opened earlier."""

    seed: int = 7
    threads: list[Thread] = field(default_factory=list)
    made: int = 0

    def __post_init__(self) -> None:
        self.random = random.Random(self.seed)
        self.corpus = {path.name: path.read_bytes() for path in CORPUS.glob("*.eml")}

    def next(self) -> tuple[str, bytes, bytes]:
        """(kind, sender, raw message) of the next message: new, reply or automatic."""
        self.made += 1
        draw, pick = self.random.random(), self.random.choice
        if draw < 0.03 and self.threads:
            thread = pick(self.threads)
            name = "bounce.eml" if draw < 0.01 else "auto_reply.eml"
            return "automatic", thread.sender, self._message(name, thread.sender, thread)
        if draw < 0.5 and self.threads:
            thread = pick(self.threads)
            if self.random.random() < 0.05:
                return "reply", thread.sender, self._message("stranger_reply.eml", None, thread)
            return "reply", thread.sender, self._message(pick(REPLIES), thread.sender, thread)
        customer = self.random.randrange(CUSTOMERS)
        sender = f"Customer {customer} <customer{customer}@example.org>".encode()
        return "new", sender, self._message(pick(NEW), sender, None)

    def message_id(self) -> str:
        """The Message-ID of the message made last."""
        return f"<bench-{self.made}-{self.seed}@mail.example>"

    def _message(self, name: str, sender: bytes | None, thread: Thread | None) -> bytes:
        """A corpus message with its own Message-ID, from ``sender`` (None: as written), answering ``thread``."""
        raw = self.corpus[name]
        if thread is not None:
            raw = raw.replace(b"@@TICKET@@", thread.number.encode())
            raw = raw.replace(b"@@IN_REPLY_TO@@", thread.answers.encode())
        head, _, body = raw.partition(b"\n\n")
        replaced = [b"message-id"] + ([b"from"] if sender is not None else [])
        head = re.sub(rb"(?im)^(?:" + b"|".join(replaced) + rb"):[^\n]*\n(?:[ \t][^\n]*\n)*", b"", head + b"\n")
        own = ([b"From: " + sender] if sender is not None else []) + [b"Message-ID: " + self.message_id().encode()]
        return b"\n".join(own) + b"\n" + head + b"\n" + body


@dataclass
class IngestFigures:
    """Messages and seconds by kind, and what became of the messages."""

    count: Counter[str] = field(default_factory=Counter)
    seconds: defaultdict[str, float] = field(default_factory=lambda: defaultdict(float))
    outcomes: Counter[str] = field(default_factory=Counter)

    def line(self, label: str) -> str:
        """The benchmark's line for these figures."""
        total = sum(self.count.values())
        rate = total / max(sum(self.seconds.values()), 1e-9)
        each = ", ".join(f"{kind} {self.count[kind]}: {1000 * self.seconds[kind] / self.count[kind]:.1f} ms"
                         for kind in ("new", "reply", "automatic") if self.count[kind])
        became = ", ".join(f"{outcome} {n}" for outcome, n in self.outcomes.most_common())
        return f"{label:<34} {rate:>8.0f} messages/s\n{'':<34} ({each} each; {became})"


def ingest(url: str, messages: int = MESSAGES) -> IngestFigures:
    """Receive ``messages`` of the stream into the (migrated, deployed) database at ``url``."""
    from engine.config import EngineConfig
    from engine.usecases.email_in import EmailIntake
    from mail.intake import IntakeLimits, read_message
    from ticketflow.composition import make_runtime

    runtime = make_runtime(EngineConfig(database_url=url))
    stream, figures, limits = Stream(), IngestFigures(), IntakeLimits()
    try:
        for _ in range(messages):
            kind, sender, raw = stream.next()
            began = time.perf_counter()
            outcome = EmailIntake.over(runtime).receive(read_message(raw, limits, "email"))
            figures.seconds[kind] += time.perf_counter() - began
            figures.count[kind] += 1
            figures.outcomes[outcome.outcome] += 1
            if outcome.outcome == "opened" and outcome.ticket_number:
                answers = first_message_id(runtime, outcome.ticket_number) or stream.message_id()
                stream.threads.append(Thread(outcome.ticket_number, sender, answers))
    finally:
        runtime.close()
    return figures


def first_message_id(runtime: Runtime, number: str) -> str | None:
    """The Message-ID of the first message queued to ticket ``number``: its acknowledgment."""
    from sqlalchemy import select

    from engine.store.models import OutboxMessage, Ticket

    with runtime.uow(read_only=True) as uow:
        found = uow.session.scalar(select(OutboxMessage.message_id).join(Ticket, Ticket.id == OutboxMessage.ticket_id)
                                   .where(Ticket.number == number).order_by(OutboxMessage.id).limit(1))
    return found
