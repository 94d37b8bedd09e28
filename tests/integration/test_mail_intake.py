"""Email in: the hand-written corpus in tests/data/mail read, threaded and recorded on the real engine, and the
`ticketflow mail ingest` command as a mail server runs it (standard input, exit codes)."""
from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import func, select

from engine.access import Actor
from engine.execution.clock import FakeClock
from engine.runtime import Runtime
from engine.store.models import ConversationAttachment, ConversationEntry, Ticket
from engine.usecases.audit import AuditService
from engine.usecases.email_in import EmailIntake, IntakeOutcome
from engine.usecases.users import Directory
from mail.intake import IntakeLimits, Unreadable, read_message
from tests.conftest import CUSTOMER, RESOLVED, complete_current, intake
from tests.integration.helpers import escalate_to_validation
from tests.integration.mail_sink import outbox_rows
from ticketflow.composition import deploy_file

CORPUS = Path(__file__).resolve().parents[1] / "data" / "mail"
REPO = Path(__file__).resolve().parents[2]


def corpus(name: str, ticket: str = "T-000000", in_reply_to: str = "<none@localhost>") -> bytes:
    """A message of the corpus, addressed to ``ticket`` and answering ``in_reply_to``."""
    raw = (CORPUS / name).read_bytes()
    return raw.replace(b"@@TICKET@@", ticket.encode()).replace(b"@@IN_REPLY_TO@@", in_reply_to.encode())


def receive(runtime: Runtime, raw: bytes, limits: IntakeLimits | None = None) -> IntakeOutcome:
    return EmailIntake.over(runtime).receive(read_message(raw, limits or IntakeLimits()))


def alices_ticket(runtime: Runtime) -> tuple[str, str]:
    """Alice's ticket and the Message-ID of its first email (the acknowledgment), as a reply would quote it."""
    number = runtime.open_ticket(intake(), CUSTOMER).number
    return number, outbox_rows(runtime)[0].message_id


def entries(runtime: Runtime) -> list[ConversationEntry]:
    with runtime.uow() as uow:
        return list(uow.session.scalars(select(ConversationEntry).order_by(ConversationEntry.id)))


def ticket_count(runtime: Runtime) -> int:
    with runtime.uow() as uow:
        return uow.session.scalar(select(func.count()).select_from(Ticket)) or 0


def ingest(url: str, raw: bytes, **env: str) -> subprocess.CompletedProcess[str]:
    """`ticketflow mail ingest` as a mail server pipes a message into it."""
    environment = {**os.environ, "TICKETFLOW_DATABASE_URL": url, **env}
    done = subprocess.run([sys.executable, "-m", "ticketflow", "mail", "ingest"], input=raw, capture_output=True,
                          env=environment, cwd=REPO, timeout=120, check=False)
    return subprocess.CompletedProcess(done.args, done.returncode, done.stdout.decode(), done.stderr.decode())


def test_a_new_message_piped_twice_opens_one_ticket_through_the_cli(runtime: Runtime, sqlite_url: str) -> None:
    raw = corpus("new_request.eml")
    first, second = ingest(sqlite_url, raw), ingest(sqlite_url, raw)
    assert (first.returncode, second.returncode) == (0, 0), (first.stderr, second.stderr)
    assert "opened ticket T-000001" in first.stdout and "already recorded" in second.stdout
    ticket = runtime.get_ticket("T-000001")
    assert (ticket.customer, ticket.channel, ticket.subject) == (
        "carol@example.org", "email", "Printer on floor 3 prints blank pages")
    assert "blank pages" in ticket.description and len(entries(runtime)) == 1
    assert AuditService(runtime).replay("T-000001").consistent


def test_a_broken_message_is_refused_with_exit_65_and_nothing_is_stored(runtime: Runtime, sqlite_url: str) -> None:
    done = ingest(sqlite_url, corpus("broken.eml"))
    assert done.returncode == 65 and "broken or truncated" in done.stderr
    assert entries(runtime) == [] and ticket_count(runtime) == 0


def test_an_unavailable_database_is_a_temporary_failure_with_exit_75() -> None:
    done = ingest("postgresql://nobody@127.0.0.1:9/nothing", corpus("new_request.eml"))
    assert done.returncode == 75 and "try again later" in done.stderr


def test_an_oversized_message_is_refused_with_exit_65(runtime: Runtime, sqlite_url: str) -> None:
    done = ingest(sqlite_url, corpus("new_request.eml") + b"x" * 5000, TICKETFLOW_MAX_MESSAGE="4096")
    assert done.returncode == 65 and "larger than 4 KiB" in done.stderr
    assert ticket_count(runtime) == 0


