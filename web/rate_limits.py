"""Per-caller rate limits, on unless turned off: a token bucket per credential that has worked, per client
address for everyone else, and a bucket of failed sign-ins per address.

``TICKETFLOW_RATE_LIMIT`` requests per second per caller (default 50; ``off`` or ``0``: no limits at all), bursts
of ``TICKETFLOW_RATE_BURST`` (default twice the rate); above it a 429 with ``Retry-After``. A caller is its API
token or page session once that credential has signed someone in here; a request with no credential, or with one
not yet seen to work, counts against its client address as well, so inventing a new token for every request buys
no fresh bucket.

Failed credentials cost the address: every 401 takes one from the address's failures bucket
(``TICKETFLOW_RATE_LIMIT_FAILURES`` per second, default 5, bursts of four seconds' worth). While that bucket is
empty, every request from the address whose credential is not yet known to work is refused (429) before any
authentication work; credentials that have worked (kept only as digests, the ``MAX_BUCKETS`` most recent) go on,
so agents behind the same NAT as a client sending garbage keep working.

The buckets and the known credentials live in each process: under gunicorn with N workers a caller may reach N
times the rate, and a credential is known only to the workers it has reached. Health, readiness, metrics and
static files are never limited.
"""
from __future__ import annotations

import hashlib
import math
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from time import monotonic

from flask import Flask, Response, current_app, g, request

from web.problems import is_api, problem

UNLIMITED_PATHS = ("/healthz", "/readyz", "/metrics")
MAX_BUCKETS = 10_000  # callers remembered at once; a full bucket is forgotten first (it would be full anyway)
DEFAULT_RATE = 50.0  # requests per second per caller: far above what a person or a well-behaved client sends
DEFAULT_FAILURES = 5.0  # failed credentials per second per address
FAILURE_BURST_SECONDS = 4  # the failures bucket holds this many seconds' worth (20 at the default)


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
        return self._wait(caller, take=True)

    def wait_without_taking(self, caller: Hashable) -> float:
        """The seconds until ``caller``'s bucket holds one request (0: it does now); nothing is taken."""
        return self._wait(caller, take=False)

    def _wait(self, caller: Hashable, take: bool) -> float:
        now = self.clock()
        with self._lock:
            bucket = self._buckets.get(caller)
            if bucket is None:
                if not take:  # a caller never seen has a full bucket: no need to remember it yet
                    return 0.0
                self._forget_idle(now)
                bucket = self._buckets[caller] = _Bucket(float(self.burst), now)
            bucket.tokens = min(float(self.burst), bucket.tokens + (now - bucket.at) * self.rate)
            bucket.at = now
            if bucket.tokens >= 1.0:
                bucket.tokens -= 1.0 if take else 0.0
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


class KnownCredentials:
    """Digests of the credentials that have signed someone in, the most recently used ``size`` of them."""

    def __init__(self, size: int = MAX_BUCKETS) -> None:
        self.size = size
        self._seen: OrderedDict[bytes, None] = OrderedDict()
        self._lock = threading.Lock()

    def __contains__(self, digest: bytes) -> bool:
        with self._lock:
            if digest not in self._seen:
                return False
            self._seen.move_to_end(digest)
            return True

    def discard(self, digest: bytes) -> None:
        with self._lock:
            self._seen.pop(digest, None)

    def add(self, digest: bytes) -> None:
        with self._lock:
            self._seen[digest] = None
            self._seen.move_to_end(digest)
            if len(self._seen) > self.size:
                self._seen.popitem(last=False)


