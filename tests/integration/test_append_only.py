"""The record is append-only in the database itself: history, anchors and auditors' reads refuse to change."""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from engine.runtime import Runtime
from engine.store.db import make_engine, upgrade
from engine.usecases.audit import AuditService
from tests.conftest import ADMIN, CUSTOMER, intake
from tests.integration.helpers import tamper
from ticketflow.composition import deploy_file

APPEND_ONLY = ("history_event", "audit_anchor", "audit_anchor_entry", "audit_access", "definition_activation")
KEY = {"history_event": "seq", "audit_anchor": "id", "audit_anchor_entry": "ticket_id", "audit_access": "id",
       "definition_activation": "id"}


def recorded(runtime: Runtime) -> Runtime:
    """A version activated, a ticket opened, read by an auditor and anchored: a row in every append-only table."""
    deploy_file(runtime)
    number = runtime.open_ticket(intake(), CUSTOMER).number
    audit = AuditService(runtime)
    audit.record_access(ADMIN, number, "audit")
    audit.anchor(ADMIN)
    return runtime


def count(runtime: Runtime, table: str) -> int:
    with runtime.uow(read_only=True) as uow:
        return int(uow.connection.execute(text(f"SELECT count(*) FROM {table}")).scalar_one())


def refused(runtime: Runtime, statement: str, table: str, operation: str) -> None:
    before = count(runtime, table)
    with runtime.uow() as uow, pytest.raises(DBAPIError, match=f"{table} is append-only: {operation} refused"):
        uow.connection.execute(text(statement))
        uow.commit()
    assert count(runtime, table) == before > 0


@pytest.mark.parametrize("table", APPEND_ONLY)
def test_sqlite_refuses_update_and_delete_of_the_record(sqlite_url: str, runtimes: Callable[..., Runtime],
                                                        table: str) -> None:
    runtime = recorded(runtimes(sqlite_url))
    key = KEY[table]
    refused(runtime, f"UPDATE {table} SET {key} = {key}", table, "UPDATE")
    refused(runtime, f"DELETE FROM {table} WHERE {key} = (SELECT min({key}) FROM {table})", table, "DELETE")
    refused(runtime, f"DELETE FROM {table}", table, "DELETE")  # SQLite's truncate: refused row by row too


@pytest.mark.postgres
@pytest.mark.parametrize("table", APPEND_ONLY)
def test_postgresql_refuses_truncate_update_and_delete_of_the_record(
        postgres_url: str, runtimes: Callable[..., Runtime], table: str) -> None:
    runtime = recorded(runtimes(postgres_url))
    refused(runtime, f"TRUNCATE {table} CASCADE", table, "TRUNCATE")
    refused(runtime, f"UPDATE {table} SET {KEY[table]} = {KEY[table]}", table, "UPDATE")
    refused(runtime, f"DELETE FROM {table}", table, "DELETE")


def test_the_tests_own_tampering_still_reaches_sqlite_and_puts_the_guards_back(
        sqlite_url: str, runtimes: Callable[..., Runtime]) -> None:
    runtime = recorded(runtimes(sqlite_url))
    tamper(runtime, "UPDATE history_event SET actor = 'mallory' WHERE seq = 1")
    with runtime.uow(read_only=True) as uow:
        assert uow.connection.execute(text("SELECT actor FROM history_event WHERE seq = 1")).scalar_one() == "mallory"
    refused(runtime, "UPDATE history_event SET actor = 'eve'", "history_event", "UPDATE")


def guards(url: str) -> list[str]:
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            return sorted(connection.execute(text("SELECT name FROM sqlite_master WHERE type = 'trigger' "
                                                  "AND name LIKE '%\\_no\\_%' ESCAPE '\\'")).scalars())
    finally:
        engine.dispose()


def test_downgrade_lifts_the_sqlite_guards_and_upgrade_restores_them(tmp_path: Path) -> None:
    from alembic.config import Config

    from alembic import command
    from engine.store.db import REPO_ROOT

    url = f"sqlite:///{tmp_path / 'guards.db'}"
    upgrade(url)
    assert guards(url) == sorted(f"{t}_no_{op}" for t in APPEND_ONLY for op in ("delete", "update"))
    config = Config()
    config.set_main_option("script_location", str(REPO_ROOT / "alembic"))
    config.set_main_option("sqlalchemy.url", url)
    command.downgrade(config, "0012")
    assert guards(url) == []
    upgrade(url)
    assert len(guards(url)) == 2 * len(APPEND_ONLY)
