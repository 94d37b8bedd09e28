"""Knowledge-base use cases: import, search, list and add articles (one transaction each)."""
from __future__ import annotations

import json
import re
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from engine.errors import Conflict, FieldError, InvalidInput
from engine.process.forms import validate_form
from engine.store.knowledge import Match, search
from engine.store.models import KbArticle

from .base import RuntimeCore


def import_kb_file(runtime: RuntimeCore, path: Path) -> tuple[int, int]:
    """Load articles from a JSON file; all or nothing."""
    with runtime.uow() as uow:
        created, updated = import_articles(uow.session, path, runtime.clock())
        uow.commit()
    return created, updated


def search_kb(runtime: RuntimeCore, query: str, limit: int = 10) -> list[Match]:
    """The same ranked search L1's step runs: published, up-to-date articles only."""
    with runtime.uow(read_only=True) as uow:
        return search(uow.connection, query, runtime.clock(), limit)


def article_json(article: KbArticle) -> dict[str, Any]:
    return {"slug": article.slug, "title": article.title, "body": article.body, "keywords": article.keywords,
            "published": article.published,
            "review_by": article.review_by.isoformat() if article.review_by else None,
            "updated_at": article.updated_at.isoformat()}


def list_articles(runtime: RuntimeCore, limit: int, offset: int) -> tuple[list[dict[str, Any]], int]:
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


def create_article(runtime: RuntimeCore, item: Any) -> dict[str, Any]:
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


def import_articles(session: Session, path: Path, now: datetime) -> tuple[int, int]:
    """Load articles from a JSON list (slug, title, body, keywords, published, review_by); upsert by slug."""
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
            session.add(KbArticle(**fields, updated_at=now))
            created += 1
        else:
            for key, value in fields.items():
                setattr(article, key, value)
            article.updated_at = now
            updated += 1
    return created, updated


_SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")
_LIMITS = {"title": 300, "body": 100_000, "keywords": 500}


def article_fields(item: Any, index: int) -> dict[str, Any]:
    """The columns of one article, checked; ValueError names the article and the field."""
    if not isinstance(item, dict):
        raise ValueError(f"article {index}: expected an object")
    for key in ("slug", "title", "body"):
        if not isinstance(item.get(key), str) or not item[key].strip():
            raise ValueError(f"article {index}: '{key}' must be a non-empty string")
    unknown = set(item) - {"slug", "title", "body", "keywords", "published", "review_by"}
    if unknown:
        raise ValueError(f"article {index}: unknown field(s) {sorted(unknown)}")
    if not _SLUG.match(item["slug"].strip()):
        raise ValueError(f"article {index}: 'slug' must be 1-64 lower-case letters, digits or hyphens")
    if not isinstance(item.get("keywords", ""), str) or not isinstance(item.get("published", False), bool):
        raise ValueError(f"article {index}: 'keywords' must be a string and 'published' a boolean")
    for key, limit in _LIMITS.items():
        if len(item.get(key, "")) > limit:
            raise ValueError(f"article {index}: '{key}' is longer than {limit} characters")
    review = _review_date(item.get("review_by"), index)
    return {"slug": item["slug"].strip(), "title": item["title"].strip(), "body": item["body"],
            "keywords": item.get("keywords", ""), "published": item.get("published", False), "review_by": review}


def _review_date(value: Any, index: int) -> datetime | None:
    """An article's review date: an ISO 8601 date-time with its offset, or nothing."""
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise ValueError(f"article {index}: review_by must be an ISO 8601 date-time string")
    try:
        review = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"article {index}: review_by must be an ISO 8601 date-time") from None
    if review.tzinfo is None:
        raise ValueError(f"article {index}: review_by needs a timezone offset")
    return review
