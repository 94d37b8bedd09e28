"""Outbound webhook subscriptions: admins add, list and remove them, read each one's delivery history and the
dead letters, and redeliver. Events are queued by the step that causes them (``engine.store.webhooks``) and sent by
the worker (``webhooks.outbound``).

A subscription's URL must be http(s), carry no credentials, and not lead to this machine or its network: its host
must resolve to public addresses only, unless the host (or its address's range) is allowed by
``TICKETFLOW_WEBHOOKS_ALLOW_HOSTS``. The transport checks the resolved address again before every delivery.
"""
from __future__ import annotations

import ipaddress
import os
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast
from urllib.parse import urlsplit

from sqlalchemy import Table, func, insert, select, update

from engine import limits
from engine.access import Actor
from engine.errors import FieldError, Forbidden, InvalidInput, NotFound
from engine.store.models import NOT_DELIVERED, OutboxMessage, Ticket, WebhookAttempt, WebhookSubscription
from engine.store.webhooks import EVENT_TYPES, forget_subscriptions

from .base import RuntimeCore
from .channels import new_secret
from .outbox_admin import Requeue, requeue

ALLOW_HOSTS = "TICKETFLOW_WEBHOOKS_ALLOW_HOSTS"
SUBSCRIPTION = cast(Table, WebhookSubscription.__table__)
ATTEMPT = cast(Table, WebhookAttempt.__table__)
OUTBOX = cast(Table, OutboxMessage.__table__)
TICKET = cast(Table, Ticket.__table__)
Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], list[str]]


