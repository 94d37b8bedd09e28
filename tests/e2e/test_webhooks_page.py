"""The webhooks page: admins see the subscriptions, each one's recent deliveries and the dead letters, and deliver
a dead letter again; everyone else is refused."""
from __future__ import annotations

from typing import Any

import pytest

from engine.access import Actor
from engine.runtime import Runtime
from engine.usecases.subscriptions import HostPolicy, SubscriptionAdmin
from tests.conftest import CUSTOMER, intake
from tests.integration.helpers import kinds
from tests.integration.webhook_receiver import Receiver
from ticketflow.composition import make_delivery
from webhooks.outbound import WebhookTransport

LOOPBACK = HostPolicy.parse("127.0.0.1")


@pytest.fixture
def receiver() -> Receiver:
    started = Receiver(behaviour=lambda handler: (410, {})).start()
    yield started
    started.stop()


def test_an_admin_sees_subscriptions_deliveries_and_dead_letters_and_delivers_one_again(
        runtime: Runtime, visit: Any, receiver: Receiver) -> None:
    SubscriptionAdmin(runtime, LOOPBACK).add(Actor("root", "admin"), receiver.url, ["ticket.opened"], "<b>CRM</b>")
    number = runtime.open_ticket(intake(), CUSTOMER).number
    make_delivery(runtime, webhooks=WebhookTransport(LOOPBACK)).deliver_due()
    root = visit("root")
    page = root.get("/webhooks").text
    assert receiver.url.replace("&", "&amp;") in page and "&lt;b&gt;CRM&lt;/b&gt;" in page
    assert "disabled" in page and "410 Gone" in page and "HTTP 410" in page and 'href="/channels"' in page
    assert "Deliver again" in page and number in page
    root.post("/webhooks/deliveries/2/redeliver", {})
    assert "will be delivered again" in root.get("/webhooks").text
    assert kinds(runtime, number)[-1] == "webhook_redelivery_requested"
    root.post("/webhooks/deliveries/99/redeliver", {})
    assert "There is no webhook delivery 99." in root.get("/webhooks").text


def test_only_admins_reach_the_webhooks_page_and_its_nav_link(visit: Any) -> None:
    visit("lena").get("/webhooks", status=403)
    home = visit("root").get("/webhooks").text
    assert "Webhooks" in home and "No subscription." in home
