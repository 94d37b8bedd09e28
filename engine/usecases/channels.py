"""Webhook channels: the support channels (a web form, a chat tool, a gateway) that open tickets by signed webhook
(Standard Webhooks). Admins register, rotate and remove them; a verified delivery opens a ticket exactly once.

The signature check itself is not here (``webhooks.inbound`` does it with the ``standardwebhooks`` library); the
web layer is handed it as a ``DeliveryVerifier`` and calls it with the secrets this module keeps.
"""
from __future__ import annotations

import base64
import re
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, Protocol, cast

from sqlalchemy import Connection, Table, delete, func, insert, select
from sqlalchemy.exc import IntegrityError

from engine import limits
from engine.access import Actor
from engine.errors import Conflict, FieldError, Forbidden, InvalidInput, NotFound
from engine.store.models import Ticket, WebhookChannel, WebhookDelivery, WebhookSecret
from engine.views import TicketView

from .base import RuntimeCore
from .tickets import CHANNELS, WEBHOOK_INTAKE_ROLE, DeliveryKey, TicketIntake, TicketUseCases

NAME_RULE = f"1 to {limits.CHANNEL_NAME} lower-case letters, digits and dashes, starting with a letter or digit"
NAME_PATTERN = re.compile(rf"[a-z0-9][a-z0-9-]{{0,{limits.CHANNEL_NAME - 1}}}")
SECRET_PREFIX = "whsec_"
SECRET_BYTES = 32  # Standard Webhooks asks for 24 to 64 random bytes
MAX_SECRETS = 2  # the current one and, during a rotation, the one it replaces
PAYLOAD_FIELDS = ("subject", "description", "customer", "contact")
CHANNEL = cast(Table, WebhookChannel.__table__)
SECRET = cast(Table, WebhookSecret.__table__)
DELIVERY = cast(Table, WebhookDelivery.__table__)


@dataclass(frozen=True)
class ChannelView:
    """A channel as admins list it: never its secrets, only how many it has."""

    name: str
    created_at: datetime
    created_by: str
    secrets: int
    rotated_at: datetime  # when its newest secret was made
    tickets: int = 0  # how many tickets it opened (shown on the admins' page; the API document lists no such field)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "created_at": self.created_at.isoformat(), "created_by": self.created_by,
                "secrets": self.secrets, "rotated_at": self.rotated_at.isoformat()}


@dataclass(frozen=True)
class VerifiedDelivery:
    """A delivery whose signature and timestamp checked out: its webhook-id and its parsed JSON body."""

    webhook_id: str
    payload: Any


@dataclass(frozen=True)
class Refusal:
    """Why a delivery was not accepted: its signature (or headers), its timestamp, or a body that is not JSON."""

    reason: Literal["signature", "timestamp", "malformed"]
    detail: str


class DeliveryVerifier(Protocol):
    """Checks a delivery's Standard Webhooks headers and raw body against a channel's secrets."""

    def __call__(self, headers: Mapping[str, str], body: bytes, secrets: Sequence[str],
                 json_body: bool = True) -> VerifiedDelivery | Refusal:
        """With ``json_body`` False the body is only verified, not parsed (a raw email): the payload is None."""
        ...


@dataclass(frozen=True)
class Delivered:
    """The ticket a delivery opened; ``created`` is False when an earlier copy of it had opened the ticket."""

    ticket: TicketView
    created: bool


def channel_actor(name: str) -> Actor:
    """Who a channel's tickets are registered by: the channel itself, able to open tickets for a named customer."""
    return Actor(f"channel:{name}", WEBHOOK_INTAKE_ROLE)


