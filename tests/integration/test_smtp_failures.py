"""Mail servers that misbehave, for real on 127.0.0.1 (``socketserver``): one that never answers, one that stalls
after DATA, one that drops the connection in the middle of DATA, one that answers 421 at connect. Each is a
temporary failure retried later; the worker never waits longer than the SMTP timeout on it, and a message that
finally arrives does so once, with the Message-ID it was queued with."""
from __future__ import annotations

import socket
import socketserver
import threading
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import BinaryIO

import pytest

from engine.access import Actor
from engine.execution.clock import FakeClock
from engine.runtime import Runtime
from engine.usecases.audit import AuditService
from engine.usecases.outbox import OutboxDelivery
from mail.settings import MailSettings, SmtpServer
from mail.smtp import SmtpTransport
from tests.conftest import CUSTOMER, START, intake
from tests.integration.helpers import kinds
from tests.integration.mail_sink import SENDER, SmtpSink
from tests.integration.mail_sink import outbox_rows as rows
from ticketflow.worker import worker_round

TIMEOUT = 0.5  # seconds: TICKETFLOW_SMTP_TIMEOUT as these tests set it
ROUND_BOUND = 4.0  # seconds: generous, for a shared machine; a round held per message would take 10 x TIMEOUT more
Play = Callable[["MisbehavingServer", socket.socket], None]


class MisbehavingServer(socketserver.ThreadingTCPServer):
    """A TCP server on 127.0.0.1 that plays ``play`` on every connection until the test ends."""

    allow_reuse_address = True
    daemon_threads = True

    def __init__(self, play: Play, port: int = 0) -> None:
        super().__init__(("127.0.0.1", port), _Connection)
        self.play = play
        self.port: int = self.server_address[1]
        self.connections = 0
        self.heard: list[bytes] = []  # the lines of DATA it read before failing
        self.ending = threading.Event()  # set at teardown: a stalling server lets go
        threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def settings(self) -> MailSettings:
        return MailSettings(SENDER, SmtpServer("127.0.0.1", self.port, "plain"), TIMEOUT)

    def end(self) -> None:
        self.ending.set()
        self.shutdown()
        self.server_close()


