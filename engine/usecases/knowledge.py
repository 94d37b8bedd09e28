"""Knowledge-base use cases for the CLI and the API (one transaction each)."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from engine.errors import Conflict, FieldError, InvalidInput
from engine.forms import validate_form
from engine.runtime import Runtime
from engine.store.models import KbArticle
from tasks.knowledge_base import Match, article_fields, import_articles, search


def import_kb_file(runtime: Runtime, path: Path) -> tuple[int, int]:
    """Load articles from a JSON file; all or nothing."""
    with runtime.uow() as uow:
        created, updated = import_articles(uow.session, path, runtime.clock())
        uow.commit()
    return created, updated


def search_kb(runtime: Runtime, query: str, limit: int = 10) -> list[Match]:
    """The same ranked search L1's step runs: published, up-to-date articles only."""
    with runtime.uow(read_only=True) as uow:
        return search(uow.connection, query, runtime.clock(), limit)


def article_json(article: KbArticle) -> dict[str, Any]:
    return {"slug": article.slug, "title": article.title, "body": article.body, "keywords": article.keywords,
            "published": article.published,
            "review_by": article.review_by.isoformat() if article.review_by else None,
            "updated_at": article.updated_at.isoformat()}


def list_articles(runtime: Runtime, limit: int, offset: int) -> tuple[list[dict[str, Any]], int]:
    with runtime.uow() as uow:
        total = uow.session.scalar(select(func.count()).select_from(KbArticle)) or 0
        rows = uow.session.scalars(select(KbArticle).order_by(KbArticle.slug).limit(limit).offset(offset))
        return [article_json(a) for a in rows], total


# The API's contract for a new article (also published in /openapi.json).
ARTICLE_SCHEMA: dict[str, Any] = {
    "type": "object", "additionalProperties": False, "required": ["slug", "title", "body"],
    "properties": {
        "slug": {"type": "string", "pattern": "^[a-z0-9][a-z0-9-]{0,63}$"},
        "title": {"type": "string", "minLength": 1, "maxLength": 300},
        "body": {"type": "string", "minLength": 1, "maxLength": 100000},
        "keywords": {"type": "string", "maxLength": 500},
        "published": {"type": "boolean"},
        "review_by": {"type": ["string", "null"], "format": "date-time"},
    },
}


def create_article(runtime: Runtime, item: Any) -> dict[str, Any]:
    """Add one article; its slug must be new."""
    validate_form(ARTICLE_SCHEMA, item)
    try:
        fields = article_fields(item, 0)
    except ValueError as exc:
        raise InvalidInput("the article is invalid", [FieldError("", str(exc).removeprefix("article 0: "))]) from None
    with runtime.uow() as uow:
        if uow.session.scalar(select(KbArticle.id).where(KbArticle.slug == fields["slug"])) is not None:
            raise Conflict(f"an article with slug '{fields['slug']}' already exists")
        article = KbArticle(**fields, updated_at=runtime.clock())
        uow.session.add(article)
        uow.session.flush()
        body = article_json(article)
        uow.commit()
        return body
