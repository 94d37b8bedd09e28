"""Round trips saved on PostgreSQL, and what must still hold. Pooled connections are pinged only after sitting idle
(``engine/store/db.py``): one the server dropped meanwhile is replaced before anyone uses it, and one used a moment
ago goes straight back to work. Reads begin READ ONLY and end with COMMIT (``engine/store/uow.py``): psycopg keeps
its prepared statements, and a write slipped into a read fails."""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from engine.store import db
from engine.store.db import make_engine, session_factory
from engine.store.uow import UnitOfWork

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


@contextmanager
def one_connection(url: str) -> Iterator[sessionmaker[Session]]:
    """Units of work over a pool of one connection, so that what psycopg prepared is seen by the next unit."""
    engine = make_engine(url, pool_size=1, max_overflow=0)
    try:
        yield session_factory(engine)
    finally:
        engine.dispose()


def prepared_statements(sessions: sessionmaker[Session]) -> int:
    with UnitOfWork(sessions, read_only=True) as uow:
        return int(uow.connection.execute(text("SELECT count(*) FROM pg_prepared_statements")).scalar_one())


PREPARED_AFTER = 8  # runs of one statement: psycopg prepares a statement once it has run it five times
OPEN_TICKETS = text("SELECT count(*) FROM ticket WHERE status = :s")


def test_reads_keep_the_statements_psycopg_prepared(postgres_url: str) -> None:
    # A read ends with COMMIT: a ROLLBACK would make psycopg drop every statement it had prepared on the connection.
    with one_connection(postgres_url) as sessions:
        for _ in range(PREPARED_AFTER):
            with UnitOfWork(sessions, read_only=True) as uow:
                uow.connection.execute(OPEN_TICKETS, {"s": "open"})
        assert prepared_statements(sessions) >= 1


def test_a_write_slipped_into_a_read_fails_and_changes_nothing(postgres_url: str) -> None:
    engine = make_engine(postgres_url)
    sessions = session_factory(engine)
    try:
        with pytest.raises(DBAPIError, match="read-only transaction"), UnitOfWork(sessions, read_only=True) as uow:
            uow.connection.execute(text("INSERT INTO app_user (name, role, disabled, created_at) "
                                         "VALUES ('mallory', 'admin', false, now())"))
        with UnitOfWork(sessions, read_only=True) as uow:
            assert uow.connection.execute(text("SELECT count(*) FROM app_user")).scalar_one() == 0
    finally:
        engine.dispose()


def test_a_refused_read_keeps_the_prepared_statements_and_a_failed_one_rolls_back(postgres_url: str) -> None:
    # A read the use case refuses (a ticket the caller may not see) wrote nothing: it commits like any read, so a
    # stream of 404s does not make every later request plan its statements again. A statement that failed leaves
    # the transaction aborted: that one rolls back.
    with one_connection(postgres_url) as sessions:
        for _ in range(PREPARED_AFTER):
            with pytest.raises(LookupError), UnitOfWork(sessions, read_only=True) as uow:
                uow.connection.execute(OPEN_TICKETS, {"s": "open"})
                raise LookupError("not yours")
        assert prepared_statements(sessions) >= 1

        with pytest.raises(DBAPIError, match="division by zero"), UnitOfWork(sessions, read_only=True) as uow:
            uow.connection.execute(text("SELECT 1 / 0"))
        # The connection came back usable, and rolled back: psycopg dropped what it had prepared, as it must after
        # a failure.
        assert prepared_statements(sessions) == 0


def test_a_read_whose_connection_the_server_ended_raises_the_database_error(postgres_url: str) -> None:
    # The unit must not hide the lost connection behind an error of its own while ending the read (the readiness
    # probe and the request deadline tell database errors apart); the pool then connects afresh.
    engine = make_engine(postgres_url, pool_size=1, max_overflow=0)
    sessions = session_factory(engine)
    admin = make_engine(postgres_url)
    try:
        with pytest.raises(OperationalError, match="terminating connection"), \
                UnitOfWork(sessions, read_only=True) as uow:
            pid = uow.connection.execute(text("SELECT pg_backend_pid()")).scalar_one()
            with admin.connect() as connection:
                connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
            uow.connection.execute(text("SELECT 1"))
        with UnitOfWork(sessions, read_only=True) as uow:
            assert uow.connection.execute(text("SELECT 2")).scalar_one() == 2
    finally:
        admin.dispose()
        engine.dispose()
