"""API v1: a ticket's conversation. Customers read its public entries and post public messages; agents read
everything and post public replies (emailed to the customer) or internal notes."""
from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, current_app, jsonify

from engine.errors import FieldError, InvalidInput
from engine.usecases.conversation import Conversation, ConversationItem, ConversationUseCases
from web.api.serialize import when
from web.api.v1 import json_object, only_query, runtime
from web.auth import authenticate_api, current_actor, record_auditor_read

conversation_api = Blueprint("conversation_api", __name__, url_prefix="/api/v1")
conversation_api.before_request(authenticate_api)

MESSAGE_FIELDS = {"body", "visibility"}


def conversations() -> ConversationUseCases:
    """The conversation use cases over the app's runtime (made once per app; they hold no state of their own)."""
    extensions = current_app.extensions
    if "ticketflow.conversation" not in extensions:
        extensions["ticketflow.conversation"] = ConversationUseCases.over(runtime())
    made: ConversationUseCases = extensions["ticketflow.conversation"]
    return made


def item_json(item: ConversationItem) -> dict[str, Any]:
    """One entry or email of the conversation as the API document describes it."""
    return {"kind": item.kind, "id": item.id, "at": when(item.at), "author": item.author,
            "author_kind": item.author_kind, "direction": item.direction, "visibility": item.visibility,
            "source": item.source, "subject": item.subject, "text": item.text, "body": item.body,
            "delivery": item.delivery, "flags": list(item.flags), "note": item.note,
            "attachments": [{"id": a.id, "filename": a.filename, "content_type": a.content_type, "size": a.size,
                             "href": f"/attachments/{a.id}"} for a in item.attachments]}


def conversation_json(conversation: Conversation) -> dict[str, Any]:
    return {"ticket": conversation.number, "customer_replied": conversation.customer_replied,
            "items": [item_json(item) for item in conversation.items]}


@conversation_api.get("/tickets/<number>/messages")
def list_messages(number: str) -> Response:
    only_query()
    conversation = conversations().conversation(number, current_actor())
    record_auditor_read(number, "history", view="conversation")
    return jsonify(conversation_json(conversation))


@conversation_api.post("/tickets/<number>/messages")
def post_message(number: str) -> tuple[Response, int]:
    body = json_object()
    unknown = [FieldError(f"/{k}", "unknown field") for k in sorted(set(body) - MESSAGE_FIELDS)]
    if unknown:
        raise InvalidInput("the message cannot be posted", unknown)
    actor = current_actor()
    visibility = body.get("visibility", "public")
    item = conversations().post_message(number, body.get("body"), visibility, actor)  # type: ignore[arg-type]
    return jsonify(item_json(item)), 201
