"""Unit of work: one transaction per use case; it rolls back unless the use case commits."""
from __future__ import annotations

from types import TracebackType

from sqlalchemy.orm import Session, sessionmaker


class UnitOfWork:
    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions
        self.session: Session

    def __enter__(self) -> UnitOfWork:
        self.session = self._sessions()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        # close() rolls back whatever was not committed, and leaves loaded objects readable
        # (an explicit rollback() would expire them and break views built from them).
        self.session.close()

    def commit(self) -> None:
        self.session.commit()
