"""Inbound webhooks over real HTTP on loopback, signed by the `standardwebhooks` library as a channel would sign them:
a delivery opens one ticket however often (and however simultaneously) it arrives, and every refusal stores nothing."""
from __future__ import annotations

import json
import logging
import threading
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select
from standardwebhooks.webhooks import Webhook
from werkzeug.serving import make_server

from engine.access import Actor
from engine.errors import Conflict, Forbidden, InvalidInput
from engine.runtime import Runtime
from engine.store.models import Ticket, WebhookDelivery
from engine.usecases.channels import ChannelAdmin
from engine.usecases.tickets import TicketIntake
from tests.api.conftest import make_api
from ticketflow.cli import main
from ticketflow.composition import deploy_file

ROOT = Actor("root", "admin")
MAX_BODY = 4096
DELIVERY = {"subject": "Checkout button does nothing",
            "description": "Clicking 'Pay' on the web form leaves the page exactly as it was.",
            "customer": "carol", "contact": {"email": "carol@example.com"}}


class Server:
    """The app served by werkzeug in threads, as `ticketflow serve` serves it."""

    def __init__(self, runtime: Runtime) -> None:
        self.api = make_api(runtime, max_body=MAX_BODY)
        self.runtime = runtime
        self.http = make_server("127.0.0.1", 0, self.api.app, threaded=True)
        self.url = f"http://127.0.0.1:{self.http.server_port}"
        self.thread = threading.Thread(target=self.http.serve_forever, daemon=True)
        self.thread.start()

    def call(self, method: str, path: str, body: bytes | None = None, headers: dict[str, str] | None = None,
             user: str | None = None) -> tuple[int, dict[str, str], Any]:
        sent = {"Content-Type": "application/json", **(headers or {})}
        if user:
            sent["Authorization"] = f"Bearer {self.api.tokens[user]}"
        request = urllib.request.Request(self.url + path, data=body, headers=sent, method=method)
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                return response.status, dict(response.headers), json.loads(response.read() or b"null")
        except urllib.error.HTTPError as error:
            return error.code, dict(error.headers), json.loads(error.read() or b"null")

    def deliver(self, channel: str, secret: str, webhook_id: str = "msg_1", payload: Any = DELIVERY,
                at: datetime | None = None, body: bytes | None = None) -> tuple[int, dict[str, str], Any]:
        raw = body if body is not None else json.dumps(payload).encode()
        return self.call("POST", f"/webhooks/inbound/{channel}", raw, signed(secret, raw, webhook_id, at))

    def stop(self) -> None:
        self.http.shutdown()
        self.thread.join(timeout=5)


def signed(secret: str, body: bytes, webhook_id: str, at: datetime | None = None) -> dict[str, str]:
    """The Standard Webhooks headers the library's sender side makes for ``body``."""
    at = at or datetime.now(UTC)
    return {"webhook-id": webhook_id, "webhook-timestamp": str(int(at.timestamp())),
            "webhook-signature": Webhook(secret).sign(webhook_id, at, body.decode())}


def stored(runtime: Runtime) -> tuple[int, int]:
    """(tickets, delivery keys) in the database."""
    with runtime.uow(read_only=True) as uow:
        return (uow.connection.execute(select(func.count()).select_from(Ticket.__table__)).scalar_one(),
                uow.connection.execute(select(func.count()).select_from(WebhookDelivery.__table__)).scalar_one())


@pytest.fixture
def server(runtime: Runtime) -> Iterator[Server]:
    served = Server(runtime)
    yield served
    served.stop()


@pytest.fixture
def secret(runtime: Runtime) -> str:
    return ChannelAdmin(runtime).add(ROOT, "webform")


def test_a_signed_delivery_opens_a_ticket_on_its_channel_registered_by_the_channel(server: Server,
                                                                                    secret: str) -> None:
    status, headers, ticket = server.deliver("webform", secret)
    assert status == 201, ticket
    assert ticket["number"].startswith("T-") and headers["Location"].endswith(f"/tickets/{ticket['number']}")
    assert (ticket["channel"], ticket["customer"], ticket["registered_by"]) == ("webform", "carol", "channel:webform")
    opened = server.runtime.ticket_history(ticket["number"])[0]
    assert opened.kind == "ticket_opened" and opened.actor == "channel:webform"
    assert opened.data["channel"] == "webform"
    assert stored(server.runtime) == (1, 1)


def test_the_same_webhook_id_again_answers_the_same_ticket_and_opens_none(server: Server, secret: str) -> None:
    first = server.deliver("webform", secret, "msg_again")
    again = server.deliver("webform", secret, "msg_again")
    assert (first[0], again[0]) == (201, 200)
    assert again[2]["number"] == first[2]["number"] and again[1]["Location"] == first[1]["Location"]
    other = server.deliver("webform", secret, "msg_other")
    assert other[0] == 201 and other[2]["number"] != first[2]["number"]
    assert stored(server.runtime) == (2, 2)


