"""Step 1.3: full-text search of published, up-to-date knowledge-base articles.

SQLite uses an FTS5 index ranked with bm25(); PostgreSQL a weighted tsvector ranked with ts_rank_cd.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, select
from sqlalchemy.orm import Session

from engine.services import ServiceContext
from engine.store.driver import Driver
from engine.store.models import KbArticle

MAX_RESULTS = 5
MAX_TERMS = 16
_STOPWORDS = frozenset((
    "a", "an", "and", "are", "as", "at", "be", "but", "by", "can", "cannot", "do", "does", "for", "from",
    "has", "have", "how", "i", "if", "in", "into", "is", "it", "its", "me", "my", "no", "not", "of", "on",
    "or", "our", "please", "so", "that", "the", "their", "then", "there", "this", "to", "too", "was", "we",
    "were", "what", "when", "where", "which", "who", "why", "will", "with", "you", "your", "after", "before",
    "again", "all", "also", "any", "because", "been", "being", "could", "did", "get", "got", "just", "more",
    "most", "now", "only", "other", "over", "some", "such", "than", "very", "would", "should", "since",
    "while", "out", "up", "off", "new",
))


def keywords(*texts: str) -> list[str]:
    """Distinct lower-case words worth searching for, in order of first appearance."""
    words = re.findall(r"[a-z0-9][a-z0-9_-]{1,40}", " ".join(texts).lower())
    return list(dict.fromkeys(w for w in words if w not in _STOPWORDS and not w.isdigit()))[:MAX_TERMS]


@dataclass(frozen=True)
class Match:
    slug: str
    title: str
    score: float
    excerpt: str

    def as_dict(self) -> dict[str, Any]:
        return {"slug": self.slug, "title": self.title, "score": round(self.score, 4), "excerpt": self.excerpt}


_POSTGRES_SEARCH = (
    "SELECT slug, title, body, ts_rank_cd(search, q) AS score "
    "FROM kb_article, to_tsquery('english', ?) AS q "
    "WHERE search @@ q AND published AND (review_by IS NULL OR review_by > ?) "
    "ORDER BY score DESC, id LIMIT ?")
# bm25 is lower-is-better; weights favour title and keywords over body text.
_SQLITE_SEARCH = (
    "SELECT a.slug, a.title, a.body, -bm25(kb_article_fts, 10.0, 1.0, 5.0) AS score "
    "FROM kb_article_fts JOIN kb_article a ON a.id = kb_article_fts.rowid "
    "WHERE kb_article_fts MATCH ? AND a.published = 1 "
    "AND (a.review_by IS NULL OR a.review_by > ?) "
    "ORDER BY score DESC, a.id LIMIT ?")


def search(connection: Connection, query: str, now: datetime, limit: int = MAX_RESULTS) -> list[Match]:
    """Ranked matches among published articles whose review date has not passed."""
    terms = keywords(query)
    if not terms:
        return []
    sql = Driver.of(connection)  # L1's step runs this on every ticket: straight to the driver
    if sql.postgres:
        rows = sql.execute(_POSTGRES_SEARCH, (" | ".join(terms), sql.time_in(now), limit)).fetchall()
    else:
        rows = sql.execute(_SQLITE_SEARCH, (" OR ".join(f'"{t}"' for t in terms), sql.time_in(now), limit)).fetchall()
    return [Match(slug, title, float(score), body[:240]) for slug, title, body, score in rows]


def knowledge_base_search(ctx: ServiceContext, query: str) -> list[dict[str, Any]]:
    return [m.as_dict() for m in search(ctx.connection, query, ctx.now)]


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
