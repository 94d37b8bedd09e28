"""API v1 for the knowledge base: search, articles, review (edit, submit, publish, archive, send back), deflections."""
from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request

from engine.runtime import Runtime
from engine.usecases import kb_review, knowledge
from web.api.v1 import expected_version, int_arg, json_body, json_object, only_query, page_args, paged
from web.auth import authenticate_api, current_actor, current_user, roles
from web.problems import ApiError

kb_api = Blueprint("kb_api", __name__, url_prefix="/api/v1/kb")
kb_api.before_request(authenticate_api)

AGENT_READERS = ("l1", "l2", "process_owner", "auditor", "admin")
REVIEWERS = ("l2", "process_owner", "admin")
MAX_QUERY = 1000


def runtime() -> Runtime:
    return current_app.extensions["ticketflow"].runtime


def _query() -> str:
    query = request.args.get("q", "")
    if not query.strip() or len(query) > MAX_QUERY:
        raise ApiError(400, "Malformed query", f"q must be 1 to {MAX_QUERY} characters")
    return query


def _article(body: dict[str, Any], status: int = 200) -> tuple[Response, int, dict[str, str]]:
    return jsonify(body), status, {"ETag": f'"{body["version"]}"', "Location": f"/api/v1/kb/articles/{body['slug']}"}


@kb_api.get("/search")
@roles(*AGENT_READERS)
def kb_search() -> Response:
    """Agents' search: published articles and drafts in the making, with marked snippets."""
    only_query("q", "limit")
    query = _query()
    matches = knowledge.search_kb(runtime(), query, int_arg("limit", 10, 1, 50))
    return jsonify({"query": query, "items": [m.api_dict() for m in matches]})


@kb_api.get("/suggest")
def kb_suggest() -> Response:
    """Anyone's self-service search over published articles; the last word may be unfinished."""
    only_query("q", "limit")
    query = _query()
    matches = knowledge.search_kb(runtime(), query, int_arg("limit", 5, 1, 20), audience="customer", partial=True)
    return jsonify({"query": query, "items": [m.api_dict() for m in matches]})


@kb_api.get("/articles")
@roles(*AGENT_READERS)
def kb_articles() -> Response:
    only_query("limit", "offset", "state")
    limit, offset = page_args()
    items, total = knowledge.list_articles(runtime(), limit, offset, request.args.get("state"))
    return jsonify(paged(items, total, limit, offset))


@kb_api.post("/articles")
@roles(*REVIEWERS)
def kb_add_article() -> tuple[Response, int, dict[str, str]]:
    return _article(knowledge.create_article(runtime(), json_body(), current_actor()), 201)


@kb_api.get("/articles/<slug>")
def kb_article(slug: str) -> tuple[Response, int, dict[str, str]]:
    return _article(knowledge.get_article(runtime(), slug, current_actor()))


@kb_api.patch("/articles/<slug>")
@roles(*REVIEWERS)
def kb_edit_article(slug: str) -> tuple[Response, int, dict[str, str]]:
    return _article(kb_review.edit_article(runtime(), slug, json_body(), current_actor(), expected_version()))


@kb_api.post("/articles/<slug>/submit")
@roles(*REVIEWERS)
def kb_submit(slug: str) -> tuple[Response, int, dict[str, str]]:
    return _article(kb_review.submit_article(runtime(), slug, current_actor()))


@kb_api.post("/articles/<slug>/publish")
@roles(*REVIEWERS)
def kb_publish(slug: str) -> tuple[Response, int, dict[str, str]]:
    return _article(kb_review.publish_article(runtime(), slug, current_actor()))


@kb_api.post("/articles/<slug>/archive")
@roles(*REVIEWERS)
def kb_archive(slug: str) -> tuple[Response, int, dict[str, str]]:
    return _article(kb_review.archive_article(runtime(), slug, current_actor()))


@kb_api.post("/articles/<slug>/send-back")
@roles(*REVIEWERS)
def kb_send_back(slug: str) -> tuple[Response, int, dict[str, str]]:
    note = json_object().get("note")
    return _article(kb_review.send_back_article(runtime(), slug, note, current_actor()))


@kb_api.post("/articles/<slug>/deflections")
@roles("customer")
def kb_deflect(slug: str) -> tuple[str, int]:
    """"This answered my question": counted as a ticket not opened."""
    body = json_object() if request.content_length else {}
    query = body.get("query", "")
    if not isinstance(query, str):
        raise ApiError(400, "Malformed body", "query must be a string")
    knowledge.record_deflection(runtime(), slug, query, current_user().name)
    return "", 204