def concurrent_copies(server: Server, secret: str, copies: int = 10) -> list[tuple[int, str]]:
    """Send ``copies`` copies of one delivery at the same moment; (status, ticket number) of each answer."""
    raw = json.dumps(DELIVERY).encode()
    headers = signed(secret, raw, "msg_simultaneous")
    start = threading.Barrier(copies)
    answers: list[tuple[int, str]] = []

    def send() -> None:
        start.wait()
        status, _, body = server.call("POST", "/webhooks/inbound/webform", raw, headers)
        answers.append((status, body.get("number", body.get("detail"))))

    threads = [threading.Thread(target=send) for _ in range(copies)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return answers


def test_ten_copies_at_the_same_moment_open_one_ticket(server: Server, secret: str) -> None:
    answers = concurrent_copies(server, secret)
    assert sorted(status for status, _ in answers) == [200] * 9 + [201], answers
    assert len({number for _, number in answers}) == 1
    assert stored(server.runtime) == (1, 1)


@pytest.mark.postgres
def test_ten_copies_at_the_same_moment_open_one_ticket_on_postgresql(
        postgres_url: str, runtimes: Callable[..., Runtime]) -> None:
    runtime = runtimes(postgres_url)
    deploy_file(runtime)
    served = Server(runtime)
    try:
        answers = concurrent_copies(served, ChannelAdmin(runtime).add(ROOT, "webform"))
    finally:
        served.stop()
    assert sorted(status for status, _ in answers) == [200] * 9 + [201], answers
    assert len({number for _, number in answers}) == 1
    assert stored(runtime) == (1, 1)


def ago(minutes: int) -> datetime:
    return datetime.now(UTC) - timedelta(minutes=minutes)


UNSIGNED = json.dumps(DELIVERY).encode()
STRANGER = "whsec_" + "QUFB" * 11  # a well-formed secret the channel never had
Send = Callable[[Server, str], tuple[int, dict[str, str], Any]]
REFUSED: list[tuple[str, Send, int]] = [
    ("an unknown channel", lambda s, key: s.deliver("nosuch", key), 404),
    ("no signature headers", lambda s, key: s.call("POST", "/webhooks/inbound/webform", UNSIGNED), 401),
    ("another secret's signature", lambda s, key: s.deliver("webform", STRANGER), 401),
    ("a garbled signature", lambda s, key: s.call("POST", "/webhooks/inbound/webform", UNSIGNED, {
        **signed(key, UNSIGNED, "msg_1"), "webhook-signature": "garbage"}), 401),
    ("a timestamp six minutes old", lambda s, key: s.deliver("webform", key, at=ago(6)), 401),
    ("a timestamp six minutes ahead", lambda s, key: s.deliver("webform", key, at=ago(-6)), 401),
    ("a body that is not JSON", lambda s, key: s.deliver("webform", key, body=b"{subject: oops"), 400),
    ("a body that is not UTF-8", lambda s, key: s.call("POST", "/webhooks/inbound/webform", b'{"s": "\xff"}', {
        **signed(key, b"{}", "msg_1")}), 400),
    ("a delivery missing fields", lambda s, key: s.deliver("webform", key, payload={"subject": "Help"}), 422),
    ("a delivery with unknown fields", lambda s, key: s.deliver("webform", key, payload={**DELIVERY, "x": 1}), 422),
    ("a delivery with a short subject", lambda s, key: s.deliver("webform", key, payload={**DELIVERY, "subject": ""}),
     422),
    ("an over-long webhook-id", lambda s, key: s.deliver("webform", key, webhook_id="m" * 201), 400),
    ("a body over the limit", lambda s, key: s.deliver("webform", key, payload={
        **DELIVERY, "description": "x" * (MAX_BODY + 1)}), 413),
]


@pytest.mark.parametrize(("case", "send", "status"), REFUSED, ids=[case for case, _, _ in REFUSED])
def test_each_refused_delivery_answers_a_problem_and_stores_nothing(server: Server, secret: str, case: str,
                                                                    send: Send, status: int) -> None:
    answered, headers, problem = send(server, secret)
    assert answered == status, problem
    assert headers["Content-Type"] == "application/problem+json"
    assert problem["status"] == status and problem["detail"] and "Traceback" not in problem["detail"]
    if status == 422:
        assert problem["errors"] and all(error["pointer"].startswith("/") for error in problem["errors"])
    assert stored(server.runtime) == (0, 0)


def test_refusals_are_logged_at_most_once_a_minute_per_channel(server: Server, runtime: Runtime,
                                                               caplog: pytest.LogCaptureFixture) -> None:
    ChannelAdmin(runtime).add(ROOT, "noisy-gateway")
    with caplog.at_level(logging.WARNING, logger="web.api.webhooks"):
        for _ in range(5):
            assert server.deliver("noisy-gateway", "whsec_" + "QUFB" * 11)[0] == 401
    assert [r.getMessage() for r in caplog.records].count(caplog.records[0].getMessage()) == 1
    assert "noisy-gateway" in caplog.records[0].getMessage()


def test_during_a_rotation_both_secrets_verify_and_the_retired_one_no_longer(server: Server, secret: str) -> None:
    admin = ChannelAdmin(server.runtime)
    newer = admin.rotate(ROOT, "webform")
    assert newer and newer != secret
    assert server.deliver("webform", secret, "msg_old")[0] == 201
    assert server.deliver("webform", newer, "msg_new")[0] == 201
    with pytest.raises(Conflict):
        admin.rotate(ROOT, "webform")  # a third secret: retire the older first
    assert admin.rotate(ROOT, "webform", retire=True) is None
    assert server.deliver("webform", secret, "msg_old_again")[0] == 401
    assert server.deliver("webform", newer, "msg_new_again")[0] == 201
    assert [channel.secrets for channel in admin.list_channels(ROOT)] == [1]


def test_admins_manage_channels_over_the_api_and_no_one_else_may(server: Server) -> None:
    for user in ("lena", "alice", "aude"):
        assert server.call("POST", "/api/v1/channels", b'{"name": "chat-tool"}', user=user)[0] == 403
        assert server.call("GET", "/api/v1/channels", user=user)[0] == 403
    status, _, added = server.call("POST", "/api/v1/channels", b'{"name": "chat-tool"}', user="root")
    assert status == 201 and added["secret"].startswith("whsec_")
    assert server.call("POST", "/api/v1/channels", b'{"name": "chat-tool"}', user="root")[0] == 409
    bad = server.call("POST", "/api/v1/channels", b'{"name": "Chat Tool!"}', user="root")
    assert bad[0] == 422 and bad[2]["errors"][0]["pointer"] == "/name"
    assert server.call("POST", "/api/v1/channels", b'{"name": "portal"}', user="root")[0] == 422
    status, _, listed = server.call("GET", "/api/v1/channels", user="root")
    assert status == 200 and [c["name"] for c in listed["items"]] == ["chat-tool"]
    assert added["secret"] not in json.dumps(listed)
    assert server.call("POST", "/api/v1/channels/chat-tool/rotate", user="lena")[0] == 403
    rotated = server.call("POST", "/api/v1/channels/chat-tool/rotate", user="root")
    assert rotated[0] == 200 and rotated[2]["secret"].startswith("whsec_")
    assert server.call("POST", "/api/v1/channels/chat-tool/rotate?retire=true", user="root")[2]["secret"] is None
    assert server.call("DELETE", "/api/v1/channels/chat-tool", user="lena")[0] == 403
    assert server.call("DELETE", "/api/v1/channels/chat-tool", user="root")[0] == 204
    assert server.deliver("chat-tool", rotated[2]["secret"])[0] == 404
    assert server.call("DELETE", "/api/v1/channels/chat-tool", user="root")[0] == 404


def test_agents_and_customers_cannot_use_a_webhook_channel_name(server: Server, secret: str) -> None:
    body = json.dumps({**DELIVERY, "channel": "webform"}).encode()
    assert server.call("POST", "/api/v1/tickets", body, user="lena")[0] == 422
    with pytest.raises(InvalidInput):
        server.runtime.open_ticket(TicketIntake(subject=DELIVERY["subject"], description=DELIVERY["description"],
                                                customer="carol", contact={"email": "carol@example.com"},
                                                channel="webform"), Actor("lena", "l1"))
    with pytest.raises(Forbidden):
        ChannelAdmin(server.runtime).add(Actor("lena", "l1"), "another")
    assert stored(server.runtime) == (0, 0)


def test_the_channel_commands_show_a_secret_once_and_never_list_it(
        sqlite_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("TICKETFLOW_DATABASE_URL", sqlite_url)
    assert main(["channel", "add", "web-form"]) == 0
    added = capsys.readouterr().out
    secret = next(word for word in added.split() if word.startswith("whsec_"))
    assert main(["channel", "rotate", "web-form"]) == 0
    rotated = next(word for word in capsys.readouterr().out.split() if word.startswith("whsec_"))
    assert main(["channel", "list"]) == 0
    listed = capsys.readouterr().out
    assert "web-form" in listed and "2 secret(s)" in listed and secret not in listed and rotated not in listed
    assert main(["channel", "rotate", "web-form", "--retire"]) == 0
    assert "whsec_" not in capsys.readouterr().out
    assert main(["channel", "add", "web-form"]) == 1
    assert "already exists" in capsys.readouterr().err
    assert main(["channel", "remove", "web-form"]) == 0
    assert main(["channel", "list"]) == 0
    assert capsys.readouterr().out.strip().endswith("0 channel(s)")