def test_a_sender_known_as_a_customer_user_becomes_the_ticket_s_customer(runtime: Runtime) -> None:
    Directory(runtime.sessions, runtime.clock).add_user("carol", "customer", "Carol@Example.org")
    outcome = receive(runtime, corpus("new_request.eml"))
    assert outcome.outcome == "opened"
    assert runtime.get_ticket(outcome.ticket_number or "").customer == "carol"


@pytest.mark.parametrize(("name", "words", "quoted"), [
    ("gmail_reply.eml", "It works now, thank you! I could log in right away.", "Please log out"),
    ("outlook_reply.eml", 'Still failing for me, the page says "invalid token" again.', "Original Message"),
    ("apple_mail_reply.eml", "I tried on my Mac too and it works there as well.", "Please log out"),
    ("signature.eml", "One more thing: the error appears only in Firefox.", "Head of Accounting"),
])
def test_replies_from_common_clients_join_the_conversation_without_quotes_or_signature(
        runtime: Runtime, clock: FakeClock, name: str, words: str, quoted: str) -> None:
    number, root = alices_ticket(runtime)
    before = runtime.get_ticket(number)
    clock.advance(minutes=20)
    outcome = receive(runtime, corpus(name, number, root))
    assert outcome == IntakeOutcome("added", number)
    (entry,) = entries(runtime)
    assert entry.shown == words and quoted in entry.body and quoted not in entry.shown
    assert (entry.author, entry.visibility, entry.customer_replied) == ("alice", "public", True)
    conversation = EmailIntake.over(runtime).conversation(number, CUSTOMER)
    assert conversation.customer_replied
    after = runtime.get_ticket(number)  # "it works" by email confirms nothing: only the explicit answer does
    assert (after.status, [t.id for t in after.ready_tasks]) == (before.status, [t.id for t in before.ready_tasks])
    assert AuditService(runtime).replay(number).consistent


def test_a_forged_reply_from_a_stranger_is_an_internal_note_never_the_customer_s_words(runtime: Runtime) -> None:
    number, root = alices_ticket(runtime)
    assert receive(runtime, corpus("stranger_reply.eml", number, root)) == IntakeOutcome("internal", number)
    (entry,) = entries(runtime)
    assert (entry.visibility, entry.from_other_address, entry.customer_replied) == ("internal", True, False)
    assert entry.author == "mallory@evil.example"
    conversation = EmailIntake.over(runtime).conversation(number, CUSTOMER)
    assert all("mallory" not in item.author and "new password" not in item.text for item in conversation.items)
    assert not conversation.customer_replied
    assert "message_received" not in [e.kind for e in runtime.ticket_history(number, CUSTOMER)]


def test_an_auto_reply_is_recorded_on_its_ticket_and_answers_nothing(runtime: Runtime) -> None:
    number, root = alices_ticket(runtime)
    messages = len(outbox_rows(runtime))
    assert receive(runtime, corpus("auto_reply.eml", number, root)).outcome == "internal"
    (entry,) = entries(runtime)
    assert (entry.auto_reply, entry.visibility, entry.customer_replied) == (True, "internal", False)
    assert len(outbox_rows(runtime)) == messages and ticket_count(runtime) == 1


def test_a_bounce_that_matches_no_ticket_is_recorded_and_opens_none(runtime: Runtime) -> None:
    assert receive(runtime, corpus("bounce.eml")) == IntakeOutcome("recorded", None)
    (entry,) = entries(runtime)
    assert entry.ticket_id is None and entry.auto_reply and ticket_count(runtime) == 0


def test_a_reply_to_a_closed_ticket_is_recorded_and_flagged_without_reopening(runtime: Runtime) -> None:
    number, root = alices_ticket(runtime)
    escalate_to_validation(runtime, number)
    complete_current(runtime, number, CUSTOMER, RESOLVED)
    assert runtime.get_ticket(number).status == "closed"
    assert receive(runtime, corpus("gmail_reply.eml", number, root)).outcome == "added"
    (entry,) = entries(runtime)
    assert entry.after_close and runtime.get_ticket(number).status == "closed"
    assert AuditService(runtime).replay(number).consistent


def test_the_subject_s_ticket_number_threads_a_reply_without_headers_and_an_unknown_one_opens_a_ticket(
        runtime: Runtime) -> None:
    number, _ = alices_ticket(runtime)
    assert receive(runtime, corpus("outlook_reply.eml", number)) == IntakeOutcome("added", number)
    unknown = corpus("outlook_reply.eml", "T-000777").replace(b"OUTLOOK@", b"OUTLOOK2@")
    assert receive(runtime, unknown).outcome == "opened" and ticket_count(runtime) == 2