class _Connection(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        server = self.server
        assert isinstance(server, MisbehavingServer)
        server.connections += 1
        server.play(server, self.request)


def never_answers(server: MisbehavingServer, connection: socket.socket) -> None:
    """Accept, then say nothing at all (not even the greeting)."""
    server.ending.wait(30)


def busy_at_connect(server: MisbehavingServer, connection: socket.socket) -> None:
    """Greet with 421, as a server does when overloaded or shutting down, and hang up."""
    connection.sendall(b"421 4.3.2 Service not available, try again later\r\n")


def converse_then(after_data: Callable[[MisbehavingServer, BinaryIO], None]) -> Play:
    """Talk proper SMTP up to DATA's 354, then do ``after_data`` with what the client sends."""

    def play(server: MisbehavingServer, connection: socket.socket) -> None:
        reader = connection.makefile("rb")
        connection.sendall(b"220 fake.example ESMTP\r\n")
        for line in reader:
            verb = line[:4].upper()
            if verb == b"QUIT":
                connection.sendall(b"221 bye\r\n")
                return
            if verb == b"DATA":
                connection.sendall(b"354 go ahead\r\n")
                after_data(server, reader)
                return
            connection.sendall(b"250 fake.example\r\n" if verb in (b"EHLO", b"HELO") else b"250 OK\r\n")

    return play


def stall_after_data(server: MisbehavingServer, reader: BinaryIO) -> None:
    """Read the whole message, then never give the final answer."""
    for line in reader:
        server.heard.append(line)
        if line == b".\r\n":
            break
    server.ending.wait(30)


def drop_mid_data(server: MisbehavingServer, reader: BinaryIO) -> None:
    """Read the headers as far as the Message-ID, then hang up with the rest of the message unread."""
    for line in reader:
        server.heard.append(line)
        if line.lower().startswith(b"message-id:"):
            return


def heard_message_id(server: MisbehavingServer) -> str:
    return next(line.split(b":", 1)[1].strip().decode() for line in server.heard
                if line.lower().startswith(b"message-id:"))


@pytest.fixture
def serve() -> Iterator[Callable[..., MisbehavingServer]]:
    """Start misbehaving servers; every one is ended at teardown."""
    started: list[MisbehavingServer] = []

    def start(play: Play, port: int = 0) -> MisbehavingServer:
        started.append(MisbehavingServer(play, port))
        return started[-1]

    yield start
    for server in started:
        server.end()


def timed_round(runtime: Runtime, delivery: OutboxDelivery) -> tuple[float, list[str]]:
    """One worker round with ``delivery``: (seconds it took, the lines it reported)."""
    lines: list[str] = []
    began = time.monotonic()
    worker_round(runtime, lines.append, delivery=delivery)
    return time.monotonic() - began, lines


def assert_retried_later(runtime: Runtime, number: str, *words: str) -> None:
    """The ticket's first message failed once, temporarily: pending, due again later, the failure in its history."""
    row = rows(runtime)[0]
    assert (row.state, row.attempts, row.sent_at, row.locked_until) == ("pending", 1, None, None)
    assert all(word in (row.last_error or "") for word in words), row.last_error
    failed = [e for e in runtime.ticket_history(number) if e.kind == "message_failed"]
    assert len(failed) == 1 and failed[0].data["permanent"] is False
    assert failed[0].data["next_attempt_at"] > (START + timedelta(seconds=59)).isoformat()
    assert "message_delivered" not in kinds(runtime, number)


def test_a_server_that_never_answers_is_given_up_after_the_timeout_and_retried_later(
        runtime: Runtime, serve: Callable[..., MisbehavingServer]) -> None:
    server = serve(never_answers)
    number = runtime.open_ticket(intake(), CUSTOMER).number
    took, lines = timed_round(runtime, OutboxDelivery(runtime, SmtpTransport(server.settings())))
    assert took < ROUND_BOUND and server.connections == 1
    assert "1 message(s) failed, to be retried later" in lines
    assert_retried_later(runtime, number, "could not be reached or dropped the connection", "timed out")
    assert AuditService(runtime).replay(number).consistent


def test_a_server_that_stalls_after_data_is_given_up_after_the_timeout_and_retried_later(
        runtime: Runtime, serve: Callable[..., MisbehavingServer]) -> None:
    server = serve(converse_then(stall_after_data))
    number = runtime.open_ticket(intake(), CUSTOMER).number
    took, lines = timed_round(runtime, OutboxDelivery(runtime, SmtpTransport(server.settings())))
    assert took < ROUND_BOUND and server.heard[-1] == b".\r\n"  # it had the whole message, and said nothing
    assert "1 message(s) failed, to be retried later" in lines
    assert_retried_later(runtime, number, "timed out")
    assert heard_message_id(server) == rows(runtime)[0].message_id


def test_a_hung_server_costs_a_round_one_timeout_not_one_per_waiting_message(
        runtime: Runtime, serve: Callable[..., MisbehavingServer]) -> None:
    server = serve(never_answers)
    for n in range(10):
        runtime.open_ticket(intake(subject=f"Login fails {n}"), CUSTOMER)
    delivery = OutboxDelivery(runtime, SmtpTransport(server.settings()))
    took, lines = timed_round(runtime, delivery)
    assert took < ROUND_BOUND and server.connections == 1  # timers and anchoring are not kept waiting
    assert "1 message(s) failed, to be retried later" in lines
    assert [(r.state, r.attempts, r.locked_until) for r in rows(runtime)] == (
        [("pending", 1, None)] + [("pending", 0, None)] * 9)  # the others were given back untried
    took, _ = timed_round(runtime, delivery)
    assert took < ROUND_BOUND and [r.attempts for r in rows(runtime)] == [1, 1] + [0] * 8  # the next one's turn


def test_a_drop_in_the_middle_of_data_is_retried_and_then_arrives_once_with_the_same_message_id(
        runtime: Runtime, clock: FakeClock, serve: Callable[..., MisbehavingServer]) -> None:
    server = serve(converse_then(drop_mid_data))
    number = runtime.open_ticket(intake(), CUSTOMER).number
    delivery = OutboxDelivery(runtime, SmtpTransport(server.settings()))
    assert len(delivery.deliver_due().failed) == 1
    assert_retried_later(runtime, number, "could not be reached or dropped the connection")
    dropped = heard_message_id(server)
    server.end()
    healthy = SmtpSink()
    healthy.port = server.port  # the same address the worker is configured with, now answering properly
    healthy.start()
    try:
        assert not delivery.deliver_due()  # not due yet: a minute and up to a fifth more
        clock.now += timedelta(minutes=2)
        assert len(delivery.deliver_due().delivered) == 1
        clock.now += timedelta(days=1)
        assert not delivery.deliver_due()
    finally:
        healthy.stop()
    assert [m["Message-ID"] for m in healthy.sink.received] == [dropped] == [rows(runtime)[0].message_id]
    assert [(r.state, r.attempts) for r in rows(runtime)] == [("delivered", 2)]
    assert [k for k in kinds(runtime, number) if k.startswith("message_")] == [
        "message_queued", "message_failed", "message_delivered"]
    assert AuditService(runtime).replay(number).consistent


def test_a_server_that_answers_421_at_connect_is_a_temporary_failure(
        runtime: Runtime, serve: Callable[..., MisbehavingServer]) -> None:
    server = serve(busy_at_connect)
    number = runtime.open_ticket(intake(), CUSTOMER).number
    runtime.open_ticket(intake(subject="Printer prints blank pages"), CUSTOMER)
    report = OutboxDelivery(runtime, SmtpTransport(server.settings())).deliver_due()
    assert len(report.failed) == 1 and not report.dead and report.released == 1 and server.connections == 1
    assert_retried_later(runtime, number, "refused the connection: 421", "try again later")
    assert rows(runtime)[1].attempts == 0


def test_a_refusal_of_one_recipient_does_not_stop_the_round_for_the_others(
        runtime: Runtime, smtp: SmtpSink) -> None:
    smtp.sink.deferred.add("alice@example.com")  # 451 for alice only: about her mailbox, not the server
    runtime.open_ticket(intake(), CUSTOMER)
    runtime.open_ticket(intake(customer="bob", subject="Printer prints blank pages"), Actor("bob", "customer"))
    report = OutboxDelivery(runtime, SmtpTransport(smtp.settings(TIMEOUT))).deliver_due()
    assert len(report.failed) == 1 and len(report.delivered) == 1 and report.released == 0
    assert [m["To"] for m in smtp.sink.received] == ["bob@example.com"]
