"""The conversation over HTTP: who reads what, who writes what, problem+json for bad input, and the history."""
from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from engine.execution.clock import FakeClock
from engine.store.models import OutboxMessage, Ticket
from engine.usecases.audit import AuditService
from tests.api.conftest import Api, open_ticket


def messages(api: Api, number: str, reader: str, status: int = 200) -> Any:
    response = api.as_(reader).get(f"/api/v1/tickets/{number}/messages")
    assert response.status_code == status, response.json
    return response.json


def post(api: Api, number: str, author: str, body: Any, visibility: str | None = "public",
         status: int = 201) -> Any:
    document = {"body": body} if visibility is None else {"body": body, "visibility": visibility}
    response = api.as_(author).post(f"/api/v1/tickets/{number}/messages", json=document)
    assert response.status_code == status, response.json
    return response


def emails(api: Api, purpose: str) -> list[OutboxMessage]:
    with api.runtime.uow() as uow:
        return list(uow.session.scalars(select(OutboxMessage).where(OutboxMessage.purpose == purpose)))


def test_customers_see_public_entries_only_and_agents_see_notes_too(api: Api) -> None:
    number = open_ticket(api)["number"]
    post(api, number, "alice", "The error also shows on my phone.", None)
    post(api, number, "lena", "Looks like the token cache again; checking with L2.", "internal")
    post(api, number, "otto", "Please clear the app's cache and sign in again.", "public")
    agents = [item["text"] for item in messages(api, number, "lena")["items"] if item["kind"] == "entry"]
    customer = [item["text"] for item in messages(api, number, "alice")["items"] if item["kind"] == "entry"]
    assert len(agents) == 3 and "Looks like the token cache again; checking with L2." in agents
    assert customer == ["The error also shows on my phone.", "Please clear the app's cache and sign in again."]
    trail = api.as_("alice").get(f"/api/v1/tickets/{number}").json["trail"]
    assert "note_posted" not in [event["kind"] for event in trail]
    assert "token cache" not in str(api.as_("alice").get(f"/api/v1/tickets/{number}/history").json)


def test_an_agent_s_public_reply_is_emailed_in_the_ticket_s_thread_and_a_note_never_is(api: Api) -> None:
    number = open_ticket(api)["number"]
    post(api, number, "lena", "Internal: customer is a VIP.", "internal")
    reply = post(api, number, "lena", "We are on it and will write again within the hour.").json
    (sent,) = emails(api, "agent_reply")
    assert sent.recipient == "alice@example.com" and f"[{number}]" in sent.subject
    assert "We are on it" in sent.body and "VIP" not in sent.body
    acknowledgment = emails(api, "acknowledgment")[0]
    assert sent.in_reply_to == acknowledgment.message_id
    assert reply["delivery"] is None and reply["direction"] == "outbound"
    listed = [i for i in messages(api, number, "alice")["items"] if i["kind"] == "entry"]
    assert listed[-1]["delivery"] == "pending"  # the reply shows its email's state, and is listed once
    assert all("VIP" not in str(item) for item in messages(api, number, "alice")["items"])


def first_response_at(api: Api, number: str) -> Any:
    with api.runtime.uow() as uow:
        return uow.session.scalars(select(Ticket.first_response_at).where(Ticket.number == number)).one()


def test_the_first_human_public_reply_records_the_first_response(api: Api, clock: FakeClock) -> None:
    number = open_ticket(api)["number"]
    assert first_response_at(api, number) is None  # the acknowledgment does not count
    post(api, number, "lena", "A note is not a response.", "internal")
    assert first_response_at(api, number) is None
    post(api, number, "lena", "Hello Alice, we are looking into it.")
    first = first_response_at(api, number)
    clock.advance(minutes=30)
    post(api, number, "lena", "A second reply changes nothing.")
    assert first is not None and first_response_at(api, number) == first


@pytest.mark.parametrize(("author", "visibility", "status"), [
    ("alice", "internal", 403),  # customers post public messages only
    ("aude", "public", 403),  # auditors read
    ("petra", "internal", 403),  # process owners read
    ("bob", "public", 404),  # another customer's ticket does not exist
])
def test_who_may_not_post_is_refused_and_nothing_changes(api: Api, author: str, visibility: str,
                                                          status: int) -> None:
    number = open_ticket(api)["number"]
    before = messages(api, number, "root")
    response = post(api, number, author, "Hello there, world.", visibility, status)
    assert response.mimetype == "application/problem+json"
    assert messages(api, number, "root") == before


def test_another_customer_cannot_read_the_conversation(api: Api) -> None:
    number = open_ticket(api)["number"]
    assert api.as_("bob").get(f"/api/v1/tickets/{number}/messages").status_code == 404


@pytest.mark.parametrize(("document", "pointer"), [
    ({"body": ""}, "/body"),
    ({"body": "   "}, "/body"),
    ({"body": 42}, "/body"),
    ({"body": "x" * 20_001}, "/body"),
    ({"body": "hello", "visibility": "everyone"}, "/visibility"),
    ({"body": "hello", "cc": "someone@example.org"}, "/cc"),
])
def test_bad_messages_are_refused_with_the_field_named(api: Api, document: dict[str, Any], pointer: str) -> None:
    number = open_ticket(api)["number"]
    response = api.as_("lena").post(f"/api/v1/tickets/{number}/messages", json=document)
    assert response.status_code == 422 and response.mimetype == "application/problem+json"
    assert pointer in [error["pointer"] for error in response.json["errors"]]


def test_the_conversation_leaves_every_ticket_replaying_consistent(api: Api) -> None:
    number = open_ticket(api)["number"]
    post(api, number, "alice", "More details: it started on Monday.", None)
    post(api, number, "lena", "Noted for L2.", "internal")
    post(api, number, "lena", "Thank you, we will keep you posted.")
    assert AuditService(api.runtime).replay(number).consistent


def test_the_api_document_describes_the_conversation(api: Api) -> None:
    paths = api.client.get("/openapi.json").json["paths"]
    assert set(paths["/api/v1/tickets/{number}/messages"]) == {"get", "post"}
