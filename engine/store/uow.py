"""Unit of work: one transaction per use case; it rolls back unless the use case commits (a read-only one on
PostgreSQL commits, having written nothing, see ``__exit__``).

The transaction lives on one Core ``Connection``. Hot paths (opening a ticket, completing a task,
firing timers) run prebuilt Core statements on it; other use cases ask for ``session``, an ORM
session created on first use and bound to the same connection and transaction.

Inside a web request the unit keeps the request's deadline (``engine.context``): it refuses to begin past it, the
database cuts a statement still running at it (PostgreSQL's ``statement_timeout``, SQLite's progress handler), and
it refuses to commit past it. Each of these raises ``DeadlineExceeded`` and the unit closes without committing.
"""
from __future__ import annotations

import math
import sqlite3
from collections.abc import Callable
from time import monotonic
from types import TracebackType
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from engine.context import Deadline, check_deadline, current_deadline

READ_ONLY = "ticketflow_read_only"
QUERY_CANCELED = "57014"  # PostgreSQL's SQLSTATE for a statement cut by statement_timeout (or a cancel request)
SQLITE_PROGRESS_STEPS = 10_000  # virtual-machine steps between two looks at the clock: well under a millisecond


class UnitOfWork:
    def __init__(self, sessions: sessionmaker[Session], read_only: bool = False, snapshot: bool = False) -> None:
        self._sessions = sessions
        self._read_only = read_only
        self._snapshot = snapshot  # every statement sees the database as the first one did
        self._session: Session | None = None
        self._deadline: Deadline | None = None
        self._sqlite_watched: Any = None  # the SQLite driver connection whose progress handler watches the deadline
        self.connection: Connection

    def __enter__(self) -> UnitOfWork:
        self._deadline = current_deadline()
        if self._deadline is not None and self._deadline.remaining() <= 0:
            raise self._deadline.exceeded()  # before taking a connection: the database is not touched
        connection = self._sessions.kw["bind"].connect()
        if self._read_only:
            # On SQLite a reader need not queue for the write lock (see db.make_engine); on PostgreSQL it begins
            # READ ONLY (in the same BEGIN), so that a write slipped into a read fails rather than being dropped.
            connection = connection.execution_options(**{READ_ONLY: True}, postgresql_readonly=True)
        if self._snapshot and connection.dialect.name == "postgresql":
            # PostgreSQL's default (READ COMMITTED) takes a new snapshot per statement: a check reading a row, then
            # what refers to it, would see another transaction's commit in between. SQLite's read is one snapshot.
            connection = connection.execution_options(isolation_level="REPEATABLE READ")
        connection.begin()
        self.connection = connection
        if self._deadline is not None:
            try:
                self._watch(self._deadline)
            except BaseException:
                self._unwatch()
                connection.close()
                raise
        return self

    def _watch(self, deadline: Deadline) -> None:
        """Have the database itself stop a statement still running at the deadline."""
        if self.connection.dialect.name == "postgresql":
            # LOCAL: it ends with the transaction, so the pooled connection goes back without it. At least 1 ms,
            # since 0 would mean "no limit"; rounded up, so that a cut statement is always one past the deadline.
            timeout_ms = max(1, math.ceil(deadline.remaining() * 1000))
            self.connection.exec_driver_sql(f"SET LOCAL statement_timeout = {timeout_ms}")
        elif self.connection.dialect.name == "sqlite":
            driver = self.connection.connection.dbapi_connection
            assert driver is not None
            driver.set_progress_handler(_past(deadline.at), SQLITE_PROGRESS_STEPS)
            self._sqlite_watched = driver

    def _unwatch(self) -> None:
        """Take the progress handler off the SQLite connection: the pool hands it to units without this deadline."""
        if self._sqlite_watched is not None:
            self._sqlite_watched.set_progress_handler(None, 0)
            self._sqlite_watched = None

    @property
    def session(self) -> Session:
        """An ORM session in this unit's transaction (its commit is the unit's commit)."""
        if self._session is None:
            self._session = self._sessions(bind=self.connection, join_transaction_mode="control_fully")
        return self._session

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        # Closing rolls back whatever was not committed and leaves loaded objects readable
        # (an explicit rollback() would expire them and break views built from them). The progress handler comes
        # off first, so that it cannot interrupt the rollback.
        self._unwatch()
        if self._read_only and self._ends_with_commit(exc):
            # A read ends with COMMIT, not ROLLBACK: at every ROLLBACK psycopg forgets the statements it prepared
            # and has the server drop them (one more round trip), so every request planned its statements anew.
            (self._session or self.connection).commit()
        if self._session is not None:
            self._session.close()
        self.connection.close()
        if self._deadline is not None and exc is not None and _cut_by_database(exc):
            raise self._deadline.exceeded() from exc

    def _ends_with_commit(self, exc: BaseException | None) -> bool:
        """Whether this read, on PostgreSQL, can end with COMMIT: it has a transaction, and none of its statements
        failed (the server would refuse the rest). A read refused by the use case (a ticket the caller may not see,
        say) has written nothing either; it commits too unless it opened an ORM session, whose commit would first
        flush whatever the refused use case left in it."""
        if self.connection.dialect.name != "postgresql" or not self.connection.in_transaction():
            return False
        if exc is None:
            return True
        if self._session is not None or self.connection.invalidated:  # invalidated: the connection was lost
            return False
        from psycopg.pq import TransactionStatus  # only PostgreSQL gets here

        driver = self.connection.connection.driver_connection
        return driver is not None and driver.info.transaction_status == TransactionStatus.INTRANS

    def commit(self) -> None:
        # A request whose own work (workflow steps, say) ran past its deadline rolls back instead of committing late.
        check_deadline()
        if self._session is not None:
            self._session.commit()  # flushes, then commits the connection's transaction
        else:
            self.connection.commit()


def _past(at: float) -> Callable[[], int]:
    """SQLite's progress handler: non-zero (interrupt the statement) once the monotonic clock reaches ``at``."""
    def handler() -> int:
        return 1 if monotonic() >= at else 0
    return handler


def _cut_by_database(exc: BaseException) -> bool:
    """Whether ``exc`` (or an error it was raised from, e.g. by a failed step) is the database stopping a statement
    at the deadline: PostgreSQL's query_canceled or SQLite's "interrupted". Asked only when a deadline is set, so a
    cancel outside requests keeps its own meaning."""
    seen: BaseException | None = exc
    for _ in range(16):  # a cause chain is short; the bound only guards against a cycle
        if seen is None:
            return False
        if isinstance(seen, DBAPIError):
            original = seen.orig
            if getattr(original, "sqlstate", None) == QUERY_CANCELED:
                return True
            if getattr(original, "sqlite_errorcode", None) == sqlite3.SQLITE_INTERRUPT:
                return True
        seen = seen.__cause__ or seen.__context__
    return False
