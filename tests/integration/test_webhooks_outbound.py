"""Outbound webhooks reach a real HTTP receiver on loopback, signed the Standard Webhooks way (each checked with the
library's ``Webhook.verify``), in order per ticket, through outages, slow-downs, refusals and hostile receivers;
and never reach this machine's own network unless allowed."""
from __future__ import annotations

import time
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler

import pytest
from sqlalchemy import select

from engine.access import Actor
from engine.errors import InvalidInput
from engine.execution.clock import FakeClock
from engine.runtime import Runtime
from engine.store.models import OutboxMessage, WebhookSubscription
from engine.store.webhooks import EVENT_TYPES
from engine.usecases.audit import AuditService
from engine.usecases.outbox import DeliveryReport
from engine.usecases.subscriptions import HostPolicy, SubscriptionAdmin
from tests.conftest import CLASSIFY, CUSTOMER, L1, complete_current, intake
from tests.integration.helpers import kinds
from tests.integration.test_mail_delivery import play_every_path
from tests.integration.webhook_receiver import Receiver
from ticketflow.composition import make_delivery
from webhooks.outbound import WebhookTransport, parse_retry_after

ADMIN = Actor("root", "admin")
LOOPBACK = HostPolicy.parse("127.0.0.1")
PUBLIC = "93.184.216.34"


@pytest.fixture
def receiver() -> Receiver:
    started = Receiver().start()
    yield started
    started.stop()


def subscribe(runtime: Runtime, url: str, events: list[str] | None = None) -> tuple[int, str]:
    view, secret = SubscriptionAdmin(runtime, LOOPBACK).add(ADMIN, url, events or list(EVENT_TYPES), "test")
    return view.id, secret


def deliver(runtime: Runtime, timeout: float = 5.0, policy: HostPolicy = LOOPBACK, **kwargs: object) -> DeliveryReport:
    return make_delivery(runtime, webhooks=WebhookTransport(policy, timeout, **kwargs)).deliver_due()  # type: ignore[arg-type]


def rows(runtime: Runtime) -> list[OutboxMessage]:
    with runtime.uow() as uow:
        return list(uow.session.scalars(select(OutboxMessage).where(OutboxMessage.channel == "webhook")
                                        .order_by(OutboxMessage.id)))


def in_order_per_ticket(events: list[dict]) -> bool:
    seen: dict[str, list[int]] = defaultdict(list)
    for event in events:
        seen[event["data"]["ticket"]].append(event["data"]["sequence"])
    return all(s == sorted(s) for s in seen.values())


def test_every_event_of_every_path_arrives_signed_in_order_per_ticket_with_its_sequence(
        runtime: Runtime, clock: FakeClock, receiver: Receiver) -> None:
    _, secret = subscribe(runtime, receiver.url)
    tickets = play_every_path(runtime, clock)
    tickets["unanswered"] = runtime.open_ticket(intake(), CUSTOMER).number  # its service levels run out
    complete_current(runtime, tickets["unanswered"], L1, CLASSIFY)
    clock.advance(days=7)
    assert runtime.check_service_levels() == [tickets["unanswered"]]
    report = deliver(runtime)
    queued = rows(runtime)
    events = receiver.verified(secret)  # raises unless every signature checks out
    assert len(events) == len(queued) == len(report.delivered) and not report.failed
    assert {e["type"] for e in events} == set(EVENT_TYPES)
    assert in_order_per_ticket(events)
    assert sorted(r.headers["webhook-id"] for r in receiver.received) == sorted(row.message_id for row in queued)
    persisted = [e for e in events if e["type"] == "ticket.reopened"]
    assert [e["data"]["ticket"] for e in persisted] == [tickets["persists"]]
    escalated = {e["data"]["ticket"] for e in events if e["type"] == "ticket.escalated"}
    assert escalated == {tickets["escalated"], tickets["persists"], tickets["silent"]}
    assert not any("customer_comment" in str(e) or "Still failing" in str(e) for e in events)  # no form notes
    for number in tickets.values():
        assert "webhook_delivered" in kinds(runtime, number)
        assert AuditService(runtime).replay(number).consistent
        assert AuditService(runtime).verify_ticket(number).ok


