"""The worker's round: timers fired and a daily anchor of every changed ticket's head."""
from __future__ import annotations

import shutil
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

from engine.runtime import Runtime
from engine.usecases.audit import AuditService
from tests.conftest import CUSTOMER, intake
from ticketflow.cli import main


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


def test_worker_round_checkpoints_the_wal_so_requests_need_not(runtime: Runtime, sqlite_url: str,
                                                               tmp_path: Path) -> None:
    from ticketflow.worker import worker_round

    database = Path(sqlite_url.removeprefix("sqlite:///"))

    def tickets_in_the_database_file_alone() -> int:
        copy = tmp_path / "copy.db"  # the main file without its WAL: what a checkpoint has written back
        shutil.copyfile(database, copy)
        with closing(sqlite3.connect(copy)) as connection:
            return int(connection.execute("SELECT count(*) FROM ticket").fetchone()[0])

    for _ in range(3):
        runtime.open_ticket(intake(), CUSTOMER)
    assert tickets_in_the_database_file_alone() == 0  # far below the automatic checkpoint's 10,000 pages
    worker_round(runtime, lambda line: None)
    assert tickets_in_the_database_file_alone() == 3
    assert runtime.checkpoint() == 0  # nothing left in the WAL to copy