def new_secret() -> str:
    """A fresh ``whsec_`` signing secret (base64 of random bytes, as Standard Webhooks senders expect)."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode("ascii")


def name_problem(name: Any) -> str | None:
    """Why ``name`` cannot name a webhook channel (None when it can)."""
    if not isinstance(name, str) or not NAME_PATTERN.fullmatch(name):
        return f"a channel name is {NAME_RULE}"
    if name in CHANNELS:
        return f"'{name}' is a built-in channel ({', '.join(CHANNELS)})"
    return None


class ChannelAdmin:
    """Register, list, rotate and remove webhook channels (admins only)."""

    def __init__(self, runtime: RuntimeCore) -> None:
        self.runtime = runtime

    def add(self, actor: Actor, name: str) -> str:
        """Register the channel ``name`` and return its signing secret (shown this once)."""
        _admin_only(actor)
        problem = name_problem(name)
        if problem:
            raise InvalidInput("the channel cannot be added", [FieldError("/name", problem)])
        secret, now = new_secret(), self.runtime.clock()
        with self.runtime.uow() as uow:
            try:
                channel_id = uow.connection.execute(insert(CHANNEL).values(
                    name=name, created_at=now, created_by=actor.name).returning(CHANNEL.c.id)).scalar_one()
            except IntegrityError:
                raise Conflict(f"a channel named '{name}' already exists") from None
            uow.connection.execute(insert(SECRET).values(channel_id=channel_id, secret=secret, created_at=now))
            uow.commit()
        return secret

    def list_channels(self, actor: Actor) -> list[ChannelView]:
        """Every channel by name, with how many secrets verify its deliveries."""
        _admin_only(actor)
        with self.runtime.uow(read_only=True) as uow:
            channels = uow.connection.execute(select(CHANNEL).order_by(CHANNEL.c.name)).all()
            made: dict[int, list[datetime]] = {}
            for channel_id, created_at in uow.connection.execute(select(SECRET.c.channel_id, SECRET.c.created_at)):
                made.setdefault(channel_id, []).append(created_at)
            opened = _tickets_opened(uow.connection, [row.name for row in channels])
        return [ChannelView(row.name, row.created_at, row.created_by, len(made.get(row.id, [])),
                            max(made.get(row.id, [row.created_at])), opened.get(row.name, 0)) for row in channels]

    def rotate(self, actor: Actor, name: str, retire: bool = False) -> str | None:
        """Add a second secret and return it (both verify until the older is retired); with ``retire``, drop every
        secret but the newest and return None."""
        _admin_only(actor)
        with self.runtime.uow() as uow:
            channel_id = _channel_id(uow.connection, name)
            held = uow.connection.execute(select(SECRET.c.id).where(SECRET.c.channel_id == channel_id)
                                          .order_by(SECRET.c.id)).scalars().all()
            if retire and len(held) < 2:
                raise Conflict(f"channel '{name}' has one secret: nothing to retire")
            if not retire and len(held) >= MAX_SECRETS:
                raise Conflict(f"channel '{name}' is already rotating: retire its older secret first")
            secret = None
            if retire:
                uow.connection.execute(delete(SECRET).where(SECRET.c.id.in_(held[:-1])))
            else:
                secret = new_secret()
                uow.connection.execute(insert(SECRET).values(channel_id=channel_id, secret=secret,
                                                             created_at=self.runtime.clock()))
            uow.commit()
        return secret

    def remove(self, actor: Actor, name: str) -> None:
        """Remove the channel: its secrets and its delivery keys go; the tickets it opened stay."""
        _admin_only(actor)
        with self.runtime.uow() as uow:
            channel_id = _channel_id(uow.connection, name)
            uow.connection.execute(delete(SECRET).where(SECRET.c.channel_id == channel_id))
            uow.connection.execute(delete(DELIVERY).where(DELIVERY.c.channel == name))
            uow.connection.execute(delete(CHANNEL).where(CHANNEL.c.id == channel_id))
            uow.commit()


class WebhookIntake:
    """Turn a verified delivery into a ticket, once per (channel, webhook-id)."""

    def __init__(self, runtime: TicketUseCases) -> None:
        self.runtime = runtime

    def secrets_of(self, name: str) -> list[str] | None:
        """The secrets that verify the channel's deliveries, newest first; None when no such channel exists."""
        if not isinstance(name, str) or not NAME_PATTERN.fullmatch(name):
            return None  # never a database round trip (nor an over-long value) for a name that cannot exist
        query = (select(SECRET.c.secret).join_from(SECRET, CHANNEL, SECRET.c.channel_id == CHANNEL.c.id)
                 .where(CHANNEL.c.name == name).order_by(SECRET.c.id.desc()))
        with self.runtime.uow(read_only=True) as uow:
            held = list(uow.connection.execute(query).scalars())
        return held or None

    def deliver(self, name: str, webhook_id: str, payload: Any) -> Delivered:
        """Open the ticket the delivery asks for, or find the one an earlier copy of it opened."""
        intake = intake_of(name, payload)
        key = DeliveryKey(name, webhook_id)
        actor = channel_actor(name)
        if not 1 <= len(webhook_id) <= limits.WEBHOOK_ID or limits.unstorable(webhook_id):
            raise InvalidInput("the delivery cannot be accepted", [
                FieldError("", f"the webhook-id must be 1 to {limits.WEBHOOK_ID} characters of text")])
        earlier = self._recorded(key)  # the usual retry: answered without running anything
        if earlier is None:
            try:
                return Delivered(self.runtime.open_ticket(intake, actor, key), created=True)
            except IntegrityError:  # a copy that arrived at the same moment won the key
                earlier = self._recorded(key)
                if earlier is None:
                    raise
        return Delivered(self.runtime.get_ticket(earlier, actor), created=False)

    def _recorded(self, key: DeliveryKey) -> str | None:
        """The number of the ticket the delivery ``key`` opened, if one did."""
        with self.runtime.uow(read_only=True) as uow:
            return delivered_ticket(uow.connection, key)


