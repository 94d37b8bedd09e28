"""A time limit per request: past ``TICKETFLOW_REQUEST_TIMEOUT`` seconds a request is stopped and changes nothing.

The limit becomes a deadline in the engine's request context (``engine.context``); every unit of work the request
opens keeps it (``engine.store.uow``), so a slow request rolls back and is answered 503 with ``Retry-After``
(``web.problems``). The deadline is lifted once a streamed body (an audit export) starts: by then the answer has
begun, and a long download is not a slow request.
"""
from __future__ import annotations

import math
from collections.abc import Mapping

from flask import Flask, Response, g

from engine.context import begin_deadline, end_deadline

DEFAULT_REQUEST_TIMEOUT = 30.0  # seconds
ENV = "TICKETFLOW_REQUEST_TIMEOUT"
OFF = ("0", "off")


def timeout_from_env(environ: Mapping[str, str]) -> float | None:
    """Seconds from TICKETFLOW_REQUEST_TIMEOUT (default 30; ``0`` or ``off``: no limit); a wrong value is a plain
    error at start-up."""
    raw = environ.get(ENV, "").strip()
    if not raw:
        return DEFAULT_REQUEST_TIMEOUT
    if raw.lower() in OFF:
        return None
    try:
        seconds = float(raw)
    except ValueError:
        seconds = math.nan
    if not math.isfinite(seconds) or seconds <= 0:
        raise ValueError(f"{ENV} must be a number of seconds above 0, or 0 or off for no limit (got {raw!r})")
    return seconds


def install(app: Flask, timeout: float | None) -> None:
    """Give every request ``timeout`` seconds (None: no limit). Register after ``web.request_ids``, so that the
    refusal names its request."""
    if timeout is None:
        return

    def begin() -> None:
        g.deadline_token = begin_deadline(timeout)

    app.before_request(begin)
    app.after_request(_lift_for_streams)
    app.teardown_request(_end)


def _lift_for_streams(response: Response) -> Response:
    if response.is_streamed:
        _end(None)
    return response


def _end(_exc: BaseException | None) -> None:
    token = g.pop("deadline_token", None)
    if token is not None:
        end_deadline(token)
