"""Saved views over the API: an agent's named ticket-list queries, with the number of tickets each finds now.

The same rules as the ticket list page (web/pages/ticket_list.py): the support team's roles only, one set of
views per person, a view keeps the filters and sort ``GET /api/v1/tickets`` accepts. Unlike the page's form,
which saves over a view of the same name, creating one here with a name in use is a conflict (409).
"""
from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, current_app, jsonify, url_for

from engine import limits
from engine.errors import FieldError, InvalidInput
from engine.usecases.base import READ_ROLES
from engine.usecases.ticket_list import VIEW_KEYS, TicketLists, ViewCount
from web.api.v1 import json_object, only_query
from web.auth import authenticate_api, current_actor, record_auditor_read, roles

views_api = Blueprint("views_api", __name__, url_prefix="/api/v1")
views_api.before_request(authenticate_api)
VIEW_FIELDS = ("name", "query")


def _lists() -> TicketLists:
    return TicketLists(current_app.extensions["ticketflow"].runtime)


def view_json(view: ViewCount) -> dict[str, Any]:
    """A view as the API shows it; ``tickets`` is the ticket list it stands for."""
    return {"name": view.name, "query": view.query, "count": view.count, "count_capped": view.capped,
            "tickets": url_for("api.list_tickets", **dict[str, Any](view.query)),
            "href": url_for("views_api.delete_view", name=view.name)}


@views_api.get("/views")
@roles(*READ_ROLES)
def list_views() -> Response:
    only_query()
    views = _lists().views(current_actor())
    record_auditor_read(None, "tickets", saved_views=[view.name for view in views])  # each count reads tickets
    return jsonify({"items": [view_json(view) for view in views]})


@views_api.post("/views")
@roles(*READ_ROLES)
def create_view() -> tuple[Response, int, dict[str, str]]:
    only_query()
    name, query = _view_body(json_object())
    lists, actor = _lists(), current_actor()
    try:
        lists.save_view(actor, name, query, replace=False)
    except InvalidInput as refused:  # the list's own checks name the filter, which sits under /query here
        raise InvalidInput(refused.detail, [FieldError(e.pointer if e.pointer == "/name" else f"/query{e.pointer}",
                                                       e.message) for e in refused.errors]) from None
    view = lists.view_named(actor, name.strip())
    return jsonify(view_json(view)), 201, {"Location": url_for("views_api.delete_view", name=view.name)}


@views_api.delete("/views/<path:name>")
@roles(*READ_ROLES)
def delete_view(name: str) -> tuple[str, int]:
    only_query()
    _lists().delete_view_named(current_actor(), name)
    return "", 204


def _view_body(body: dict[str, Any]) -> tuple[str, dict[str, str]]:
    """The name and the filters of a new view, with every shape mistake at once (422, nothing saved)."""
    problems = [FieldError(f"/{key}", "unknown field") for key in sorted(set(body) - set(VIEW_FIELDS))]
    name = body.get("name")
    if not isinstance(name, str):
        problems.append(FieldError("/name", "name the view with a string"))
    query = body.get("query", {})
    if not isinstance(query, dict):
        problems.append(FieldError("/query", "query must be an object of the ticket list's filters"))
        query = {}
    for key, value in query.items():
        pointer = "/query/" + key.replace("~", "~0").replace("/", "~1")  # RFC 6901 escapes
        if key not in VIEW_KEYS:
            problems.append(FieldError(pointer, f"unknown filter (known: {', '.join(VIEW_KEYS)})"))
        elif not isinstance(value, str) or not 1 <= len(value) <= limits.QUERY_FILTER:
            problems.append(FieldError(pointer, f"must be text of 1 to {limits.QUERY_FILTER} characters"))
    if problems:
        raise InvalidInput("the view cannot be saved", problems)
    return str(name), dict(query)
