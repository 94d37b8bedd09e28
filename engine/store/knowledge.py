"""The knowledge base's ranked full-text search (step 1.3, agents, customers and the "open a ticket" hints).

SQLite uses an FTS5 index (porter stems) ranked with weighted bm25() and cut with snippet(); PostgreSQL a
weighted tsvector ('english' stems) ranked with ts_rank and cut with ts_headline. Words are ORed, so an
article that shares most of the customer's words ranks first even when it lacks a few of them.
"""
from __future__ import annotations

import html
import itertools
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from engine.store.driver import Driver

MAX_RESULTS = 5
MAX_TERMS = 16
PUBLISHED = ("published",)
VISIBLE_TO_AGENTS = ("published", "in_review", "draft")
# Marks around a matched word inside a snippet: control characters no article text can carry into HTML.
HIT_OPEN, HIT_CLOSE = "\x02", "\x03"
_STOPWORDS = frozenset((
    "a", "an", "and", "are", "as", "at", "be", "but", "by", "can", "cannot", "do", "does", "for", "from",
    "has", "have", "how", "i", "if", "in", "into", "is", "it", "its", "me", "my", "no", "not", "of", "on",
    "or", "our", "please", "so", "that", "the", "their", "then", "there", "this", "to", "too", "was", "we",
    "were", "what", "when", "where", "which", "who", "why", "will", "with", "you", "your", "after", "before",
    "again", "all", "also", "any", "because", "been", "being", "could", "did", "get", "got", "just", "more",
    "most", "now", "only", "other", "over", "some", "such", "than", "very", "would", "should", "since",
    "while", "out", "up", "off", "new", "keeps", "doesn", "don", "isn", "won", "can't", "help", "need",
    "problem", "issue", "trying", "tried", "anymore", "still", "suddenly", "getting",
))


def keywords(*texts: str) -> list[str]:
    """Distinct lower-case words worth searching for, in order of first appearance."""
    words = re.findall(r"[a-z0-9][a-z0-9_-]{1,40}", " ".join(texts).lower())
    return list(dict.fromkeys(w for w in words if w not in _STOPWORDS and not w.isdigit()))[:MAX_TERMS]


@dataclass(frozen=True)
class Match:
    """One article found: its rank score stays inside; people see the relevance in words."""

    slug: str
    title: str
    score: float
    snippet: str  # the article's words around the matches, matched words between HIT_OPEN and HIT_CLOSE
    relevance: str
    state: str = "published"

    @property
    def excerpt(self) -> str:
        """The snippet as plain text."""
        return self.snippet.replace(HIT_OPEN, "").replace(HIT_CLOSE, "")

    @property
    def snippet_html(self) -> str:
        """The snippet escaped for HTML, with only the matched words inside ``<mark>``."""
        escaped = html.escape(self.snippet, quote=True)
        return escaped.replace(HIT_OPEN, "<mark>").replace(HIT_CLOSE, "</mark>")

    def as_dict(self) -> dict[str, Any]:
        """What step 1.3 keeps in the ticket's data for L1's assessment."""
        return {"slug": self.slug, "title": self.title, "relevance": self.relevance, "excerpt": self.excerpt}

    def api_dict(self) -> dict[str, Any]:
        """What a search answers: the snippet also as escaped HTML with the matched words marked."""
        return {**self.as_dict(), "snippet_html": self.snippet_html, "state": self.state}


def relevance(terms: Sequence[str], text: str) -> str:
    """How well an article answers, in words: the share of the query's words it contains (stems compared)."""
    if not terms:
        return "possible match"
    lowered = text.lower()
    found = sum(1 for term in terms if term[:max(4, len(term) - 2)] in lowered)
    share = found / len(terms)
    if share >= 0.6:
        return "strong match"
    return "good match" if share >= 0.3 else "possible match"


# Ranking reads every candidate's vector, so the candidates are kept few: first the articles holding two of the
# query's uncommon words (PostgreSQL's own statistics say which are common), then one of them, then three, then two
# of all its words; only when these are too few, every article sharing any word. The GIN index finds each set.
_POSTGRES_SEARCH = (
    "SELECT slug, title, state, score, concat_ws(' ', title, tags, problem, cause, resolution), "
    "ts_headline('english', concat_ws(' ', problem, cause, resolution), to_tsquery('english', ?), ?) FROM ("
    "SELECT a.id, ts_rank(a.search, to_tsquery('english', ?)) AS score FROM kb_article a "
    "WHERE a.search @@ to_tsquery('english', ?) AND a.state = ANY(?) AND (a.review_by IS NULL OR a.review_by > ?) "
    "ORDER BY score DESC, a.id LIMIT ?) AS found JOIN kb_article USING (id) ORDER BY score DESC, id")
