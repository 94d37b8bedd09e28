"""Page sessions: a browser signed in with an API token, kept as a server-side record.

The cookie carries a random session id (256 bits) and nothing derived from the token; the record keeps
only the id's SHA-256 and the session's CSRF token. So sign-out ends a session for every copy of the
cookie, a new token ends all of its holder's sessions, and a database copy forges none. A session also
ends when unused for ``idle`` or older than ``lifetime``.
"""
from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from engine.execution.clock import Clock, system_clock
from engine.store.driver import lookup
from engine.store.models import ApiToken, PageSession, User
from engine.store.uow import UnitOfWork
from engine.usecases.users import TOKEN_PREFIX, UserView, hash_token

MAX_SESSION_ID = 100  # a longer cookie value is no id of ours: refused before hashing
_SQL_RESUME = ("SELECT s.id, s.csrf_token, s.created_at, s.last_seen_at, u.name, u.role, u.email, u.unit_code "
               "FROM page_session s JOIN app_user u ON u.id = s.user_id "
               "WHERE s.id_hash = ? AND s.ended_at IS NULL AND u.disabled = ?")


def hash_session_id(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


@dataclass(frozen=True)
class SessionLimits:
    """How long a page session lives: ``idle`` since its last use, ``lifetime`` since sign-in."""

    idle: timedelta = timedelta(minutes=480)
    lifetime: timedelta = timedelta(days=7)
    # Recording every page view would cost a write per request; a minute's precision is enough for ``idle``.
    touch_every: timedelta = timedelta(minutes=1)


@dataclass(frozen=True)
class SignedIn:
    """A live page session: who it is, and the CSRF token its forms must carry."""

    user: UserView
    csrf_token: str


class PageSessions:
    """Page-session use cases; every method is one transaction (or one lookup)."""

    def __init__(self, sessions: sessionmaker[Session], clock: Clock = system_clock,
                 limits: SessionLimits | None = None) -> None:
        self.sessions = sessions
        self.clock = clock
        self.limits = limits or SessionLimits()

    def start(self, token: str) -> tuple[str, SignedIn] | None:
        """A new session for the holder of ``token``: its random id (for the cookie only) and the session;
        None when the token is unknown, revoked or its user disabled."""
        if not token.startswith(TOKEN_PREFIX) or len(token) > 100:
            return None
        now = self.clock()
        with UnitOfWork(self.sessions) as uow:
            user = uow.session.scalar(
                select(User).join(ApiToken, ApiToken.user_id == User.id)
                .where(ApiToken.token_hash == hash_token(token), ApiToken.revoked_at.is_(None),
                       User.disabled.is_(False)))
            if user is None:
                return None
            session_id, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
            uow.session.add(PageSession(id_hash=hash_session_id(session_id), user_id=user.id, csrf_token=csrf,
                                        created_at=now, last_seen_at=now))
            signed = SignedIn(UserView.of(user), csrf)
            uow.commit()
        return session_id, signed

    def resume(self, session_id: str) -> SignedIn | None:
        """The live session with this id, or None (unknown, ended, idle too long or too old: then ended).

        Every page request asks this: one indexed lookup sent straight to the driver, and a write only
        when the session ends or its last use is over ``touch_every`` old.
        """
        if not session_id or len(session_id) > MAX_SESSION_ID:
            return None
        with lookup(self.sessions.kw["bind"]) as sql:
            row = sql.one(_SQL_RESUME, (hash_session_id(session_id), False))
            if row is None:
                return None
            record_id, csrf, created_at, last_seen_at = row[0], row[1], sql.time_out(row[2]), sql.time_out(row[3])
        assert created_at is not None and last_seen_at is not None  # NOT NULL columns
        now = self.clock()
        if self._expired(now, created_at, last_seen_at):
            self._update(record_id, ended_at=now)
            return None
        if now - last_seen_at >= self.limits.touch_every:
            self._update(record_id, last_seen_at=now)
        return SignedIn(UserView(*row[4:]), csrf)

    def end(self, session_id: str) -> None:
        """Sign out: the session with this id stops working, for every copy of its cookie."""
        if not session_id or len(session_id) > MAX_SESSION_ID:
            return
        with UnitOfWork(self.sessions) as uow:
            uow.session.execute(update(PageSession).where(PageSession.id_hash == hash_session_id(session_id),
                                                          PageSession.ended_at.is_(None))
                                .values(ended_at=self.clock()))
            uow.commit()

    def _expired(self, now: datetime, created_at: datetime, last_seen_at: datetime) -> bool:
        return now - last_seen_at >= self.limits.idle or now - created_at >= self.limits.lifetime

    def _update(self, record_id: int, **values: datetime) -> None:
        with UnitOfWork(self.sessions) as uow:
            uow.session.execute(update(PageSession).where(PageSession.id == record_id, PageSession.ended_at.is_(None))
                                .values(**values))
            uow.commit()