def delivered_ticket(connection: Connection, key: DeliveryKey) -> str | None:
    """The number of the ticket an earlier delivery with ``key`` opened (or, a raw email, landed on), if any."""
    query = (select(Ticket.__table__.c.number)
             .join_from(DELIVERY, Ticket.__table__, Ticket.__table__.c.id == DELIVERY.c.ticket_id)
             .where(DELIVERY.c.channel == key.channel, DELIVERY.c.webhook_id == key.webhook_id))
    return connection.execute(query).scalar()


def record_delivery(connection: Connection, key: DeliveryKey, ticket_id: int, now: datetime) -> None:
    """Write the delivery's key for the ticket it landed on; a second copy then fails on the unique key."""
    connection.execute(insert(DELIVERY).values(channel=key.channel, webhook_id=key.webhook_id, ticket_id=ticket_id,
                                               received_at=now))


def _tickets_opened(connection: Connection, names: list[str]) -> dict[str, int]:
    """How many tickets each of the channels ``names`` opened (their channel is the channel's name)."""
    if not names:
        return {}
    channel = Ticket.__table__.c.channel
    query = select(channel, func.count()).where(channel.in_(names)).group_by(channel)
    return {name: count for name, count in connection.execute(query)}


def intake_of(name: str, payload: Any) -> TicketIntake:
    """The ticket a delivery's body describes: ``{subject, description, customer, contact}``, nothing else."""
    if not isinstance(payload, dict):
        raise InvalidInput("the delivery cannot be accepted", [FieldError("", "the body must be a JSON object")])
    problems = [FieldError(f"/{key}", "unknown field") for key in sorted(set(payload) - set(PAYLOAD_FIELDS))]
    problems += [FieldError(f"/{key}", "required") for key in PAYLOAD_FIELDS if key not in payload]
    if problems:
        raise InvalidInput("the delivery cannot be accepted", problems)
    return TicketIntake(subject=payload["subject"], description=payload["description"],
                        customer=payload["customer"], contact=payload["contact"], channel=name)


def _channel_id(connection: Connection, name: str) -> int:
    """The id of the channel ``name``; NotFound when there is none."""
    found = connection.execute(select(CHANNEL.c.id).where(CHANNEL.c.name == name)).scalar() \
        if isinstance(name, str) and NAME_PATTERN.fullmatch(name) else None
    if found is None:
        raise NotFound(f"channel '{str(name)[:40]}' does not exist")
    return int(found)


def _admin_only(actor: Actor) -> None:
    if actor.role != "admin":
        raise Forbidden(f"role '{actor.role}' may not manage webhook channels (admins only)")
