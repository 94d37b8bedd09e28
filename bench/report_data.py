"""Bulk data for the reports benchmark: tickets on a realistic mix of paths, their history events, knowledge
articles, uses and deflections, written straight to the database (executemany on SQLite, COPY on PostgreSQL).

Rows are generated, not played through the engine: 100,000 tickets through the diagram would take an hour, and
the report reads only the columns the steps keep. Each ticket's ``workflow`` holds ``WORKFLOW_BYTES`` of
incompressible text, about what a closed ticket's compacted state weighs, so a table scan costs what it would.
"""
from __future__ import annotations

import json
import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from engine.store.models import stored_digest

TICKETS = 100_000
EVENTS = 3_000_000
SPAN_DAYS = 730  # tickets opened over two years up to REFERENCE
REFERENCE = datetime(2026, 12, 1, tzinfo=UTC)  # "today" for the benchmark
WORKFLOW_BYTES = 4000
BATCH = 20_000
UNITS = (("general", 0.55), ("billing", 0.2), ("network", 0.15), ("hardware", 0.1))
PRIORITIES = (("P1", 0.05), ("P2", 0.15), ("P3", 0.45), ("P4", 0.25), ("P5", 0.10))
# path: share, events per ticket, escalations, persists loops, reminders, follow-ups, resolution hours (median)
PATHS: dict[str, tuple[float, int, int, int, int, int, float]] = {
    "l1_direct": (0.52, 22, 0, 0, 0, 0, 3.0),
    "escalated": (0.22, 36, 1, 0, 0, 0, 20.0),
    "persists": (0.10, 58, 1, 1, 1, 0, 40.0),
    "reminders": (0.12, 30, 0, 0, 2, 0, 8.0),
    "silent_follow_up": (0.04, 40, 0, 0, 3, 1, 30.0),
}
FIRST_RESPONSE_TARGET_H = {"P1": 1, "P2": 2, "P3": 4, "P4": 8, "P5": 16}
RESOLUTION_TARGET_H = {"P1": 8, "P2": 24, "P3": 40, "P4": 80, "P5": 160}
TICKET_COLUMNS = ("id", "number", "status", "current_lanes", "current_steps", "channel", "customer", "contact",
                  "registered_by", "subject", "description", "type", "impact", "urgency", "priority", "unit_code",
                  "opened_at", "first_response_at", "first_response_due", "resolved_at", "closed_at",
                  "resolution_due", "definition_id", "version", "workflow", "sla_state", "sla_paused_seconds",
                  "first_response_business_s", "resolution_business_s", "first_response_breached",
                  "resolution_breached", "escalations", "persists", "reminders", "follow_ups", "step_failures",
                  "history_seq", "history_head")
EVENT_COLUMNS = ("ticket_id", "seq", "at", "actor", "kind", "element_id", "element_name", "lane", "task_id", "data",
                 "prev_hash", "hash")
EVENT_KINDS = ("task_ready", "task_claimed", "task_completed", "gateway_taken", "service_called", "message_queued")


@dataclass(frozen=True)
class Shape:
    """What was generated: the ticket ids with their open and end instants and event counts."""

    spans: list[tuple[datetime, datetime]]
    events: list[int]


def _pick(rng: random.Random, table: tuple[tuple[str, float], ...]) -> str:
    return rng.choices([name for name, _ in table], [weight for _, weight in table])[0]


