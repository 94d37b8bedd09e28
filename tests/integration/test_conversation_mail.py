"""An agent's public reply reaches the customer over real SMTP (the aiosmtpd sink), in the ticket's thread,
with nothing a reply's words or a ticket's subject could add to the headers; internal notes never leave."""
from __future__ import annotations

from engine.access import Actor
from engine.runtime import Runtime
from engine.usecases.audit import AuditService
from engine.usecases.conversation import ConversationUseCases
from tests.conftest import CUSTOMER, L1, intake
from tests.integration.mail_sink import SmtpSink

L2 = Actor("otto", "l2")


def test_an_agent_s_reply_arrives_threaded_to_the_ticket_and_a_note_never_leaves(runtime: Runtime,
                                                                                 smtp: SmtpSink) -> None:
    number = runtime.open_ticket(intake(), CUSTOMER).number
    conversation = ConversationUseCases.over(runtime)
    conversation.post_message(number, "Customer sounds upset; keep it short.", "internal", L1)
    conversation.post_message(number, "Please sign out and in again; the fix is live.", "public", L2)
    smtp.delivery(runtime).deliver_due()
    acknowledgment, reply = smtp.sink.by_ticket(number)
    assert reply["To"] == "alice@example.com" and reply["Subject"].startswith(f"[{number}] Re:")
    assert reply["In-Reply-To"] == acknowledgment["Message-ID"] == reply["References"]
    text = reply.get_body(preferencelist=("plain",)).get_content()
    assert "Please sign out and in again; the fix is live." in text and "otto" in text
    assert all("upset" not in message.as_string() for message in smtp.sink.received)
    delivered = [i.delivery for i in conversation.conversation(number, CUSTOMER).items if i.kind == "entry"]
    assert delivered == ["delivered"]
    assert AuditService(runtime).replay(number).consistent


def test_header_injection_in_a_reply_or_a_subject_adds_no_header_and_no_recipient(runtime: Runtime,
                                                                                   smtp: SmtpSink) -> None:
    sneaky = intake(subject="Login broken\r\nBcc: thief@evil.example")
    number = runtime.open_ticket(sneaky, CUSTOMER).number
    body = "Fixed.\r\nBcc: thief@evil.example\r\n\r\nX-Injected: yes\nSubject: hijacked"
    ConversationUseCases.over(runtime).post_message(number, body, "public", L1)
    smtp.delivery(runtime).deliver_due()
    received = smtp.sink.by_ticket(number)
    assert len(received) == 2
    for message in received:
        assert message["Bcc"] is None and message["X-Injected"] is None
        assert "hijacked" not in str(message["Subject"]) and "\n" not in str(message["Subject"])
        assert message.get_all("To") == ["alice@example.com"]
    assert smtp.sink.count == 2  # the acknowledgment and the reply, nothing more
