"""Delivering the outbox: claim due messages under a lease, hand each to a transport outside any transaction,
then settle it (delivered, retried later, or dead) with an event in the ticket's history; and the admin's view.

Retries back off on ``RETRY_SCHEDULE`` (1 min, 5 min, 15 min, 1 h, 3 h, 6 h, 12 h: about 22 hours in all,
each wait stretched by up to a fifth at random so that a server back from an outage is not hit by every
message at once); the attempt after the last wait that fails too makes the message ``dead``. A permanent
refusal (an SMTP 5xx: no such mailbox, message refused) makes it dead at once: retrying cannot help. When the
server itself is unavailable (unreachable, silent past its timeout, hanging up) the round stops after that one
attempt and gives the rest back: every other message would wait out the same timeout, holding the worker.
"""
from __future__ import annotations

import random
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import Connection

from engine.errors import Conflict
from engine.limits import clip
from engine.store.history import Journal
from engine.store.outbox import OutboxItem, OutboxStore
from engine.store.tickets import TicketStore
from engine.store.webhooks import disable_subscription, record_attempt

from .base import RuntimeCore

RETRY_SCHEDULE = (timedelta(minutes=1), timedelta(minutes=5), timedelta(minutes=15), timedelta(hours=1),
                  timedelta(hours=3), timedelta(hours=6), timedelta(hours=12))
# Standard Webhooks' suggested schedule: about three days in all.
WEBHOOK_SCHEDULE = (timedelta(seconds=5), timedelta(minutes=5), timedelta(minutes=30), timedelta(hours=2),
                    timedelta(hours=5), timedelta(hours=10), timedelta(hours=14), timedelta(hours=20),
                    timedelta(hours=24))
SCHEDULES = {"email": RETRY_SCHEDULE, "webhook": WEBHOOK_SCHEDULE}
LONGEST_RETRY_AFTER = timedelta(hours=24)  # a receiver's Retry-After beyond this is taken as this
LEASE = timedelta(minutes=10)  # a claimed batch must be sent within it (see MessageTransport.send_budget)
BATCH = 10
SETTLE_TRIES = 5  # a version conflict with a step of the same ticket: read it again and record once more
ACTOR = "worker"
ERROR_TEXT = 500


class DeliveryError(Exception):
    """A transport could not deliver: ``permanent`` when retrying cannot help (SMTP 5xx), else temporary;
    ``unavailable`` when the server could take no message just now (so none is tried again this round)."""

    def __init__(self, reason: str, permanent: bool = False, unavailable: bool = False, *,
                 retry_after: timedelta | None = None, status: int | None = None, latency_ms: int = 0,
                 disable: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.permanent = permanent
        self.unavailable = unavailable
        self.retry_after = retry_after  # the receiver's Retry-After: the next attempt waits exactly this
        self.status = status  # an HTTP receiver's status code, when it answered
        self.latency_ms = latency_ms
        self.disable = disable  # why the webhook subscription is disabled for good (a 410), if it is


class Answer(str):
    """A transport's answer on acceptance; an HTTP transport adds the status code and the latency."""

    status: int | None
    latency_ms: int

    def __new__(cls, text: str, status: int | None = None, latency_ms: int = 0) -> Answer:
        answer = super().__new__(cls, text)
        answer.status, answer.latency_ms = status, latency_ms
        return answer


class MessageTransport(Protocol):
    """Sends one message (``mail.smtp.SmtpTransport``); answers the server's words or raises DeliveryError."""

    send_budget: timedelta  # the longest one delivery may take (connect, talk, send), timeouts included

    def deliver(self, item: OutboxItem) -> str:
        """Send ``item``; return the server's answer on acceptance."""
        ...

    def close(self) -> None:
        """Let go of any connection kept between deliveries."""
        ...


@dataclass
class DeliveryReport:
    """What one round of delivery did, by outbox id."""

    delivered: list[int] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)  # to be retried
    dead: list[int] = field(default_factory=list)
    held: int = 0
    released: int = 0  # claimed but given back unsent (stopping, or the lease running short)

    def __bool__(self) -> bool:
        return bool(self.delivered or self.failed or self.dead or self.held)


