"""Page sessions are server-side records: sign-out, a new token, the idle timeout and the absolute lifetime
end them for every copy of the cookie, and the cookie carries nothing derived from the API token."""
from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from flask import Flask
from sqlalchemy import select

from engine.execution.clock import FakeClock
from engine.runtime import Runtime
from engine.store.models import PageSession
from engine.usecases.users import hash_token
from tests.e2e.conftest import Visitor
from web.app import WebSettings, create_app

COOKIE = "session"


def cookie_of(visitor: Visitor) -> str:
    cookie = visitor.client.get_cookie(COOKIE)
    assert cookie is not None, "no session cookie"
    return cookie.value


def copy_holder(app: Flask, visitor: Visitor) -> Visitor:
    """Someone else holding a copy of the visitor's cookie, as it is right now."""
    thief = Visitor(app.test_client())
    thief.client.set_cookie(COOKIE, cookie_of(visitor))
    return thief


def signed_in(visitor: Visitor) -> bool:
    response = visitor.client.get("/inbox")
    return response.status_code == 200


def test_a_copied_cookie_stops_working_after_sign_out(app: Flask, visit: Any) -> None:
    lena = visit("lena")
    thief = copy_holder(app, lena)
    assert signed_in(thief)
    lena.get("/inbox")
    lena.post("/sign-out", {})
    assert not signed_in(thief)
    assert not signed_in(lena)


def test_a_copied_cookie_stops_working_when_a_new_token_is_issued(app: Flask, visit: Any) -> None:
    lena, otto = visit("lena"), visit("otto")
    thief = copy_holder(app, lena)
    app.extensions["ticketflow"].directory.issue_token("lena")
    assert not signed_in(thief) and not signed_in(lena)
    assert signed_in(otto)  # other people's sessions go on


def test_a_session_unused_for_the_idle_timeout_ends(runtime: Runtime, tokens: dict[str, str]) -> None:
    clock = runtime.clock
    assert isinstance(clock, FakeClock)
    app = create_app(runtime, WebSettings(secret_key="test-secret-key", session_idle_minutes=30))
    lena = Visitor(app.test_client())
    lena.sign_in(tokens["lena"])
    for _ in range(4):  # used every 20 minutes: well past 30 minutes in all, still signed in
        clock.advance(minutes=20)
        assert signed_in(lena)
    thief = copy_holder(app, lena)
    clock.advance(minutes=31)
    assert not signed_in(lena)
    clock.advance(minutes=-31)  # ended for good, not merely too old to show
    assert not signed_in(thief)


def test_a_session_in_daily_use_still_ends_after_its_lifetime(runtime: Runtime, tokens: dict[str, str]) -> None:
    clock = runtime.clock
    assert isinstance(clock, FakeClock)
    app = create_app(runtime, WebSettings(secret_key="test-secret-key", session_lifetime_days=2))
    lena = Visitor(app.test_client())
    lena.sign_in(tokens["lena"])
    started = clock.now
    for _ in range(8):  # used every six hours (within the idle timeout) for 48 hours
        clock.advance(hours=6)
        assert signed_in(lena) == (clock.now - started < timedelta(days=2))
    assert not signed_in(lena)


def test_last_use_is_written_at_most_once_a_minute(app: Flask, visit: Any, runtime: Runtime) -> None:
    lena = visit("lena")
    clock = runtime.clock
    assert isinstance(clock, FakeClock)
    signed_at = clock.now
    clock.advance(seconds=30)
    lena.get("/inbox")
    assert last_seen(runtime) == [signed_at]
    clock.advance(seconds=45)
    lena.get("/inbox")
    assert last_seen(runtime) == [clock.now]


def last_seen(runtime: Runtime) -> list[Any]:
    with runtime.uow(read_only=True) as uow:
        return list(uow.session.scalars(select(PageSession.last_seen_at).where(PageSession.ended_at.is_(None))))


