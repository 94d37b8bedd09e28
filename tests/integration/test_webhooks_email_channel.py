"""A mail gateway's channel over real HTTP on loopback: raw RFC 5322 messages posted to
`/webhooks/inbound/{channel}/email`, signed by the `standardwebhooks` library as a gateway would sign them, are read
and threaded as `ticketflow mail ingest` reads them; every refusal stores nothing."""
from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from werkzeug.serving import make_server

from engine.access import Actor
from engine.runtime import Runtime
from engine.store.models import ConversationEntry, Ticket, WebhookDelivery
from engine.usecases.channels import ChannelAdmin
from engine.usecases.email_in import EmailIntake
from mail.intake import IntakeLimits, WebhookMailIntake
from tests.conftest import CUSTOMER, intake
from tests.integration.mail_sink import outbox_rows
from tests.integration.test_webhooks_inbound import signed
from web.app import WebSettings, create_app
from webhooks.inbound import StandardWebhooksVerifier

ROOT = Actor("root", "admin")
CORPUS = Path(__file__).resolve().parents[1] / "data" / "mail"
MAX_BODY = 4096  # the API's limit: a raw email is held to the mail limit instead
MAX_MESSAGE = 16 * 1024


class Server:
    """The app served by werkzeug in threads, with the email intake the composition root wires."""

    def __init__(self, runtime: Runtime) -> None:
        ingest = WebhookMailIntake(EmailIntake.over(runtime), IntakeLimits(message=MAX_MESSAGE))
        app = create_app(runtime, WebSettings(secret_key="test-secret", max_body=MAX_BODY),
                         verifier=StandardWebhooksVerifier(), ingest_email=ingest)
        self.runtime = runtime
        self.http = make_server("127.0.0.1", 0, app, threaded=True)
        self.url = f"http://127.0.0.1:{self.http.server_port}"
        self.thread = threading.Thread(target=self.http.serve_forever, daemon=True)
        self.thread.start()

    def post(self, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, dict[str, str], Any]:
        sent = {"Content-Type": "message/rfc822", **headers}
        request = urllib.request.Request(self.url + path, data=body, headers=sent, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                return response.status, dict(response.headers), json.loads(response.read() or b"null")
        except urllib.error.HTTPError as error:
            return error.code, dict(error.headers), json.loads(error.read() or b"null")

    def mail(self, raw: bytes, secret: str, webhook_id: str = "msg_1", channel: str = "mailgw",
             at: datetime | None = None) -> tuple[int, dict[str, str], Any]:
        return self.post(f"/webhooks/inbound/{channel}/email", raw, signed(secret, raw, webhook_id, at))

    def stop(self) -> None:
        self.http.shutdown()
        self.thread.join(timeout=5)


def corpus(name: str, ticket: str = "T-000000", in_reply_to: str = "<none@localhost>") -> bytes:
    raw = (CORPUS / name).read_bytes()
    return raw.replace(b"@@TICKET@@", ticket.encode()).replace(b"@@IN_REPLY_TO@@", in_reply_to.encode())


def stored(runtime: Runtime) -> tuple[int, int, int]:
    """(tickets, conversation entries, delivery keys) in the database."""
    with runtime.uow(read_only=True) as uow:
        return tuple(uow.connection.execute(select(func.count()).select_from(table)).scalar_one()  # type: ignore
                     for table in (Ticket.__table__, ConversationEntry.__table__, WebhookDelivery.__table__))


def entries_of(runtime: Runtime, number: str) -> list[ConversationEntry]:
    with runtime.uow() as uow:
        ticket_id = uow.session.scalar(select(Ticket.id).where(Ticket.number == number))
        return list(uow.session.scalars(select(ConversationEntry).where(ConversationEntry.ticket_id == ticket_id)
                                        .order_by(ConversationEntry.id)))


@pytest.fixture
def server(runtime: Runtime) -> Iterator[Server]:
    served = Server(runtime)
    yield served
    served.stop()


@pytest.fixture
def secret(runtime: Runtime) -> str:
    return ChannelAdmin(runtime).add(ROOT, "mailgw")


def alices_ticket(runtime: Runtime) -> tuple[str, str]:
    """Alice's ticket and the Message-ID of our first email on it (the acknowledgment), as her reply quotes it."""
    number = runtime.open_ticket(intake(), CUSTOMER).number
    return number, outbox_rows(runtime)[-1].message_id


def test_a_signed_new_message_opens_a_ticket_on_the_channel_for_its_sender(server: Server, secret: str) -> None:
    status, headers, answer = server.mail(corpus("new_request.eml"), secret)
    assert status == 201, answer
    assert answer["outcome"] == "opened" and headers["Location"].endswith(f"/tickets/{answer['number']}")
    ticket = server.runtime.get_ticket(answer["number"])
    assert (ticket.channel, ticket.customer, ticket.registered_by) == ("mailgw", "carol@example.org", "channel:mailgw")
    assert ticket.subject == "Printer on floor 3 prints blank pages" and "blank pages" in ticket.description
    assert [entry.message_id for entry in entries_of(server.runtime, ticket.number)] == ["<new-request-1@example.org>"]
    assert stored(server.runtime) == (1, 1, 1)
    assert [channel.tickets for channel in ChannelAdmin(server.runtime).list_channels(ROOT)] == [1]


def test_a_signed_reply_lands_in_the_conversation_of_the_ticket_it_answers(server: Server, secret: str) -> None:
    number, our_message = alices_ticket(server.runtime)
    status, _, answer = server.mail(corpus("apple_mail_reply.eml", number, our_message), secret, "msg_reply")
    assert status == 200, answer
    assert answer == {"outcome": "added", "number": number}
    received = entries_of(server.runtime, number)
    assert [(entry.direction, entry.author) for entry in received] == [("inbound", "alice")]
    assert stored(server.runtime) == (1, 1, 1)


def test_an_auto_reply_is_recorded_and_answers_nothing(server: Server, secret: str) -> None:
    number, our_message = alices_ticket(server.runtime)
    before = server.runtime.get_ticket(number)
    status, _, answer = server.mail(corpus("auto_reply.eml", number, our_message), secret, "msg_auto")
    assert status == 200 and answer == {"outcome": "internal", "number": number}, answer
    [entry] = entries_of(server.runtime, number)
    assert entry.auto_reply and entry.visibility == "internal"
    after = server.runtime.get_ticket(number)
    assert (after.status, after.current_steps) == (before.status, before.current_steps)
    assert len(outbox_rows(server.runtime)) == 1  # nothing was written back to the out-of-office
    unmatched = server.mail(corpus("bounce.eml"), secret, "msg_bounce")
    assert unmatched[0] == 200 and unmatched[2] == {"outcome": "recorded", "number": None}
    assert stored(server.runtime)[0] == 1


def test_the_same_webhook_id_twice_is_one_entry_and_answers_the_same_ticket(server: Server, secret: str) -> None:
    raw = corpus("new_request.eml")
    first, again = server.mail(raw, secret, "msg_twice"), server.mail(raw, secret, "msg_twice")
    assert (first[0], again[0]) == (201, 200)
    assert again[2] == {"outcome": "duplicate", "number": first[2]["number"]}
    number, our_message = alices_ticket(server.runtime)
    reply = corpus("apple_mail_reply.eml", number, our_message)
    assert [server.mail(reply, secret, "msg_reply_twice")[2] for _ in range(2)] == [
        {"outcome": "added", "number": number}, {"outcome": "duplicate", "number": number}]
    assert len(entries_of(server.runtime, number)) == 1
    assert stored(server.runtime) == (2, 2, 2)


def test_ten_copies_at_the_same_moment_open_one_ticket_with_one_entry(server: Server, secret: str) -> None:
    raw = corpus("new_request.eml")
    headers = signed(secret, raw, "msg_simultaneous")
    start = threading.Barrier(10)
    answers: list[tuple[int, Any]] = []

    def send() -> None:
        start.wait()
        status, _, body = server.post("/webhooks/inbound/mailgw/email", raw, headers)
        answers.append((status, body.get("number", body.get("detail"))))

    threads = [threading.Thread(target=send) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert sorted(status for status, _ in answers) == [200] * 9 + [201], answers
    assert len({number for _, number in answers}) == 1
    assert stored(server.runtime) == (1, 1, 1)


def ago(minutes: int) -> datetime:
    return datetime.now(UTC) - timedelta(minutes=minutes)


NEW = corpus("new_request.eml")
STRANGER = "whsec_" + "QUFB" * 11  # a well-formed secret the channel never had
Send = Callable[[Server, str], tuple[int, dict[str, str], Any]]
REFUSED: list[tuple[str, Send, int]] = [
    ("an unknown channel", lambda s, key: s.mail(NEW, key, channel="nosuch"), 404),
    ("no signature headers", lambda s, key: s.post("/webhooks/inbound/mailgw/email", NEW, {}), 401),
    ("another secret's signature", lambda s, key: s.mail(NEW, STRANGER), 401),
    ("a signature over other bytes", lambda s, key: s.post("/webhooks/inbound/mailgw/email", NEW + b"x",
                                                            signed(key, NEW, "msg_1")), 401),
    ("a timestamp six minutes old", lambda s, key: s.mail(NEW, key, at=ago(6)), 401),
    ("a broken MIME structure", lambda s, key: s.mail(corpus("broken.eml"), key), 400),
    ("a message without a sender", lambda s, key: s.mail(b"Subject: who am I\r\n\r\nno From header here\r\n", key),
     400),
    ("an empty message", lambda s, key: s.mail(b"\r\n", key), 400),
    ("a message over the limit", lambda s, key: s.mail(NEW + b"x" * MAX_MESSAGE, key), 413),
    ("a JSON body", lambda s, key: s.post("/webhooks/inbound/mailgw/email", b"{}", {
        **signed(key, b"{}", "msg_1"), "Content-Type": "application/json"}), 415),
]


@pytest.mark.parametrize(("case", "send", "status"), REFUSED, ids=[case for case, _, _ in REFUSED])
def test_each_refused_message_answers_a_problem_and_stores_nothing(server: Server, secret: str, case: str,
                                                                   send: Send, status: int) -> None:
    answered, headers, problem = send(server, secret)
    assert answered == status, problem
    assert headers["Content-Type"] == "application/problem+json"
    assert problem["status"] == status and problem["detail"] and "Traceback" not in problem["detail"]
    assert stored(server.runtime) == (0, 0, 0)


def test_a_message_larger_than_the_api_limit_but_within_the_mail_limit_is_accepted(server: Server,
                                                                                   secret: str) -> None:
    raw = corpus("new_request.eml").replace(b"Thanks,", b"Log:\n" + b"all blank\n" * 800 + b"Thanks,")
    assert MAX_BODY < len(raw) < MAX_MESSAGE
    assert server.mail(raw, secret)[0] == 201


def test_a_removed_channel_refuses_its_mail(server: Server, secret: str) -> None:
    ChannelAdmin(server.runtime).remove(ROOT, "mailgw")
    assert server.mail(corpus("new_request.eml"), secret)[0] == 404
    assert stored(server.runtime) == (0, 0, 0)


def test_an_unreachable_database_answers_503_with_retry_after(runtimes: Callable[..., Runtime]) -> None:
    served = Server(runtimes("postgresql://postgres@127.0.0.1:9/nothing_listens_here"))
    try:
        status, headers, problem = served.mail(corpus("new_request.eml"), STRANGER)
    finally:
        served.stop()
    assert status == 503 and headers["Retry-After"] == "60", problem
    assert "send it again later" in problem["detail"] and "127.0.0.1" not in problem["detail"]
