"""Inbound webhooks from the support channels (Standard Webhooks), and the admins' API over those channels.

``POST /webhooks/inbound/<channel>`` carries no bearer token: the channel's signature is its credential. The check
itself is handed in by the composition root (``webhooks.inbound``); this module maps its verdict to HTTP.
"""
from __future__ import annotations

import logging
import threading
import time

from flask import Blueprint, Response, current_app, jsonify, request, url_for
from werkzeug.exceptions import HTTPException

from engine.errors import FieldError, InvalidInput, TicketflowError
from engine.usecases.channels import ChannelAdmin, DeliveryVerifier, Refusal, WebhookIntake, name_problem
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
    try:
        return _receive(intake, channel, held)
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
        if verdict.reason == "malformed":
            raise ApiError(400, "Malformed delivery", verdict.detail)
        raise ApiError(401, "Delivery not verified", verdict.detail,
                       {"WWW-Authenticate": 'Signature realm="ticketflow-webhooks"'})
    delivered = intake.deliver(channel, verdict.webhook_id, verdict.payload)
    location = url_for("api.get_ticket", number=delivered.ticket.number)
    return jsonify(ticket_json(delivered.ticket)), 201 if delivered.created else 200, {"Location": location}


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
