"""Knowledge that learns at closure: a draft article from a confirmed resolution, or one more reuse of an article.

Runs in the closure step's transaction, straight to the driver like the rest of the step. The resolution record
is read from the ticket's history: the form data of each ``task_completed`` event.
"""
from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from engine.store.driver import Driver
from engine.store.knowledge import keywords
from engine.store.packing import event_data
from engine.store.redact import mailbox_names, redact

RECORD_STEPS = ("investigate_root_cause", "apply_definitive_fix", "apply_solution")
_SQL_COMPLETED = ("SELECT element_id, actor, data, packed FROM history_event WHERE ticket_id = ? "
                  "AND kind = 'task_completed' ORDER BY seq")
_ARTICLE_COLUMNS = ("slug", "title", "body", "keywords", "published", "updated_at", "state", "created_at",
                    "source_ticket_id", "reuse_count", "problem", "environment", "cause", "resolution", "tags",
                    "author", "version", "review_note")
_SQL_INSERT_ARTICLE = (f"INSERT INTO kb_article ({', '.join(_ARTICLE_COLUMNS)}) "
                       f"VALUES ({', '.join('?' * len(_ARTICLE_COLUMNS))}) RETURNING id")
_SQL_INSERT_VERSION = ("INSERT INTO kb_article_version (article_id, version, title, problem, environment, cause, "
                       "resolution, tags, editor, at, note) VALUES (?, 1, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
_SQL_INSERT_USE = "INSERT INTO kb_article_use (article_id, ticket_id, relation, at) VALUES (?, ?, ?, ?)"
_SQL_REUSE = "UPDATE kb_article SET reuse_count = reuse_count + 1 WHERE slug = ? AND state <> 'archived' RETURNING id"
_DRAFTED_BY = "ticketflow (from a confirmed resolution)"


@dataclass
class ResolutionRecord:
    """The latest form of each resolution step (the last round after a persists loop) and who worked them."""

    forms: dict[str, dict[str, Any]] = field(default_factory=dict)
    authors: dict[str, str] = field(default_factory=dict)
    people: set[str] = field(default_factory=set)

    @property
    def article_used(self) -> str:
        return str(self.forms.get("apply_solution", {}).get("kb_article_used") or "").strip()


@dataclass(frozen=True)
class TicketFacts:
    """What the draft takes from the ticket itself."""

    id: int
    subject: str
    description: str
    classification: Mapping[str, str | None]
    people: tuple[str, ...]  # the customer and whoever registered the ticket, as recorded


def read_record(sql: Driver, ticket_id: int, pending: Iterable[tuple[str | None, str, dict[str, Any]]]) -> \
        ResolutionRecord:
    """The resolution record from the stored events, then this transaction's own (not inserted yet)."""
    record = ResolutionRecord()
    rows = sql.execute(_SQL_COMPLETED, (ticket_id,)).fetchall()
    stored = [(element, actor, event_data(sql.json_out(data), packed)) for element, actor, data, packed in rows]
    for element, actor, data in [*stored, *pending]:
        record.people.add(actor)
        if element in RECORD_STEPS:
            record.forms[element] = dict(data.get("form") or {})
            record.authors[element] = actor
    return record


def count_reuse(sql: Driver, slug: str, ticket_id: int, now: datetime) -> bool:
    """One more ticket resolved with the article ``slug``; False when no such live article exists."""
    row = sql.one(_SQL_REUSE, (slug,))
    if row is None:
        return False
    sql.execute(_SQL_INSERT_USE, (row[0], ticket_id, "used", sql.time_in(now)))
    return True


def create_draft(sql: Driver, ticket: TicketFacts, record: ResolutionRecord, now: datetime) -> str:
    """Insert a draft built from the record, with personal data removed; return its slug."""
    content = draft_content(ticket, record)
    slug = _free_slug(sql, content["title"])
    author = record.authors.get("apply_solution", _DRAFTED_BY)
    values = {"slug": slug, "title": content["title"], "body": "", "keywords": "", "published": False,
              "updated_at": sql.time_in(now), "state": "draft", "created_at": sql.time_in(now),
              "source_ticket_id": ticket.id, "reuse_count": 0, **content, "author": author, "version": 1,
              "review_note": ""}
    article_id = sql.one(_SQL_INSERT_ARTICLE, [values[c] for c in _ARTICLE_COLUMNS])[0]  # type: ignore[index]
    sql.execute(_SQL_INSERT_VERSION, (article_id, *(content[k] for k in _CONTENT), author, sql.time_in(now),
                                      "drafted from a confirmed resolution"))
    sql.execute(_SQL_INSERT_USE, (article_id, ticket.id, "produced", sql.time_in(now)))
    return slug


_CONTENT = ("title", "problem", "environment", "cause", "resolution", "tags")


def draft_content(ticket: TicketFacts, record: ResolutionRecord) -> dict[str, str]:
    """Title, problem, environment, cause, resolution and tags of the draft, personal data removed."""
    solution, fix = record.forms.get("apply_solution", {}), record.forms.get("apply_definitive_fix", {})
    # Every address anywhere in the record names its person, so "Martin" goes even where no address is written.
    said = " ".join([*ticket.people, ticket.description, *(str(v) for form in record.forms.values()
                                                           for v in form.values())])
    people = [*ticket.people, *record.people, *mailbox_names(said)]
    resolution = [str(solution.get("actions_taken", ""))]
    if fix.get("fix_details"):
        resolution.append(f"Fix: {fix['fix_details']}")
    resolution.append(f"Configuration changes: {solution.get('configuration_changes', 'none')}")
    resolution.append(f"Observed outcome: {solution.get('observed_outcome', '')}")
    environment = "; ".join(f"{name}: {value}" for name, value in ticket.classification.items() if value)
    title = redact(ticket.subject, people).strip() or "Untitled resolution"
    return {"title": title[:300], "problem": redact(f"{ticket.subject}\n\n{ticket.description}".strip(), people),
            "environment": environment,
            "cause": redact(str(record.forms.get("investigate_root_cause", {}).get("root_cause", "")), people),
            "resolution": redact("\n\n".join(resolution), people),
            "tags": " ".join(keywords(re.sub(r"\[\w+\]", " ", title)))[:500]}


def _free_slug(sql: Driver, title: str) -> str:
    base = re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")[:50].strip("-") or "draft"
    taken = {row[0] for row in sql.execute("SELECT slug FROM kb_article WHERE slug LIKE ?", (f"{base}%",))}
    if base not in taken:
        return base
    suffix = 2
    while f"{base}-{suffix}" in taken:
        suffix += 1
    return f"{base}-{suffix}"
