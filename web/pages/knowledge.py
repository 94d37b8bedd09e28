"""Knowledge-base pages: search (agents: everything in the making; customers: published help), an article with its
review buttons, edit form and versions, the review queue, and the suggestions the "open a ticket" page fetches."""
from __future__ import annotations

from typing import Any

from flask import flash, jsonify, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from engine.errors import Conflict, Forbidden, InvalidInput
from engine.usecases import kb_review, knowledge
from web.pages.views import me, pages, runtime, signed_in

QUEUE_SHOWN = 100
MAX_QUERY = 300
STATE_WORDS = {"draft": "Draft", "in_review": "In review", "published": "Published", "archived": "Archived"}
EDITABLE = (("title", "Title", "text"), ("problem", "Problem", "textarea"), ("environment", "Environment", "text"),
            ("cause", "Cause", "textarea"), ("resolution", "Resolution", "textarea"), ("tags", "Tags", "text"))
ACTIONS = {"submit": (kb_review.submit_article, "submitted for review"),
           "publish": (kb_review.publish_article, "published"),
           "archive": (kb_review.archive_article, "archived")}


def _is_reviewer() -> bool:
    return me().role in knowledge.REVIEWERS


def _query() -> str:
    return request.args.get("q", "").strip()[:MAX_QUERY]


@pages.get("/kb")
@signed_in
def kb_search_page() -> str:
    """Agents search everything but archived; customers search published help articles."""
    if me().role not in (*knowledge.AGENT_ROLES, "customer"):
        raise Forbidden("the knowledge base is for agents and customers")
    query = _query()
    audience = "customer" if me().role == "customer" else "agent"
    matches = knowledge.search_kb(runtime(), query, 20, audience=audience) if query else []
    return render_template("kb_search.html", query=query, matches=matches, customer=audience == "customer",
                           states=STATE_WORDS)


@pages.get("/kb/suggest")
@signed_in
def kb_suggest() -> Response:
    """Published articles matching what the customer is typing (for web/static/kb_suggest.js)."""
    query = _query()
    matches = knowledge.search_kb(runtime(), query, 3, audience="customer", partial=True) if query else []
    return jsonify({"items": [{"title": m.title, "relevance": m.relevance, "excerpt": m.excerpt,
                               "url": url_for("pages.kb_article_page", slug=m.slug),
                               "answered_url": url_for("pages.kb_answered", slug=m.slug)} for m in matches]})


@pages.get("/kb/review")
@signed_in
def kb_review_queue() -> str:
    if not _is_reviewer():
        raise Forbidden("only reviewers (L2, process owners, admins) review knowledge articles")
    drafts, total = knowledge.list_articles(runtime(), QUEUE_SHOWN, 0, "draft")
    in_review, _ = knowledge.list_articles(runtime(), QUEUE_SHOWN, 0, "in_review")
    return render_template("kb_review.html", drafts=drafts, total=total, in_review=in_review)


@pages.get("/kb/articles/<slug>")
@signed_in
def kb_article_page(slug: str) -> str:
    article = knowledge.get_article(runtime(), slug, me().actor)
    return render_template("kb_article.html", article=article, reviewer=_is_reviewer(), fields=EDITABLE,
                           states=STATE_WORDS, values=article, errors={}, query=_query())


@pages.post("/kb/articles/<slug>/edit")
@signed_in
def kb_edit(slug: str) -> tuple[str, int] | Response:
    changes: dict[str, Any] = {name: request.form.get(name, "").replace("\r\n", "\n") for name, _, _ in EDITABLE}
    if request.form.get("note", "").strip():
        changes["note"] = request.form["note"].strip()
    version = request.form.get("version", "")
    try:
        kb_review.edit_article(runtime(), slug, changes, me().actor, int(version) if version.isdigit() else None)
    except (InvalidInput, Conflict) as refused:
        article = knowledge.get_article(runtime(), slug, me().actor)
        errors = {e.pointer.lstrip("/"): [e.message] for e in getattr(refused, "errors", [])}
        flash(_sentence(refused.detail))
        return render_template("kb_article.html", article=article, reviewer=True, fields=EDITABLE,
                               states=STATE_WORDS, values={**article, **changes}, errors=errors, query=""), \
            409 if isinstance(refused, Conflict) else 422
    flash("Your edit is saved as a new version.")
    return redirect(url_for("pages.kb_article_page", slug=slug))


@pages.post("/kb/articles/<slug>/<action>")
@signed_in
def kb_review_action(slug: str, action: str) -> Response:
    try:
        if action == "send-back":
            kb_review.send_back_article(runtime(), slug, request.form.get("note", ""), me().actor)
            done = "sent back to draft"
        elif action in ACTIONS:
            change, done = ACTIONS[action]
            change(runtime(), slug, me().actor)
        else:
            raise InvalidInput("unknown action")
    except (Conflict, InvalidInput) as refused:
        flash(_sentence(refused.detail))
    else:
        flash(f"The article is {done}.")
    return redirect(url_for("pages.kb_article_page", slug=slug))


@pages.post("/kb/articles/<slug>/answered")
@signed_in
def kb_answered(slug: str) -> Response:
    """A customer's "This answered my question": counted, and no ticket is opened."""
    if me().role != "customer":
        raise Forbidden("only customers tell us an article answered them")
    knowledge.record_deflection(runtime(), slug, request.form.get("query", ""), me().name)
    flash("Thank you. We are glad the article answered your question; no ticket was opened.")
    return redirect(url_for("pages.my_tickets"))


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:] + ("" if text.endswith(".") else ".")
