"""A real SMTP server on loopback for the tests (aiosmtpd): it keeps what it receives, can refuse recipients,
and can be stopped and started again on the same port to play an outage."""
from __future__ import annotations

import socket
import threading
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller
from sqlalchemy import select

from engine.runtime import Runtime
from engine.store.models import OutboxMessage
from engine.usecases.outbox import OutboxDelivery
from mail.settings import MailSettings, SmtpServer
from mail.smtp import SmtpTransport

SENDER = "Support Desk <help@support.example>"


@dataclass
class Sink:
    """What the server received, in order; ``refused`` recipients get a 550."""

    received: list[EmailMessage] = field(default_factory=list)
    refused: set[str] = field(default_factory=set)
    deferred: set[str] = field(default_factory=set)  # answered 451: try again later
    parse: bool = True  # False: only count (the benchmark measures the sender, not this parser)
    count: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:
        if address in self.refused:
            return "550 5.1.1 mailbox unavailable"
        if address in self.deferred:
            return "451 4.3.0 try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.count += 1
        if not self.parse:
            return "250 2.0.0 Ok: counted"
        message = message_from_bytes(envelope.content, policy=policy.default)
        assert isinstance(message, EmailMessage)
        with self.lock:
            self.received.append(message)
        return "250 2.0.0 Ok: queued"

    def by_ticket(self, number: str) -> list[EmailMessage]:
        return [m for m in self.received if f"[{number}]" in str(m["Subject"])]


class SmtpSink:
    """An aiosmtpd Controller on 127.0.0.1 that can go down and come back on the same port."""

    def __init__(self) -> None:
        self.sink = Sink()
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self._controller: Controller | None = None

    def start(self) -> None:
        self._controller = Controller(self.sink, hostname="127.0.0.1", port=self.port)
        self._controller.start()

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def settings(self, timeout: float = 5.0) -> MailSettings:
        return MailSettings(SENDER, SmtpServer("127.0.0.1", self.port, "plain"), timeout)

    def delivery(self, runtime: Runtime, **options: Any) -> OutboxDelivery:
        return OutboxDelivery(runtime, SmtpTransport(self.settings()), **options)


def outbox_rows(runtime: Runtime) -> list[OutboxMessage]:
    """Every outbox row, oldest first."""
    with runtime.uow() as uow:
        return list(uow.session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))
