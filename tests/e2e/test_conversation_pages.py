"""The conversation on the pages: agents reply or note from the ticket page, the customer reads and answers on
theirs, L2 reads what the customer emailed (attachments included) on the task page."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from engine.execution.clock import FakeClock
from engine.runtime import Runtime
from engine.usecases.email_in import EmailIntake
from mail.intake import read_message
from tests.conftest import ASSESS_ESCALATE, CLASSIFY, CUSTOMER, ESCALATE, L1, complete_current, intake
from tests.e2e.conftest import Page
from tests.integration.mail_sink import outbox_rows

CORPUS = Path(__file__).resolve().parents[1] / "data" / "mail"


def emailed_attachments(runtime: Runtime, number: str) -> None:
    """Alice answers the acknowledgment by email with a log file and a screenshot."""
    raw = (CORPUS / "attachments.eml").read_bytes().replace(b"@@TICKET@@", number.encode())
    raw = raw.replace(b"@@IN_REPLY_TO@@", outbox_rows(runtime)[0].message_id.encode())
    EmailIntake.over(runtime).receive(read_message(raw))


def test_an_agent_notes_and_replies_and_the_customer_sees_only_the_reply(runtime: Runtime, clock: FakeClock,
                                                                          visit: Any) -> None:
    number = runtime.open_ticket(intake(), CUSTOMER).number
    lena = visit("lena")
    page = Page.of(lena.get(f"/tickets/{number}").text)
    assert page.options == {} and {i["value"] for i in page.inputs["visibility"]} == {"public", "internal"}
    lena.post(f"/tickets/{number}/messages", {"body": "VIP customer: be quick.", "visibility": "internal",
                                              "next": f"/tickets/{number}"})
    clock.advance(minutes=5)
    done = lena.post(f"/tickets/{number}/messages", {"body": "We are on it, Alice.", "visibility": "public"})
    assert done.headers["Location"].endswith(f"/tickets/{number}#conversation")
    agent_view = lena.get(f"/tickets/{number}").text
    assert "VIP customer: be quick." in agent_view and "Internal note: the customer does not see it" in agent_view
    assert "We are on it, Alice." in agent_view and "reply to the customer" in agent_view

    alice = visit("alice")
    customer_view = alice.get(f"/tickets/{number}").text
    assert "We are on it, Alice." in customer_view and "VIP" not in customer_view
    assert "visibility" not in Page.of(customer_view).inputs  # customers write public messages only
    clock.advance(minutes=5)
    alice.post(f"/tickets/{number}/messages", {"body": "Thanks, I will wait.", "visibility": "internal"})
    assert "Thanks, I will wait." in alice.get(f"/tickets/{number}").text
    assert "The customer wrote after our last message" in lena.get(f"/tickets/{number}").text


def test_l2_reads_the_customer_s_email_and_downloads_its_attachments_on_the_task_page(
        runtime: Runtime, visit: Any) -> None:
    number = runtime.open_ticket(intake(), CUSTOMER).number
    emailed_attachments(runtime, number)
    for data in (CLASSIFY, ASSESS_ESCALATE, ESCALATE):
        complete_current(runtime, number, L1, data)
    otto = visit("otto")
    task = runtime.get_ticket(number).ready_tasks[0]
    page = otto.get(f"/tasks/{task.id}").text
    assert "Here are the browser log and a screenshot." in page
    links = [link for link in Page.of(page).links if link.startswith("/attachments/")]
    assert len(links) == 2
    download = otto.client.get(links[1])
    assert download.status_code == 200 and download.mimetype == "image/png"
    assert download.headers["Content-Disposition"] == "attachment; filename=screenshot.png"
    assert download.data.startswith(b"\x89PNG")
    assert visit("alice").client.get(links[0]).status_code == 200  # her own file, on her own ticket
    assert visit("bob").client.get(links[0]).status_code == 404  # another customer's: does not exist


def test_a_bad_message_keeps_what_was_typed_and_readers_get_no_reply_box(runtime: Runtime, visit: Any) -> None:
    number = runtime.open_ticket(intake(), CUSTOMER).number
    lena = visit("lena")
    lena.get(f"/tickets/{number}")
    refused = lena.post(f"/tickets/{number}/messages", {"body": "   ", "visibility": "public"}, status=422)
    assert "write a message" in refused.text
    auditor = Page.of(visit("ada").get(f"/tickets/{number}").text)
    assert "body" not in auditor.inputs and auditor.text_of.get("conversation") is not None


def test_a_file_a_stranger_sent_is_the_team_s_not_the_customer_s(runtime: Runtime, visit: Any) -> None:
    number = runtime.open_ticket(intake(), CUSTOMER).number
    raw = (CORPUS / "attachments.eml").read_bytes().replace(b"@@TICKET@@", number.encode())
    raw = raw.replace(b"@@IN_REPLY_TO@@", outbox_rows(runtime)[0].message_id.encode())
    EmailIntake.over(runtime).receive(read_message(raw.replace(b"alice@example.com", b"mallory@evil.example")))
    lena_page = visit("lena").get(f"/tickets/{number}").text
    assert "From an address that is not the customer" in lena_page
    link = next(link for link in Page.of(lena_page).links if link.startswith("/attachments/"))
    assert visit("lena").client.get(link).status_code == 200
    alice = visit("alice")
    assert alice.client.get(link).status_code == 404
    assert "browser log" not in alice.get(f"/tickets/{number}").text
