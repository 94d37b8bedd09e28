"""API v1 for admins: the outbox, what each message to a customer says and how its delivery went; retry."""
from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request, url_for

from engine.errors import NotFound
from engine.usecases.outbox_admin import STATES, MessageView, OutboxAdmin
from web.api.v1 import only_query, page_args, paged
from web.auth import authenticate_api, current_actor, roles
from web.problems import ApiError

outbox_api = Blueprint("outbox_api", __name__, url_prefix="/api/v1")
outbox_api.before_request(authenticate_api)
LARGEST_ID = 2**31 - 1  # the column's range on every database


def outbox() -> OutboxAdmin:
    return OutboxAdmin(current_app.extensions["ticketflow"].runtime)


def message_json(message: MessageView) -> dict[str, Any]:
    return {**message.to_dict(), "href": url_for("outbox_api.get_message", message_id=str(message.id))}


def _message_id(raw: str) -> int:
    """A message number from the path; anything else names no message (404, never a database error)."""
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 10) or not 1 <= int(raw) <= LARGEST_ID:
        raise NotFound(f"message {raw[:40]} does not exist")
    return int(raw)


@outbox_api.get("/outbox")
@roles("admin")
def list_messages() -> Response:
    only_query("state", "limit", "offset")
    state = request.args.get("state")
    if state is not None and state not in STATES:
        raise ApiError(400, "Malformed query", f"'state' must be one of {', '.join(STATES)}")
    limit, offset = page_args()
    messages, total = outbox().list_messages(current_actor(), state, limit, offset)
    return jsonify(paged([message_json(m) for m in messages], total, limit, offset))


@outbox_api.get("/outbox/<message_id>")
@roles("admin")
def get_message(message_id: str) -> Response:
    only_query()
    return jsonify(message_json(outbox().message(current_actor(), _message_id(message_id))))


@outbox_api.post("/outbox/<message_id>/retry")
@roles("admin")
def retry_message(message_id: str) -> Response:
    only_query()
    return jsonify(message_json(outbox().retry(current_actor(), _message_id(message_id))))