_POSTGRES_COMMON = (
    "SELECT o FROM unnest(?::text[]) AS o WHERE EXISTS (SELECT 1 FROM pg_stats s, "
    "unnest(s.most_common_elems::text::text[], s.most_common_elem_freqs) AS c(e, f) "
    "WHERE s.schemaname = current_schema() AND s.tablename = 'kb_article' AND s.attname = 'search' AND c.f > ? "
    "AND c.e IN (SELECT lexeme FROM unnest(to_tsvector('english', translate(o, '():*&', '      ')))))")
COMMON = 0.06  # a word in more than this share of the articles does not pick candidates alone
MAX_PAIRED = 8  # the candidate queries combine the first words only: 56 groups of three at most
_HEADLINE = f'StartSel="{HIT_OPEN}", StopSel="{HIT_CLOSE}", MaxWords=30, MinWords=12, MaxFragments=2, ' \
            'FragmentDelimiter=" … "'
# bm25 is lower-is-better. Columns: title, tags, problem, environment, cause, resolution.
# FTS5 sorts by its own rank column itself, so the snippet and the article's text are built only for the rows
# returned, not for every match (an ORDER BY on a computed score would build them all, then sort).
_SQLITE_SEARCH = (
    "SELECT a.slug, a.title, a.state, -kb_article_fts.rank, "
    "a.title || ' ' || a.tags || ' ' || a.problem || ' ' || a.cause || ' ' || a.resolution, "
    "snippet(kb_article_fts, -1, ?, ?, '…', 24) "
    "FROM kb_article_fts JOIN kb_article a ON a.id = kb_article_fts.rowid "
    "WHERE kb_article_fts MATCH ? AND kb_article_fts.rank MATCH 'bm25(10.0, 6.0, 4.0, 0.5, 1.5, 1.0)' "
    "AND a.state IN ({states}) AND (a.review_by IS NULL OR a.review_by > ?) "
    "ORDER BY kb_article_fts.rank LIMIT ?")


def search(connection: Connection, query: str, now: datetime, limit: int = MAX_RESULTS,
           states: Sequence[str] = PUBLISHED, partial: bool = False) -> list[Match]:
    """Ranked matches among articles in ``states`` whose review date has not passed; ``partial`` reads the last
    word as the start of a word (someone still typing)."""
    terms = keywords(query)
    if not terms:
        return []
    sql = Driver.of(connection)  # L1's step runs this on every ticket: straight to the driver
    if sql.postgres:
        rows = _postgres_search(sql, _lexemes(terms, partial), states, now, limit)
    else:
        statement = _SQLITE_SEARCH.format(states=", ".join("?" * len(states)))
        rows = sql.execute(statement, (HIT_OPEN, HIT_CLOSE, _fts_query(terms, partial), *states,
                                       sql.time_in(now), limit)).fetchall()
    return [Match(slug, title, float(score), snippet or "", relevance(terms, text), state)
            for slug, title, state, score, text, snippet in rows]


def _fts_query(terms: list[str], partial: bool) -> str:
    quoted = [f'"{term}"' for term in terms]
    if partial:
        quoted[-1] += "*"
    return " OR ".join(quoted)


def _lexemes(terms: list[str], partial: bool) -> list[str]:
    """The query's words as tsquery operands; hyphens and underscores split words for the tsquery parser."""
    pieces = [[part for part in re.split(r"[-_]", term) if part] for term in terms]
    words = [f"({' & '.join(parts)})" for parts in pieces if parts]
    if partial and words and len(pieces[-1]) == 1:
        words[-1] = words[-1][:-1] + ":*)"
    return words


def _postgres_search(sql: Driver, words: list[str], states: Sequence[str], now: datetime, limit: int) -> list[Any]:
    anything = " | ".join(words)
    common = {row[0] for row in sql.execute(_POSTGRES_COMMON, (words, COMMON))}
    uncommon = [word for word in words if word not in common]
    stages = [_together(uncommon, 2), " | ".join(uncommon), _together(words, 3), _together(words, 2), anything]
    rows: list[Any] = []
    for candidates in dict.fromkeys(stage for stage in stages if stage):  # in order, each once
        rows = sql.execute(_POSTGRES_SEARCH, (anything, _HEADLINE, anything, candidates, list(states),
                                              sql.time_in(now), limit)).fetchall()
        if len(rows) >= limit:
            break
    return rows


def _together(words: list[str], size: int) -> str:
    """A tsquery matching the articles that hold ``size`` of ``words`` (empty when there are fewer)."""
    return " | ".join(f"({' & '.join(group)})" for group in itertools.combinations(words[:MAX_PAIRED], size))
