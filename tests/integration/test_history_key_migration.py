"""Migration 0020 (history keyed by ticket and sequence, hashes stored as bytes), down and up again, on SQLite and
PostgreSQL with real tickets: every event and hash survives both ways, the chains verify and replay, the
append-only guards are back, and tickets go on recording afterwards."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from alembic.config import Config
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from alembic import command
from engine.runtime import Runtime
from engine.store.db import REPO_ROOT, upgrade
from engine.usecases.audit import AuditService
from tests.conftest import ADMIN, CUSTOMER, RESOLVED, complete_current, intake
from tests.integration.helpers import escalate_to_validation
from ticketflow.composition import deploy_file


def migrate(url: str, revision: str) -> None:
    config = Config()
    config.set_main_option("script_location", str(REPO_ROOT / "alembic"))
    config.set_main_option("sqlalchemy.url", url)
    if revision == "head":
        command.upgrade(config, revision)
    else:
        command.downgrade(config, revision)


def recorded(runtime: Runtime, number: str) -> list[tuple[int, str, str]]:
    return [(event.seq, event.kind, event.hash or "") for event in runtime.ticket_history(number)]


def raw_hashes(runtime: Runtime) -> list[Any]:
    with runtime.uow(read_only=True) as uow:
        query = text("SELECT hash FROM history_event ORDER BY ticket_id, seq")
        return [row[0] for row in uow.connection.execute(query)]


def check_round_trip(url: str, runtime: Runtime) -> None:
    closed = runtime.open_ticket(intake(), CUSTOMER).number
    escalate_to_validation(runtime, closed)
    complete_current(runtime, closed, CUSTOMER, RESOLVED)
    waiting = runtime.open_ticket(intake(subject="Export stuck at 99%"), CUSTOMER).number
    before = {number: recorded(runtime, number) for number in (closed, waiting)}
    AuditService(runtime).anchor(ADMIN)  # the anchors hold the heads' hashes as hex: they must still match
    assert all(isinstance(digest, bytes) and len(digest) == 32 for digest in raw_hashes(runtime))

    migrate(url, "0019")
    hashes = raw_hashes(runtime)
    assert [bytes.fromhex(digest).hex() for digest in hashes] == hashes  # 64 lowercase hex digits, as 0019 stored them
    assert hashes == [digest for number in (closed, waiting) for _, _, digest in before[number]]

    migrate(url, "head")
    audit = AuditService(runtime)
    for number in (closed, waiting):
        assert recorded(runtime, number) == before[number]
        assert audit.verify_ticket(number).ok
        assert audit.replay(number).consistent
    statements = ["UPDATE history_event SET actor = 'mallory' WHERE seq = 1", "DELETE FROM history_event"]
    if url.startswith("postgresql"):
        statements.append("TRUNCATE history_event")
    for statement in statements:  # the append-only guards were made again
        with runtime.uow() as uow, pytest.raises(DBAPIError, match="history_event is append-only"):
            uow.connection.execute(text(statement))
            uow.commit()
    escalate_to_validation(runtime, waiting)  # the chain goes on from its migrated head
    assert audit.verify_ticket(waiting).ok
    report = audit.verify_all()
    assert report.ok and report.anchors >= 1 and report.anchor_problem is None, report


def test_history_survives_going_down_and_up_on_sqlite(tmp_path: Path, runtimes: Any) -> None:
    url = f"sqlite:///{tmp_path / 'keyed.db'}"
    upgrade(url)
    runtime = runtimes(url)
    deploy_file(runtime)
    check_round_trip(url, runtime)


@pytest.mark.postgres
def test_history_survives_going_down_and_up_on_postgresql(postgres_url: str, runtimes: Any) -> None:
    runtime = runtimes(postgres_url)
    deploy_file(runtime)
    check_round_trip(postgres_url, runtime)
