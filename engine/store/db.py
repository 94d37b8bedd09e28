"""Database engines and sessions: SQLite (embedded default) with WAL and foreign keys, or PostgreSQL."""
from __future__ import annotations

import time
from functools import partial
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, exc
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

REPO_ROOT = Path(__file__).resolve().parents[2]
WAL_CHECKPOINT_PAGES = 10_000
# A pooled PostgreSQL connection is pinged before use only once it has sat idle this long (seconds).
PING_AFTER_IDLE = 1.0
_CHECKED_IN = "ticketflow_checked_in"  # when the connection went back to the pool (time.monotonic())


def normalise_url(url: str) -> str:
    """Use psycopg 3 for plain postgresql:// URLs."""
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def make_engine(url: str, busy_timeout: float = 30.0, **kwargs: Any) -> Engine:
    """Create an engine; for SQLite create the file's folder and set the pragmas we rely on, and wait up to
    ``busy_timeout`` seconds for another writer's lock before answering "database is locked"."""
    url = normalise_url(url)
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": busy_timeout, "check_same_thread": False}, **kwargs)
        event.listen(engine, "connect", partial(_sqlite_pragmas, busy_ms=int(busy_timeout * 1000)))
        # Writers take the write lock at BEGIN, so two of them queue instead of failing on upgrade;
        # read-only units of work begin deferred and read a WAL snapshot without waiting.
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    engine = create_engine(url, **kwargs)
    event.listen(engine, "checkin", _note_checkin)
    event.listen(engine, "checkout", partial(_ping_if_idle, engine.dialect))
    return engine


def _note_checkin(_dbapi_connection: Any, record: Any) -> None:
    record.info[_CHECKED_IN] = time.monotonic()


def _ping_if_idle(dialect: Any, dbapi_connection: Any, record: Any, _proxy: Any) -> None:
    """SQLAlchemy's ``pool_pre_ping``, but only for a connection idle ``PING_AFTER_IDLE`` or longer.

    The ping finds connections the server dropped (a restart, an idle timeout) before a request uses one.
    Under load a connection is back in use within milliseconds, and pinging it every time cost a round trip
    per transaction (two per request, with the token lookup). A dead connection raises DisconnectionError,
    which makes the pool discard it and connect afresh.
    """
    checked_in = record.info.get(_CHECKED_IN)
    if checked_in is None or time.monotonic() - checked_in < PING_AFTER_IDLE:
        return  # just connected, or used a moment ago
    try:
        dialect.do_ping(dbapi_connection)
    except dialect.loaded_dbapi.Error as error:
        raise exc.DisconnectionError("the database closed this pooled connection") from error


def _sqlite_begin(conn: Any) -> None:
    from engine.store.uow import READ_ONLY

    # Straight to the driver: this runs once per transaction, and SQLAlchemy's statement machinery
    # would cost more than the BEGIN itself.
    conn.connection.dbapi_connection.execute(
        "BEGIN" if conn.get_execution_options().get(READ_ONLY) else "BEGIN IMMEDIATE")


def _sqlite_pragmas(dbapi_connection: Any, _record: Any, busy_ms: int) -> None:
    # pysqlite's own transaction handling would defeat BEGIN IMMEDIATE; SQLAlchemy drives it.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute(f"PRAGMA busy_timeout={busy_ms}")
    # A step writes ~20 pages to the WAL; the default checkpoint (every 1000 pages) then copies the
    # same hot pages (ticket, worklist and index leaves) back into the database every few dozen
    # steps. At 10000 pages (40 MB of WAL) each hot page is copied ten times less often.
    cursor.execute(f"PRAGMA wal_autocheckpoint={WAL_CHECKPOINT_PAGES}")
    cursor.close()


def checkpoint(engine: Engine) -> int | None:
    """On SQLite, copy what the WAL holds back into the database without waiting for anyone (PASSIVE);
    return the frames still left in the WAL. None on PostgreSQL, which needs nothing of the kind.

    The worker calls this every round, so the WAL rarely reaches ``WAL_CHECKPOINT_PAGES`` and no
    request has to pay for a large checkpoint inside its commit.
    """
    if engine.dialect.name != "sqlite":
        return None
    connection = engine.raw_connection()
    try:
        driver = connection.driver_connection
        assert driver is not None
        _, frames, copied = driver.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        return int(frames) - int(copied) if frames >= 0 else None
    finally:
        connection.close()


def session_factory(engine: Engine) -> sessionmaker[Session]:
    # No autoflush: a step appends ~20 history rows and queries as it goes; autoflush turned that
    # into one INSERT (and one ticket UPDATE) per query. Use cases flush once, explicitly, where they
    # need database-generated values or to read their own writes.
    return sessionmaker(engine, expire_on_commit=False, autoflush=False)


def upgrade(url: str, revision: str = "head") -> list[str]:
    """Apply the Alembic migrations to the database at ``url``; return the ones applied ("0002: Users ...")."""
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    from alembic import command

    config = Config()
    config.set_main_option("script_location", str(REPO_ROOT / "alembic"))
    config.set_main_option("sqlalchemy.url", normalise_url(url).replace("%", "%%"))
    before = current_revision(url)
    command.upgrade(config, revision)
    script = ScriptDirectory.from_config(config)
    applied = list(script.iterate_revisions(current_revision(url), before))
    return [f"{step.revision}: {(step.doc or '').splitlines()[0]}" for step in reversed(applied)]


def current_revision(url: str) -> str | None:
    """The migration the database at ``url`` is at (None for a new database)."""
    from alembic.runtime.migration import MigrationContext

    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()
    finally:
        engine.dispose()
