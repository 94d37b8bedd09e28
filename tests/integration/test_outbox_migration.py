"""Migration 0007 on a database with messages queued before it: each gets its own Message-ID, none is lost."""
from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from engine.store.db import upgrade

INSERT = ("INSERT INTO outbox (ticket_id, channel, purpose, recipient, subject, body, payload, state, attempts, "
          "next_attempt_at, created_at) VALUES (NULL, 'email', 'acknowledgment', 'a@example.com', 's', 'b', '{}', "
          ":state, 0, '2026-03-02 09:00:00', '2026-03-02 09:00:00')")


def migrate_with_old_messages(url: str) -> list[tuple[str, str]]:
    upgrade(url, "0006")
    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    with engine.begin() as connection:
        for state in ("pending", "pending", "sent"):
            connection.execute(text(INSERT), {"state": state})
    upgrade(url)
    with engine.connect() as connection:
        found = [(row[0], row[1]) for row in connection.execute(text(
            "SELECT message_id, state FROM outbox ORDER BY id"))]
    engine.dispose()
    return found


def check(found: list[tuple[str, str]]) -> None:
    assert [state for _, state in found] == ["pending", "pending", "delivered"]
    assert len({mid for mid, _ in found}) == 3 and all(m.startswith("<") and m.endswith("@localhost>")
                                                        for m, _ in found)


def test_messages_queued_before_the_migration_get_a_message_id_on_sqlite(tmp_path: Path) -> None:
    check(migrate_with_old_messages(f"sqlite:///{tmp_path / 'old.db'}"))


@pytest.mark.postgres
def test_messages_queued_before_the_migration_get_a_message_id_on_postgres(postgres_url: str) -> None:
    engine = create_engine(postgres_url.replace("postgresql://", "postgresql+psycopg://", 1))
    with engine.begin() as connection:  # the fixture migrated to head: start again from scratch
        connection.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
    engine.dispose()
    check(migrate_with_old_messages(postgres_url))