def retry_delay(attempts: int, jitter: Callable[[], float] = random.random,
                schedule: Sequence[timedelta] = RETRY_SCHEDULE) -> timedelta | None:
    """The wait after the ``attempts``-th failed attempt, or None when the schedule is spent (give up)."""
    if attempts > len(schedule):
        return None
    return schedule[attempts - 1] * (1 + jitter() / 5)


class ChannelTransport:
    """A ``MessageTransport`` that hands each row to the transport of its channel (email, webhook)."""

    def __init__(self, transports: Mapping[str, MessageTransport]) -> None:
        self.transports = dict(transports)
        self.send_budget = max((t.send_budget for t in self.transports.values()), default=timedelta(0))

    def deliver(self, item: OutboxItem) -> str:
        """Send ``item`` with its channel's transport."""
        transport = self.transports.get(item.channel)
        if transport is None:
            raise DeliveryError(f"no transport delivers the {item.channel} channel")
        return transport.deliver(item)

    def close(self) -> None:
        """Close every channel's transport."""
        for transport in self.transports.values():
            transport.close()


def destination(item: OutboxItem) -> str:
    """What an unavailable server takes down with it: the mail server, or one webhook receiver."""
    return f"webhook:{item.subscription_id}" if item.channel == "webhook" else item.channel