class CallerLimits:
    """What one process knows: the callers' buckets, the addresses' failures buckets and the credentials that
    worked. Both kinds of bucket read ``self.clock``, so a test can move them together."""

    def __init__(self, rate: float, burst: int, failures: float | None, clock: Callable[[], float] = monotonic) -> None:
        self.clock = clock
        self.requests = RateLimiter(rate, burst, lambda: self.clock())
        self.failures = None if failures is None else RateLimiter(
            failures, max(1, math.ceil(FAILURE_BURST_SECONDS * failures)), lambda: self.clock())
        self.known = KnownCredentials()

    def wait_for(self, address: Hashable, credential: bytes | None) -> float:
        """Take one request from whoever is asking: 0 if it may go ahead, else the seconds until it may."""
        if credential is not None and credential in self.known:
            return self.requests.wait_for(("credential", credential))
        if credential is not None and self.failures is not None:
            failing = self.failures.wait_without_taking(address)
            if failing > 0:  # refused before the credential costs any authentication work
                return failing
        waits = [self.requests.wait_for(("address", address))]
        if credential is not None:
            waits.append(self.requests.wait_for(("credential", credential)))
        return max(waits)

    def answered(self, address: Hashable, credential: bytes | None, status: int, signed_in: bool) -> None:
        """Learn from an answer: a 401 costs the address (and its credential is no longer known to work), a
        credential that signed someone in is known to work."""
        if status == 401:
            if self.failures is not None:
                self.failures.wait_for(address)
            if credential is not None:
                self.known.discard(credential)
        elif credential is not None and signed_in:
            self.known.add(credential)


@dataclass(frozen=True)
class Limits:
    """Rate limits as configured: ``rate`` None means none at all; ``burst`` None twice the rate; ``failures``
    None no failures bucket."""

    rate: float | None
    burst: int | None = None
    failures: float | None = None


def install(app: Flask, limits: Limits) -> None:
    """Limit callers as ``limits`` say (no ``rate``: not at all). Register after ``web.request_ids``, so a refusal
    names its request."""
    if limits.rate is None:
        return
    burst = limits.burst or max(1, math.ceil(2 * limits.rate))
    app.extensions["rate_limiter"] = CallerLimits(limits.rate, burst, limits.failures)
    app.before_request(_within_limit)
    app.after_request(_learn_from_answer)


def credential() -> bytes | None:
    """The bearer token or page session of this request, only as a digest (never kept as sent), or None."""
    session = request.cookies.get(current_app.config["SESSION_COOKIE_NAME"], "")
    sent = request.headers.get("Authorization", "") or session
    return hashlib.blake2b(sent.encode(), digest_size=16).digest() if sent else None


def _limited() -> bool:
    return request.path not in UNLIMITED_PATHS and not request.path.startswith("/static/")


def _within_limit() -> Response | tuple[str, int] | None:
    if not _limited():
        return None
    wait = current_app.extensions["rate_limiter"].wait_for(request.remote_addr, credential())
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


def _learn_from_answer(response: Response) -> Response:
    if _limited():
        current_app.extensions["rate_limiter"].answered(request.remote_addr, credential(), response.status_code,
                                                        g.get("user") is not None)
    return response


def limits_from_env(environ: dict[str, str]) -> Limits:
    """The limits TICKETFLOW_RATE_LIMIT, TICKETFLOW_RATE_BURST and TICKETFLOW_RATE_LIMIT_FAILURES ask for; a wrong
    value is a plain error at start-up. Unset: the defaults; ``off`` or ``0`` turns a limit off (the first one: all
    of them)."""
    rate = _rate(environ, "TICKETFLOW_RATE_LIMIT", DEFAULT_RATE)
    if rate is None:
        return Limits(None)
    failures = _rate(environ, "TICKETFLOW_RATE_LIMIT_FAILURES", DEFAULT_FAILURES)
    raw_burst = environ.get("TICKETFLOW_RATE_BURST", "").strip()
    if not raw_burst:
        return Limits(rate, None, failures)
    if not raw_burst.isdigit() or int(raw_burst) < 1:
        raise ValueError(f"TICKETFLOW_RATE_BURST must be a whole number of 1 or more (got {raw_burst!r})")
    return Limits(rate, int(raw_burst), failures)


def _rate(environ: dict[str, str], name: str, default: float) -> float | None:
    """Requests per second from ``name``: ``default`` when unset, None when ``off`` or ``0``."""
    raw = environ.get(name, "").strip()
    if not raw:
        return default
    if raw.lower() == "off":
        return None
    try:
        rate = float(raw)
    except ValueError:
        rate = math.nan
    if rate == 0:
        return None
    if not math.isfinite(rate) or rate < 0:
        raise ValueError(f"{name} must be a number of requests per second above 0, or off (got {raw!r})")
    return rate
