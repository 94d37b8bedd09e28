"""`ticketflow outbox list | show | retry` and the worker's report of what it delivered."""
from __future__ import annotations

import pytest

from engine.runtime import Runtime
from tests.conftest import CUSTOMER, intake
from tests.integration.helpers import kinds
from tests.integration.mail_sink import SENDER, SmtpSink
from ticketflow.cli import main


@pytest.fixture
def database(sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("TICKETFLOW_DATABASE_URL", sqlite_url)
    monkeypatch.delenv("TICKETFLOW_SMTP_URL", raising=False)
    return sqlite_url


def test_the_worker_holds_messages_without_smtp_and_the_operator_lists_shows_and_retries_them(
        runtime: Runtime, database: str, capsys: pytest.CaptureFixture[str]) -> None:
    number = runtime.open_ticket(intake(), CUSTOMER).number
    assert main(["worker", "--once"]) == 0
    assert "1 message(s) held: email is not configured, see /outbox" in capsys.readouterr().out
    assert main(["outbox", "list", "--state", "held"]) == 0
    listing = capsys.readouterr().out
    assert f"held      {number}" in listing and "1 of 1 held message(s) shown" in listing
    assert main(["outbox", "show", "1"]) == 0
    shown = capsys.readouterr().out
    assert "Message-ID: <" in shown and "To: alice@example.com" in shown and "will respond by" in shown
    assert main(["outbox", "retry", "1", "--as", "root"]) == 0
    assert "is due now" in capsys.readouterr().out
    assert kinds(runtime, number)[-1] == "message_retry_requested"
    assert main(["outbox", "show", "42"]) == 1
    assert "message 42 does not exist" in capsys.readouterr().err


def test_the_worker_delivers_over_smtp_and_says_how_many(
        runtime: Runtime, database: str, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    sink = SmtpSink()
    sink.start()
    try:
        monkeypatch.setenv("TICKETFLOW_SMTP_URL", f"smtp://127.0.0.1:{sink.port}")
        monkeypatch.setenv("TICKETFLOW_MAIL_FROM", SENDER)
        runtime.open_ticket(intake(), CUSTOMER)
        assert main(["worker", "--once"]) == 0
        assert "1 message(s) delivered" in capsys.readouterr().out
        assert len(sink.sink.received) == 1
        assert main(["outbox", "list", "--state", "delivered"]) == 0
        assert "1 of 1 delivered message(s) shown" in capsys.readouterr().out
    finally:
        sink.stop()


def test_a_malformed_smtp_url_is_refused_in_plain_words(
        database: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("TICKETFLOW_SMTP_URL", "http://mail.example.com")
    assert main(["worker", "--once"]) == 1
    assert "TICKETFLOW_SMTP_URL must start with smtp://" in capsys.readouterr().err