class OutboxDelivery:
    """Delivers due rows through ``transport`` (a ``ChannelTransport`` for email and webhooks, or one email
    transport); email rows are held while no transport delivers email (email not configured)."""

    def __init__(self, runtime: RuntimeCore, transport: MessageTransport | None, batch: int = BATCH,
                 lease: timedelta = LEASE) -> None:
        self.runtime = runtime
        self.transport = transport
        self.batch = batch
        self.lease = lease
        transports = getattr(transport, "transports", None)
        self.channels: tuple[str, ...] = (tuple(transports) if isinstance(transports, dict)
                                          else ("email",) if transport is not None else ())

    @property
    def holds_email(self) -> bool:
        """True when no transport sends email (email not configured): email rows are kept as held."""
        return "email" not in self.channels

    def deliver_due(self, stopping: Callable[[], bool] = lambda: False) -> DeliveryReport:
        """Deliver every due row, batch after batch; when ``stopping()`` turns true the row in hand is
        finished and the rest of the batch is released at once (another worker may take it)."""
        report = DeliveryReport()
        if self.holds_email:
            report.held = self._hold_due()
        if self.transport is None or not self.channels:
            return report
        try:
            while not stopping():
                token, items = self._claim()
                if not items or not self._send_batch(self.transport, token, items, report, stopping):
                    break
        finally:
            self.transport.close()
        return report

    def _send_batch(self, transport: MessageTransport, token: str, items: list[OutboxItem],
                    report: DeliveryReport, stopping: Callable[[], bool]) -> bool:
        """Send the batch in order, skipping the rows of a server found unavailable; False when one was (the
        round ends: its rows would only be claimed again)."""
        down: set[str] = set()
        try:
            for item in items:
                if stopping() or self.runtime.clock() + transport.send_budget > item.locked_until:
                    break
                if destination(item) not in down and not self._attempt(transport, token, item, report):
                    down.add(destination(item))
            return not down
        finally:
            report.released += self._release(token)  # whatever is left of the batch, also after a crash

    def _attempt(self, transport: MessageTransport, token: str, item: OutboxItem, report: DeliveryReport) -> bool:
        """Send and settle one row; False when its failure says the server is unavailable."""
        failure: DeliveryError | None = None
        try:
            answer = transport.deliver(item)
        except DeliveryError as refused:
            failure = refused
        except Exception as unexpected:  # noqa: BLE001 - a transport bug must not lose the message
            failure = DeliveryError(f"unexpected error while sending ({type(unexpected).__name__})")
        if failure is None:
            if self._settle(item, token, answer=answer):
                report.delivered.append(item.id)
            return True
        retry_at = None if failure.permanent else self._retry_at(item, failure.retry_after)
        if self._settle(item, token, failure=failure, retry_at=retry_at):
            (report.failed if retry_at is not None else report.dead).append(item.id)
        return not failure.unavailable

    def _retry_at(self, item: OutboxItem, retry_after: timedelta | None) -> datetime | None:
        delay = retry_delay(item.attempts, schedule=SCHEDULES.get(item.channel, RETRY_SCHEDULE))
        if delay is not None and retry_after is not None:
            delay = min(retry_after, LONGEST_RETRY_AFTER)  # the receiver said when: no sooner, no jitter
        return None if delay is None else self.runtime.clock() + delay

    def _claim(self) -> tuple[str, list[OutboxItem]]:
        token, now = str(uuid.uuid4()), self.runtime.clock()
        with self.runtime.uow() as uow:
            items = OutboxStore(uow.connection).claim(now, now + self.lease, token, self.batch, self.channels)
            uow.commit()
        return token, items

    def _release(self, token: str) -> int:
        with self.runtime.uow() as uow:
            released = OutboxStore(uow.connection).release(token)
            uow.commit()
        return released

    def _hold_due(self) -> int:
        with self.runtime.uow() as uow:
            held = OutboxStore(uow.connection).hold_due(self.runtime.clock())
            uow.commit()
        return held

    def _settle(self, item: OutboxItem, token: str, *, answer: str | None = None,
                failure: DeliveryError | None = None, retry_at: datetime | None = None) -> bool:
        """Record the attempt on the row and in the ticket's history, in one version-checked transaction."""
        for _ in range(SETTLE_TRIES):
            try:
                return self._settle_once(item, token, answer, failure, retry_at)
            except Conflict:
                continue  # a step of the same ticket committed meanwhile: read the ticket again
        raise Conflict(f"message {item.id}: the ticket kept changing; its delivery will be recorded next round")

    def _settle_once(self, item: OutboxItem, token: str, answer: str | None, failure: DeliveryError | None,
                     retry_at: datetime | None) -> bool:
        now = self.runtime.clock()
        data: dict[str, Any]
        with self.runtime.uow() as uow:
            outbox, store = OutboxStore(uow.connection), TicketStore(uow.connection)
            if failure is None:
                outcome, data = "delivered", {"response": clip(answer or "", ERROR_TEXT)}
                changed = outbox.delivered(item.id, now, data["response"])
            else:
                error = clip(failure.reason, ERROR_TEXT)
                outcome, data = "failed", {"error": error, "permanent": failure.permanent,
                                           "next_attempt_at": retry_at.isoformat() if retry_at else None}
                changed = outbox.failed(item.id, token, error, retry_at, now)
            if not changed:
                return False  # settled already (a lease that ran out, then another worker)
            if item.channel == "webhook":
                data = {**data, **_webhook_attempt(uow.connection, item, answer, failure, now)}
            ticket = store.ticket(item.ticket_id) if item.ticket_id is not None else None
            if ticket is not None:
                seen, journal = ticket.version, Journal(ticket)
                journal.record(_history_kind(item, outcome), ACTOR, now, {**_row_facts(item), **data})
                store.save(ticket, journal.take())
            uow.commit()
        if ticket is not None:
            self.runtime.workflows.moved(ticket.id, seen, ticket.version)
        return True


def _history_kind(item: OutboxItem, outcome: str) -> str:
    return f"{'webhook' if item.channel == 'webhook' else 'message'}_{outcome}"


def _row_facts(item: OutboxItem) -> dict[str, Any]:
    if item.channel == "webhook":
        return {"delivery_id": item.id, "event": item.purpose, "subscription": item.subscription_id,
                "attempt": item.attempts}
    return {"message_id": item.id, "purpose": item.purpose, "attempt": item.attempts}


def _webhook_attempt(connection: Connection, item: OutboxItem, answer: str | None, failure: DeliveryError | None,
                     now: datetime) -> dict[str, Any]:
    """Keep the attempt (status code, latency) for the subscription's delivery history; a 410 disables it."""
    status = failure.status if failure is not None else getattr(answer, "status", None)
    latency = failure.latency_ms if failure is not None else int(getattr(answer, "latency_ms", 0))
    assert item.subscription_id is not None
    record_attempt(connection, item.id, item.subscription_id, item.attempts, now, status, latency,
                   clip(failure.reason, ERROR_TEXT) if failure is not None else None)
    if failure is not None and failure.disable:
        disable_subscription(connection, item.subscription_id, failure.disable)
    return {"status": status, "latency_ms": latency}
