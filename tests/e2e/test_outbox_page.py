"""The outbox page: admins read what each message says, to whom, its state and last error, and retry it."""
from __future__ import annotations

from typing import Any

from engine.runtime import Runtime
from engine.usecases.outbox import OutboxDelivery
from tests.conftest import CUSTOMER, intake
from tests.integration.helpers import kinds


def test_an_admin_sees_held_messages_in_plain_words_and_sends_one_again(runtime: Runtime, visit: Any) -> None:
    number = runtime.open_ticket(intake(subject="Printer <b>jams</b>"), CUSTOMER).number
    OutboxDelivery(runtime, None).deliver_due()
    root = visit("root")
    page = root.get("/outbox").text
    assert f"[{number}] We received your request: Printer &lt;b&gt;jams&lt;/b&gt;" in page
    assert "alice@example.com" in page and "held: email is not configured" in page and "Retry" in page
    assert "will respond by" in page  # the message's own words, as the customer reads them
    root.post("/outbox/1/retry", {})
    after = root.get("/outbox").text
    assert "Message 1 to alice@example.com will be sent in the worker&#39;s next round." in after
    assert "waiting to be sent" in after and kinds(runtime, number)[-1] == "message_retry_requested"
    root.post("/outbox/99/retry", {})
    assert "There is no message 99." in root.get("/outbox").text


def test_only_admins_reach_the_outbox(visit: Any) -> None:
    visit("lena").get("/outbox", status=403)
    visit("ada").get("/outbox", status=403)
    assert "Outbox" in visit("root").get("/outbox").text


def test_the_ticket_page_shows_a_trail_with_delivery_events_to_agents_and_the_customer(
        runtime: Runtime, visit: Any) -> None:
    from tests.integration.mail_sink import SmtpSink

    number = runtime.open_ticket(intake(), CUSTOMER).number
    sink = SmtpSink()
    sink.start()
    try:
        assert len(sink.delivery(runtime).deliver_due().delivered) == 1
    finally:
        sink.stop()
    assert "message_delivered" in kinds(runtime, number)
    assert number in visit("lena").get(f"/tickets/{number}").text
    assert "message delivered" in visit("alice").get(f"/tickets/{number}").text
