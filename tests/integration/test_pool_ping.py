"""Pooled PostgreSQL connections are pinged only after sitting idle (``engine/store/db.py``): one the server
dropped meanwhile is replaced before anyone uses it, and one used a moment ago goes straight back to work."""
from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import text

from engine.store import db
from engine.store.db import make_engine

pytestmark = pytest.mark.postgres


def backend_pid(engine: Any) -> int:
    with engine.connect() as connection:
        return int(connection.execute(text("SELECT pg_backend_pid()")).scalar_one())


def pings(engine: Any, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    made: list[int] = []
    real = engine.dialect.do_ping

    def counted(dbapi_connection: Any) -> bool:
        made.append(1)
        return bool(real(dbapi_connection))
    monkeypatch.setattr(engine.dialect, "do_ping", counted)
    return made


def test_a_connection_dropped_while_idle_is_replaced_before_use(postgres_url: str,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(db, "PING_AFTER_IDLE", 0.0)
    engine = make_engine(postgres_url, pool_size=1, max_overflow=0)
    try:
        made = pings(engine, monkeypatch)
        first = backend_pid(engine)
        admin = make_engine(postgres_url)
        with admin.connect() as connection:  # the server ends it, as a restart or an idle timeout would
            connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": first})
        admin.dispose()
        second = backend_pid(engine)
        assert second != first and made  # the ping found it dead; the pool connected afresh
    finally:
        engine.dispose()


def test_a_connection_used_a_moment_ago_is_not_pinged(postgres_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(db, "PING_AFTER_IDLE", 60.0)
    engine = make_engine(postgres_url, pool_size=1, max_overflow=0)
    try:
        made = pings(engine, monkeypatch)
        pids = {backend_pid(engine) for _ in range(5)}
        assert len(pids) == 1 and made == []  # one connection, reused five times, never pinged
    finally:
        engine.dispose()
