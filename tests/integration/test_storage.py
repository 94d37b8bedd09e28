"""Storage that stays small: what a closed ticket keeps, digests recorded as changes, and older records still replay."""
from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest

from bench.storage import Driver, l1_direct, measure
from engine.runtime import Runtime
from engine.usecases.archive import ArchiveService
from engine.usecases.audit import AuditService
from tests.conftest import CUSTOMER, FIX, INVESTIGATE, L1, L2, PERSISTS, RESOLVED, SOLUTION, complete_current, intake
from tests.integration.helpers import escalate_to_validation, history_rows, rehash, tamper, ticket_row
from tests.integration.test_archive import as_before_the_storage_change, resolved_at_first_level

# The target, per L1-direct ticket after archiving, held on SQLite (about 10.1 KB at these 40 tickets;
# bench/storage.py measures both databases at 500, see the README's "Storage").
L1_ARCHIVED_BOUND = 12 * 1024


def digests(runtime: Runtime, number: str) -> list[dict[str, str | None]]:
    return [e.data["data_digest"] for e in runtime.ticket_history(number) if "data_digest" in e.data]


def test_digests_are_recorded_as_the_changes_since_the_last_ones(runtime: Runtime) -> None:
    number = resolved_at_first_level(runtime)
    recorded = digests(runtime, number)
    assert "subject" in recorded[0] and all("subject" not in d for d in recorded[1:])  # it never changed
    assert all(recorded[1:]) and sum(map(len, recorded)) < 40  # every variable once, and each change once more
    assert ticket_row(runtime, number).workflow == ""  # closed: no state kept
    assert AuditService(runtime).replay(number).consistent


def test_records_made_before_the_change_replay_and_an_open_ticket_carries_on(
        runtime: Runtime, monkeypatch: pytest.MonkeyPatch) -> None:
    with as_before_the_storage_change(monkeypatch):
        closed = resolved_at_first_level(runtime)
        carried = runtime.open_ticket(intake(), CUSTOMER).number
        escalate_to_validation(runtime, carried)
    assert "ticketflow_digests" not in json.loads(ticket_row(runtime, carried).workflow)
    before = len(digests(runtime, carried))
    complete_current(runtime, carried, CUSTOMER, PERSISTS)  # the upgraded engine goes on with it
    for actor, data in ((L2, INVESTIGATE), (L2, FIX)):
        complete_current(runtime, carried, actor, data)
    recorded = digests(runtime, carried)
    assert set(recorded[before - 1]) <= set(recorded[before])  # the first one after the change: every digest
    assert "subject" in recorded[before] and "subject" not in recorded[-1]  # then only changes
    audit = AuditService(runtime)
    for number in (closed, carried):
        assert audit.replay(number).consistent, number
    assert audit.as_of(carried, len(history_rows(runtime, carried)) - 3).consistent


def test_a_tampered_change_digest_is_named(runtime: Runtime) -> None:
    number = resolved_at_first_level(runtime)
    ready = [r for r in history_rows(runtime, number) if r.kind == "task_ready"][1]
    forged = dict(ready.data, data_digest=dict(ready.data["data_digest"], subject="0" * 16))
    tamper(runtime, "UPDATE history_event SET data = :d WHERE ticket_id = :t AND seq = :s",
           d=json.dumps(forged), t=ready.ticket_id, s=ready.seq)
    rehash(runtime, number, from_seq=ready.seq)
    report = AuditService(runtime).replay(number)
    assert not report.consistent and report.divergence is not None
    assert report.divergence.seq == ready.seq and "subject" in report.divergence.reason


def test_an_archived_l1_direct_ticket_stays_under_the_bound(tmp_path: Path) -> None:
    driver = Driver(f"sqlite:///{tmp_path / 'size.db'}")
    try:
        engine = driver.runtime.sessions.kw["bind"]
        base = measure(engine)
        tickets = 40
        for _ in range(tickets):
            assert l1_direct(driver).status == "closed"
        driver.deliver()
        driver.clock.now += timedelta(days=1)
        ArchiveService(driver.runtime).archive(timedelta(0))
        sizes = measure(engine).minus(base, tickets)
        assert sizes.group("ticket")[0] < 1024 and sizes.columns["ticket.workflow"] == 0
        assert sizes.group("worklist") == (0, 0)
        assert sizes.own <= L1_ARCHIVED_BOUND, sizes
    finally:
        driver.close()


def test_the_closing_answer_leaves_no_state_even_after_a_persists_round(runtime: Runtime) -> None:
    number = runtime.open_ticket(intake(), CUSTOMER).number
    escalate_to_validation(runtime, number)
    complete_current(runtime, number, CUSTOMER, PERSISTS)
    assert ticket_row(runtime, number).workflow != ""
    for actor, data in ((L2, INVESTIGATE), (L2, FIX), (L1, SOLUTION), (CUSTOMER, RESOLVED)):
        complete_current(runtime, number, actor, data)
    assert ticket_row(runtime, number).workflow == ""
    runtime.workflows = type(runtime.workflows)()
    assert runtime.ticket_data(number)["validation_outcome"] == "resolved"