def resolve_host(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to (the system resolver)."""
    return sorted({str(info[4][0]) for info in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)})


@dataclass(frozen=True)
class HostPolicy:
    """Which non-public destinations are allowed anyway: host names, and address ranges (CIDR)."""

    hosts: frozenset[str] = frozenset()
    networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = ()

    @classmethod
    def parse(cls, value: str) -> HostPolicy:
        """From ``"127.0.0.1, hooks.internal, 10.0.0.0/8"`` (hosts or CIDR ranges, comma-separated)."""
        hosts, networks = set(), []
        for entry in (part.strip().lower() for part in value.split(",")):
            try:
                networks.append(ipaddress.ip_network(entry, strict=False))
            except ValueError:
                if entry:
                    hosts.add(entry)
        return cls(frozenset(hosts), tuple(networks))

    @classmethod
    def from_env(cls) -> HostPolicy:
        return cls.parse(os.environ.get(ALLOW_HOSTS, ""))

    def refuses(self, host: str, address: str) -> bool:
        """True when ``address`` (of ``host``) is loopback, private, link-local or otherwise not public and not
        allowed."""
        ip: Address = ipaddress.ip_address(address.split("%")[0])
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        if ip.is_global and not ip.is_multicast:
            return False
        return host.lower() not in self.hosts and not any(ip in network for network in self.networks)


def url_problem(url: Any, policy: HostPolicy, resolve: Resolver = resolve_host) -> str | None:
    """Why ``url`` cannot receive webhooks (None when it can)."""
    if not isinstance(url, str) or not url or len(url) > limits.RECIPIENT or limits.unstorable(url):
        return f"the URL must be text of at most {limits.RECIPIENT} characters"
    try:
        parts = urlsplit(url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        return "the URL is not a valid URL"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "the URL must start with http:// or https:// and name a host"
    if parts.username is not None or parts.password is not None:
        return "the URL must not contain a user name or password"
    return destination_problem(parts.hostname, port, policy, resolve)


def destination_problem(host: str, port: int, policy: HostPolicy, resolve: Resolver = resolve_host) -> str | None:
    """Why ``host`` must not be sent to: it does not resolve, or to an address that is not public (None: fine)."""
    try:
        addresses = resolve(host, port)
    except (OSError, UnicodeError):
        return f"the host {host} could not be resolved"
    if not addresses:
        return f"the host {host} could not be resolved"
    if any(policy.refuses(host, address) for address in addresses):
        return (f"the host {host} resolves to a loopback, private or link-local address "
                f"(allow it with {ALLOW_HOSTS} if that is intended)")
    return None


def events_problem(events: Any) -> str | None:
    """Why ``events`` is not a list of known event types (None when it is)."""
    if not isinstance(events, list) or not events or not all(isinstance(e, str) for e in events):
        return f"events must be a non-empty list of event types: {', '.join(EVENT_TYPES)}"
    unknown = sorted(set(events) - set(EVENT_TYPES))
    if unknown:
        return f"unknown event type(s) {', '.join(unknown)}; known: {', '.join(EVENT_TYPES)}"
    return None


@dataclass(frozen=True)
class SubscriptionView:
    """A subscription as admins see it: never its secret."""

    id: int
    url: str
    events: list[str]
    description: str
    disabled: bool
    disabled_reason: str | None
    created_at: datetime
    created_by: str

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "url": self.url, "events": self.events, "description": self.description,
                "disabled": self.disabled, "disabled_reason": self.disabled_reason,
                "created_at": self.created_at.isoformat(), "created_by": self.created_by}


@dataclass(frozen=True)
class DeliveryView:
    """One webhook row: the event, its ticket, its state, and its attempts (status code, latency, error)."""

    id: int
    subscription_id: int
    event: str
    ticket: str | None
    state: str
    attempts: list[dict[str, Any]]
    last_error: str | None
    next_attempt_at: datetime
    created_at: datetime

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "subscription_id": self.subscription_id, "event": self.event, "ticket": self.ticket,
                "state": self.state, "attempts": self.attempts, "last_error": self.last_error,
                "next_attempt_at": self.next_attempt_at.isoformat(), "created_at": self.created_at.isoformat()}


def _admin_only(actor: Actor) -> None:
    if actor.role != "admin":
        raise Forbidden(f"role '{actor.role}' may not manage webhook subscriptions (admins only)")


class SubscriptionAdmin:
    """Add, list and remove outbound webhook subscriptions; their deliveries, dead letters and redelivery."""

    def __init__(self, runtime: RuntimeCore, policy: HostPolicy | None = None,
                 resolve: Resolver = resolve_host) -> None:
        self.runtime = runtime
        self.policy = policy if policy is not None else HostPolicy.from_env()
        self.resolve = resolve

    def add(self, actor: Actor, url: Any, events: Any, description: Any = "") -> tuple[SubscriptionView, str]:
        """Subscribe ``url`` to ``events``; return the subscription and its signing secret (shown this once)."""
        _admin_only(actor)
        errors = [FieldError(pointer, problem) for pointer, problem in (
            ("/url", url_problem(url, self.policy, self.resolve)), ("/events", events_problem(events)),
            ("/description", None if isinstance(description, str) and len(description) <= limits.PERSON_NAME
             and not limits.unstorable(description) else
             f"the description must be text of at most {limits.PERSON_NAME} characters")) if problem]
        if errors:
            raise InvalidInput("the subscription cannot be added", errors)
        secret = new_secret()
        with self.runtime.uow() as uow:
            new_id = uow.connection.execute(insert(SUBSCRIPTION).values(
                url=url, event_types=sorted(set(events)), description=description, secret=secret, disabled=False,
                deleted=False, created_at=self.runtime.clock(), created_by=actor.name
            ).returning(SUBSCRIPTION.c.id)).scalar_one()
            uow.commit()
            forget_subscriptions(uow.connection)
        return self.get(actor, new_id), secret

    def list_subscriptions(self, actor: Actor) -> list[SubscriptionView]:
        """Every subscription not removed, oldest first."""
        _admin_only(actor)
        with self.runtime.uow(read_only=True) as uow:
            rows = uow.connection.execute(select(SUBSCRIPTION).where(SUBSCRIPTION.c.deleted.is_(False))
                                          .order_by(SUBSCRIPTION.c.id)).all()
        return [_subscription(row) for row in rows]

    def get(self, actor: Actor, subscription: int) -> SubscriptionView:
        """One subscription (404 when unknown or removed)."""
        _admin_only(actor)
        with self.runtime.uow(read_only=True) as uow:
            row = uow.connection.execute(select(SUBSCRIPTION).where(
                SUBSCRIPTION.c.id == subscription, SUBSCRIPTION.c.deleted.is_(False))).first()
        if row is None:
            raise NotFound(f"webhook subscription {subscription} does not exist")
        return _subscription(row)

    def remove(self, actor: Actor, subscription: int) -> None:
        """Stop sending to a subscription; its delivery history stays, its waiting events will not be sent."""
        self.get(actor, subscription)
        with self.runtime.uow() as uow:
            uow.connection.execute(update(SUBSCRIPTION).where(SUBSCRIPTION.c.id == subscription).values(deleted=True))
            uow.commit()
            forget_subscriptions(uow.connection)

    def deliveries(self, actor: Actor, subscription: int, limit: int = 50) -> list[DeliveryView]:
        """The subscription's latest deliveries, newest first, each with its attempts."""
        self.get(actor, subscription)
        return self._deliveries(OUTBOX.c.subscription_id == subscription, limit)

    def dead_letters(self, actor: Actor, limit: int = 100) -> list[DeliveryView]:
        """Webhook deliveries given up on (schedule spent, or refused for good), newest first."""
        _admin_only(actor)
        return self._deliveries((OUTBOX.c.channel == "webhook") & (OUTBOX.c.state == "dead") & NOT_DELIVERED, limit)

    def _deliveries(self, condition: Any, limit: int) -> list[DeliveryView]:
        with self.runtime.uow(read_only=True) as uow:
            rows = uow.connection.execute(
                select(OUTBOX.c.id, OUTBOX.c.subscription_id, OUTBOX.c.purpose, TICKET.c.number, OUTBOX.c.state,
                       OUTBOX.c.last_error, OUTBOX.c.next_attempt_at, OUTBOX.c.created_at)
                .select_from(OUTBOX.outerjoin(TICKET, TICKET.c.id == OUTBOX.c.ticket_id))
                .where(condition).order_by(OUTBOX.c.id.desc()).limit(limit)).all()
            attempts: dict[int, list[dict[str, Any]]] = {row.id: [] for row in rows}
            for attempt in uow.connection.execute(select(ATTEMPT).where(ATTEMPT.c.outbox_id.in_(list(attempts)))
                                                  .order_by(ATTEMPT.c.id)):
                attempts[attempt.outbox_id].append({
                    "attempt": attempt.attempt, "at": attempt.at.isoformat(), "status": attempt.status_code,
                    "latency_ms": attempt.latency_ms, "error": attempt.error})
        return [DeliveryView(row.id, row.subscription_id, row.purpose, row.number, row.state, attempts[row.id],
                             row.last_error, row.next_attempt_at, row.created_at) for row in rows]

    def redeliver(self, actor: Actor, delivery: int) -> DeliveryView:
        """Send a dead (or waiting) webhook delivery again now, on a fresh schedule; recorded in its ticket's
        history under the admin's name."""
        _admin_only(actor)
        now = self.runtime.clock()
        with self.runtime.uow() as uow:
            channel = uow.connection.execute(select(OUTBOX.c.channel).where(OUTBOX.c.id == delivery)).scalar()
            if channel != "webhook":  # an email is the outbox's, not a webhook delivery
                raise NotFound(f"webhook delivery {delivery} does not exist")
            requeue(uow.connection, delivery, actor, now, Requeue(
                f"webhook delivery {delivery}", "redeliver", "webhook_redelivery_requested", "delivery_id", "event"))
            uow.commit()
        return self._deliveries(OUTBOX.c.id == delivery, 1)[0]

    def count_active(self) -> int:
        """How many subscriptions receive events (for the pages)."""
        with self.runtime.uow(read_only=True) as uow:
            return int(uow.connection.execute(select(func.count()).select_from(SUBSCRIPTION).where(
                SUBSCRIPTION.c.deleted.is_(False), SUBSCRIPTION.c.disabled.is_(False))).scalar() or 0)


def _subscription(row: Any) -> SubscriptionView:
    return SubscriptionView(row.id, row.url, list(row.event_types), row.description, row.disabled,
                            row.disabled_reason, row.created_at, row.created_by)


def known_events() -> Sequence[str]:
    """The event types a subscription may name."""
    return EVENT_TYPES
