"""Users and API tokens: who may call ticketflow, and as which role.

A token is ``tf_`` followed by 43 URL-safe characters (256 random bits). Only its SHA-256 is stored:
with that much entropy a fast hash cannot be brute-forced, so a leaked database leaks no tokens, and
authentication stays one indexed lookup per request (a slow KDF would cost ~100 ms per request).
"""
from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from functools import cache
from zoneinfo import available_timezones

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from engine.access import ROLES, Actor
from engine.errors import Conflict, FieldError, InvalidInput, NotFound
from engine.execution.clock import Clock, system_clock
from engine.store.driver import lookup
from engine.store.models import ApiToken, PageSession, Unit, User
from engine.store.uow import UnitOfWork

TOKEN_PREFIX = "tf_"
_SQL_AUTHENTICATE = ("SELECT u.name, u.role, u.email, u.unit_code FROM api_token t JOIN app_user u ON u.id = t.user_id "
                     "WHERE t.token_hash = ? AND t.revoked_at IS NULL AND u.disabled = ?")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@+-]{0,99}$")
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,250}$")


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class UserView:
    name: str
    role: str
    email: str | None
    unit: str | None

    @property
    def actor(self) -> Actor:
        return Actor(self.name, self.role)

    @classmethod
    def of(cls, user: User) -> UserView:
        return cls(user.name, user.role, user.email, user.unit_code)


@dataclass(frozen=True)
class ZoneSetting:
    """Which zone a person reads times in: their own choice, if any, else the fallback (their unit's, else UTC)."""

    own: str | None
    fallback: str

    @property
    def effective(self) -> str:
        return self.own or self.fallback


class Directory:
    """User use cases, one transaction each."""

    def __init__(self, sessions: sessionmaker[Session], clock: Clock = system_clock) -> None:
        self.sessions = sessions
        self.clock = clock

    def add_user(self, name: str, role: str, email: str | None = None, unit: str | None = None) -> tuple[UserView, str]:
        """Create a user and return them with their first token (shown once, never stored)."""
        problems = []
        if not isinstance(name, str) or not _NAME.match(name):
            problems.append(FieldError("/name", "a name is 1-100 letters, digits or ._@+- and starts with a "
                                       "letter or digit"))
        if role not in ROLES:
            problems.append(FieldError("/role", f"role must be one of: {', '.join(ROLES)}"))
        if email is not None and not _EMAIL.match(email):
            problems.append(FieldError("/email", "not an email address"))
        if problems:
            raise InvalidInput("the user cannot be created", problems)
        with UnitOfWork(self.sessions) as uow:
            session = uow.session
            if unit is not None and session.get(Unit, unit) is None:
                raise InvalidInput("the user cannot be created", [FieldError("/unit", f"unknown unit '{unit}'")])
            if session.scalar(select(User.id).where(User.name == name)) is not None:
                raise Conflict(f"user '{name}' already exists")
            user = User(name=name, role=role, email=email, unit_code=unit, created_at=self.clock(), disabled=False)
            session.add(user)
            try:
                session.flush()
            except IntegrityError:
                raise Conflict(f"user '{name}' already exists") from None
            token = self._issue(session, user)
            view = UserView.of(user)
            uow.commit()
            return view, token

    def issue_token(self, name: str) -> str:
        """A new token for ``name``; every earlier token of theirs, and every page session, stops working."""
        with UnitOfWork(self.sessions) as uow:
            user = uow.session.scalar(select(User).where(User.name == name))
            if user is None:
                raise NotFound(f"user '{name}' does not exist")
            token = self._issue(uow.session, user)
            uow.commit()
            return token

    def _issue(self, session: Session, user: User) -> str:
        now = self.clock()
        session.execute(update(ApiToken).where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None))
                        .values(revoked_at=now))
        # Whoever signed in with the old token (or copied such a page's cookie) is signed out too.
        session.execute(update(PageSession).where(PageSession.user_id == user.id, PageSession.ended_at.is_(None))
                        .values(ended_at=now))
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        session.add(ApiToken(user_id=user.id, token_hash=hash_token(token), hint=token[:8], created_at=now))
        return token

    def authenticate(self, token: str) -> UserView | None:
        """The live user holding ``token``, or None."""
        if not token.startswith(TOKEN_PREFIX) or len(token) > 100:
            return None
        return self.authenticate_hash(hash_token(token))

    def authenticate_hash(self, token_hash: str) -> UserView | None:
        """The live user whose token hashes to ``token_hash``, or None.

        Every request asks this, so it is one indexed lookup sent straight to the driver, outside any
        unit of work.
        """
        with lookup(self.sessions.kw["bind"]) as sql:
            row = sql.one(_SQL_AUTHENTICATE, (token_hash, False))
        return UserView(*row) if row is not None else None

    def get(self, name: str) -> UserView | None:
        with UnitOfWork(self.sessions, read_only=True) as uow:
            user = uow.session.scalar(select(User).where(User.name == name))
            return UserView.of(user) if user is not None else None

    def list_users(self) -> list[UserView]:
        with UnitOfWork(self.sessions, read_only=True) as uow:
            return [UserView.of(u) for u in uow.session.scalars(select(User).order_by(User.name))]

    def time_zone_of(self, name: str) -> str:
        """The zone ``name`` reads times in: their own, else their unit's, else UTC (IANA names)."""
        return self.zone_setting(name).effective

    def zone_setting(self, name: str) -> ZoneSetting:
        """``name``'s own zone and the one used without it (their unit's, else UTC); an unknown user reads UTC."""
        with UnitOfWork(self.sessions, read_only=True) as uow:
            row = uow.session.execute(select(User.time_zone, Unit.time_zone).outerjoin(
                Unit, Unit.code == User.unit_code).where(User.name == name)).first()
        return ZoneSetting(row[0], row[1] or "UTC") if row is not None else ZoneSetting(None, "UTC")

    def set_time_zone(self, name: str, zone: str | None) -> None:
        """Set (or with None, clear) the user's own time zone; an unknown IANA name is refused."""
        if zone is not None and not _known_zone(zone):
            raise InvalidInput("the time zone cannot be set",
                               [FieldError("/time_zone", f"'{zone}' is not a time zone name like Europe/Lisbon")])
        with UnitOfWork(self.sessions) as uow:
            found = uow.session.execute(update(User).where(User.name == name).values(time_zone=zone))
            if not found.rowcount:  # type: ignore[attr-defined]
                raise NotFound(f"user '{name}' does not exist")
            uow.commit()


@cache
def time_zone_names() -> tuple[str, ...]:
    """Every IANA zone name this installation knows, sorted: the choices a person has (read once per process).
    Not "localtime": the system's zone files may add it, and it names whatever zone the server happens to be in."""
    return tuple(sorted(available_timezones() - {"localtime"}))


def _known_zone(name: str) -> bool:
    # Membership rather than opening ZoneInfo(name), which raises OSError on a directory ("Europe") or an
    # overlong name instead of saying no, and so accepts exactly what the settings page offers.
    return name in _zone_set()


@cache
def _zone_set() -> frozenset[str]:
    return frozenset(time_zone_names())
