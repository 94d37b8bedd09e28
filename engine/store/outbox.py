"""The outbox's delivery bookkeeping: claiming due messages under a lease, and settling each attempt.

A claim is one statement: the due, unleased email rows, oldest first, at most one per ticket (a ticket's
later message waits until its earlier one is delivered, held or dead, so a customer reads them in order),
locked with ``FOR UPDATE SKIP LOCKED`` on PostgreSQL so that workers on any host never take the same row.
The lease (``locked_until``) outlives the claim's transaction: a worker killed while sending leaves the row
pending, claimable again once its lease has passed (at-least-once, the same Message-ID every time).
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from engine.store.driver import Driver


@dataclass(frozen=True, slots=True)
class OutboxItem:
    """One claimed message, everything a transport needs to send it."""

    id: int
    ticket_id: int | None
    ticket_number: str | None
    purpose: str
    recipient: str
    subject: str
    body: str
    html: str | None
    message_id: str
    in_reply_to: str | None
    attempts: int  # this attempt included
    created_at: datetime
    locked_until: datetime
    channel: str = "email"  # email | webhook: which transport and retry schedule
    subscription_id: int | None = None  # a webhook row's subscription (its URL is ``recipient``)
    secret: str | None = field(default=None, repr=False)  # the subscription's signing secret
    subscription_disabled: bool = False  # disabled or removed since the row was queued


_ITEM = ("o.id", "o.ticket_id", "t.number", "o.purpose", "o.recipient", "o.subject", "o.body", "o.html",
         "o.message_id", "o.in_reply_to", "o.attempts", "o.created_at", "o.locked_until", "o.channel",
         "o.subscription_id", "s.secret", "COALESCE(s.disabled OR s.deleted, FALSE)")
_TIMES = {name for name in ("created_at", "locked_until")}
_DUE = ("o.channel IN ({channels}) AND o.state = 'pending' AND o.state <> 'delivered' AND o.next_attempt_at <= ? "
        "AND (o.locked_until IS NULL OR o.locked_until <= ?)")
# In order per ticket and destination: the mailbox, or each webhook subscription.
_FIRST_OF_TICKET = ("NOT EXISTS (SELECT 1 FROM outbox e WHERE e.ticket_id = o.ticket_id AND e.channel = o.channel "
                    "AND COALESCE(e.subscription_id, 0) = COALESCE(o.subscription_id, 0) "
                    "AND e.state = 'pending' AND e.id < o.id)")
_SQL_CLAIM = ("UPDATE outbox SET locked_until = ?, claimed_by = ?, attempts = attempts + 1 WHERE id IN ("
              f"SELECT o.id FROM outbox o WHERE {_DUE} AND {_FIRST_OF_TICKET} ORDER BY o.id LIMIT ?{{lock}}) "
              "AND (locked_until IS NULL OR locked_until <= ?)")
_SQL_CLAIMED = (f"SELECT {', '.join(_ITEM)} FROM outbox o LEFT JOIN ticket t ON t.id = o.ticket_id "
                "LEFT JOIN webhook_subscription s ON s.id = o.subscription_id "
                "WHERE o.claimed_by = ? AND o.state = 'pending' ORDER BY o.id")
_SQL_DELIVERED = ("UPDATE outbox SET state = 'delivered', sent_at = ?, delivery_response = ?, last_error = NULL, "
                  "locked_until = NULL, claimed_by = NULL WHERE id = ? AND state = 'pending'")
_SQL_FAILED = ("UPDATE outbox SET state = ?, next_attempt_at = ?, last_error = ?, locked_until = NULL, "
               "claimed_by = NULL WHERE id = ? AND state = 'pending' AND claimed_by = ?")
_SQL_RELEASE = ("UPDATE outbox SET locked_until = NULL, claimed_by = NULL, attempts = attempts - 1 "
                "WHERE claimed_by = ? AND state = 'pending'")
_SQL_HOLD = (f"UPDATE outbox SET state = 'held' WHERE id IN (SELECT o.id FROM outbox o WHERE "
             f"{_DUE.format(channels=repr('email'))})")
_SQL_RETRY = ("UPDATE outbox SET state = 'pending', attempts = 0, next_attempt_at = ?, locked_until = NULL, "
              "claimed_by = NULL WHERE id = ? AND state IN ('pending', 'held', 'dead') "
              "AND (locked_until IS NULL OR locked_until <= ?)")
_SQL_STATE = "SELECT state, attempts, ticket_id, purpose FROM outbox WHERE id = ?"
EMAIL = ("email",)


class OutboxStore:
    """Outbox rows within the current transaction. Never commits."""

    def __init__(self, connection: Connection) -> None:
        self.sql = Driver.of(connection)

    def claim(self, now: datetime, lease_until: datetime, token: str, batch: int,
              channels: Sequence[str] = EMAIL) -> list[OutboxItem]:
        """Lease up to ``batch`` due messages of ``channels`` to ``token`` (counting the attempt) and return them,
        oldest first."""
        time_in = self.sql.time_in
        lock = " FOR UPDATE OF o SKIP LOCKED" if self.sql.postgres else ""
        named = ", ".join(repr(c) for c in channels if c in ("email", "webhook"))  # fixed words, never input
        self.sql.execute(_SQL_CLAIM.format(lock=lock, channels=named),
                         (time_in(lease_until), token, time_in(now), time_in(now), batch, time_in(now)))
        return [self._item(row) for row in self.sql.execute(_SQL_CLAIMED, (token,)).fetchall()]

    def _item(self, row: Sequence[Any]) -> OutboxItem:
        names = [f.name for f in fields(OutboxItem)]
        values: list[Any] = [self.sql.time_out(v) if name in _TIMES else v for name, v in zip(names, row, strict=True)]
        values[-1] = bool(values[-1])  # SQLite answers 0 or 1
        return OutboxItem(*values)

    def delivered(self, message: int, at: datetime, response: str) -> bool:
        """Mark a message delivered (whoever's lease it is under: it was sent); False if it no longer waited."""
        return self.sql.execute(_SQL_DELIVERED, (self.sql.time_in(at), response, message)).rowcount == 1

    def failed(self, message: int, token: str, error: str, retry_at: datetime | None, now: datetime) -> bool:
        """Schedule the next attempt at ``retry_at``, or give up (``dead``) when None; False if the lease was lost."""
        state, when = ("pending", retry_at) if retry_at is not None else ("dead", now)
        params = (state, self.sql.time_in(when), error, message, token)
        return self.sql.execute(_SQL_FAILED, params).rowcount == 1

    def release(self, token: str) -> int:
        """Give back the messages still leased to ``token``, unsent (their attempt is not counted)."""
        return int(self.sql.execute(_SQL_RELEASE, (token,)).rowcount)

    def hold_due(self, now: datetime) -> int:
        """Keep every due message as ``held`` (email is not configured); return how many."""
        time_in = self.sql.time_in
        return int(self.sql.execute(_SQL_HOLD, (time_in(now), time_in(now))).rowcount)

    def state(self, message: int) -> tuple[str, int, int | None, str] | None:
        """(state, attempts, ticket id, purpose) of a message, or None when there is no such message."""
        row = self.sql.one(_SQL_STATE, (message,))
        return (row[0], int(row[1]), row[2], row[3]) if row is not None else None

    def retry(self, message: int, now: datetime) -> bool:
        """Make a held, dead or waiting message due now, its attempts counted afresh; False if it is in flight."""
        time_in = self.sql.time_in
        return self.sql.execute(_SQL_RETRY, (time_in(now), message, time_in(now))).rowcount == 1
