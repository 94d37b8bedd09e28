"""Unit of work: one transaction per use case; it rolls back unless the use case commits."""
from __future__ import annotations

from types import TracebackType

from sqlalchemy.orm import Session, sessionmaker

READ_ONLY = "ticketflow_read_only"


class UnitOfWork:
    def __init__(self, sessions: sessionmaker[Session], read_only: bool = False) -> None:
        self._sessions = sessions
        self._read_only = read_only
        self.session: Session

    def __enter__(self) -> UnitOfWork:
        self.session = self._sessions()
        if self._read_only:
            # On SQLite a reader need not queue for the write lock (see db.make_engine).
            self.session.connection(execution_options={READ_ONLY: True})
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        # close() rolls back whatever was not committed, and leaves loaded objects readable
        # (an explicit rollback() would expire them and break views built from them).
        self.session.close()

    def commit(self) -> None:
        self.session.commit()
