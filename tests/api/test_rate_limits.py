"""Rate limits per caller: a burst, then the rate; above it 429 with Retry-After, and nobody else slowed; a client
that invents a token for every request runs out of failures, not of others' patience."""
from __future__ import annotations

from dataclasses import replace
from uuid import uuid4

import pytest

from engine.runtime import Runtime
from tests.api.conftest import Api, make_api
from tests.e2e.conftest import Visitor
from web.app import WebSettings, create_app
from web.rate_limits import Limits, RateLimiter, limits_from_env


class Ticking:
    """A monotonic clock the test moves."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def on_a_test_clock(api: Api) -> tuple[Api, Ticking]:
    """The app with its rate limiter reading a clock the test moves."""
    clock = Ticking()
    api.app.extensions["rate_limiter"].clock = clock
    return api, clock


@pytest.fixture
def limited(runtime: Runtime) -> tuple[Api, Ticking]:
    return on_a_test_clock(make_api(runtime, rate_limit=2.0, rate_burst=3))


def test_a_caller_over_the_limit_gets_429_with_retry_after_and_others_go_on(limited: tuple[Api, Ticking]) -> None:
    api, clock = limited
    lena = api.as_("lena")
    assert [lena.get("/api/v1/tasks").status_code for _ in range(3)] == [200, 200, 200]  # the burst
    refused = lena.get("/api/v1/tasks", headers={"X-Request-Id": "too-fast-1"})
    assert refused.status_code == 429 and refused.headers["Retry-After"] == "1"
    assert refused.mimetype == "application/problem+json"
    assert refused.json["title"] == "Too many requests" and refused.json["request_id"] == "too-fast-1"
    assert api.as_("otto").get("/api/v1/tasks").status_code == 200  # another token has its own bucket
    assert api.client.get("/healthz").status_code == 200 and api.client.get("/metrics").status_code == 200
    clock.now += 0.5  # half a second at 2 per second: one more request
    assert lena.get("/api/v1/tasks").status_code == 200
    assert lena.get("/api/v1/tasks").status_code == 429


def test_a_refused_request_changes_nothing(limited: tuple[Api, Ticking]) -> None:
    api, _ = limited
    alice = api.as_("alice")
    body = {"subject": "Printer offline", "description": "Since this morning."}
    answers = [alice.post("/api/v1/tickets", json=body).status_code for _ in range(5)]
    assert answers == [201, 201, 201, 429, 429]
    assert api.as_("root").get("/api/v1/tickets").json["total"] == 3


def test_callers_without_a_token_are_limited_by_address(limited: tuple[Api, Ticking]) -> None:
    api, _ = limited
    here = [api.client.get("/api/v1/tickets").status_code for _ in range(4)]
    assert here == [401, 401, 401, 429]
    elsewhere = api.client.get("/api/v1/tickets", environ_overrides={"REMOTE_ADDR": "10.9.8.7"})
    assert elsewhere.status_code == 401


def test_pages_are_told_in_words(limited: tuple[Api, Ticking]) -> None:
    api, _ = limited
    browser = api.app.test_client(use_cookies=False)  # a visitor who keeps no session: limited by address
    for _ in range(3):
        assert browser.get("/sign-in").status_code == 200
    page = browser.get("/sign-in")
    assert page.status_code == 429 and page.mimetype == "text/html" and page.headers["Retry-After"] == "1"
    assert b"try again in 1 seconds" in page.data


def test_buckets_refill_only_to_the_burst() -> None:
    clock = Ticking()
    limiter = RateLimiter(rate=10.0, burst=2, clock=clock)
    clock.now += 3600  # an hour of quiet earns no more than the burst
    assert [limiter.wait_for("k") == 0 for _ in range(3)] == [True, True, False]
    assert limiter.wait_for("k") == pytest.approx(0.1)


@pytest.mark.parametrize("environ, problem", [
    ({"TICKETFLOW_RATE_LIMIT": "fast"}, "TICKETFLOW_RATE_LIMIT must be a number"),
    ({"TICKETFLOW_RATE_LIMIT": "-5"}, "TICKETFLOW_RATE_LIMIT must be a number"),
    ({"TICKETFLOW_RATE_LIMIT": "nan"}, "TICKETFLOW_RATE_LIMIT"),
    ({"TICKETFLOW_RATE_LIMIT": "5", "TICKETFLOW_RATE_BURST": "0"}, "TICKETFLOW_RATE_BURST must be a whole number"),
    ({"TICKETFLOW_RATE_LIMIT": "5", "TICKETFLOW_RATE_BURST": "lots"}, "TICKETFLOW_RATE_BURST must be a whole number"),
    ({"TICKETFLOW_RATE_LIMIT_FAILURES": "lots"}, "TICKETFLOW_RATE_LIMIT_FAILURES must be a number"),
    ({"TICKETFLOW_RATE_LIMIT_FAILURES": "inf"}, "TICKETFLOW_RATE_LIMIT_FAILURES must be a number")])
def test_bad_settings_are_named_at_start_up(environ: dict[str, str], problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        limits_from_env(environ)


@pytest.mark.parametrize("environ, limits", [
    ({}, Limits(50.0, None, 5.0)),  # on by default
    ({"TICKETFLOW_RATE_LIMIT": "20"}, Limits(20.0, None, 5.0)),
    ({"TICKETFLOW_RATE_LIMIT": " 2.5 ", "TICKETFLOW_RATE_BURST": "10"}, Limits(2.5, 10, 5.0)),
    ({"TICKETFLOW_RATE_LIMIT_FAILURES": "1.5"}, Limits(50.0, None, 1.5)),
    ({"TICKETFLOW_RATE_LIMIT_FAILURES": "off"}, Limits(50.0, None, None)),
    ({"TICKETFLOW_RATE_LIMIT": "off", "TICKETFLOW_RATE_LIMIT_FAILURES": "3"}, Limits(None)),  # off: all of them
    ({"TICKETFLOW_RATE_LIMIT": "OFF"}, Limits(None)), ({"TICKETFLOW_RATE_LIMIT": "0"}, Limits(None)),
    ({"TICKETFLOW_RATE_LIMIT": "0.0", "TICKETFLOW_RATE_BURST": "lots"}, Limits(None))])
def test_settings_read_from_the_environment(environ: dict[str, str], limits: Limits) -> None:
    assert limits_from_env(environ) == limits


def test_only_settings_from_the_environment_limit_by_default(runtime: Runtime, monkeypatch: pytest.MonkeyPatch) -> None:
    assert WebSettings().rate_limit is None  # tests and embedders that build their own settings: unlimited
    for name in ("TICKETFLOW_RATE_LIMIT", "TICKETFLOW_RATE_BURST", "TICKETFLOW_RATE_LIMIT_FAILURES"):
        monkeypatch.delenv(name, raising=False)
    settings = replace(WebSettings.from_env(), secret_key="test-secret")
    assert (settings.rate_limit, settings.rate_burst, settings.rate_failures) == (50.0, None, 5.0)
    limits = create_app(runtime, settings).extensions["rate_limiter"]
    assert (limits.requests.rate, limits.requests.burst, limits.failures.burst) == (50.0, 100, 20)
    monkeypatch.setenv("TICKETFLOW_RATE_LIMIT", "off")
    assert "rate_limiter" not in create_app(runtime, WebSettings.from_env()).extensions


# -- garbage credentials ------------------------------------------------------------------------------------------
NAT = {"REMOTE_ADDR": "192.0.2.10"}  # one address for the agents and the client sending garbage behind it
ELSEWHERE = {"REMOTE_ADDR": "198.51.100.7"}


@pytest.fixture
def guarded(runtime: Runtime) -> tuple[Api, Ticking]:
    """The default figures (50/s, bursts of 100; 5 failures/s, bursts of 20) on a clock the test moves."""
    return on_a_test_clock(make_api(runtime, rate_limit=50.0, rate_failures=5.0))


def garbage(api: Api, n: int, address: dict[str, str]) -> list[int]:
    """``n`` requests, each with a token never issued (a new one every time), from ``address``."""
    return [api.client.get("/api/v1/tasks", headers={"Authorization": f"Bearer made-up-{uuid4().hex}"},
                           environ_base=address).status_code for _ in range(n)]


def test_rotating_garbage_tokens_run_out_of_failures_while_known_tokens_go_on(guarded: tuple[Api, Ticking]) -> None:
    api, clock = guarded
    lena = api.as_("lena")
    assert lena.get("/api/v1/tasks", environ_base=NAT).status_code == 200  # now known to work here
    assert garbage(api, 20, NAT) == [401] * 20  # the failures burst
    refused = api.client.get("/api/v1/tasks", headers={"Authorization": "Bearer yet-another"}, environ_base=NAT)
    assert refused.status_code == 429 and refused.headers["Retry-After"] == "1"
    assert refused.mimetype == "application/problem+json" and b'"title": "Too many requests"' in refused.data
    assert "WWW-Authenticate" not in refused.headers  # refused before the token was looked up
    assert garbage(api, 50, NAT) == [429] * 50  # a refusal is not a failure: the bucket refills all the same
    assert [lena.get("/api/v1/tasks", environ_base=NAT).status_code for _ in range(30)] == [200] * 30
    assert api.as_("otto").get("/api/v1/tasks", environ_base=NAT).status_code == 429  # not yet seen to work here
    assert garbage(api, 3, ELSEWHERE) == [401] * 3  # another address has failures of its own
    assert api.as_("otto").get("/api/v1/tasks", environ_base=ELSEWHERE).status_code == 200
    clock.now += 0.2  # one failure earned back at 5 per second
    assert garbage(api, 2, NAT) == [401, 429]


def test_a_page_session_signed_in_before_the_garbage_keeps_working(guarded: tuple[Api, Ticking]) -> None:
    api, _ = guarded
    visitor = Visitor(api.app.test_client())
    visitor.client.environ_base.update(NAT)
    visitor.sign_in(api.tokens["lena"])
    visitor.get("/inbox")  # the session cookie has now signed someone in
    for n in range(20):  # failed sign-ins through the form cost the address like unknown API tokens
        guesser = Visitor(api.app.test_client())
        guesser.client.environ_base.update(NAT)
        guesser.get("/sign-in")
        guesser.post("/sign-in", {"token": f"tf_guess-{n}"}, status=401)
    assert garbage(api, 1, NAT) == [429]
    visitor.get("/inbox")
    late = api.app.test_client(use_cookies=False).get("/sign-in", headers={"Cookie": "session=forged"},
                                                      environ_base=NAT)
    assert late.status_code == 429 and late.mimetype == "text/html" and late.headers["Retry-After"] == "1"


def test_rotating_tokens_on_pages_that_need_none_count_against_the_address(limited: tuple[Api, Ticking]) -> None:
    api, _ = limited  # no failures bucket: the sign-in page answers 200 to any token, so none fails
    browser = api.app.test_client(use_cookies=False)
    answers = [browser.get("/sign-in", headers={"Authorization": f"Bearer made-up-{n}"}).status_code
               for n in range(4)]
    assert answers == [200, 200, 200, 429]
