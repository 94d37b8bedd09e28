"""Inbound webhooks from the support channels (Standard Webhooks), and the admins' API over those channels.

``POST /webhooks/inbound/<channel>`` carries no bearer token: the channel's signature is its credential. The check
itself is handed in by the composition root (``webhooks.inbound``); this module maps its verdict to HTTP.
"""
from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import TypeVar

from flask import Blueprint, Response, current_app, jsonify, request, url_for
from werkzeug.exceptions import HTTPException

from engine.errors import Conflict, FieldError, InvalidInput, TicketflowError
from engine.usecases.base import DATABASE_ERRORS
from engine.usecases.channels import ChannelAdmin, DeliveryVerifier, Refusal, WebhookIntake, name_problem
from engine.usecases.email_in import EmailIngest, IntakeOutcome, UnreadableEmail
from web.api.serialize import ticket_json
from web.api.v1 import json_object, only_query
from web.auth import authenticate_api, current_actor, roles
from web.problems import STATUS_OF, ApiError

log = logging.getLogger(__name__)
webhooks = Blueprint("webhooks", __name__, url_prefix="/webhooks")
channels_api = Blueprint("channels_api", __name__, url_prefix="/api/v1")
channels_api.before_request(authenticate_api)
WARN_EVERY = 60.0  # seconds: at most one warning per channel in this long, however many deliveries are refused
UNKNOWN = "(unknown channel)"  # one bucket for every unknown name, so made-up names cannot grow the table
EMAIL_TYPES = ("message/rfc822", "application/octet-stream")  # what gateways label a raw message with
RETRY_AFTER = "60"  # seconds: when a gateway should send a message again that could not be stored for now
T = TypeVar("T")


class RefusalLog:
    """Warn of refused deliveries at most once per channel per ``every`` seconds, counting the ones held back."""

    def __init__(self, every: float = WARN_EVERY) -> None:
        self.every = every
        self._lock = threading.Lock()
        self._last: dict[str, tuple[float, int]] = {}  # channel -> (when it last warned, refusals held back since)

    def refused(self, channel: str, status: int, detail: str) -> bool:
        """Note a refusal; True when it was logged."""
        now = time.monotonic()
        with self._lock:
            last, held = self._last.get(channel, (float("-inf"), 0))
            if now - last < self.every:
                self._last[channel] = (last, held + 1)
                return False
            self._last[channel] = (now, 0)
        log.warning("webhook delivery to %s refused (%s): %s; %d more refused in the last minute without a warning",
                    channel, status, detail[:200], held)
        return True


refusals = RefusalLog()


def _verifier() -> DeliveryVerifier:
    verifier: DeliveryVerifier | None = current_app.extensions["ticketflow"].verifier
    if verifier is None:
        raise ApiError(503, "Webhook intake unavailable", "this server was started without webhook verification")
    return verifier


@webhooks.post("/inbound/<channel>")
def inbound(channel: str) -> tuple[Response, int, dict[str, str]]:
    """Open the ticket a channel's signed delivery describes (201), or answer the one a copy of it opened (200)."""
    intake = WebhookIntake(current_app.extensions["ticketflow"].runtime)
    held = intake.secrets_of(channel)
    return _logged(channel, held, lambda: _receive(intake, channel, held))


def _logged(channel: str, held: list[str] | None, receive: Callable[[], T]) -> T:
    """``receive()``, with a rate-limited warning when it refuses the delivery."""
    try:
        return receive()
    except (ApiError, TicketflowError, HTTPException) as refusal:
        refusals.refused(channel if held is not None else UNKNOWN, _status_of(refusal), str(refusal))
        raise


def _status_of(refusal: Exception) -> int:
    if isinstance(refusal, ApiError):
        return refusal.status
    if isinstance(refusal, HTTPException):
        return refusal.code or 400
    return next((code for kind, code in STATUS_OF if isinstance(refusal, kind)), 400)


def _receive(intake: WebhookIntake, channel: str, held: list[str] | None) -> tuple[Response, int, dict[str, str]]:
    if held is None:
        raise ApiError(404, "Not found", "no webhook channel has this name")
    body = request.get_data(cache=False)  # over MAX_CONTENT_LENGTH this raises 413 before reading it all
    verdict = _verifier()(dict(request.headers.items()), body, held)
    if isinstance(verdict, Refusal):
        raise _refused(verdict)
    delivered = intake.deliver(channel, verdict.webhook_id, verdict.payload)
    location = url_for("api.get_ticket", number=delivered.ticket.number)
    return jsonify(ticket_json(delivered.ticket)), 201 if delivered.created else 200, {"Location": location}


def _refused(verdict: Refusal) -> ApiError:
    if verdict.reason == "malformed":
        return ApiError(400, "Malformed delivery", verdict.detail)
    return ApiError(401, "Delivery not verified", verdict.detail,
                    {"WWW-Authenticate": 'Signature realm="ticketflow-webhooks"'})


