"""The customer answers the validation question from the links in our emails: opening a link changes nothing,
its page's button answers once through the customer's own use case, and every other link is refused in plain
words with nothing changed."""
from __future__ import annotations

import re
import threading

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from werkzeug.test import TestResponse

from engine.audit.replay import _REPLAYED
from engine.execution.clock import FakeClock
from engine.execution.services import WITHHELD_LINK
from engine.runtime import Runtime
from engine.store.models import OutboxMessage, Ticket
from engine.usecases.answer_links import AnswerLinks, LinkQuestion, LinkRefused
from engine.usecases.audit import AuditService
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
    SOLUTION,
    complete_current,
    intake,
)
from tests.e2e.conftest import Page

LINK = re.compile(r"https?://[^\s\"<>]+/answer/([A-Za-z0-9_.\-]+)")


@pytest.fixture(autouse=True)
def _installation_key(monkeypatch: pytest.MonkeyPatch) -> None:
    """The runtime's links are signed with this key (not one kept under var/), and point at the default URL."""
    monkeypatch.setenv("TICKETFLOW_SECRET_KEY", "answer-links-test-key")
    monkeypatch.delenv("TICKETFLOW_BASE_URL", raising=False)


def at_validation(runtime: Runtime) -> str:
    """A ticket that L1 resolved directly, now waiting for the customer's answer."""
    number = runtime.open_ticket(intake(subject="Cannot log in after password reset"), CUSTOMER).number or ""
    for data in (CLASSIFY, ASSESS_RESOLVE, SOLUTION):
        complete_current(runtime, number, L1, data)
    return number


def messages(runtime: Runtime, number: str, purpose: str) -> list[OutboxMessage]:
    with runtime.uow() as uow:
        ticket_id = uow.session.scalars(select(Ticket.id).where(Ticket.number == number)).one()
        return list(uow.session.scalars(select(OutboxMessage).where(
            OutboxMessage.ticket_id == ticket_id, OutboxMessage.purpose == purpose).order_by(OutboxMessage.id)))


def links_in(message: OutboxMessage) -> dict[str, str]:
    """The tokens of the message's two links by answer, checked to be the same in its text and its HTML."""
    text, html = LINK.findall(message.body), LINK.findall(message.html or "")
    assert len(text) == 2 and text == html, (message.body, message.html)
    assert "It's resolved" in message.body and "It still happens" in message.body
    return {"resolved": text[0], "persists": text[1]}


def latest_links(runtime: Runtime, number: str) -> dict[str, str]:
    return links_in(messages(runtime, number, "validation_request")[-1])


def state(runtime: Runtime, number: str) -> tuple[int, int]:
    """The ticket's version and the length of its history: what any change moves."""
    return runtime.get_ticket(number).version, len(runtime.ticket_history(number))


def proof_on(page: TestResponse) -> str:
    return Page.of(page.text).inputs["proof"][0]["value"]


def answer(client: FlaskClient, token: str, **form: str) -> TestResponse:
    """Open the link, then press the page's button (with ``form`` added), as the customer's browser would."""
    page = client.get(f"/answer/{token}")
    assert page.status_code == 200, page.text
    return client.post(f"/answer/{token}", data={"proof": proof_on(page), **form})


def assert_replays_consistent(runtime: Runtime, number: str) -> None:
    assert AuditService(runtime).replay(number).consistent


def test_the_validation_request_and_every_reminder_carry_both_links(runtime: Runtime, clock: FakeClock) -> None:
    number = at_validation(runtime)
    for _ in range(2):
        clock.advance(days=3, seconds=1)
        assert runtime.fire_due_timers() == [number]
    sent = messages(runtime, number, "validation_request") + messages(runtime, number, "follow_up")
    assert len(sent) == 3
    tokens = [links_in(message) for message in sent]
    assert all(t["resolved"] != t["persists"] for t in tokens)
    # The links act as the customer: agents and auditors read the history, which keeps them out.
    bodies = [e.data["body"] for e in runtime.ticket_history(number) if e.kind == "message_queued"]
    assert sum(WITHHELD_LINK in body for body in bodies) == 3
    assert not any(token in str(e.data) for e in runtime.ticket_history(number) for t in tokens for token in t.values())


def test_opening_a_link_shows_the_question_and_changes_nothing(app: Flask, runtime: Runtime) -> None:
    number = at_validation(runtime)
    before = state(runtime, number)
    client = app.test_client()
    for token in latest_links(runtime, number).values():
        page = client.get(f"/answer/{token}")
        assert page.status_code == 200
        shown = Page.of(page.text)
        assert "Did our fix solve “Cannot log in after password reset”?" in shown.text_of["question"]
        assert number not in page.text and "persists" not in shown.text_of["what"]
        assert page.headers["Cache-Control"] == "no-store" and page.headers["Referrer-Policy"] == "no-referrer"
        assert "Set-Cookie" not in page.headers
    assert state(runtime, number) == before


