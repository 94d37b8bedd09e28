"""Each role's journey through the pages in Chromium: every page is checked by axe-core and photographed, the
diagram's marks are read from the DOM the bpmn-js viewer built, and the engine confirms what the pages did."""
from __future__ import annotations

from typing import Any

from engine.runtime import Runtime
from tests.browser.helpers import badge, complete_task, marked, open_ready_task
from tests.conftest import (
    ASSESS_ESCALATE,
    ASSESS_RESOLVE,
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


def test_a_customer_opens_a_ticket_and_answers_the_validation(runtime: Runtime, visit: Any,
                                                               tokens: dict[str, str]) -> None:
    alice = visit(tokens["alice"])
    page = alice.page
    assert page.url.endswith("/my")
    alice.check("my-tickets")
    alice.open("/tickets/new")
    alice.check("new-ticket")
    page.fill("#f-subject", "The invoice page is blank")
    page.fill("#f-description", "Since this morning the invoice page shows nothing at all.")
    with page.expect_navigation():
        page.click("form.task-form button[type=submit]")
    alice.check("ticket-opened")
    assert page.locator(".bpmn-diagram").count() == 0  # the diagram is the support team's
    [ticket], _ = runtime.list_tickets(CUSTOMER)
    number = ticket.number
    assert number in page.inner_text("h1")
    for actor, data in ((L1, CLASSIFY), (L1, ASSESS_RESOLVE), (L1, SOLUTION)):
        complete_current(runtime, number, actor, data)

    alice.open("/my")
    alice.check("my-tickets-waiting")
    assert open_ready_task(page, runtime, number) == "test_and_confirm"
    alice.check("validation-question")
    complete_task(page, {"validation_outcome": "resolved", "customer_comment": "Works again, thank you."})
    alice.check("ticket-answered")
    assert runtime.get_ticket(number).status == "closed"


def test_l1_classifies_assesses_escalates_and_resolves(runtime: Runtime, visit: Any, tokens: dict[str, str]) -> None:
    number = runtime.open_ticket(intake(), CUSTOMER).number
    lena = visit(tokens["lena"])
    page = lena.page
    assert page.url.endswith("/inbox")
    lena.check("inbox")
    assert open_ready_task(page, runtime, number) == "classify_ticket"
    lena.check("classify")
    complete_task(page, CLASSIFY)
    lena.check("ticket-classified")
    assert marked(page, "current") == {"assess_first_level"}
    assert {"register_ticket", "classify_ticket", "derive_priority"} <= marked(page, "visited")
    assert "Assess known resolution" in page.inner_text("main")  # in words as well

    assert open_ready_task(page, runtime, number) == "assess_first_level"
    lena.check("assess")
    complete_task(page, ASSESS_ESCALATE)
    assert open_ready_task(page, runtime, number) == "escalate_to_l2"
    lena.check("escalate")
    complete_task(page, ESCALATE)
    lena.check("ticket-escalated")
    assert marked(page, "current") == {"investigate_root_cause"}
    assert "resolved_at_first_level" in marked(page, "visited")

    for data in (INVESTIGATE, FIX):
        complete_current(runtime, number, L2, data)
    lena.open(f"/tickets/{number}")
    assert open_ready_task(page, runtime, number) == "apply_solution"
    lena.check("apply-solution")
    complete_task(page, SOLUTION)
    lena.check("ticket-resolved")
    assert marked(page, "current") == {"test_and_confirm"}
    assert runtime.get_ticket(number).ready_tasks[0].element_id == "test_and_confirm"


def test_l2_investigates_twice_through_the_persists_loop(runtime: Runtime, visit: Any,
                                                         tokens: dict[str, str]) -> None:
    number = runtime.open_ticket(intake(), CUSTOMER).number
    for data in (CLASSIFY, ASSESS_ESCALATE, ESCALATE):
        complete_current(runtime, number, L1, data)
    otto = visit(tokens["otto"])
    page = otto.page
    otto.check("inbox")
    for round_ in (1, 2):
        assert open_ready_task(page, runtime, number) == "investigate_root_cause"
        otto.check(f"investigate-{round_}")
        complete_task(page, {**INVESTIGATE, "root_cause": f"Round {round_}: token cache not invalidated."})
        assert open_ready_task(page, runtime, number) == "apply_definitive_fix"
        otto.check(f"fix-{round_}")
        complete_task(page, FIX)
        if round_ == 1:
            complete_current(runtime, number, L1, SOLUTION)
            complete_current(runtime, number, CUSTOMER, PERSISTS)
            otto.open("/inbox")
            otto.check("inbox-after-persists")
            otto.open(f"/tickets/{number}")
            otto.check("ticket-persisted")
            assert marked(page, "current") == {"investigate_root_cause"}
            assert badge(page, "investigate_root_cause") == "×2"
            assert badge(page, "flow_resolved_no") == "↺ 1"  # the way back along "No: issue persists"
    otto.check("ticket-fixed-twice")
    assert marked(page, "current") == {"apply_solution"}
    assert badge(page, "apply_definitive_fix") == "×2"
    rounds = [e for e in runtime.ticket_history(number) if e.kind == "task_completed"
              and e.element_id == "investigate_root_cause"]
    assert [e.actor for e in rounds] == ["otto", "otto"]
    assert [e.data["form"]["root_cause"][:7] for e in rounds] == ["Round 1", "Round 2"]