def test_only_the_subscribed_event_types_are_queued_and_none_without_a_subscription(
        runtime: Runtime, receiver: Receiver) -> None:
    runtime.open_ticket(intake(), CUSTOMER)
    assert rows(runtime) == []
    subscribe(runtime, receiver.url, ["ticket.classified"])
    number = runtime.open_ticket(intake(), CUSTOMER).number
    complete_current(runtime, number, L1, CLASSIFY)
    assert [row.purpose for row in rows(runtime)] == ["ticket.classified"]
    deliver(runtime)
    (event,) = [r.event for r in receiver.received]
    assert event["data"] == {"ticket": number, "sequence": event["data"]["sequence"], "type": "incident",
                             "impact": "high", "urgency": "medium", "priority": "P2"}


def test_while_the_receiver_is_down_events_wait_and_then_all_arrive_in_order(
        runtime: Runtime, clock: FakeClock, receiver: Receiver) -> None:
    _, secret = subscribe(runtime, receiver.url)
    receiver.stop()
    number = runtime.open_ticket(intake(), CUSTOMER).number
    complete_current(runtime, number, L1, CLASSIFY)
    first = deliver(runtime)
    assert len(first.failed) == 1 and not first.delivered  # the ticket's first event; the rest wait behind it
    clock.now += timedelta(seconds=7)
    assert len(deliver(runtime).failed) == 1
    receiver.start()  # the same port again
    clock.now += timedelta(minutes=7)
    deliver(runtime)
    events = receiver.verified(secret)
    assert len(events) == len(rows(runtime)) and {row.state for row in rows(runtime)} == {"delivered"}
    assert [e["data"]["sequence"] for e in events] == sorted(e["data"]["sequence"] for e in events)
    assert kinds(runtime, number).count("webhook_failed") == 2
    assert AuditService(runtime).replay(number).consistent


def test_a_410_disables_the_subscription_and_nothing_more_is_queued_for_it(
        runtime: Runtime, receiver: Receiver) -> None:
    subscription, _ = subscribe(runtime, receiver.url, ["ticket.opened"])
    receiver.behaviour = lambda handler: (410, {})
    runtime.open_ticket(intake(), CUSTOMER)
    report = deliver(runtime)
    assert len(report.dead) == 1
    with runtime.uow() as uow:
        row = uow.session.get(WebhookSubscription, subscription)
        assert row is not None and row.disabled and "410" in (row.disabled_reason or "")
    runtime.open_ticket(intake(), CUSTOMER)
    assert len(rows(runtime)) == 1


def test_a_429_with_retry_after_is_retried_exactly_when_the_receiver_asked(
        runtime: Runtime, clock: FakeClock, receiver: Receiver) -> None:
    subscribe(runtime, receiver.url, ["ticket.opened"])
    answers = iter([(429, {"retry-after": "120"}), (200, {})])
    receiver.behaviour = lambda handler: next(answers)
    runtime.open_ticket(intake(), CUSTOMER)
    assert len(deliver(runtime).failed) == 1
    assert rows(runtime)[0].next_attempt_at == clock.now + timedelta(seconds=120)
    clock.now += timedelta(seconds=119)
    assert not deliver(runtime) and len(receiver.received) == 1
    clock.now += timedelta(seconds=2)
    assert len(deliver(runtime).delivered) == 1 and len(receiver.received) == 2


def test_retry_after_is_read_as_seconds_or_as_an_http_date() -> None:
    now = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    assert parse_retry_after("30", now) == timedelta(seconds=30)
    assert parse_retry_after("Mon, 02 Mar 2026 09:05:00 GMT", now) == timedelta(minutes=5)
    assert parse_retry_after("soon", now) is None and parse_retry_after(None, now) is None


