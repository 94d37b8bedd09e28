"""History event data is stored packed (``engine/store/packing.py``) on SQLite and PostgreSQL: every reader
sees the same data as before, the chain verifies, and an edit to packed bytes is named like any other edit."""
from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from engine.runtime import Runtime
from engine.store.db import upgrade
from engine.usecases.audit import AuditService
from tests.conftest import CUSTOMER, RESOLVED, complete_current, intake
from tests.integration.helpers import escalate_to_validation, tamper, ticket_row
from ticketflow.composition import deploy_file


def closed_ticket(runtime: Runtime) -> str:
    number = runtime.open_ticket(intake(), CUSTOMER).number
    escalate_to_validation(runtime, number)
    complete_current(runtime, number, CUSTOMER, RESOLVED)
    return number


def stored(runtime: Runtime, number: str) -> list[Any]:
    ticket_id = ticket_row(runtime, number).id
    with runtime.uow(read_only=True) as uow:
        return list(uow.session.execute(text(
            "SELECT seq, data, packed FROM history_event WHERE ticket_id = :t ORDER BY seq"), {"t": ticket_id}))


def check_packed_history(runtime: Runtime) -> None:
    number = closed_ticket(runtime)
    rows = stored(runtime, number)
    packed = [row for row in rows if row.packed is not None]
    assert len(packed) > len(rows) // 2  # most events are worth packing; "{}" and tiny ones are not
    assert all(row.data is None or row.data == "null" for row in packed)
    audit = AuditService(runtime)
    assert audit.verify_ticket(number).ok
    assert audit.replay(number).consistent
    events = runtime.ticket_history(number)
    completed = [e for e in events if e.kind == "task_completed" and e.element_id == "classify_ticket"]
    assert completed and completed[0].data["form"]["type"] == "incident"
    lines = [json.loads(line) for line in "".join(audit.export(datetime.min.replace(tzinfo=UTC),
                                                                   datetime.max.replace(tzinfo=UTC))).splitlines()]
    assert [line["data"] for line in lines if line["seq"] == completed[0].seq] == [completed[0].data]


def test_events_are_packed_and_read_back_on_sqlite(runtime: Runtime) -> None:
    check_packed_history(runtime)


@pytest.mark.postgres
def test_events_are_packed_and_read_back_on_postgresql(postgres_url: str, runtimes: Any) -> None:
    runtime = runtimes(postgres_url)
    deploy_file(runtime)
    check_packed_history(runtime)


def test_an_edit_to_packed_bytes_names_that_event(runtime: Runtime) -> None:
    number = closed_ticket(runtime)
    rows = stored(runtime, number)
    victim = next(row for row in rows if row.packed is not None and row.seq > 3)
    scrambled = bytes(victim.packed[:4]) + bytes(b ^ 0x21 for b in victim.packed[4:])
    tamper(runtime, "UPDATE history_event SET packed = :p WHERE ticket_id = :t AND seq = :s",
           p=scrambled, t=ticket_row(runtime, number).id, s=victim.seq)
    report = AuditService(runtime).verify_ticket(number)
    assert not report.ok and report.finding is not None
    assert report.finding.seq == victim.seq and "altered" in report.finding.problem


def test_json_written_beside_packed_bytes_is_named_too(runtime: Runtime) -> None:
    number = closed_ticket(runtime)
    victim = next(row for row in stored(runtime, number) if row.packed is not None and row.seq > 3)
    tamper(runtime, "UPDATE history_event SET data = :d WHERE ticket_id = :t AND seq = :s",
           d='{"form": {"type": "request"}}', t=ticket_row(runtime, number).id, s=victim.seq)
    report = AuditService(runtime).verify_ticket(number)
    assert not report.ok and report.finding is not None and report.finding.seq == victim.seq


def test_going_below_the_packing_migration_is_refused_once_events_are_packed(
        tmp_path: Path, runtimes: Any) -> None:
    from alembic.config import Config

    from alembic import command
    from engine.store.db import REPO_ROOT

    url = f"sqlite:///{tmp_path / 'packed.db'}"
    upgrade(url)
    config = Config()
    config.set_main_option("script_location", str(REPO_ROOT / "alembic"))
    config.set_main_option("sqlalchemy.url", url)
    command.downgrade(config, "0017")  # nothing packed yet: the column goes
    upgrade(url)
    runtime = runtimes(url)
    deploy_file(runtime)
    closed_ticket(runtime)
    with pytest.raises(RuntimeError, match="would lose it"):
        command.downgrade(config, "0017")
    assert stored(runtime, "T-000001")  # the history, packed column included, is still there
