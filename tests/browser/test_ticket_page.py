"""The ticket page in Chromium after a persists loop: both L2 rounds in sections, the clocks, the folded
timeline opening on click; the customer's page in plain words with the question answered in place; every
page checked by axe-core and photographed. The forms are sent as plain HTML forms (no script needed)."""
from __future__ import annotations

from typing import Any

from engine.runtime import Runtime
from tests.browser.helpers import fill_form
from tests.conftest import (
    ASSESS_ESCALATE,
    CLASSIFY,
    CUSTOMER,
    ESCALATE,
    FIX,
    INVESTIGATE,
    L1,
    L2,
    PERSISTS,
    SOLUTION,
    complete_current,
    intake,
)

SECOND_CAUSE = "A second token cache in the API gateway also keeps the old token."


def after_a_persists_loop(runtime: Runtime) -> str:
    number = runtime.open_ticket(intake(), CUSTOMER).number
    for actor, data in ((L1, CLASSIFY), (L1, ASSESS_ESCALATE), (L1, ESCALATE), (L2, INVESTIGATE), (L2, FIX),
                        (L1, SOLUTION), (CUSTOMER, PERSISTS)):
        complete_current(runtime, number, actor, data)
    return number


def test_l2_reads_the_earlier_round_and_the_agent_reads_both_rounds(runtime: Runtime, visit: Any,
                                                                     tokens: dict[str, str]) -> None:
    number = after_a_persists_loop(runtime)
    otto = visit(tokens["otto"])
    page = otto.page
    [task] = runtime.get_ticket(number).ready_tasks
    otto.open(f"/tasks/{task.id}")
    otto.check("second-investigation")
    assert page.locator("#f-root_cause").input_value() == ""  # not prefilled with the refuted cause
    assert INVESTIGATE["root_cause"] in page.inner_text("#earlier-rounds")
    fill_form(page, {**INVESTIGATE, "root_cause": SECOND_CAUSE})
    with page.expect_navigation():
        page.click("form.task-form button[type=submit]")
    otto.check("ticket-after-second-investigation")
    assert INVESTIGATE["root_cause"] in page.inner_text("#work-l2-round-1")
    assert SECOND_CAUSE in page.inner_text("#work-l2-round-2")
    assert page.locator("#sla-badge").is_visible() and "UTC" in page.inner_text("#clocks")
    folded = page.locator("#timeline details").first
    assert not folded.locator("li").first.is_visible()  # the engine's steps are folded ...
    folded.locator("summary").click()
    assert folded.locator("li").first.is_visible()  # ... and open on click
    otto.check("timeline-open")


def test_the_customer_answers_on_their_ticket_page_in_plain_words(runtime: Runtime, visit: Any,
                                                                   tokens: dict[str, str]) -> None:
    number = after_a_persists_loop(runtime)
    for actor, data in ((L2, INVESTIGATE), (L2, FIX), (L1, SOLUTION)):
        complete_current(runtime, number, actor, data)
    alice = visit(tokens["alice"])
    page = alice.page
    assert "Waiting for your answer" in page.inner_text("main")
    alice.check("my-tickets-plain-words")
    alice.open(f"/tickets/{number}")
    alice.check("customer-ticket-question")
    shown = page.inner_text("main")
    for internal in ("with l1", "with_l2", "awaiting", "gateway", "L2 Support", "otto"):
        assert internal not in shown, internal
    assert page.locator("a[href='/kb']").count() >= 1
    page.check("#question input[value='resolved']")
    with page.expect_navigation():
        page.click("#question button[type=submit]")
    alice.check("customer-ticket-solved")
    assert page.inner_text("#status") == "Solved"
    assert runtime.get_ticket(number).status == "closed"
