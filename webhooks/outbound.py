"""Deliver outbound webhooks the Standard Webhooks way: the ``standardwebhooks`` library signs each attempt
(``webhook-id`` the row's stable id, a fresh ``webhook-timestamp`` every time), and one HTTP POST carries it.

The POST goes to the address that was just resolved and checked (never a second look-up a rebinding DNS server
could answer differently), follows no redirect, reads at most ``MAX_RESPONSE`` bytes of the answer, and is cut
at ``timeout`` seconds in all: a watchdog shuts the socket down, so neither a silent receiver nor one dripping
bytes can hold the worker longer. ``http.client`` is used directly because no common client bounds the whole
exchange (their timeouts are per socket read) or lets the connection be pinned to a vetted address.
"""
from __future__ import annotations

import contextlib
import http.client
import socket
import ssl
import threading
import time
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from urllib.parse import urlsplit

from standardwebhooks.webhooks import Webhook

from engine.store.outbox import OutboxItem
from engine.usecases.outbox import Answer, DeliveryError
from engine.usecases.subscriptions import HostPolicy, Resolver, destination_problem, resolve_host

TIMEOUT = 15.0
MAX_RESPONSE = 4096  # bytes of the receiver's answer read at most (only its status matters)
USER_AGENT = "ticketflow-webhooks/1"
BACK_OFF = frozenset({429, 503})  # "slow down": the receiver's Retry-After says when to come back


class WebhookTransport:
    """``engine.usecases.outbox.MessageTransport`` for the outbox's ``webhook`` rows."""

    def __init__(self, policy: HostPolicy | None = None, timeout: float = TIMEOUT,
                 resolve: Resolver = resolve_host) -> None:
        self.policy = policy if policy is not None else HostPolicy.from_env()
        self.timeout = timeout
        self.resolve = resolve
        self.send_budget = timedelta(seconds=timeout + 1)
        self.tls = ssl.create_default_context()

    def deliver(self, item: OutboxItem) -> str:
        """POST ``item``'s event to its subscription's URL; the answer on a 2xx, else DeliveryError."""
        if item.subscription_disabled or not item.secret:
            raise DeliveryError("the subscription is disabled or was removed", permanent=True)
        target = urlsplit(item.recipient)
        host, https = target.hostname or "", target.scheme == "https"
        port = target.port or (443 if https else 80)
        address = self._vetted_address(host, port)
        headers = self._signed_headers(item)
        path = (target.path or "/") + (f"?{target.query}" if target.query else "")
        started = time.monotonic()
        try:
            status, retry_after = self._post(host, address, port, https, path, headers, item.body.encode())
        except (OSError, http.client.HTTPException) as exc:
            raise DeliveryError(f"the receiver could not be reached or did not answer within {self.timeout:g} s "
                                f"({type(exc).__name__})", unavailable=True, latency_ms=_since(started)) from None
        return _verdict(status, retry_after, _since(started))

    def close(self) -> None:
        """Nothing is kept between deliveries."""

    def _vetted_address(self, host: str, port: int) -> str:
        """The address to connect to, resolved now and checked (DNS rebinding cannot slip past)."""
        pinned: list[str] = []

        def resolve_once(name: str, number: int) -> list[str]:
            pinned.extend(self.resolve(name, number))
            return pinned

        problem = destination_problem(host, port, self.policy, resolve_once)
        if problem is not None:
            raise DeliveryError(f"refused: {problem}", unavailable=True)
        return pinned[0]

    def _signed_headers(self, item: OutboxItem) -> dict[str, str]:
        now = datetime.now(UTC)  # the receiver checks it against its own clock: always the real time
        assert item.secret is not None
        signature = Webhook(item.secret).sign(item.message_id, now, item.body)
        return {"webhook-id": item.message_id, "webhook-timestamp": str(int(now.timestamp())),
                "webhook-signature": signature, "content-type": "application/json", "user-agent": USER_AGENT}

    def _post(self, host: str, address: str, port: int, https: bool, path: str, headers: dict[str, str],
              body: bytes) -> tuple[int, str | None]:
        """(status, Retry-After) of one POST to ``address``, all within the timeout."""
        raw = socket.create_connection((address, port), timeout=self.timeout)
        cut = threading.Event()
        watchdog = threading.Timer(self.timeout, _cut, (raw, cut))
        watchdog.start()
        connection = http.client.HTTPConnection(host, port, timeout=self.timeout)
        response: http.client.HTTPResponse | None = None
        try:
            connection.sock = self.tls.wrap_socket(raw, server_hostname=host) if https else raw  # vetted address
            connection.request("POST", path, body=body, headers=headers)
            response = connection.getresponse()
            response.read(MAX_RESPONSE)  # enough for a keep-alive receiver; the rest is never read
            if cut.is_set():  # what was read before the cut may look whole (headers ended by the hang-up)
                raise TimeoutError("cut at the timeout")
            return response.status, response.getheader("retry-after")
        finally:
            watchdog.cancel()
            # The response's reader holds the socket open past its close(); close both now, not at some later
            # garbage collection (a TLS socket is a new object the raw one no longer owns).
            if response is not None:
                response.close()
            connection.close()
            raw.close()


def _cut(sock: socket.socket, cut: threading.Event) -> None:
    """The timeout has passed: wake the blocked read by shutting the socket down."""
    cut.set()
    with contextlib.suppress(OSError):  # already closed
        sock.shutdown(socket.SHUT_RDWR)


def _since(started: float) -> int:
    return int((time.monotonic() - started) * 1000)


def _verdict(status: int, retry_after: str | None, latency_ms: int) -> Answer:
    """The answer on a 2xx; otherwise the DeliveryError that says whether and when to try again."""
    if 200 <= status < 300:
        return Answer(f"HTTP {status} in {latency_ms} ms", status, latency_ms)
    if status == 410:
        raise DeliveryError("the receiver answered 410 Gone: the subscription is disabled", permanent=True,
                            status=status, latency_ms=latency_ms, disable="the receiver answered 410 Gone")
    if 300 <= status < 400:
        reason = f"the receiver answered {status} (a redirect, which is not followed)"
    else:
        reason = f"the receiver answered {status}"
    wait = parse_retry_after(retry_after) if status in BACK_OFF else None
    if wait is not None:
        reason += f" and asked to retry after {int(wait.total_seconds())} s"
    raise DeliveryError(reason, unavailable=status in BACK_OFF, retry_after=wait, status=status,
                        latency_ms=latency_ms)


def parse_retry_after(value: str | None, now: datetime | None = None) -> timedelta | None:
    """A Retry-After header (seconds, or an HTTP date) as a wait from now; None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return timedelta(seconds=int(value))
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(when - (now or datetime.now(UTC)), timedelta(0))
