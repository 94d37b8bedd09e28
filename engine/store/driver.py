"""Straight DB-API access for the few statements every step runs, with the dialect differences in one place.

SQLAlchemy Core costs about 40 microseconds per statement on top of the driver (execution context,
parameter and result processing), several times what SQLite itself takes for a one-row UPDATE.
A step runs a handful of statements, so the hot paths in ``tickets.py`` send their SQL to the
driver under SQLAlchemy's connection and transaction, and convert values the way SQLAlchemy's
column types would, so rows written here read back identically through the ORM and vice versa:

- timestamps: aware UTC; on SQLite stored as naive UTC text ``YYYY-MM-DD HH:MM:SS.ffffff``
  (SQLAlchemy's SQLite ``DATETIME`` format), on PostgreSQL passed to psycopg as they are;
- JSON: ``json.dumps`` text in (SQLAlchemy's default serializer); psycopg hands back parsed JSON,
  SQLite the text.

SQL is written with ``?`` placeholders and rewritten to ``%s`` for psycopg.
"""
from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Engine
from sqlalchemy.engine import Dialect


def _sqlite_time_in(value: datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is None:
        raise ValueError("naive datetime given; ticketflow stores aware UTC times only")
    # isoformat is C-fast and gives SQLAlchemy's SQLite format: "YYYY-MM-DD HH:MM:SS.ffffff"
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")


def _sqlite_time_out(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value).replace(tzinfo=UTC)


def _postgres_time_in(value: datetime | None) -> datetime | None:
    if value is not None and value.tzinfo is None:
        raise ValueError("naive datetime given; ticketflow stores aware UTC times only")
    return value


def _postgres_time_out(value: datetime | None) -> datetime | None:
    return None if value is None else value.astimezone(UTC)


def _json_in(value: Any) -> str:
    return json.dumps(value)


def _sqlite_json_out(value: str | None) -> Any:
    return None if value is None else json.loads(value)


def _postgres_json_out(value: Any) -> Any:
    return value


class Driver:
    """A DB-API connection with the dialect's conversions; see ``of`` and ``lookup`` for where it comes from."""

    def __init__(self, dialect: Dialect, dbapi: Any) -> None:
        self.postgres = dialect.name == "postgresql"
        self.integrity_error: type[Exception] = dialect.loaded_dbapi.IntegrityError
        self.time_in: Callable[[datetime | None], Any]
        self.time_out: Callable[[Any], datetime | None]
        self.json_out: Callable[[Any], Any]
        if self.postgres:
            self.time_in, self.time_out, self.json_out = _postgres_time_in, _postgres_time_out, _postgres_json_out
        else:
            self.time_in, self.time_out, self.json_out = _sqlite_time_in, _sqlite_time_out, _sqlite_json_out
        self.json_in = _json_in
        self._dbapi = dbapi
        self._sql: dict[str, str] = {}

    @classmethod
    def of(cls, connection: Connection) -> Driver:
        """The driver under a SQLAlchemy ``Connection``, in that connection's transaction."""
        dbapi = connection.connection.driver_connection
        assert dbapi is not None, "the connection is closed"
        return cls(connection.dialect, dbapi)

    def _text(self, sql: str) -> str:
        text = self._sql.get(sql)
        if text is None:
            text = self._sql[sql] = sql.replace("?", "%s") if self.postgres else sql
        return text

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        """Run one statement; return the DB-API cursor (rows, rowcount)."""
        cursor = self._dbapi.cursor()
        cursor.execute(self._text(sql), params)
        return cursor

    def execute_many(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        self._dbapi.cursor().executemany(self._text(sql), list(rows))

    def one(self, sql: str, params: Sequence[Any] = ()) -> tuple[Any, ...] | None:
        return self.execute(sql, params).fetchone()  # type: ignore[no-any-return]


@contextmanager
def lookup(engine: Engine) -> Iterator[Driver]:
    """A driver for one read statement outside any unit of work: the token lookup every request makes.

    A single SELECT needs no transaction of its own: SQLite runs it in autocommit mode, and so does psycopg
    for the lookup's length. That skips what a unit of work costs to begin and end, about as much as the
    lookup itself.
    """
    pooled = engine.raw_connection()
    connection: Any = pooled.driver_connection
    # psycopg would send BEGIN before the SELECT and ROLLBACK after it, two round trips for nothing.
    autocommit = engine.dialect.name == "postgresql" and not connection.autocommit
    if autocommit:
        connection.autocommit = True
    try:
        yield Driver(engine.dialect, connection)
    finally:
        if autocommit and not connection.closed:
            connection.autocommit = False
        pooled.close()
