"""The knowledge base's ranked full-text search over published, up-to-date articles (step 1.3 runs it).

SQLite uses an FTS5 index ranked with bm25(); PostgreSQL a weighted tsvector ranked with ts_rank_cd.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from engine.store.driver import Driver

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