def _ticket(rng: random.Random, ticket_id: int, definition: int) -> tuple[tuple[Any, ...], datetime, int]:
    """One ticket row, the instant its record ends (closed, or REFERENCE while open) and its event count."""
    path = rng.choices(list(PATHS), [spec[0] for spec in PATHS.values()])[0]
    _, events, escalations, persists, reminders, follow_ups, hours = PATHS[path]
    priority, unit = _pick(rng, PRIORITIES), _pick(rng, UNITS)
    opened = REFERENCE - timedelta(seconds=rng.uniform(0, SPAN_DAYS * 86400))
    first_s = int(rng.lognormvariate(7.3, 0.9))  # median about 25 minutes of business time
    resolution_s = int(rng.lognormvariate(0, 0.8) * hours * 3600)
    calendar = timedelta(seconds=resolution_s * 3 + reminders * 86400)  # nights, weekends, the customer's wait
    closed = opened + calendar if opened + calendar < REFERENCE else None
    end = closed or REFERENCE
    row = (ticket_id, f"T-{ticket_id:06d}", "closed" if closed else "with_l1", "" if closed else "L1 Support",
           "" if closed else "Assess", "portal", f"customer{ticket_id % 5000}",
           json.dumps({"email": f"customer{ticket_id % 5000}@example.com"}), "system", "A benchmark ticket",
           "Generated for the reports benchmark.", "incident", "medium", "medium", priority, unit, opened,
           opened + timedelta(seconds=first_s * 2), opened + timedelta(hours=FIRST_RESPONSE_TARGET_H[priority]),
           closed - timedelta(hours=1) if closed else None, closed,
           opened + timedelta(hours=RESOLUTION_TARGET_H[priority] * 2), definition, 3,
           rng.randbytes(WORKFLOW_BYTES // 2).hex(), "on_track", 0, first_s, resolution_s if closed else None,
           first_s > FIRST_RESPONSE_TARGET_H[priority] * 3600,
           bool(closed) and resolution_s > RESOLUTION_TARGET_H[priority] * 3600,
           escalations, persists * rng.randint(1, 3), reminders, follow_ups, 0, 0, "")
    return row, end, events if closed else max(4, events // 2)


def tickets(definition: int, seed: int = 13) -> tuple[Iterator[list[tuple[Any, ...]]], Shape]:
    """Batches of ticket rows; ``Shape`` is filled as they are generated (read it after the last batch)."""
    rng = random.Random(seed)
    shape = Shape([], [])

    def batches() -> Iterator[list[tuple[Any, ...]]]:
        for first in range(1, TICKETS + 1, BATCH):
            batch = []
            for ticket_id in range(first, min(first + BATCH, TICKETS + 1)):
                row, end, events = _ticket(rng, ticket_id, definition)
                batch.append(row)
                shape.spans.append((row[16], end))
                shape.events.append(events)
            yield batch
        shape.events[-1] += EVENTS - sum(shape.events)  # exactly EVENTS in all: the last ticket takes the rest

    return batches(), shape


def events(shape: Shape, seed: int = 31) -> Iterator[list[tuple[Any, ...]]]:
    """Batches of history events, each ticket's spread over its life, hash-chained in form (not verified)."""
    rng = random.Random(seed)
    batch: list[tuple[Any, ...]] = []
    for index, ((opened, end), count) in enumerate(zip(shape.spans, shape.events, strict=True)):
        step = (end - opened) / max(count, 1)
        previous = "0" * 64
        for seq in range(1, count + 1):
            digest = f"{index:08x}{seq:08x}{rng.getrandbits(192):048x}"
            kind = "ticket_opened" if seq == 1 else EVENT_KINDS[seq % len(EVENT_KINDS)]
            batch.append((index + 1, seq, opened + step * (seq - 1), "system", kind, "assess", "Assess",
                          "L1 Support", None, f'{{"data_digest": "{digest[:16]}"}}', previous[:12],
                          stored_digest(digest)))  # the link and the hash as the engine stores them
            previous = digest
            if len(batch) >= BATCH * 5:
                yield batch
                batch = []
    if batch:
        yield batch


def knowledge(shape: Shape, seed: int = 7) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]],
                                                    list[tuple[Any, ...]]]:
    """Articles (2,000; most drafted from a ticket), their uses by closed tickets and 20,000 deflections."""
    rng = random.Random(seed)
    articles, uses = [], []
    for article_id in range(1, 2001):
        ticket = rng.randint(1, TICKETS)
        created = shape.spans[ticket - 1][1]
        published = created + timedelta(days=rng.uniform(1, 20)) if rng.random() < 0.7 else None
        articles.append((article_id, f"article-{article_id}", f"Article {article_id}", "How to fix it.", "",
                         published is not None, created, created, "published" if published else "draft", None,
                         published, ticket if rng.random() < 0.6 else None, 0))
    for ticket in rng.sample(range(1, TICKETS + 1), TICKETS // 7):
        uses.append((rng.randint(1, 2000), ticket, "used", shape.spans[ticket - 1][1]))
    deflections = [(rng.randint(1, 2000), REFERENCE - timedelta(seconds=rng.uniform(0, SPAN_DAYS * 86400)), "", None)
                   for _ in range(20_000)]
    return articles, uses, deflections


ARTICLE_COLUMNS = ("id", "slug", "title", "body", "keywords", "published", "updated_at", "created_at", "state",
                   "review_by", "published_at", "source_ticket_id", "reuse_count")
USE_COLUMNS = ("article_id", "ticket_id", "relation", "at")
DEFLECTION_COLUMNS = ("article_id", "at", "query", "user_name")
