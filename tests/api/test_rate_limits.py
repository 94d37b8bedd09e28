"""Rate limits per caller: a burst, then the rate; above it 429 with Retry-After, and nobody else slowed."""
from __future__ import annotations

import pytest

from engine.runtime import Runtime
from tests.api.conftest import Api, make_api
from web.rate_limits import RateLimiter, limits_from_env


class Ticking:
    """A monotonic clock the test moves."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def limited(runtime: Runtime) -> tuple[Api, Ticking]:
    api = make_api(runtime, rate_limit=2.0, rate_burst=3)
    clock = Ticking()
    api.app.extensions["rate_limiter"].clock = clock
    return api, clock


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


@pytest.mark.parametrize("rate, burst, problem", [
    ("0", "", "TICKETFLOW_RATE_LIMIT must be a number"), ("fast", "", "TICKETFLOW_RATE_LIMIT must be a number"),
    ("nan", "", "TICKETFLOW_RATE_LIMIT"), ("5", "0", "TICKETFLOW_RATE_BURST must be a whole number"),
    ("5", "lots", "TICKETFLOW_RATE_BURST must be a whole number")])
def test_bad_settings_are_named_at_start_up(rate: str, burst: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        limits_from_env({"TICKETFLOW_RATE_LIMIT": rate, "TICKETFLOW_RATE_BURST": burst})


def test_settings_read_from_the_environment() -> None:
    assert limits_from_env({}) == (None, None)
    assert limits_from_env({"TICKETFLOW_RATE_LIMIT": "20"}) == (20.0, None)
    assert limits_from_env({"TICKETFLOW_RATE_LIMIT": "2.5", "TICKETFLOW_RATE_BURST": "10"}) == (2.5, 10)
