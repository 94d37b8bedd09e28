"""The process owner's live diagram (a heat map) and the auditor's history stepper, in Chromium."""
from __future__ import annotations

from typing import Any

from engine.runtime import Runtime
from tests.browser.helpers import marked
from tests.conftest import ASSESS_ESCALATE, CLASSIFY, CUSTOMER, ESCALATE, L1, complete_current, intake


def escalated(runtime: Runtime) -> str:
    number = runtime.open_ticket(intake(), CUSTOMER).number
    for data in (CLASSIFY, ASSESS_ESCALATE, ESCALATE):
        complete_current(runtime, number, L1, data)
    return number


def test_the_process_owner_lands_on_the_live_diagram(runtime: Runtime, visit: Any, tokens: dict[str, str]) -> None:
    escalated(runtime)
    escalated(runtime)
    runtime.open_ticket(intake(), CUSTOMER)
    owner = visit(tokens["petra"])
    page = owner.page
    assert page.url.endswith("/process")
    owner.check("live-process")
    heat = page.locator(".bpmn-diagram .djs-element.heat[data-element-id=investigate_root_cause]")
    assert heat.count() == 1 and "heat-high" in (heat.get_attribute("class") or "")
    low = page.locator(".bpmn-diagram .djs-element.heat[data-element-id=classify_ticket]")
    assert low.count() == 1 and "heat-mid" in (low.get_attribute("class") or "")
    badges = page.locator(".bpmn-diagram .djs-overlays[data-container-id=investigate_root_cause] .diagram-count")
    assert badges.inner_text() == "2"
    assert "Investigate root cause" in page.locator("#waiting").inner_text()


def test_an_auditor_steps_through_the_history_on_the_diagram(runtime: Runtime, visit: Any,
                                                             tokens: dict[str, str]) -> None:
    number = escalated(runtime)
    history = runtime.ticket_history(number)
    ready = next(e.seq for e in history if e.kind == "task_ready" and e.element_id == "escalate_to_l2")
    ada = visit(tokens["ada"])
    page = ada.page
    ada.check("inbox")
    ada.open(f"/tickets/{number}")
    ada.check("ticket")
    assert marked(page, "current") == {"investigate_root_cause"}
    with page.expect_navigation():
        page.click("#as-of")
    ada.check("as-of-first")
    assert page.inner_text("#seq") == "1"
    ada.open(f"/tickets/{number}/as-of?seq={ready}")
    ada.check("as-of-escalation-ready")
    assert marked(page, "current") == {"escalate_to_l2"}
    assert "classify_ticket" in marked(page, "visited") and "investigate_root_cause" not in marked(page, "visited")
    assert "Escalate to L2" in page.inner_text("#current")  # and in words
    with page.expect_navigation():
        page.click("#last")
    ada.check("as-of-last")
    assert page.inner_text("#seq") == str(len(history))
    assert marked(page, "current") == {"investigate_root_cause"}
    assert page.locator("#divergence").count() == 0  # the replay reproduces the recorded history
    ada.open("/process")
    ada.check("live-process")


def test_an_admin_looks_at_the_outbox(runtime: Runtime, visit: Any, tokens: dict[str, str]) -> None:
    number = runtime.open_ticket(intake(), CUSTOMER).number
    root = visit(tokens["root"])
    page = root.page
    root.check("inbox")
    with page.expect_navigation():
        page.click("header nav a[href='/outbox']")
    root.check("outbox")
    rows = page.locator("table.list tbody tr")
    assert rows.count() == 1
    assert number in rows.first.inner_text() and "alice@example.com" in rows.first.inner_text()
