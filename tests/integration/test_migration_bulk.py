"""Ten thousand running tickets move to a new version; an interrupted run resumes and moves each one once."""
from __future__ import annotations

import time

import pytest
from sqlalchemy import func, select

from bench.migrate import clone_ticket, renamed_classification
from engine.runtime import Runtime
from engine.store.models import HistoryEvent, HumanTask, ProcessDefinition, Ticket
from engine.usecases.audit import AuditService
from engine.usecases.migrations import MigrationRequest, Migrations, TicketMove
from tests.conftest import CUSTOMER, OWNER, intake

BULK = 10_000
ALL = MigrationRequest("support_ticket", 1, 2)  # every open ticket on version 1


def migrated_per_ticket(runtime: Runtime) -> dict[int, int]:
    with runtime.uow(read_only=True) as uow:
        return dict(uow.session.execute(select(HistoryEvent.ticket_id, func.count()).where(
            HistoryEvent.kind == "definition_migrated").group_by(HistoryEvent.ticket_id)).all())


def test_ten_thousand_tickets_move_once_each_across_an_interruption(runtime: Runtime) -> None:
    first = runtime.open_ticket(intake(), CUSTOMER).number
    numbers = [first, *clone_ticket(runtime, first, BULK - 1)]
    bpmn, forms = renamed_classification("Classify the request")
    assert runtime.deploy(bpmn, forms, OWNER, activate=False)[0].version == 2
    migrations, seen = Migrations(runtime), []

    def interrupt_partway(move: TicketMove) -> None:
        seen.append(move)
        if len(seen) == 4_000:
            raise KeyboardInterrupt  # Ctrl-C after this ticket's transaction committed

    began = time.perf_counter()
    with pytest.raises(KeyboardInterrupt):
        migrations.run(ALL, OWNER, progress=interrupt_partway)
    assert migrations.remaining("support_ticket", 1) == BULK - 4_000
    rest = migrations.run(ALL, OWNER)
    elapsed = time.perf_counter() - began

    assert {m.outcome for m in seen + rest} == {"moved"}
    assert [m.number for m in seen + rest] == numbers  # each ticket once, in order
    assert migrations.remaining("support_ticket", 1) == 0
    assert set(migrated_per_ticket(runtime).values()) == {1} and len(migrated_per_ticket(runtime)) == BULK
    with runtime.uow(read_only=True) as uow:
        on_v1 = uow.session.scalar(select(func.count()).select_from(Ticket).join(ProcessDefinition).where(
            ProcessDefinition.version == 1))
        names = dict(uow.session.execute(select(HumanTask.name, func.count()).where(
            HumanTask.state == "ready").group_by(HumanTask.name)).all())
    assert on_v1 == 0 and names == {"Classify the request": BULK}
    report = AuditService(runtime).replay(first)  # the ticket opened through the engine (its clones have no history)
    assert report.consistent, report.divergence
    print(f"{BULK} tickets migrated in {elapsed:.1f} s ({BULK / elapsed:,.0f}/s)")