def test_a_silent_receiver_and_a_dripping_one_are_cut_at_the_timeout(
        runtime: Runtime, receiver: Receiver) -> None:
    subscribe(runtime, receiver.url, ["ticket.opened"])

    def drip(handler: BaseHTTPRequestHandler) -> None:
        handler.wfile.write(b"HTTP/1.1 200 OK\r\n")
        for _ in range(60):  # a header byte now and then, for a minute
            handler.wfile.write(b"x")
            handler.wfile.flush()
            time.sleep(1)

    for behaviour in (lambda handler: time.sleep(30), drip):
        receiver.behaviour = behaviour
        runtime.open_ticket(intake(), CUSTOMER)
        started = time.monotonic()
        report = deliver(runtime, timeout=1.0)
        assert time.monotonic() - started < 5  # generous: the bound is 1 s plus settling
        assert len(report.failed) == 1 and not report.delivered


def test_a_huge_response_body_is_not_read(runtime: Runtime, receiver: Receiver) -> None:
    subscribe(runtime, receiver.url, ["ticket.opened"])
    written: list[int] = []
    size = 200 * 1024 * 1024

    def flood(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(200)
        handler.send_header("content-length", str(size))
        handler.end_headers()
        chunk = b"x" * 65536
        try:
            for _ in range(size // len(chunk)):
                handler.wfile.write(chunk)
                written.append(len(chunk))
        except OSError:
            pass  # the sender hung up, as it should

    receiver.behaviour = flood
    runtime.open_ticket(intake(), CUSTOMER)
    assert len(deliver(runtime, timeout=10.0).delivered) == 1
    time.sleep(0.5)
    assert sum(written) < size // 4


@pytest.mark.parametrize(("url", "problem"), [
    ("ftp://hooks.example/x", "http:// or https://"),
    ("http://user:secret@hooks.example/x", "user name or password"),
    ("http://127.0.0.1:9/x", "loopback, private or link-local"),
    ("http://169.254.169.254/latest/meta-data", "loopback, private or link-local"),
    ("http://10.1.2.3/x", "loopback, private or link-local"),
    ("http://[::1]/x", "loopback, private or link-local"),
    ("http://internal.example/x", "loopback, private or link-local"),
])
def test_a_url_that_could_reach_this_network_or_carries_credentials_is_refused(
        runtime: Runtime, url: str, problem: str) -> None:
    addresses = {"hooks.example": [PUBLIC], "internal.example": [PUBLIC, "192.168.1.10"]}
    admin = SubscriptionAdmin(runtime, HostPolicy(), resolve=lambda host, port: addresses.get(host, [host]))
    with pytest.raises(InvalidInput) as refused:
        admin.add(ADMIN, url, ["ticket.opened"])
    assert problem in str(refused.value.errors[0].message)
    assert admin.list_subscriptions(ADMIN) == []


def test_an_unknown_event_type_is_refused(runtime: Runtime, receiver: Receiver) -> None:
    with pytest.raises(InvalidInput) as refused:
        SubscriptionAdmin(runtime, LOOPBACK).add(ADMIN, receiver.url, ["ticket.opened", "ticket.exploded"])
    assert "ticket.exploded" in refused.value.errors[0].message


def test_a_host_that_resolves_to_loopback_at_delivery_time_is_refused(runtime: Runtime, receiver: Receiver) -> None:
    url = f"http://hooks.example:{receiver.port}/hooks"
    SubscriptionAdmin(runtime, HostPolicy(), resolve=lambda host, port: [PUBLIC]).add(ADMIN, url, ["ticket.opened"])
    runtime.open_ticket(intake(), CUSTOMER)
    rebound = deliver(runtime, policy=HostPolicy(), resolve=lambda host, port: ["127.0.0.1"])
    assert len(rebound.failed) == 1 and receiver.received == []
    assert "loopback" in (rows(runtime)[0].last_error or "")
    with runtime.uow() as uow:  # the same row, once the receiver is allowed, does arrive: the refusal was real
        uow.session.execute(OutboxMessage.__table__.update().values(next_attempt_at=runtime.clock()))
        uow.commit()
    assert len(deliver(runtime, resolve=lambda host, port: ["127.0.0.1"]).delivered) == 1
