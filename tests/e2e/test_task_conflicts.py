"""A task form keeps the work typed into it: a change elsewhere on the ticket (a reminder firing, the
agent's own claim in another tab) does not stop the submit; a change of the task itself (taken or
completed by someone else) shows the typed values again with a plain word and a way back."""
from __future__ import annotations

from typing import Any

from werkzeug.test import TestResponse

from engine.execution.clock import FakeClock
from engine.runtime import Runtime
from tests.conftest import (
    ADMIN,
    ASSESS_ESCALATE,
    CLASSIFY,
    ESCALATE,
    FIX,
    INVESTIGATE,
    L1,
    L2,
    SOLUTION,
    complete_current,
)
from tests.e2e.conftest import Page
from tests.e2e.test_pages import CLASSIFY_FORM, VALIDATE_FORM, form_data, open_ticket, ready_task


def awaiting_customer(runtime: Runtime) -> str:
    number = open_ticket(runtime)
    for actor, data in ((L1, CLASSIFY), (L1, ASSESS_ESCALATE), (L1, ESCALATE), (L2, INVESTIGATE), (L2, FIX),
                        (L1, SOLUTION)):
        complete_current(runtime, number, actor, data)
    return number


def test_a_reminder_firing_while_the_customer_types_does_not_lose_the_answer(visit: Any, runtime: Runtime) -> None:
    number = awaiting_customer(runtime)
    task = ready_task(runtime, number)
    clock = runtime.clock
    assert isinstance(clock, FakeClock)
    clock.advance(days=3, minutes=-5)  # the reminder is due in five minutes (the response window is three days)
    alice = visit("alice")
    shown = alice.get(f"/tasks/{task.id}")
    clock.advance(minutes=10)
    assert runtime.fire_due_timers() == [number]  # the follow-up reminder
    assert runtime.get_ticket(number).version > int(hidden(shown)["version"])
    response = alice.post(f"/tasks/{task.id}", {**hidden(shown), **VALIDATE_FORM})
    assert response.location == f"/tickets/{number}"
    assert form_data(runtime, number, "test_and_confirm") == {"validation_outcome": "resolved",
                                                              "customer_comment": "Works now, thanks."}
    assert runtime.get_ticket(number).status == "closed"


def hidden(response: TestResponse) -> dict[str, str]:
    """What the form page posts besides the typed values: the ticket version and assignee it showed."""
    inputs = Page.of(response.text).inputs
    return {name: inputs[name][0]["value"] for name in ("version", "assignee")}


def test_claiming_the_task_in_another_tab_does_not_stop_the_submit(visit: Any, runtime: Runtime) -> None:
    number = open_ticket(runtime)
    task = ready_task(runtime, number)
    lena = visit("lena")
    shown = lena.get(f"/tasks/{task.id}")
    runtime.claim_task(task.id, L1)  # the same agent, from the inbox in another tab
    assert lena.post(f"/tasks/{task.id}", {**hidden(shown), **CLASSIFY_FORM}).location == f"/tickets/{number}"
    assert form_data(runtime, number, "classify_ticket") == CLASSIFY


def test_a_task_claimed_by_someone_else_meanwhile_keeps_the_typed_values_with_a_plain_message(
        visit: Any, runtime: Runtime) -> None:
    number = open_ticket(runtime)
    task = ready_task(runtime, number)
    lena = visit("lena")
    shown = lena.get(f"/tasks/{task.id}")
    runtime.claim_task(task.id, ADMIN)
    response = lena.post(f"/tasks/{task.id}", {**hidden(shown), **CLASSIFY_FORM}, status=409)
    page = Page.of(response.text)
    message = page.text_of["conflict"]
    assert "root claimed “Classify type and priority”" in message and "not saved" in message
    assert task.id not in message and "version" not in message
    assert {name: page.chosen[name] for name in CLASSIFY_FORM} == CLASSIFY_FORM  # what lena chose, kept
    assert f"/tickets/{number}" in page.links and "/inbox" in page.links
    assert "kept" in page.text_of and f'action="/tasks/{task.id}"' not in response.text  # nothing to resend
    assert ready_task(runtime, number).assignee == "root"  # nothing was completed


def test_a_task_completed_by_someone_else_meanwhile_keeps_the_typed_values(visit: Any, runtime: Runtime) -> None:
    number = open_ticket(runtime)
    task = ready_task(runtime, number)
    lena = visit("lena")
    shown = lena.get(f"/tasks/{task.id}")
    runtime.complete_task(task.id, {**CLASSIFY, "urgency": "low"}, ADMIN)
    typed = {**hidden(shown), **CLASSIFY_FORM, "impact": "low"}
    page = Page.of(lena.post(f"/tasks/{task.id}", typed, status=409).text)
    assert "“Classify type and priority” was completed while you were filling in the form" in page.text_of["conflict"]
    assert page.chosen["impact"] == "low"
    assert form_data(runtime, number, "classify_ticket")["urgency"] == "low"  # the other person's answer stands


def test_an_admin_does_not_override_a_claim_made_after_the_form_was_shown(visit: Any, runtime: Runtime) -> None:
    number = open_ticket(runtime)
    task = ready_task(runtime, number)
    root = visit("root")
    shown = root.get(f"/tasks/{task.id}")
    runtime.claim_task(task.id, L1)
    again = root.post(f"/tasks/{task.id}", {**hidden(shown), **CLASSIFY_FORM}, status=409)
    assert "lena claimed" in Page.of(again.text).text_of["conflict"]
    assert runtime.get_ticket(number).ready_tasks[0].element_id == "classify_ticket"
    # The page now shows who holds it; sending the form from it overrides the claim knowingly.
    assert hidden(again)["assignee"] == "lena"
    assert root.post(f"/tasks/{task.id}", {**hidden(again), **CLASSIFY_FORM}).location == f"/tickets/{number}"
