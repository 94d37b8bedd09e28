"""API v1 for admins: outbound webhook subscriptions, their delivery history, the dead letters, redelivery."""
from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, current_app, jsonify, url_for

from engine.errors import FieldError, InvalidInput, NotFound
from engine.usecases.subscriptions import DeliveryView, SubscriptionAdmin, SubscriptionView
from web.api.v1 import json_object, only_query
from web.auth import authenticate_api, current_actor, roles

subscriptions_api = Blueprint("subscriptions_api", __name__, url_prefix="/api/v1/webhooks")
subscriptions_api.before_request(authenticate_api)
LARGEST_ID = 2**31 - 1  # the column's range on every database
FIELDS = {"url", "events", "description"}


def admin() -> SubscriptionAdmin:
    return SubscriptionAdmin(current_app.extensions["ticketflow"].runtime)


def _number(raw: str, what: str) -> int:
    """An id from the path; anything else names nothing (404, never a database error)."""
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 10) or not 1 <= int(raw) <= LARGEST_ID:
        raise NotFound(f"{what} {raw[:40]} does not exist")
    return int(raw)


def subscription_json(view: SubscriptionView) -> dict[str, Any]:
    return {**view.to_dict(), "href": url_for("subscriptions_api.get_subscription", subscription_id=str(view.id))}


def delivery_json(view: DeliveryView) -> dict[str, Any]:
    return {**view.to_dict(), "redeliver": url_for("subscriptions_api.redeliver", delivery_id=str(view.id))}


@subscriptions_api.post("/subscriptions")
@roles("admin")
def add_subscription() -> tuple[Response, int]:
    only_query()
    body = json_object()
    unknown = [FieldError(f"/{key}", "unknown field") for key in sorted(set(body) - FIELDS)]
    if unknown:
        raise InvalidInput("the subscription cannot be added", unknown)
    view, secret = admin().add(current_actor(), body.get("url"), body.get("events"), body.get("description", ""))
    return jsonify({**subscription_json(view), "secret": secret}), 201


@subscriptions_api.get("/subscriptions")
@roles("admin")
def list_subscriptions() -> Response:
    only_query()
    return jsonify({"items": [subscription_json(v) for v in admin().list_subscriptions(current_actor())]})


@subscriptions_api.get("/subscriptions/<subscription_id>")
@roles("admin")
def get_subscription(subscription_id: str) -> Response:
    only_query()
    number = _number(subscription_id, "webhook subscription")
    return jsonify(subscription_json(admin().get(current_actor(), number)))


@subscriptions_api.delete("/subscriptions/<subscription_id>")
@roles("admin")
def remove_subscription(subscription_id: str) -> tuple[str, int]:
    only_query()
    admin().remove(current_actor(), _number(subscription_id, "webhook subscription"))
    return "", 204


@subscriptions_api.get("/subscriptions/<subscription_id>/deliveries")
@roles("admin")
def list_deliveries(subscription_id: str) -> Response:
    only_query()
    number = _number(subscription_id, "webhook subscription")
    return jsonify({"items": [delivery_json(d) for d in admin().deliveries(current_actor(), number)]})


@subscriptions_api.get("/dead-letters")
@roles("admin")
def dead_letters() -> Response:
    only_query()
    return jsonify({"items": [delivery_json(d) for d in admin().dead_letters(current_actor())]})


@subscriptions_api.post("/deliveries/<delivery_id>/redeliver")
@roles("admin")
def redeliver(delivery_id: str) -> Response:
    only_query()
    return jsonify(delivery_json(admin().redeliver(current_actor(), _number(delivery_id, "webhook delivery"))))