def test_confirming_resolved_closes_the_ticket_as_its_customer_once(app: Flask, runtime: Runtime) -> None:
    number = at_validation(runtime)
    token = latest_links(runtime, number)["resolved"]
    done = answer(app.test_client(), token)
    assert done.status_code == 200 and "Thank you!" in Page.of(done.text).text_of["heading"]
    assert runtime.get_ticket(number).status == "closed"
    history = runtime.ticket_history(number)
    answered = [e for e in history if e.kind == "task_completed" and e.element_id == "test_and_confirm"]
    assert [(e.actor, e.data["form"]) for e in answered] == [("alice", {"validation_outcome": "resolved"})]
    used = [e.data for e in history if e.kind == "answer_link_used"]
    assert len(used) == 1 and len(used[0].pop("request_id")) == 16  # recorded during the link's request
    assert used == [{"answered_by_link": True, "answer": "resolved", "round": 1}]
    assert "answer_link_used" not in _REPLAYED
    before = state(runtime, number)
    again = app.test_client()
    for response in (again.get(f"/answer/{token}"), again.post(f"/answer/{token}", data={"proof": "x"})):
        assert response.status_code in (400, 410)
    assert again.get(f"/answer/{token}").status_code == 410
    assert "Already answered" in again.get(f"/answer/{token}").text
    assert state(runtime, number) == before
    assert_replays_consistent(runtime, number)


def test_it_still_happens_with_a_comment_goes_back_to_l2_and_the_old_round_is_then_replaced(
        app: Flask, runtime: Runtime) -> None:
    number = at_validation(runtime)
    first = latest_links(runtime, number)
    done = answer(app.test_client(), first["persists"], comment="Still \"invalid token\" <b>after</b> logout.")
    assert done.status_code == 200 and "look into the issue again" in done.text
    ready = runtime.get_ticket(number).ready_tasks
    assert [t.element_id for t in ready] == ["investigate_root_cause"]
    form = [e.data["form"] for e in runtime.ticket_history(number) if e.element_id == "test_and_confirm"
            and e.kind == "task_completed"]
    assert form == [{"validation_outcome": "persists",
                     "customer_comment": "Still \"invalid token\" <b>after</b> logout."}]
    for actor, data in ((L2, INVESTIGATE), (L2, FIX), (L1, SOLUTION)):
        complete_current(runtime, number, actor, data)
    second = latest_links(runtime, number)
    assert second != first
    before = state(runtime, number)
    client = app.test_client()
    for token in first.values():
        replaced = client.get(f"/answer/{token}")
        assert replaced.status_code == 410 and "This link has been replaced" in replaced.text
    assert state(runtime, number) == before
    assert answer(client, second["resolved"]).status_code == 200
    assert runtime.get_ticket(number).status == "closed"
    assert_replays_consistent(runtime, number)


def test_an_edited_link_is_refused_and_changes_nothing(app: Flask, runtime: Runtime) -> None:
    number = at_validation(runtime)
    token = latest_links(runtime, number)["resolved"]
    proof = proof_on(app.test_client().get(f"/answer/{token}"))
    middle = len(token) // 2
    edited = token[:middle] + ("A" if token[middle] != "A" else "B") + token[middle + 1:]
    before = state(runtime, number)
    client = app.test_client()
    page = client.get(f"/answer/{edited}")
    assert page.status_code == 404 and "This link does not work" in page.text
    assert client.post(f"/answer/{edited}", data={"proof": proof}).status_code in (400, 404)
    assert client.get(f"/answer/{'x' * 5000}").status_code == 404
    assert state(runtime, number) == before


def test_a_link_past_its_grace_period_has_expired_and_changes_nothing(app: Flask, runtime: Runtime,
                                                                       clock: FakeClock) -> None:
    number = at_validation(runtime)
    token = latest_links(runtime, number)["resolved"]
    client = app.test_client()
    proof = proof_on(client.get(f"/answer/{token}"))
    clock.advance(days=3 + 29)  # the response window, then most of the grace: still good
    assert client.get(f"/answer/{token}").status_code == 200
    clock.advance(days=1, seconds=1)
    before = state(runtime, number)
    expired = client.get(f"/answer/{token}")
    assert expired.status_code == 410 and "This link has expired" in expired.text
    assert client.post(f"/answer/{token}", data={"proof": proof}).status_code == 410
    assert state(runtime, number) == before
    assert runtime.get_ticket(number).ready_tasks[0].element_id == "test_and_confirm"


