"""Messages reach customers: the worker delivers the outbox over real SMTP (aiosmtpd on loopback), threaded,
marked automatic, text and HTML; retried in order while the server is down; given up on a permanent refusal;
held when email is not configured. Replay stays consistent with the delivery events in the history."""
from __future__ import annotations

import re
import threading
from dataclasses import replace
from datetime import timedelta
from email.message import EmailMessage

from engine.execution.clock import FakeClock
from engine.execution.services import WITHHELD_LINK
from engine.runtime import Runtime
from engine.store.outbox import OutboxItem
from engine.usecases.audit import AuditService
from engine.usecases.outbox import OutboxDelivery
from tests.conftest import (
    ASSESS_RESOLVE,
    CLASSIFY,
    CUSTOMER,
    FIX,
    INVESTIGATE,
    L1,
    L2,
    PERSISTS,
    RESOLVED,
    SOLUTION,
    complete_current,
    intake,
)
from tests.integration.helpers import escalate_to_validation, kinds
from tests.integration.mail_sink import SmtpSink
from tests.integration.mail_sink import outbox_rows as rows
from ticketflow.worker import worker_round

ELEMENT_IDS = ("classify_ticket", "assess_first_level", "apply_solution", "test_and_confirm", "escalate_to_l2",
               "investigate_root_cause", "notify_customer", "request_validation", "send_reminder")
STATUS_NAMES = ("with_l1", "with_l2", "awaiting_customer", "stalled", "closed_at", "validation_outcome")


def text_of(message: EmailMessage) -> str:
    part = message.get_body(("plain",))
    assert part is not None
    return str(part.get_content())


def play_every_path(runtime: Runtime, clock: FakeClock) -> dict[str, str]:
    """One ticket per path: L1 direct, escalated, persists loop, silent customer reminded twice then closing."""
    tickets = {name: runtime.open_ticket(intake(subject=f"Login fails ({name})"), CUSTOMER).number
               for name in ("direct", "escalated", "persists", "silent")}
    number = tickets["direct"]
    for actor, data in [(L1, CLASSIFY), (L1, ASSESS_RESOLVE), (L1, SOLUTION), (CUSTOMER, RESOLVED)]:
        complete_current(runtime, number, actor, data)
    escalate_to_validation(runtime, tickets["escalated"])
    complete_current(runtime, tickets["escalated"], CUSTOMER, RESOLVED)
    escalate_to_validation(runtime, tickets["persists"])
    for actor, data in [(CUSTOMER, PERSISTS), (L2, INVESTIGATE), (L2, FIX), (L1, SOLUTION), (CUSTOMER, RESOLVED)]:
        complete_current(runtime, tickets["persists"], actor, data)
    escalate_to_validation(runtime, tickets["silent"])
    for _ in range(2):
        due = runtime.get_ticket(tickets["silent"]).next_timer_at
        assert due is not None
        clock.now = due + timedelta(seconds=1)
        assert runtime.fire_due_timers() == [tickets["silent"]]
    complete_current(runtime, tickets["silent"], CUSTOMER, RESOLVED)
    return tickets


def test_every_message_of_every_path_reaches_the_customer_threaded_marked_and_in_two_parts(
        runtime: Runtime, clock: FakeClock, smtp: SmtpSink) -> None:
    tickets = play_every_path(runtime, clock)
    report = smtp.delivery(runtime).deliver_due()
    queued = rows(runtime)
    assert len(report.delivered) == len(queued) and not report.failed and not report.dead
    assert {row.state for row in queued} == {"delivered"}
    assert len({m["Message-ID"] for m in smtp.sink.received}) == len(queued)  # each its own, none twice
    for name, number in tickets.items():
        received = smtp.sink.by_ticket(number)
        purposes = [row.purpose for row in queued if f"[{number}]" in row.subject]
        assert [m["Message-ID"] for m in received] == [r.message_id for r in queued if f"[{number}]" in r.subject]
        first = received[0]
        assert first["In-Reply-To"] is None and purposes[0] == "acknowledgment"
        for message in received[1:]:
            assert message["In-Reply-To"] == first["Message-ID"] == message["References"]
        for message in received:
            assert message["Auto-Submitted"] == "auto-generated"
            assert message["To"] == "alice@example.com" and "help@support.example" in message["From"]
            assert message["Date"] is not None and message["Message-ID"].endswith("@localhost>")
            assert message.get_content_type() == "multipart/alternative"
            assert [p.get_content_type() for p in message.iter_parts()] == ["text/plain", "text/html"]
            words = text_of(message)
            assert not [w for w in ELEMENT_IDS + STATUS_NAMES if w in words], (name, words)
        if name == "silent":
            assert purposes.count("follow_up") == 2
            assert "reminder 2" in text_of(received[purposes.index("follow_up") + 1])
        assert purposes[-1] == "closure"
    resolution = next(m for m in smtp.sink.by_ticket(tickets["direct"]) if "Resolution" in str(m["Subject"]))
    assert "1. Log out and log in again" in text_of(resolution) and " UTC" in text_of(
        smtp.sink.by_ticket(tickets["direct"])[0])
    for number in tickets.values():
        assert kinds(runtime, number).count("message_delivered") == len(smtp.sink.by_ticket(number))
        assert AuditService(runtime).replay(number).consistent


