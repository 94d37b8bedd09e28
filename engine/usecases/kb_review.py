"""Reviewing knowledge articles: edit (a new version each time), submit, publish, archive, send back.

Reviewers are L2, process owners and admins. An action on an article in the wrong state is a Conflict (409),
and so is an edit made on an older version than the stored one.
"""
from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from engine.access import Actor
from engine.errors import Conflict, FieldError, Forbidden, InvalidInput
from engine.process.forms import validate_form
from engine.store.models import KbArticle, KbArticleVersion

from .base import RuntimeCore
from .kb_fields import EDIT_SCHEMA, content_of
from .knowledge import REVIEWERS, article_json, find

REVIEW_EVERY = timedelta(days=365)  # a published article is due for review a year after its review
NOTE_LIMIT = 500
STATE_WORDS = {"draft": "a draft", "in_review": "in review", "published": "published", "archived": "archived"}


def _reviewer(actor: Actor) -> None:
    if actor.role not in REVIEWERS:
        raise Forbidden("only reviewers (L2, process owners, admins) review knowledge articles")


def edit_article(runtime: RuntimeCore, slug: str, changes: Any, actor: Actor,
                 expected_version: int | None = None) -> dict[str, Any]:
    """Change an article's content; the change is kept as a new version with its editor and time."""
    _reviewer(actor)
    validate_form(EDIT_SCHEMA, changes)
    now = runtime.clock()
    with runtime.uow() as uow:
        article = find(uow.session, slug, lock=True)
        if expected_version is not None and expected_version != article.version:
            raise Conflict(f"the article changed since you read it (now version {article.version}); "
                           "reload it and make your edit again")
        if article.state == "archived":
            raise Conflict("the article is archived: it can no longer be edited")
        content = {key: value.strip() if key == "title" else value for key, value in changes.items() if key != "note"}
        if "title" in content and not content["title"]:
            raise InvalidInput("the title is empty", [FieldError("/title", "Title cannot be empty")])
        for key, value in content.items():
            setattr(article, key, value)
        article.version += 1
        article.updated_at = now
        uow.session.add(KbArticleVersion(article_id=article.id, version=article.version, editor=actor.name, at=now,
                                         note=str(changes.get("note", "edited"))[:NOTE_LIMIT] or "edited",
                                         **content_of(article)))
        uow.session.flush()
        body = article_json(article)
        uow.commit()
        return body


def _move(runtime: RuntimeCore, slug: str, actor: Actor, allowed: tuple[str, ...], action: str,
          change: Callable[[KbArticle, datetime], None]) -> dict[str, Any]:
    _reviewer(actor)
    with runtime.uow() as uow:
        article = find(uow.session, slug, lock=True)
        if article.state not in allowed:
            raise Conflict(f"the article is {STATE_WORDS[article.state]}: it cannot be {action}")
        change(article, runtime.clock())
        uow.session.flush()
        body = article_json(article)
        uow.commit()
        return body


def submit_article(runtime: RuntimeCore, slug: str, actor: Actor) -> dict[str, Any]:
    """A draft goes to review."""
    def submit(article: KbArticle, now: datetime) -> None:
        article.state, article.updated_at = "in_review", now
    return _move(runtime, slug, actor, ("draft",), "submitted for review", submit)


def publish_article(runtime: RuntimeCore, slug: str, actor: Actor) -> dict[str, Any]:
    """A reviewed article is published; its next review is due a year later."""
    def publish(article: KbArticle, now: datetime) -> None:
        article.state, article.published, article.updated_at = "published", True, now
        article.reviewer, article.reviewed_at, article.review_by = actor.name, now, now + REVIEW_EVERY
        article.review_note = ""
        if article.published_at is None:
            article.published_at = now
    return _move(runtime, slug, actor, ("draft", "in_review"), "published", publish)


def archive_article(runtime: RuntimeCore, slug: str, actor: Actor) -> dict[str, Any]:
    """The article is withdrawn: no longer offered to anyone, kept for the record."""
    def archive(article: KbArticle, now: datetime) -> None:
        article.state, article.published, article.updated_at = "archived", False, now
    return _move(runtime, slug, actor, ("draft", "in_review", "published"), "archived", archive)


def send_back_article(runtime: RuntimeCore, slug: str, note: Any, actor: Actor) -> dict[str, Any]:
    """An article in review goes back to draft, with a note saying what to change."""
    if not isinstance(note, str) or not note.strip():
        raise InvalidInput("say what to change", [FieldError("/note", "Note is required: say what should change")])
    if len(note) > NOTE_LIMIT:
        raise InvalidInput("the note is too long", [FieldError("/note", f"Note takes at most {NOTE_LIMIT} characters")])

    def send_back(article: KbArticle, now: datetime) -> None:
        article.state, article.review_note, article.updated_at = "draft", note.strip(), now
    return _move(runtime, slug, actor, ("in_review",), "sent back", send_back)