def test_an_answer_without_the_pages_proof_is_refused(app: Flask, runtime: Runtime) -> None:
    number = at_validation(runtime)
    links = latest_links(runtime, number)
    other_proof = proof_on(app.test_client().get(f"/answer/{links['persists']}"))
    before = state(runtime, number)
    client = app.test_client()
    for form in ({}, {"proof": ""}, {"proof": other_proof}, {"proof": "forged", "csrf_token": "forged"}):
        refused = client.post(f"/answer/{links['resolved']}", data=form)
        assert refused.status_code == 400 and "did not come from the page" in refused.text
    assert state(runtime, number) == before


def test_a_comment_too_long_is_asked_again_with_the_text_kept(app: Flask, runtime: Runtime) -> None:
    number = at_validation(runtime)
    token = latest_links(runtime, number)["persists"]
    before = state(runtime, number)
    again = answer(app.test_client(), token, comment="x" * 4001)
    assert again.status_code == 422 and "under 4,000 characters" in again.text
    assert Page.of(again.text).text_of["comment"] == "x" * 4001
    assert state(runtime, number) == before


def test_two_answers_sent_at_once_make_one(app: Flask, runtime: Runtime) -> None:
    number = at_validation(runtime)
    token = latest_links(runtime, number)["resolved"]
    clients = [app.test_client() for _ in range(2)]
    proofs = [proof_on(c.get(f"/answer/{token}")) for c in clients]
    start = threading.Barrier(2)
    statuses: list[int] = []

    def press(client: FlaskClient, proof: str) -> None:
        start.wait()
        statuses.append(client.post(f"/answer/{token}", data={"proof": proof}).status_code)

    threads = [threading.Thread(target=press, args=pair) for pair in zip(clients, proofs, strict=True)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(statuses) == [200, 410]
    kinds = [e.kind for e in runtime.ticket_history(number) if e.element_id == "test_and_confirm"]
    assert kinds.count("task_completed") == 1 and kinds.count("answer_link_used") == 1
    assert_replays_consistent(runtime, number)


def test_the_loser_of_a_race_who_read_the_question_first_is_told_it_is_already_answered(runtime: Runtime) -> None:
    number = at_validation(runtime)
    token = latest_links(runtime, number)["resolved"]
    links = AnswerLinks(runtime)
    proof = links.signer.form_proof(token)
    read_before = links.question(token)

    class SlowReader(AnswerLinks):
        def question(self, token: str) -> LinkQuestion:
            return read_before  # what it read before the other answer committed

    links.answer(token, proof)
    before = state(runtime, number)
    with pytest.raises(LinkRefused) as refused:
        SlowReader(runtime).answer(token, proof)
    assert refused.value.reason == "answered"
    assert state(runtime, number) == before


def test_a_link_opens_nothing_but_its_question(app: Flask, runtime: Runtime) -> None:
    number = at_validation(runtime)
    token = latest_links(runtime, number)["resolved"]
    task = runtime.get_ticket(number).ready_tasks[0]
    client = app.test_client()
    assert client.get(f"/answer/{token}").status_code == 200
    for path in (f"/tickets/{number}", "/my", f"/tasks/{task.id}"):
        assert client.get(path).status_code == 302 and "/sign-in" in client.get(path).location
    for path in (f"/api/v1/tickets/{number}", f"/api/v1/tasks/{task.id}", "/api/v1/tickets"):
        assert client.get(path, headers={"Authorization": f"Bearer {token}"}).status_code == 401
    refused = client.post(f"/tasks/{task.id}", data={"validation_outcome": "resolved", "proof": "x"})
    assert refused.status_code in (302, 403)
    assert runtime.get_ticket(number).ready_tasks[0].id == task.id


def test_answering_by_link_leaves_the_history_replaying_consistent_after_reminders(
        app: Flask, runtime: Runtime, clock: FakeClock) -> None:
    number = runtime.open_ticket(intake(), CUSTOMER).number or ""
    for actor, data in ((L1, CLASSIFY), (L1, ASSESS_ESCALATE), (L1, ESCALATE), (L2, INVESTIGATE), (L2, FIX),
                        (L1, SOLUTION)):
        complete_current(runtime, number, actor, data)
    clock.advance(days=3, seconds=1)
    assert runtime.fire_due_timers() == [number]
    reminder = links_in(messages(runtime, number, "follow_up")[-1])
    assert answer(app.test_client(), reminder["resolved"]).status_code == 200
    assert runtime.get_ticket(number).status == "closed"
    assert_replays_consistent(runtime, number)