def test_html_only_mail_is_read_as_text(runtime: Runtime) -> None:
    ticket = runtime.get_ticket(receive(runtime, corpus("html_only.eml")).ticket_number or "")
    assert "my VPN connection drops every ten minutes since the update & I lose my work." in ticket.description
    assert "<" not in ticket.description and "alert" not in ticket.description and "color" not in ticket.description


@pytest.mark.parametrize(("name", "subject", "words"), [
    ("latin1.eml", "Problème de connexion après réinitialisation", "« jeton invalide »"),
    ("shift_jis.eml", "ログインできません", "「無効なトークン」と表示されます。"),
])
def test_bodies_in_other_character_sets_are_read(runtime: Runtime, name: str, subject: str, words: str) -> None:
    ticket = runtime.get_ticket(receive(runtime, corpus(name)).ticket_number or "")
    assert ticket.subject == subject and words in ticket.description


def test_attachments_are_kept_with_their_type_detected_from_the_bytes(runtime: Runtime) -> None:
    number, root = alices_ticket(runtime)
    receive(runtime, corpus("attachments.eml", number, root))
    with runtime.uow() as uow:
        files = uow.session.scalars(select(ConversationAttachment).order_by(ConversationAttachment.id)).all()
        kept = [(f.filename, f.content_type, f.size) for f in files]
    assert kept[0][:2] == ("browser.log", "text/plain")
    assert kept[1][:2] == ("screenshot.png", "image/png")  # declared application/pdf; named ../../screenshot.png


def test_an_attachment_over_its_limit_is_dropped_with_a_note(runtime: Runtime) -> None:
    number, root = alices_ticket(runtime)
    receive(runtime, corpus("attachments.eml", number, root), IntakeLimits(attachment=100))
    (entry,) = entries(runtime)
    assert entry.note is not None and "browser.log" in entry.note
    with runtime.uow() as uow:
        assert [a.filename for a in uow.session.scalars(select(ConversationAttachment))] == ["screenshot.png"]


@pytest.mark.parametrize(("raw", "reason"), [
    (corpus("unknown_charset.eml"), "character set we cannot read (x-klingon-9)"),
    (corpus("broken.eml"), "broken or truncated"),
    (b"", "empty"),
    (b"From: nobody\nSubject: no address\n\nhello there, world", "no single sender address"),
    (b"From: a@example.org\nContent-Type: multipart/mixed; boundary=b\n\n" + b"--b\n\nx\n" * 10_000 + b"--b--\n",
     "10001 parts"),
])
def test_unreadable_messages_are_refused_in_plain_words(raw: bytes, reason: str) -> None:
    with pytest.raises(Unreadable) as refused:
        read_message(raw)
    assert reason in refused.value.reason


def test_the_same_message_id_is_recorded_once_by_the_database_s_unique_key(runtime: Runtime) -> None:
    number, root = alices_ticket(runtime)
    raw = corpus("gmail_reply.eml", number, root)
    assert receive(runtime, raw).outcome == "added"
    recorded = len(runtime.ticket_history(number))
    assert receive(runtime, raw) == IntakeOutcome("duplicate", None)
    assert len(entries(runtime)) == 1 and len(runtime.ticket_history(number)) == recorded


@pytest.mark.postgres
def test_on_postgresql_a_message_opens_one_ticket_and_replies_thread_to_it(
        postgres_url: str, runtimes: Callable[..., Runtime], clock: FakeClock) -> None:
    runtime = runtimes(postgres_url)
    deploy_file(runtime)
    opened = receive(runtime, corpus("new_request.eml"))
    assert receive(runtime, corpus("new_request.eml")) == IntakeOutcome("duplicate", None)
    number, root = opened.ticket_number or "", outbox_rows(runtime)[0].message_id
    clock.advance(minutes=10)
    reply = corpus("gmail_reply.eml", number, root).replace(b"alice@example.com", b"carol@example.org")
    assert receive(runtime, reply) == IntakeOutcome("added", number)
    assert receive(runtime, corpus("stranger_reply.eml", number, root)) == IntakeOutcome("internal", number)
    assert [e.visibility for e in entries(runtime)] == ["public", "public", "internal"]
    seen = EmailIntake.over(runtime).conversation(number, Actor("carol@example.org", "customer"))
    assert [item.text for item in seen.items if item.kind == "entry"][-1].startswith("It works now")
    assert AuditService(runtime).replay(number).consistent
