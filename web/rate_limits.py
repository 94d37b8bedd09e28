"""Per-caller rate limits: a token bucket per API token (or page session), per client address for callers without.

``TICKETFLOW_RATE_LIMIT`` requests per second, bursts of ``TICKETFLOW_RATE_BURST``; above it a 429 with
``Retry-After``. The buckets live in each process: under gunicorn with N workers a caller may reach N times the
rate. Health, readiness, metrics and static files are never limited.
"""
from __future__ import annotations

import math
import threading
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from time import monotonic

from flask import Flask, Response, current_app, request

from web.problems import is_api, problem

UNLIMITED_PATHS = ("/healthz", "/readyz", "/metrics")
MAX_BUCKETS = 10_000  # callers remembered at once; a full bucket is forgotten first (it would be full anyway)


@dataclass
class _Bucket:
    tokens: float
    at: float


class RateLimiter:
    """Token buckets: each caller may send ``burst`` requests at once, then ``rate`` per second."""

    def __init__(self, rate: float, burst: int, clock: Callable[[], float] = monotonic) -> None:
        self.rate, self.burst, self.clock = rate, burst, clock
        self._buckets: dict[Hashable, _Bucket] = {}
        self._lock = threading.Lock()

    def wait_for(self, caller: Hashable) -> float:
        """Take one request from ``caller``'s bucket: 0 if it may go ahead, else the seconds until it may."""
        now = self.clock()
        with self._lock:
            bucket = self._buckets.get(caller)
            if bucket is None:
                self._forget_idle(now)
                bucket = self._buckets[caller] = _Bucket(float(self.burst), now)
            bucket.tokens = min(float(self.burst), bucket.tokens + (now - bucket.at) * self.rate)
            bucket.at = now
            if bucket.tokens >= 1.0:
                bucket.tokens -= 1.0
                return 0.0
            return (1.0 - bucket.tokens) / self.rate

    def _forget_idle(self, now: float) -> None:
        if len(self._buckets) < MAX_BUCKETS:
            return
        refilled = self.burst / self.rate
        for caller in [c for c, b in self._buckets.items() if now - b.at >= refilled]:
            del self._buckets[caller]
        if len(self._buckets) >= MAX_BUCKETS:  # every caller busy: forget the quietest half
            quiet = sorted(self._buckets, key=lambda c: self._buckets[c].at)[: MAX_BUCKETS // 2]
            for caller in quiet:
                del self._buckets[caller]


def install(app: Flask, rate: float | None, burst: int | None) -> None:
    """Limit every caller to ``rate`` requests per second (bursts of ``burst``, by default twice the rate); None:
    no limit. Register after ``web.request_ids``, so a refusal names its request."""
    if rate is None:
        return
    app.extensions["rate_limiter"] = RateLimiter(rate, burst or max(1, math.ceil(2 * rate)))
    app.before_request(_within_limit)


def caller() -> Hashable:
    """Who is asking: their bearer token or page session (only as a hash, never kept), else their address."""
    session = request.cookies.get(current_app.config["SESSION_COOKIE_NAME"], "")
    credential = request.headers.get("Authorization", "") or session
    if credential:
        return ("credential", hash(credential))
    return ("address", request.remote_addr)


def _within_limit() -> Response | tuple[str, int] | None:
    if request.path in UNLIMITED_PATHS or request.path.startswith("/static/"):
        return None
    wait = current_app.extensions["rate_limiter"].wait_for(caller())
    if wait <= 0:
        return None
    retry_after = str(max(1, math.ceil(wait)))
    detail = f"too many requests from this caller; try again in {retry_after} s"
    if is_api():
        return problem(429, "Too many requests", detail, headers={"Retry-After": retry_after})
    page, status = current_app.html_error(429, "Too many requests",  # type: ignore[attr-defined]
                                          f"You are going faster than we can follow; try again in {retry_after} "
                                          "seconds.")
    return Response(page, status, headers={"Retry-After": retry_after}, mimetype="text/html")


def limits_from_env(environ: dict[str, str]) -> tuple[float | None, int | None]:
    """(rate, burst) from TICKETFLOW_RATE_LIMIT and TICKETFLOW_RATE_BURST; a wrong value is a plain error at
    start-up. No rate: no limit."""
    raw_rate, raw_burst = environ.get("TICKETFLOW_RATE_LIMIT", "").strip(), environ.get("TICKETFLOW_RATE_BURST", "")
    if not raw_rate:
        return None, None
    try:
        rate = float(raw_rate)
    except ValueError:
        rate = 0.0
    if not math.isfinite(rate) or rate <= 0:
        raise ValueError(f"TICKETFLOW_RATE_LIMIT must be a number of requests per second above 0 (got {raw_rate!r})")
    if not raw_burst.strip():
        return rate, None
    if not raw_burst.strip().isdigit() or int(raw_burst) < 1:
        raise ValueError(f"TICKETFLOW_RATE_BURST must be a whole number of 1 or more (got {raw_burst!r})")
    return rate, int(raw_burst)
