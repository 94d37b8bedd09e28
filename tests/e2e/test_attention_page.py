"""The "needs attention" page: L1 sees stalled tickets with the reason in plain words and retries them."""
from __future__ import annotations

from typing import Any

from engine.execution.clock import FakeClock
from engine.runtime import Runtime
from tests.conftest import CUSTOMER, intake
from tests.e2e.conftest import Visitor
from tests.integration.helpers import runtime_with
from web.app import WebSettings, create_app


def failing_acknowledgment(ctx: object) -> None:
    raise RuntimeError("the mail relay refused the sender address")


def test_l1_sees_a_stalled_ticket_and_retries_it_once_the_cause_is_fixed(
        runtime: Runtime, sqlite_url: str, clock: FakeClock, visit: Any, tokens: dict[str, str]) -> None:
    broken = runtime_with(sqlite_url, clock, acknowledge_ticket=failing_acknowledgment)
    number = broken.open_ticket(intake(), CUSTOMER).number
    broken_pages = Visitor(create_app(broken, WebSettings(secret_key="test-secret-key")).test_client())
    broken_pages.sign_in(tokens["lena"])
    page = broken_pages.get("/needs-attention").text
    assert number in page and "the mail relay refused the sender address" in page and "Retry now" in page
    broken_pages.post(f"/tickets/{number}/retry", {})
    assert "failed again" in broken_pages.get("/needs-attention").text

    lena = visit("lena")  # the cause is fixed: the shipped handlers again
    assert number in lena.get("/needs-attention").text
    lena.post(f"/tickets/{number}/retry", {})
    after = lena.get("/needs-attention").text
    assert f"Ticket {number} is moving again." in after and "No ticket needs attention." in after
    assert runtime.get_ticket(number).status == "with_l1"


def test_only_l1_and_admins_reach_the_page(visit: Any) -> None:
    visit("otto").get("/needs-attention", status=403)
    visit("root").get("/needs-attention")
