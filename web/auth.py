"""Who is calling: bearer tokens for the API, a signed session cookie (with CSRF) for the pages."""
from __future__ import annotations

import hmac
import secrets
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from flask import current_app, g, request, session

from engine.access import Actor
from engine.errors import Forbidden
from engine.usecases.users import Directory, UserView, hash_token
from web.problems import ApiError

F = TypeVar("F", bound=Callable[..., Any])
CSRF_FIELD = "csrf_token"


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
def sign_in(token: str) -> UserView | None:
    """Start a page session for the holder of ``token``. The signed, HttpOnly cookie keeps the token's
    hash (never the token), so issuing a new token signs every old session out."""
    user = directory().authenticate(token.strip())
    if user is not None:
        session.clear()
        session["token_hash"] = hash_token(token.strip())
        session[CSRF_FIELD] = secrets.token_urlsafe(32)
    return user


def sign_out() -> None:
    session.clear()


def load_page_user() -> None:
    """``before_request`` of the pages: ``g.user`` from the session, or None."""
    token_hash = session.get("token_hash")
    g.user = directory().authenticate_hash(token_hash) if isinstance(token_hash, str) else None
    if g.user is None and token_hash is not None:
        session.clear()


def csrf_token() -> str:
    token = session.get(CSRF_FIELD)
    if not isinstance(token, str):
        token = session[CSRF_FIELD] = secrets.token_urlsafe(32)
    return token


def check_csrf() -> bool:
    """True when a form POST carries this session's CSRF token."""
    sent = request.form.get(CSRF_FIELD, "")
    expected = session.get(CSRF_FIELD)
    return isinstance(expected, str) and hmac.compare_digest(sent, expected)
