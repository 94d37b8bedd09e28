"""The customer's messages from templates: escaped HTML, one-line subjects, times with their zone named,
and an email that refuses to carry a line break into a header."""
from __future__ import annotations

from datetime import UTC, datetime

import pytest

from engine.store.outbox import OutboxItem
from engine.usecases.outbox import DeliveryError, retry_delay
from mail.compose import TemplateComposer
from mail.message import build_email
from mail.settings import MailSettings, SmtpServer

FACTS = {"ticket_number": "T-000007", "ticket_subject": "Login <script>alert(1)</script>\r\nBcc: x@evil.example",
         "customer": "alice", "time_zone": "UTC"}
AT = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def test_html_is_escaped_and_the_subject_stays_on_one_line() -> None:
    message = TemplateComposer("support.example").compose(
        "resolution", {**FACTS, "message": "Fixed <b>it</b>", "steps": ["Log out", "Log <i>in</i>"]})
    assert "\r" not in message.subject and "\n" not in message.subject
    assert message.subject.startswith("[T-000007] Resolution applied: Login <script>")
    assert message.html is not None and "<script>" not in message.html and "&lt;i&gt;in&lt;/i&gt;" in message.html
    assert "  1. Log out\n  2. Log <i>in</i>" in message.text


def test_times_are_written_in_the_named_zone() -> None:
    composer = TemplateComposer()
    utc = composer.compose("validation_request", {**FACTS, "respond_by": AT})
    assert "by 2026-03-02 09:00 UTC" in utc.text
    zurich = composer.compose("validation_request", {**FACTS, "respond_by": AT, "time_zone": "Europe/Zurich"})
    assert "by 2026-03-02 10:00 Europe/Zurich" in zurich.text


def test_an_unknown_kind_or_a_missing_fact_is_an_error_not_a_blank() -> None:
    with pytest.raises(LookupError, match="no message templates for 'invoice'"):
        TemplateComposer().compose("invoice", FACTS)
    with pytest.raises(Exception, match="respond_by"):
        TemplateComposer().compose("validation_request", FACTS)


def test_message_ids_are_unique_and_in_the_senders_domain() -> None:
    composer = TemplateComposer(MailSettings("Help <help@support.example>").domain)
    ids = {composer.new_message_id() for _ in range(1000)}
    assert len(ids) == 1000 and all(i.startswith("<") and i.endswith("@support.example>") for i in ids)


def item(**changes: object) -> OutboxItem:
    values: dict[str, object] = dict(
        id=1, ticket_id=1, ticket_number="T-000007", purpose="closure", recipient="alice@example.com",
        subject="[T-000007] Closed", body="Hello", html="<p>Hello</p>", message_id="<a1@support.example>",
        in_reply_to="<a0@support.example>", attempts=1, created_at=AT, locked_until=AT)
    values.update(changes)
    return OutboxItem(**values)  # type: ignore[arg-type]


def test_a_line_break_never_reaches_a_header() -> None:
    for bad in (item(subject="x\r\nBcc: a@b.c"), item(recipient="a@b.c\r\nBcc: d@e.f"), item(recipient="a@b.c, d@e.f")):
        with pytest.raises(DeliveryError) as refused:
            build_email(bad, "Help <help@support.example>")
        assert refused.value.permanent
    email = build_email(item(), "Help <help@support.example>")
    assert email["In-Reply-To"] == email["References"] == "<a0@support.example>"
    assert email["Auto-Submitted"] == "auto-generated"


def test_an_agents_reply_is_not_marked_auto_generated_but_every_automated_message_is() -> None:
    assert build_email(item(purpose="agent_reply"), "Help <help@support.example>")["Auto-Submitted"] is None
    for purpose in ("acknowledgment", "resolution", "validation_request", "follow_up", "closure"):
        assert build_email(item(purpose=purpose), "Help <help@support.example>")["Auto-Submitted"] == "auto-generated"


def test_smtp_urls_name_their_security_and_bad_ones_are_refused() -> None:
    assert SmtpServer.from_url("smtp://mx.example").port == 25
    assert SmtpServer.from_url("smtp://mx.example:2525?starttls=true").security == "starttls"
    assert SmtpServer.from_url("smtp+starttls://mx.example").port == 587
    server = SmtpServer.from_url("smtps://me%40x.example:s%3Acret@mx.example", "ignored")
    assert (server.security, server.port, server.user, server.password) == ("tls", 465, "me@x.example", "s:cret")
    assert SmtpServer.from_url("smtp://me@mx.example", "from-env").password == "from-env"
    with pytest.raises(ValueError, match="must start with smtp://"):
        SmtpServer.from_url("mailto:someone@example.com")


def test_the_retry_schedule_spans_about_a_day_then_gives_up() -> None:
    waits = [retry_delay(n, lambda: 0.0) for n in range(1, 9)]
    assert waits[-1] is None and all(w is not None for w in waits[:-1])
    total = sum((w for w in waits if w is not None), start=AT - AT)
    assert 20 * 3600 < total.total_seconds() < 26 * 3600
    assert retry_delay(1, lambda: 1.0) == retry_delay(1, lambda: 0.0) * 1.2  # type: ignore[operator]