def test_the_cookie_holds_nothing_derived_from_the_token_and_changes_on_each_sign_in(
        app: Flask, tokens: dict[str, str]) -> None:
    lena = Visitor(app.test_client())
    lena.sign_in(tokens["lena"])
    first = cookie_of(lena)
    lena.get("/inbox")
    lena.post("/sign-out", {})
    lena.sign_in(tokens["lena"])
    second = cookie_of(lena)
    assert first != second
    serializer = app.session_interface.get_signing_serializer(app)  # type: ignore[attr-defined]
    for value in (first, second):
        carried = serializer.loads(value)
        assert set(carried) == {"sid"}
        assert hash_token(tokens["lena"]) not in (value + str(carried))
        assert tokens["lena"] not in (value + str(carried))


def test_the_database_keeps_only_a_hash_of_the_session_id(app: Flask, visit: Any, runtime: Runtime) -> None:
    lena = visit("lena")
    session_id = app.session_interface.get_signing_serializer(app).loads(cookie_of(lena))["sid"]  # type: ignore
    with runtime.uow(read_only=True) as uow:
        stored = list(uow.session.scalars(select(PageSession.id_hash)))
    assert len(stored) == 1 and session_id not in stored[0] and len(session_id) >= 43


def test_csrf_is_still_refused_without_the_sessions_token(visit: Any) -> None:
    lena = visit("lena")
    refused = lena.post("/sign-out", {}, status=403, csrf="")
    assert "did not come from a page" in refused.text
    lena.post("/sign-out", {}, status=403, csrf="guess")
    assert signed_in(lena)


def test_a_form_of_an_ended_session_is_refused(app: Flask, visit: Any) -> None:
    lena = visit("lena")
    lena.get("/inbox")
    old_token = lena.csrf
    app.extensions["ticketflow"].directory.issue_token("lena")
    lena.post("/sign-out", {}, status=403, csrf=old_token)


def test_the_cookie_is_http_only_same_site_lax_and_secure_when_asked(runtime: Runtime,
                                                                      tokens: dict[str, str]) -> None:
    for secure in (False, True):
        app = create_app(runtime, WebSettings(secret_key="test-secret-key", secure_cookies=secure))
        client = app.test_client()
        visitor = Visitor(client)
        visitor.get("/sign-in")
        header = visitor.post("/sign-in", {"token": tokens["lena"]}).headers["Set-Cookie"]
        assert "HttpOnly" in header and "SameSite=Lax" in header and ("Secure" in header) == secure


def test_api_calls_with_a_bearer_token_create_no_session(app: Flask, tokens: dict[str, str],
                                                          runtime: Runtime) -> None:
    client = app.test_client()
    response = client.get("/api/v1/me", headers={"Authorization": f"Bearer {tokens['lena']}"})
    assert response.status_code == 200 and "Set-Cookie" not in response.headers
    with runtime.uow(read_only=True) as uow:
        assert list(uow.session.scalars(select(PageSession.id))) == []


def test_sessions_end_the_same_way_on_postgresql(postgres_url: str, runtimes: Callable[..., Runtime]) -> None:
    runtime = runtimes(postgres_url)
    clock = runtime.clock
    assert isinstance(clock, FakeClock)
    app = create_app(runtime, WebSettings(secret_key="test-secret-key", session_idle_minutes=30))
    directory = app.extensions["ticketflow"].directory
    tokens = {name: directory.add_user(name, "l1")[1] for name in ("lena", "lars")}
    lena, lars = Visitor(app.test_client()), Visitor(app.test_client())
    lena.sign_in(tokens["lena"])
    lars.sign_in(tokens["lars"])
    thief = copy_holder(app, lena)
    clock.advance(minutes=20)
    assert signed_in(thief) and clock.now in last_seen(runtime)  # touched: over a minute since sign-in
    lena.get("/inbox")
    lena.post("/sign-out", {})
    assert not signed_in(thief)
    clock.advance(minutes=31)
    assert not signed_in(lars)
