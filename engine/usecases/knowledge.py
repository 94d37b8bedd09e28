"""Knowledge-base use cases: import, search, list, read and add articles, and deflections (one transaction each).

Review (edit, submit, publish, archive, send back) is in ``kb_review``; the article's fields in ``kb_fields``.
"""
from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from engine.access import Actor
from engine.errors import Conflict, FieldError, Forbidden, InvalidInput, NotFound
from engine.process.forms import validate_form
from engine.store.knowledge import PUBLISHED, VISIBLE_TO_AGENTS, Match, search
from engine.store.models import KbArticle, KbArticleVersion, KbDeflection, Ticket

from .base import RuntimeCore
from .kb_fields import ARTICLE_SCHEMA, CONTENT, STATES, article_fields, content_of

REVIEWERS = ("l2", "process_owner", "admin")
AGENT_ROLES = ("l1", "l2", "process_owner", "auditor", "admin")
QUERY_LIMIT = 200  # a deflection keeps this much of what the customer typed


def import_kb_file(runtime: RuntimeCore, path: Path) -> tuple[int, int]:
    """Load articles from a JSON file; all or nothing."""
    with runtime.uow() as uow:
        created, updated = import_articles(uow.session, path, runtime.clock())
        uow.commit()
    return created, updated


def search_kb(runtime: RuntimeCore, query: str, limit: int = 10, *, audience: str = "agent",
              partial: bool = False) -> list[Match]:
    """Ranked search: customers see published, up-to-date articles only; agents also drafts under review."""
    states = VISIBLE_TO_AGENTS if audience == "agent" else PUBLISHED
    with runtime.uow(read_only=True) as uow:
        return search(uow.connection, query, runtime.clock(), limit, states, partial)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def article_json(article: KbArticle, source_ticket: str | None = None) -> dict[str, Any]:
    """An article as the API shows it (``body`` and ``keywords`` repeat resolution and tags for old clients)."""
    return {"slug": article.slug, **content_of(article), "state": article.state,
            "body": article.resolution, "keywords": article.tags, "published": article.state == "published",
            "author": article.author, "reviewer": article.reviewer, "reviewed_at": _iso(article.reviewed_at),
            "review_by": _iso(article.review_by), "published_at": _iso(article.published_at),
            "created_at": _iso(article.created_at), "updated_at": _iso(article.updated_at),
            "reuse_count": article.reuse_count, "version": article.version, "review_note": article.review_note,
            "source_ticket": source_ticket}


def version_json(version: KbArticleVersion) -> dict[str, Any]:
    return {"version": version.version, **{key: getattr(version, key) for key in CONTENT},
            "editor": version.editor, "at": version.at.isoformat(), "note": version.note}


def list_articles(runtime: RuntimeCore, limit: int, offset: int, state: str | None = None) \
        -> tuple[list[dict[str, Any]], int]:
    """Articles by slug; one state's articles oldest first (the review queue)."""
    if state is not None and state not in STATES:
        raise InvalidInput("unknown state", [FieldError("/state", f"state must be one of: {', '.join(STATES)}")])
    with runtime.uow(read_only=True) as uow:
        query = select(KbArticle)
        if state is not None:
            query = query.where(KbArticle.state == state).order_by(KbArticle.created_at, KbArticle.id)
        else:
            query = query.order_by(KbArticle.slug)
        total = uow.session.scalar(select(func.count()).select_from(query.subquery())) or 0
        rows = uow.session.scalars(query.limit(limit).offset(offset))
        return [article_json(a) for a in rows], total


def get_article(runtime: RuntimeCore, slug: str, actor: Actor) -> dict[str, Any]:
    """One article with its versions, newest first; customers read published articles only."""
    with runtime.uow(read_only=True) as uow:
        article = find(uow.session, slug)
        if actor.role == "customer" and article.state != "published":
            raise NotFound("no such article")
        source = uow.session.scalar(select(Ticket.number).where(Ticket.id == article.source_ticket_id)) \
            if article.source_ticket_id and actor.role != "customer" else None
        body = article_json(article, source)
        if actor.role != "customer":
            versions = uow.session.scalars(select(KbArticleVersion).where(KbArticleVersion.article_id == article.id)
                                           .order_by(KbArticleVersion.version.desc()))
            body["versions"] = [version_json(v) for v in versions]
        return body


def find(session: Session, slug: str, *, lock: bool = False) -> KbArticle:
    query = select(KbArticle).where(KbArticle.slug == slug)
    article = session.scalar(query.with_for_update() if lock else query)
    if article is None:
        raise NotFound(f"no article '{slug}'")
    return article


def create_article(runtime: RuntimeCore, item: Any, actor: Actor | None = None) -> dict[str, Any]:
    """Add one article (a draft unless it says ``published``); its slug must be new."""
    if actor is not None and actor.role not in REVIEWERS:
        raise Forbidden("only reviewers (L2, process owners, admins) add articles")
    validate_form(ARTICLE_SCHEMA, item)
    try:
        fields = article_fields(item, 0)
    except ValueError as exc:
        raise InvalidInput("the article is invalid", [FieldError("", str(exc).removeprefix("article 0: "))]) from None
    editor = actor.name if actor else "api"
    with runtime.uow() as uow:
        if uow.session.scalar(select(KbArticle.id).where(KbArticle.slug == fields["slug"])) is not None:
            raise Conflict(f"an article with slug '{fields['slug']}' already exists")
        article = _add(uow.session, fields, editor, runtime.clock())
        body = article_json(article)
        uow.commit()
        return body


def _add(session: Session, fields: dict[str, Any], editor: str, now: datetime) -> KbArticle:
    article = KbArticle(**fields, author=editor, created_at=now, updated_at=now, version=1)
    if article.state == "published":
        article.published_at, article.reviewer, article.reviewed_at = now, editor, now
    session.add(article)
    session.flush()
    session.add(KbArticleVersion(article_id=article.id, version=1, editor=editor, at=now, note="created",
                                 **content_of(article)))
    return article


def import_articles(session: Session, path: Path, now: datetime) -> tuple[int, int]:
    """Load articles from a JSON list (the KCS shape, or the older slug/title/body/keywords one); upsert by slug."""
    try:
        items = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ValueError(f"{path}: not a readable JSON file: {exc}") from None
    if not isinstance(items, list):
        raise ValueError(f"{path}: expected a JSON list of articles")
    created = updated = 0
    for index, item in enumerate(items):
        fields = article_fields(item, index)
        article = session.scalar(select(KbArticle).where(KbArticle.slug == fields["slug"]))
        if article is None:
            _add(session, fields, "import", now)
            created += 1
            continue
        for key, value in fields.items():
            setattr(article, key, value)
        article.updated_at, article.version = now, article.version + 1
        if article.state == "published" and article.published_at is None:
            article.published_at = now
        session.add(KbArticleVersion(article_id=article.id, version=article.version, editor="import", at=now,
                                     note="imported", **content_of(article)))
        updated += 1
    return created, updated


def record_deflection(runtime: RuntimeCore, slug: str, query: str, user_name: str | None) -> None:
    """A customer found the answer in a published article and opened no ticket."""
    with runtime.uow() as uow:
        article = find(uow.session, slug)
        if article.state != "published":
            raise NotFound(f"no article '{slug}'")
        uow.session.add(KbDeflection(article_id=article.id, at=runtime.clock(), query=query.strip()[:QUERY_LIMIT],
                                     user_name=user_name))
        uow.commit()
