"""Who is calling: bearer tokens for the API, server-side page sessions (with CSRF) for the pages."""
from __future__ import annotations

import hmac
import secrets
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from flask import current_app, g, request, session

from engine.access import Actor
from engine.errors import Forbidden
from engine.usecases.page_sessions import PageSessions, SignedIn
from engine.usecases.users import Directory, UserView
from web.problems import ApiError

F = TypeVar("F", bound=Callable[..., Any])
CSRF_FIELD = "csrf_token"
SESSION_ID = "sid"  # the only thing a signed-in page cookie carries (besides flashed messages)


def directory() -> Directory:
    return current_app.extensions["ticketflow"].directory


def authenticate_api() -> None:
    """``before_request`` of the API: a valid ``Authorization: Bearer <token>`` or 401."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ApiError(401, "Unauthenticated", "send 'Authorization: Bearer <token>'; "
                       "`ticketflow user token NAME` issues one", {"WWW-Authenticate": 'Bearer realm="ticketflow"'})
    user = directory().authenticate(token.strip())
    if user is None:
        raise ApiError(401, "Unauthenticated", "the token is unknown or was revoked",
                       {"WWW-Authenticate": 'Bearer realm="ticketflow", error="invalid_token"'})
    g.user = user


def current_user() -> UserView:
    user: UserView | None = g.get("user")
    if user is None:
        raise ApiError(401, "Unauthenticated", "sign in first")
    return user


def current_actor() -> Actor:
    return current_user().actor


def roles(*allowed: str) -> Callable[[F], F]:
    """Refuse (403) callers whose role is not listed."""

    def decorate(view: F) -> F:
        @wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            actor = current_actor()
            if actor.role not in allowed:
                raise Forbidden(f"role '{actor.role}' may not do this (allowed: {', '.join(allowed)})")
            return view(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorate


# -- pages ----------------------------------------------------------------------------------------
def page_sessions() -> PageSessions:
    return current_app.extensions["ticketflow"].page_sessions


def sign_in(token: str) -> UserView | None:
    """Start a page session for the holder of ``token``. The signed, HttpOnly cookie carries only the
    session's random id; the server-side record decides whether it still works."""
    started = page_sessions().start(token.strip())
    if started is None:
        return None
    session_id, signed = started
    session.clear()  # a new id on every sign-in: nothing from before (fixation) carries over
    session[SESSION_ID] = session_id
    g.page_session, g.user = signed, signed.user
    return signed.user


def sign_out() -> None:
    """End this page session on the server, so a copy of the cookie stops working too."""
    session_id = session.get(SESSION_ID)
    if isinstance(session_id, str):
        page_sessions().end(session_id)
    session.clear()
    g.page_session = g.user = None


def load_page_user() -> None:
    """``before_request`` of the pages: ``g.user`` from the live page session, or None."""
    session_id = session.get(SESSION_ID)
    signed = page_sessions().resume(session_id) if isinstance(session_id, str) else None
    g.page_session = signed
    g.user = signed.user if signed is not None else None
    if signed is None and session_id is not None:
        session.pop(SESSION_ID, None)


def csrf_token() -> str:
    """The token this page's forms carry: the session's own, or before sign-in one kept in the cookie."""
    signed: SignedIn | None = g.get("page_session")
    if signed is not None:
        return signed.csrf_token
    # Visitors not signed in get no server-side record (anyone could fill the table); the sign-in form's
    # token is kept in the signed cookie instead.
    token = session.get(CSRF_FIELD)
    if not isinstance(token, str):
        token = session[CSRF_FIELD] = secrets.token_urlsafe(32)
    return token


def check_csrf() -> bool:
    """True when a form POST carries this session's CSRF token."""
    sent = request.form.get(CSRF_FIELD, "")
    signed: SignedIn | None = g.get("page_session")
    expected = signed.csrf_token if signed is not None else session.get(CSRF_FIELD)
    return isinstance(expected, str) and hmac.compare_digest(sent, expected)


def record_auditor_read(number: str | None, what: str, **detail: object) -> None:
    """An auditor's read is itself part of the record (admins' actions land in the history instead)."""
    actor = current_actor()
    if actor.role == "auditor":
        current_app.extensions["ticketflow"].audit.record_access(actor, number, what, detail)
