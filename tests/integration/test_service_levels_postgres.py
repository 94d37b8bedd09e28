"""Service levels on PostgreSQL: migration 0011 on a database from before it, and one SLA path end to end."""
from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from engine.access import Actor
from engine.execution.clock import FakeClock
from engine.runtime import Runtime
from engine.store.db import upgrade
from engine.usecases.units import UnitAdmin
from tests.conftest import (
    ADMIN,
    ASSESS_ESCALATE,
    CLASSIFY,
    CUSTOMER,
    ESCALATE,
    FIX,
    INVESTIGATE,
    L1,
    L2,
    PERSISTS,
    SOLUTION,
    complete_current,
    intake,
)
from tests.integration.helpers import ticket_row
from ticketflow.composition import deploy_file

pytestmark = pytest.mark.postgres


def _migrated_from_0010(url: str) -> tuple[Any, set[str]]:
    """The unit row and the new ticket columns' defaults after upgrading a database that was at 0010."""
    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    if url.startswith("postgresql"):
        with engine.begin() as connection:  # the fixture migrated to head: start again from scratch
            connection.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
    upgrade(url, "0010")
    upgrade(url, "0011")
    with engine.connect() as connection:
        unit = connection.execute(text("SELECT time_zone, follow_up_after, version, targets, business_hours "
                                       "FROM unit WHERE code = 'general'")).one()
        columns = {row[0] for row in connection.execute(text(
            "SELECT column_name FROM information_schema.columns WHERE table_name = 'ticket'"))} if url.startswith(
            "postgresql") else set()
    engine.dispose()
    upgrade(url)
    return unit, columns


def test_migration_0011_gives_the_seeded_unit_its_service_levels_on_postgres(postgres_url: str) -> None:
    unit, columns = _migrated_from_0010(postgres_url)
    zone, follow_up_after, version, targets, hours = unit
    assert (zone, follow_up_after, version) == ("UTC", 3, 1)
    assert targets["P1"] == {"first_response": "PT1H", "resolution": "PT4H", "24x7": True}
    assert hours["fri"] == ["09:00-17:00"] and "sat" not in hours
    assert {"resolution_due", "sla_state", "sla_paused_since", "sla_next_check_at", "first_response_business_s",
            "escalations", "persists", "reminders", "follow_ups"} <= columns


def test_migration_0011_on_sqlite_too(tmp_path: Path) -> None:
    unit, _ = _migrated_from_0010(f"sqlite:///{tmp_path / 'old.db'}")
    zone, follow_up_after, version, targets, _ = unit
    assert (zone, follow_up_after, version) == ("UTC", 3, 1)
    assert '"24x7": true' in targets  # SQLite hands JSON back as text


def test_an_sla_path_on_postgres_pauses_warns_once_and_counts(
        postgres_url: str, runtimes: Callable[..., Runtime], clock: FakeClock) -> None:
    runtime = runtimes(postgres_url)
    deploy_file(runtime)
    admin = UnitAdmin(runtime)
    unit, version = admin.unit("general")
    admin.put_unit(ADMIN, "general", {**unit, "time_zone": "Europe/Berlin"}, version)
    number = runtime.open_ticket(intake(), CUSTOMER).number  # Monday 09:00 UTC = 10:00 in Berlin
    complete_current(runtime, number, L1, CLASSIFY)  # P2: 2 business hours, due 12:00 Berlin
    row = ticket_row(runtime, number)
    assert row.first_response_due == datetime(2026, 3, 2, 11, 0, tzinfo=UTC)
    clock.now = datetime(2026, 3, 2, 10, 40, tzinfo=UTC)
    assert runtime.check_service_levels() == [number]
    assert runtime.check_service_levels() == []
    assert ticket_row(runtime, number).sla_state == "at_risk"
    escalate_to_validation_from_assessment(runtime, number)
    row = ticket_row(runtime, number)
    assert row.sla_paused_since is not None and row.sla_next_check_at is None and row.escalations == 1
    clock.advance(hours=3)
    complete_current(runtime, number, CUSTOMER, PERSISTS)
    row = ticket_row(runtime, number)
    assert row.sla_paused_since is None and row.sla_paused_seconds == 3 * 3600 and row.persists == 1


def escalate_to_validation_from_assessment(runtime: Runtime, number: str) -> None:
    """From a classified ticket through L2's fix to the customer's validation task."""
    steps: list[tuple[Actor, dict[str, Any]]] = [(L1, ASSESS_ESCALATE), (L1, ESCALATE), (L2, INVESTIGATE),
                                                 (L2, FIX), (L1, SOLUTION)]
    for actor, data in steps:
        complete_current(runtime, number, actor, data)