def test_while_the_server_is_down_messages_wait_and_then_arrive_once_in_order(
        runtime: Runtime, clock: FakeClock, smtp: SmtpSink) -> None:
    smtp.stop()
    number = runtime.open_ticket(intake(), CUSTOMER).number
    for actor, data in [(L1, CLASSIFY), (L1, ASSESS_RESOLVE), (L1, SOLUTION)]:
        complete_current(runtime, number, actor, data)
    delivery = smtp.delivery(runtime)
    first = delivery.deliver_due()
    assert len(first.failed) == 1  # the acknowledgment; the later ones wait behind it, in order
    assert [(r.state, r.attempts) for r in rows(runtime)] == [("pending", 1), ("pending", 0), ("pending", 0)]
    assert "could not be reached" in (rows(runtime)[0].last_error or "")
    clock.now += timedelta(minutes=2)
    assert len(delivery.deliver_due().failed) == 1
    smtp.start()
    assert not delivery.deliver_due()  # the next attempt is not due yet (5 minutes, plus jitter)
    clock.now += timedelta(minutes=7)
    report = delivery.deliver_due()
    assert len(report.delivered) == 3
    received = smtp.sink.by_ticket(number)
    assert [m["Message-ID"] for m in received] == [r.message_id for r in rows(runtime)]
    assert ["received" in str(m["Subject"]) for m in received] == [True, False, False]
    assert [r.attempts for r in rows(runtime)] == [3, 1, 1]
    assert kinds(runtime, number).count("message_failed") == 2
    assert AuditService(runtime).replay(number).consistent
    assert AuditService(runtime).verify_ticket(number).ok


def test_a_permanent_refusal_is_given_up_at_once_with_the_servers_words(
        runtime: Runtime, clock: FakeClock, smtp: SmtpSink) -> None:
    smtp.sink.refused.add("alice@example.com")
    number = runtime.open_ticket(intake(), CUSTOMER).number
    report = smtp.delivery(runtime).deliver_due()
    assert report.dead == [rows(runtime)[0].id] and not smtp.sink.received
    dead = rows(runtime)[0]
    assert dead.state == "dead" and "550" in (dead.last_error or "") and "refused the recipient" in dead.last_error
    failed = [e for e in runtime.ticket_history(number) if e.kind == "message_failed"]
    assert failed[0].data["permanent"] is True and failed[0].data["next_attempt_at"] is None
    clock.now += timedelta(days=2)
    assert not smtp.delivery(runtime).deliver_due()  # dead stays dead until someone retries it


def test_a_temporary_refusal_is_retried_later(runtime: Runtime, clock: FakeClock, smtp: SmtpSink) -> None:
    smtp.sink.deferred.add("alice@example.com")
    runtime.open_ticket(intake(), CUSTOMER)
    assert len(smtp.delivery(runtime).deliver_due().failed) == 1
    assert "451" in (rows(runtime)[0].last_error or "") and rows(runtime)[0].state == "pending"
    smtp.sink.deferred.clear()
    clock.now += timedelta(minutes=2)
    assert len(smtp.delivery(runtime).deliver_due().delivered) == 1


def test_a_contact_without_an_email_address_is_given_up_in_plain_words(
        runtime: Runtime, smtp: SmtpSink) -> None:
    runtime.open_ticket(replace(intake(), contact={"phone": "+41 44 000 00 00"}), CUSTOMER)
    assert len(smtp.delivery(runtime).deliver_due().dead) == 1
    assert "no usable email address" in (rows(runtime)[0].last_error or "")


def test_without_an_smtp_server_the_worker_holds_messages_and_says_so(runtime: Runtime) -> None:
    number = runtime.open_ticket(intake(), CUSTOMER).number
    lines: list[str] = []
    assert worker_round(runtime, lines.append, delivery=OutboxDelivery(runtime, None))
    assert "1 message(s) held: email is not configured, see /outbox" in lines
    assert [(r.state, r.attempts) for r in rows(runtime)] == [("held", 0)]
    assert "message_delivered" not in kinds(runtime, number)


def test_the_message_id_is_fixed_when_queued_and_the_thread_hangs_off_the_first(runtime: Runtime) -> None:
    number = runtime.open_ticket(intake(), CUSTOMER).number
    for actor, data in [(L1, CLASSIFY), (L1, ASSESS_RESOLVE), (L1, SOLUTION)]:
        complete_current(runtime, number, actor, data)
    first, *later = rows(runtime)
    assert first.in_reply_to is None and {r.in_reply_to for r in later} == {first.message_id}
    queued = [e for e in runtime.ticket_history(number) if e.kind == "message_queued"]
    # The same words, except the answer links: they act as the customer, so the history withholds them.
    sent = [re.sub(r"https?://\S+/answer/\S+", WITHHELD_LINK, r.body) for r in rows(runtime)]
    assert [e.data["body"] for e in queued] == sent
    assert all(f"[{number}]" in r.subject and r.html and "<p>" in r.html for r in rows(runtime))


def test_asked_to_stop_the_worker_finishes_the_message_in_hand_and_releases_the_rest(
        runtime: Runtime, smtp: SmtpSink) -> None:
    for n in range(3):
        runtime.open_ticket(intake(subject=f"Login fails {n}"), CUSTOMER)
    delivery = smtp.delivery(runtime)
    stop = threading.Event()
    transport = delivery.transport
    assert transport is not None
    send = transport.deliver

    def deliver_then_sigterm(item: OutboxItem) -> str:
        stop.set()  # SIGTERM arrives while the first message is being sent
        return send(item)

    transport.deliver = deliver_then_sigterm  # type: ignore[method-assign]
    report = delivery.deliver_due(stop.is_set)
    assert len(report.delivered) == 1 and report.released == 2 and len(smtp.sink.received) == 1
    assert [(r.state, r.attempts, r.locked_until) for r in rows(runtime)] == [
        ("delivered", 1, None), ("pending", 0, None), ("pending", 0, None)]
    assert len(smtp.delivery(runtime).deliver_due().delivered) == 2  # another worker takes them at once
