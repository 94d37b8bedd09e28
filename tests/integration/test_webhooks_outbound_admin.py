"""Admins manage outbound webhooks over the API and the CLI: subscriptions (the secret shown once), each one's
delivery history, the dead letters and redelivery; everyone else is refused, and bad input changes nothing."""
from __future__ import annotations

from datetime import timedelta

import pytest

from engine.execution.clock import FakeClock
from engine.runtime import Runtime
from tests.api.conftest import make_api
from tests.conftest import CUSTOMER, intake
from tests.integration.helpers import kinds
from tests.integration.webhook_receiver import Receiver
from ticketflow.cli import main
from ticketflow.composition import make_delivery
from webhooks.outbound import WebhookTransport

BASE = "/api/v1/webhooks"


@pytest.fixture
def receiver(monkeypatch: pytest.MonkeyPatch) -> Receiver:
    monkeypatch.setenv("TICKETFLOW_WEBHOOKS_ALLOW_HOSTS", "127.0.0.1")
    started = Receiver().start()
    yield started
    started.stop()


def test_an_admin_subscribes_reads_deliveries_and_dead_letters_and_redelivers(
        runtime: Runtime, clock: FakeClock, receiver: Receiver) -> None:
    api = make_api(runtime)
    root = api.as_("root")
    added = root.post(f"{BASE}/subscriptions", json={"url": receiver.url, "events": ["ticket.opened"],
                                                     "description": "CRM"})
    assert added.status_code == 201 and added.json["secret"].startswith("whsec_")
    listed = root.get(f"{BASE}/subscriptions").json["items"]
    assert [s["url"] for s in listed] == [receiver.url] and "secret" not in listed[0]
    assert root.get(added.json["href"]).json["description"] == "CRM"
    receiver.behaviour = lambda handler: (400, {})
    number = runtime.open_ticket(intake(), CUSTOMER).number
    for _ in range(10):  # every attempt of the schedule refused: the event becomes a dead letter
        clock.now += timedelta(days=2)  # past the longest wait, jitter included
        make_delivery(runtime, webhooks=WebhookTransport()).deliver_due()
    deliveries = root.get(f"{added.json['href']}/deliveries").json["items"]
    assert deliveries[0]["state"] == "dead" and len(deliveries[0]["attempts"]) == 10
    assert {a["status"] for a in deliveries[0]["attempts"]} == {400}
    dead = root.get(f"{BASE}/dead-letters").json["items"]
    assert [d["ticket"] for d in dead] == [number]
    receiver.behaviour = lambda handler: (204, {})
    assert root.post(dead[0]["redeliver"]).json["state"] == "pending"
    assert kinds(runtime, number)[-1] == "webhook_redelivery_requested"
    assert len(make_delivery(runtime, webhooks=WebhookTransport()).deliver_due().delivered) == 1
    assert root.post(dead[0]["redeliver"]).status_code == 409  # delivered: nothing to redeliver
    assert root.get(f"{BASE}/dead-letters").json["items"] == []
    removed = api.client.delete(added.json["href"], headers={"Authorization": f"Bearer {api.tokens['root']}"})
    assert removed.status_code == 204 and root.get(added.json["href"]).status_code == 404


def test_non_admins_are_refused_and_bad_input_is_refused_in_plain_words(runtime: Runtime, receiver: Receiver) -> None:
    api = make_api(runtime)
    for name in ("lena", "aude", "alice"):
        assert api.as_(name).get(f"{BASE}/subscriptions").status_code == 403
        assert api.as_(name).post(f"{BASE}/subscriptions", json={"url": receiver.url,
                                                                  "events": ["ticket.opened"]}).status_code == 403
        assert api.as_(name).get(f"{BASE}/dead-letters").status_code == 403
    root = api.as_("root")
    bad = root.post(f"{BASE}/subscriptions", json={"url": "http://user:pw@127.0.0.1/", "events": ["ticket.nope"],
                                                   "colour": "red"})
    assert bad.status_code == 422
    assert {e["pointer"] for e in bad.json["errors"]} == {"/colour"}
    bad = root.post(f"{BASE}/subscriptions", json={"url": "http://user:pw@127.0.0.1/", "events": ["ticket.nope"]})
    assert bad.status_code == 422 and {e["pointer"] for e in bad.json["errors"]} == {"/url", "/events"}
    assert "user name or password" in str(bad.json) and "ticket.nope" in str(bad.json)
    assert root.get(f"{BASE}/subscriptions").json["items"] == []
    assert root.get(f"{BASE}/subscriptions/99").status_code == 404
    assert root.post(f"{BASE}/deliveries/abc/redeliver").status_code == 404


def test_the_cli_adds_lists_redelivers_and_removes(
        runtime: Runtime, sqlite_url: str, receiver: Receiver, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("TICKETFLOW_DATABASE_URL", sqlite_url)
    assert main(["webhooks", "add", receiver.url, "--events", "ticket.opened", "task.ready"]) == 0
    out = capsys.readouterr().out
    assert "subscription 1 added" in out and "whsec_" in out
    assert main(["webhooks", "list"]) == 0
    assert receiver.url in capsys.readouterr().out
    assert main(["webhooks", "redeliver", "7"]) == 1
    assert "webhook delivery 7 does not exist" in capsys.readouterr().err
    assert main(["webhooks", "remove", "1"]) == 0
    assert main(["webhooks", "list"]) == 0
    assert "0 subscription(s)" in capsys.readouterr().out
