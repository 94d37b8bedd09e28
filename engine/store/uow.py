"""Unit of work: one transaction per use case; it rolls back unless the use case commits.

The transaction lives on one Core ``Connection``. Hot paths (opening a ticket, completing a task,
firing timers) run prebuilt Core statements on it; other use cases ask for ``session``, an ORM
session created on first use and bound to the same connection and transaction.
"""
from __future__ import annotations

from types import TracebackType

from sqlalchemy import Connection
from sqlalchemy.orm import Session, sessionmaker

READ_ONLY = "ticketflow_read_only"


class UnitOfWork:
    def __init__(self, sessions: sessionmaker[Session], read_only: bool = False, snapshot: bool = False) -> None:
        self._sessions = sessions
        self._read_only = read_only
        self._snapshot = snapshot  # every statement sees the database as the first one did
        self._session: Session | None = None
        self.connection: Connection

    def __enter__(self) -> UnitOfWork:
        connection = self._sessions.kw["bind"].connect()
        if self._read_only:
            # On SQLite a reader need not queue for the write lock (see db.make_engine).
            connection = connection.execution_options(**{READ_ONLY: True})
        if self._snapshot and connection.dialect.name == "postgresql":
            # PostgreSQL's default (READ COMMITTED) takes a new snapshot per statement: a check reading a row, then
            # what refers to it, would see another transaction's commit in between. SQLite's read is one snapshot.
            connection = connection.execution_options(isolation_level="REPEATABLE READ")
        connection.begin()
        self.connection = connection
        return self

    @property
    def session(self) -> Session:
        """An ORM session in this unit's transaction (its commit is the unit's commit)."""
        if self._session is None:
            self._session = self._sessions(bind=self.connection, join_transaction_mode="control_fully")
        return self._session

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        # Closing rolls back whatever was not committed and leaves loaded objects readable
        # (an explicit rollback() would expire them and break views built from them).
        if self._session is not None:
            self._session.close()
        self.connection.close()

    def commit(self) -> None:
        if self._session is not None:
            self._session.commit()  # flushes, then commits the connection's transaction
        else:
            self.connection.commit()
