"""Audit on PostgreSQL: append-only triggers on history, anchors and access records; verify, replay, export."""
from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from engine.access import Actor
from engine.runtime import Runtime
from engine.usecases.audit import AuditService
from tests.conftest import (
    CUSTOMER,
    FIX,
    INVESTIGATE,
    L1,
    L2,
    PERSISTS,
    RESOLVED,
    SOLUTION,
    START,
    complete_current,
    intake,
)
from tests.integration.helpers import escalate_to_validation, history_rows, ticket_row
from ticketflow.composition import deploy_file

pytestmark = pytest.mark.postgres

AUDITOR = Actor("ada", "auditor")


@pytest.fixture
def pg_runtime(postgres_url: str, runtimes) -> Runtime:  # type: ignore[no-untyped-def]
    runtime = runtimes(postgres_url)
    deploy_file(runtime)
    return runtime


@pytest.fixture
def closed(pg_runtime: Runtime) -> str:
    number = pg_runtime.open_ticket(intake(), CUSTOMER).number
    escalate_to_validation(pg_runtime, number)
    complete_current(pg_runtime, number, CUSTOMER, PERSISTS)  # one round of the persists loop
    for actor, data in ((L2, INVESTIGATE), (L2, FIX), (L1, SOLUTION)):
        complete_current(pg_runtime, number, actor, data)
    complete_current(pg_runtime, number, CUSTOMER, RESOLVED)
    return number


def refused(runtime: Runtime, sql: str) -> str:
    with runtime.uow() as uow, pytest.raises(DBAPIError) as caught:
        uow.session.execute(text(sql))
    return str(caught.value)


@pytest.mark.parametrize("table", ["history_event", "audit_anchor", "audit_anchor_entry", "audit_access"])
def test_the_database_refuses_update_and_delete_on_the_audit_trail(
        pg_runtime: Runtime, closed: str, table: str) -> None:
    audit = AuditService(pg_runtime)
    audit.anchor(AUDITOR)
    audit.record_access(AUDITOR, closed, "history")
    column = {"history_event": "actor", "audit_anchor": "actor", "audit_anchor_entry": "head_hash",
              "audit_access": "actor"}[table]
    assert "append-only" in refused(pg_runtime, f"UPDATE {table} SET {column} = 'mallory'")
    assert "append-only" in refused(pg_runtime, f"DELETE FROM {table}")
    if table != "history_event":
        assert "append-only" in refused(pg_runtime, f"TRUNCATE {table} CASCADE")
    assert audit.verify_ticket(closed).ok


def test_a_full_ticket_verifies_replays_and_exports_on_postgresql(pg_runtime: Runtime, closed: str) -> None:
    audit = AuditService(pg_runtime)
    first = audit.anchor(AUDITOR)
    assert first.tickets == 1 and audit.anchor(AUDITOR).tickets == 0
    report = audit.verify_all(batch=1)
    assert report.ok and report.events == ticket_row(pg_runtime, closed).history_seq and report.anchors == 2
    replay = audit.replay(closed)
    assert replay.consistent and replay.events == report.events
    lines = [json.loads(x) for x in audit.export(START, START + timedelta(days=1), "jsonl", batch=7)]
    assert [r["seq"] for r in lines] == list(range(1, report.events + 1))
    assert audit.as_of(closed, report.events).status == "closed"


def test_a_superuser_who_bypasses_the_triggers_is_still_caught_by_the_anchor(
        pg_runtime: Runtime, closed: str) -> None:
    audit = AuditService(pg_runtime)
    audit.anchor(AUDITOR)
    row = ticket_row(pg_runtime, closed)
    before_last = history_rows(pg_runtime, closed)[-2]
    with pg_runtime.uow() as uow:
        session = uow.session
        session.execute(text("SET LOCAL session_replication_role = replica"))  # triggers off for this transaction
        session.execute(text("DELETE FROM history_event WHERE ticket_id = :t AND seq = :s"),
                        {"t": row.id, "s": row.history_seq})
        session.execute(text("UPDATE ticket SET history_seq = :s, history_head = :h WHERE id = :t"),
                        {"s": before_last.seq, "h": before_last.hash, "t": row.id})
        uow.commit()
    report = audit.verify_ticket(closed)
    assert report.finding is not None and (report.finding.seq, report.finding.problem) == (row.history_seq, "missing")
