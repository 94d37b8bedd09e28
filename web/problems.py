"""RFC 9457 problem details for every 4xx and 5xx under /api/ (and /healthz, /openapi.json).

Domain errors carry no HTTP status; this module is the one place that maps them.
"""
from __future__ import annotations

import logging
from typing import Any

from flask import Flask, Response, current_app, json, request
from werkzeug.exceptions import HTTPException

from engine.context import current_request_id
from engine.errors import (
    Conflict,
    DeadlineExceeded,
    DefinitionRejected,
    FieldError,
    Forbidden,
    InvalidInput,
    NotFound,
    SandboxViolation,
    StepFailed,
    TicketflowError,
)

log = logging.getLogger(__name__)
PROBLEM_TYPE = "https://ticketflow.example/problems/"  # a namespace for the type URIs, not fetched
STATUS_OF: list[tuple[type[TicketflowError], int]] = [
    (NotFound, 404), (Forbidden, 403), (Conflict, 409), (InvalidInput, 422), (DefinitionRejected, 422),
    (SandboxViolation, 422), (StepFailed, 502), (DeadlineExceeded, 503),
]
SLUG_OF = {400: "malformed-request", 401: "unauthenticated", 403: "forbidden", 404: "not-found",
           405: "method-not-allowed", 409: "conflict", 413: "body-too-large", 415: "unsupported-media-type",
           422: "invalid-input", 429: "too-many-requests", 500: "internal-error", 502: "step-failed",
           503: "service-unavailable"}
SERVICE_PATHS = ("/healthz", "/readyz", "/metrics", "/openapi.json")  # answered with problems, like the API


class ApiError(Exception):
    """An HTTP-level refusal raised by the web layer itself (auth, parsing)."""

    def __init__(self, status: int, title: str, detail: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.status, self.title, self.detail, self.headers = status, title, detail, headers or {}


def problem(status: int, title: str, detail: str, errors: list[FieldError] | None = None,
            headers: dict[str, str] | None = None, **extra: Any) -> Response:
    body: dict[str, Any] = {"type": PROBLEM_TYPE + SLUG_OF.get(status, str(status)), "title": title,
                            "status": status, "detail": detail, **extra}
    request_id = current_request_id()
    if request_id is not None:  # what to quote to an operator, who finds the request's log lines by it
        body["request_id"] = request_id
    if errors is not None:
        body["errors"] = [{"pointer": e.pointer, "detail": e.message} for e in errors]
    response = Response(json.dumps(body), status=status, mimetype="application/problem+json")
    response.headers.update(headers or {})
    return response


def is_api() -> bool:
    """Whether this request is answered with problems (the API, webhooks, service endpoints) rather than pages."""
    return request.path.startswith(("/api/", "/webhooks/")) or request.path in SERVICE_PATHS


def install(app: Flask) -> None:
    """Register the handlers; pages (HTML) keep Flask's own error pages via ``html_error``."""
    app.register_error_handler(ApiError, _api_error)
    app.register_error_handler(TicketflowError, _domain_error)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(Exception, _unexpected)


def _api_error(exc: ApiError) -> Response:
    return problem(exc.status, exc.title, exc.detail, headers=exc.headers)


def _domain_error(exc: TicketflowError) -> Response | tuple[str, int]:
    status = next((code for kind, code in STATUS_OF if isinstance(exc, kind)), 400)
    if isinstance(exc, DeadlineExceeded):
        return _deadline_exceeded(exc, status)
    if not is_api():
        detail = exc.public_detail if isinstance(exc, StepFailed) else exc.detail
        return current_app.html_error(status, exc.title, detail)  # type: ignore[attr-defined,no-any-return]
    if isinstance(exc, InvalidInput):
        return problem(status, exc.title, exc.detail, exc.errors)
    if isinstance(exc, DefinitionRejected):
        return problem(status, exc.title, exc.detail, [FieldError("", p) for p in exc.problems])
    if isinstance(exc, StepFailed):
        # The cause (a handler's or a database's own words) is for operators, not for whoever clicked.
        log.warning("step failed on %s %s: %s", request.method, request.path, exc.detail)
        return problem(status, exc.title, exc.public_detail)
    return problem(status, exc.title, exc.detail)


def _deadline_exceeded(exc: DeadlineExceeded, status: int) -> Response:
    # Slow requests are worth an operator's look (which route, how often); the caller is asked to try again.
    log.warning("request stopped at its %g s deadline on %s %s", exc.limit, request.method, request.path)
    retry = {"Retry-After": "1"}
    if is_api():
        return problem(status, exc.title, exc.detail, headers=retry)
    page, _ = current_app.html_error(status, exc.title, exc.detail)  # type: ignore[attr-defined]
    return Response(page, status, headers=retry, mimetype="text/html")


def _http_error(exc: HTTPException) -> Response | tuple[str, int]:
    status = exc.code or 500
    title = exc.name
    detail = exc.description or title
    if status == 413:
        detail = f"the request body is larger than the limit of {current_app.config['MAX_CONTENT_LENGTH']} bytes"
    if not is_api():
        return current_app.html_error(status, title, detail)  # type: ignore[attr-defined,no-any-return]
    allowed = getattr(exc, "valid_methods", None)  # a 405's
    return problem(status, title, detail, headers={"Allow": ", ".join(allowed)} if allowed else None)


def _unexpected(exc: Exception) -> Response | tuple[str, int]:
    # Logged in full for operators; the caller gets no stack trace, only a reference to quote.
    log.exception("unhandled error on %s %s", request.method, request.path)
    if not is_api():
        return current_app.html_error(500, "Internal error", "Something went wrong on our side.")  # type: ignore
    return problem(500, "Internal error", "an unexpected error occurred; it has been logged")
