"""The worker's round: timers fired and a daily anchor of every changed ticket's head."""
from __future__ import annotations

import pytest

from engine.audit import AuditService
from engine.runtime import Runtime
from tests.conftest import CUSTOMER, intake
from web.cli import main


def test_worker_round_anchors_changed_tickets_once_a_day(runtime: Runtime, sqlite_url: str,
                                                         monkeypatch: pytest.MonkeyPatch,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    number = runtime.open_ticket(intake(), CUSTOMER).number
    monkeypatch.setenv("TICKETFLOW_DATABASE_URL", sqlite_url)
    assert main(["worker", "--once"]) == 0
    assert "anchored 1 ticket head(s) as anchor 1" in capsys.readouterr().out
    assert main(["worker", "--once"]) == 0  # the same day: nothing more to anchor
    assert "anchored" not in capsys.readouterr().out
    report = AuditService(runtime).verify_ticket(number)
    assert report.ok and report.anchored_seq == report.head_seq
