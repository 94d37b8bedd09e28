"""A request id for every request, and one log line per request that names it.

The id comes from the caller's ``X-Request-Id`` when it is sane (up to 128 of ``A-Z a-z 0-9 . _ -``), else it is
made here. It is echoed in the response's ``X-Request-Id``, put in problem bodies (``web.problems``), in the
history events the request records (``engine.context``) and on every log line written while it is served.
"""
from __future__ import annotations

import logging
from time import perf_counter

from flask import Flask, Response, g, request

from engine.context import begin_request, end_request

HEADER = "X-Request-Id"
log = logging.getLogger("ticketflow.http")


def install(app: Flask) -> None:
    """Register the hooks; call it before any other ``before_request``, so that every later line has the id."""
    app.before_request(_begin)
    app.after_request(_answered)
    app.teardown_request(_end)


def _begin() -> None:
    g.request_started = perf_counter()
    g.request_id, g.request_id_token = begin_request(request.headers.get(HEADER))


def _answered(response: Response) -> Response:
    request_id = g.get("request_id")
    if request_id is None:  # a hook before ours refused the request
        return response
    response.headers[HEADER] = request_id
    user = g.get("user")
    log.info("%s %s %s", request.method, route(), response.status_code, extra={
        "request_id": request_id, "method": request.method, "route": route(), "status": response.status_code,
        "duration_ms": round(elapsed() * 1000, 2), "role": user.role if user is not None else None})
    return response


def _end(_exc: BaseException | None) -> None:
    token = g.pop("request_id_token", None)
    if token is not None:
        end_request(token)


def route() -> str:
    """The URL rule that matched (``/api/v1/tickets/<number>``), never the raw path: it names no ticket or token."""
    rule = request.url_rule
    return rule.rule if rule is not None else "unmatched"


def elapsed() -> float:
    """Seconds since the request began to be served."""
    started: float | None = g.get("request_started")
    return perf_counter() - started if started is not None else 0.0