# -- raw email through a mail gateway's webhook ------------------------------------------------------
@webhooks.post("/inbound/<channel>/email")
def inbound_email(channel: str) -> tuple[Response, int, dict[str, str]]:
    """Receive the raw email a channel's signed delivery carries, as `ticketflow mail ingest` does: a new ticket
    (201), or a reply, a note or a recorded auto-reply (200)."""
    try:
        held = WebhookIntake(current_app.extensions["ticketflow"].runtime).secrets_of(channel)
    except DATABASE_ERRORS as failure:
        raise _try_later(failure) from None
    return _logged(channel, held, lambda: _receive_email(channel, held))


def _receive_email(channel: str, held: list[str] | None) -> tuple[Response, int, dict[str, str]]:
    if held is None:
        raise ApiError(404, "Not found", "no webhook channel has this name")
    ingest = _email_intake()
    if request.mimetype not in EMAIL_TYPES:
        raise ApiError(415, "Unsupported media type", "send the raw message as Content-Type: message/rfc822")
    request.max_content_length = ingest.max_bytes  # a whole message with its attachments, not the API's limit
    body = request.get_data(cache=False)
    verdict = _verifier()(dict(request.headers.items()), body, held, json_body=False)
    if isinstance(verdict, Refusal):
        raise _refused(verdict)
    try:
        received = ingest(body, channel, verdict.webhook_id)
    except (*DATABASE_ERRORS, Conflict) as failure:
        raise _try_later(failure) from None
    except InvalidInput as refused:  # what the CLI answers 65: the gateway should bounce it, not send it again
        reasons = "; ".join(error.message for error in refused.errors) or refused.detail
        raise ApiError(400, "Unreadable message", f"the message cannot open a ticket: {reasons}") from None
    except TicketflowError as failure:  # e.g. no diagram deployed yet: an operator can fix it, so keep the mail
        raise _try_later(failure) from None
    if isinstance(received, UnreadableEmail):
        if received.too_large:
            raise ApiError(413, "Message too large", received.detail)
        raise ApiError(400, "Unreadable message", received.detail)
    return _email_answer(received)


def _email_answer(received: IntakeOutcome) -> tuple[Response, int, dict[str, str]]:
    number = received.ticket_number
    headers = {"Location": url_for("api.get_ticket", number=number)} if number else {}
    return (jsonify({"outcome": received.outcome, "number": number}), 201 if received.outcome == "opened" else 200,
            headers)


def _email_intake() -> EmailIngest:
    ingest: EmailIngest | None = current_app.extensions["ticketflow"].ingest_email
    if ingest is None:
        raise ApiError(503, "Email intake unavailable", "this server was started without email intake")
    return ingest


def _try_later(failure: Exception) -> ApiError:
    """A 503 in plain words for a failure the gateway should wait out; the cause goes to the log only."""
    log.warning("raw email delivery not stored for now: %s: %s", type(failure).__name__, str(failure)[:300])
    return ApiError(503, "Try again later", "the message could not be stored just now; nothing was kept, send it "
                    "again later", {"Retry-After": RETRY_AFTER})


# -- the channels, for admins -----------------------------------------------------------------------
def _admin() -> ChannelAdmin:
    return ChannelAdmin(current_app.extensions["ticketflow"].runtime)


@channels_api.get("/channels")
@roles("admin")
def list_channels() -> Response:
    only_query()
    return jsonify({"items": [channel.to_dict() for channel in _admin().list_channels(current_actor())]})


@channels_api.post("/channels")
@roles("admin")
def add_channel() -> tuple[Response, int]:
    only_query()
    body = json_object()
    problems = [FieldError(f"/{key}", "unknown field") for key in sorted(set(body) - {"name"})]
    problem = name_problem(body.get("name"))
    if problem:
        problems.append(FieldError("/name", problem))
    if problems:
        raise InvalidInput("the channel cannot be added", problems)
    secret = _admin().add(current_actor(), body["name"])
    return jsonify({"name": body["name"], "secret": secret}), 201


@channels_api.post("/channels/<name>/rotate")
@roles("admin")
def rotate_channel(name: str) -> Response:
    only_query("retire")
    retire = request.args.get("retire", "false")
    if retire not in ("true", "false"):
        raise ApiError(400, "Malformed query", "'retire' must be true or false")
    secret = _admin().rotate(current_actor(), name, retire=retire == "true")
    return jsonify({"name": name, "secret": secret})


@channels_api.delete("/channels/<name>")
@roles("admin")
def remove_channel(name: str) -> tuple[str, int]:
    only_query()
    _admin().remove(current_actor(), name)
    return "", 204
