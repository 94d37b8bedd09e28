"""Bulk rows for the lists benchmark (``bench.pages``): tickets, their worklist rows and conversation replies.

Generated, not played through the engine: a million tickets through the diagram would take a day, and the
lists read only the columns the steps keep. Subjects and replies are drawn from a support vocabulary, and each
description carries a reference word (``ref<n>``) that about ten tickets share, for a rare-word search.
"""
from __future__ import annotations

import json
import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

REFERENCE = datetime(2026, 12, 1, tzinfo=UTC)  # "now" for the generated data
SPAN_DAYS = 730
BATCH = 20_000
UNITS = ("general", "billing", "network", "hardware")
PRIORITIES = ("P1", "P2", "P3", "P4", "P5")
PRIORITY_WEIGHTS = (5, 15, 45, 25, 10)
CHANNELS = ("portal", "email", "phone", "chat")
CHANNEL_WEIGHTS = (60, 25, 10, 5)
FIRST_RESPONSE_H = {"P1": 1, "P2": 2, "P3": 4, "P4": 8, "P5": 16}
RESOLUTION_H = {"P1": 8, "P2": 24, "P3": 40, "P4": 80, "P5": 160}
OPEN_SHARE = 0.25
# An open ticket's status, the lane its ready task is in, the task and its form.
OPEN_STATES = (("with_l1", "L1 Support", "assess_first_level", "Assess known resolution"),
               ("with_l2", "L2 Support", "investigate_root_cause", "Investigate root cause"),
               ("awaiting_customer", "Customer", "test_and_confirm", "Test fix and confirm outcome"))
AGENTS = {"L1 Support": [f"l1agent{n}" for n in range(10)], "L2 Support": [f"l2agent{n}" for n in range(10)]}
USERS = [(name, "l1") for name in AGENTS["L1 Support"]] + [(name, "l2") for name in AGENTS["L2 Support"]]
WORDS = ("printer", "login", "password", "vpn", "email", "invoice", "laptop", "screen", "network", "slow",
         "crash", "update", "install", "license", "account", "locked", "backup", "restore", "calendar", "meeting",
         "phone", "headset", "keyboard", "mouse", "monitor", "wifi", "router", "firewall", "certificate", "expired",
         "database", "report", "export", "import", "billing", "refund", "payment", "shipping", "delivery", "order",
         "scanner", "toner", "paper", "jam", "driver", "permission", "folder", "share", "sync", "mobile")
TICKET_COLUMNS = ("id", "number", "status", "current_lanes", "current_steps", "channel", "customer", "contact",
                  "registered_by", "subject", "description", "type", "impact", "urgency", "priority", "unit_code",
                  "opened_at", "first_response_at", "first_response_due", "resolved_at", "closed_at",
                  "resolution_due", "definition_id", "version", "workflow", "sla_state", "sla_paused_seconds",
                  "first_response_breached", "resolution_breached", "escalations", "persists", "reminders",
                  "follow_ups", "step_failures", "history_seq", "history_head")
TASK_COLUMNS = ("id", "ticket_id", "element_id", "name", "lane", "form", "state", "assignee", "created_at",
                "claimed_at", "completed_by", "completed_at")
ENTRY_COLUMNS = ("ticket_id", "at", "author", "author_kind", "direction", "visibility", "source", "body", "shown",
                 "customer_replied", "from_other_address", "auto_reply", "after_close")


def rare_word(count: int) -> str:
    """A reference word about ten tickets share (see ``_description``)."""
    return f"ref{4242 % max(1, count // 10)}"


def parse_sqlite_time(value: str) -> datetime:
    return datetime.fromisoformat(value).replace(tzinfo=UTC)


class Generated:
    """The rows of ``count`` tickets, drawn in batches from seeded generators (the same on every run)."""

    def __init__(self, count: int, definition: int) -> None:
        self.count = count
        self.definition = definition
        self.open: dict[int, tuple[int, datetime]] = {}  # ticket id -> (open state index, opened at)
        self.closed: list[tuple[int, datetime]] = []

    def tickets(self) -> Iterator[list[tuple[Any, ...]]]:
        rng = random.Random(13)
        for first in range(1, self.count + 1, BATCH):
            yield [self._ticket(rng, ticket_id) for ticket_id in range(first, min(first + BATCH, self.count + 1))]

    def _ticket(self, rng: random.Random, ticket_id: int) -> tuple[Any, ...]:
        opened = REFERENCE - timedelta(seconds=rng.uniform(0, SPAN_DAYS * 86400))
        is_open = rng.random() < OPEN_SHARE
        state = rng.randrange(len(OPEN_STATES)) if is_open else -1
        priority = None if is_open and rng.random() < 0.03 else rng.choices(PRIORITIES, PRIORITY_WEIGHTS)[0]
        answered = not is_open or rng.random() < 0.6
        first_due = opened + timedelta(hours=FIRST_RESPONSE_H[priority or "P3"])
        resolution_due = opened + timedelta(hours=RESOLUTION_H[priority]) if priority else None
        closed = opened + timedelta(hours=rng.uniform(1, 200)) if not is_open else None
        sla = rng.choices(("on_track", "at_risk", "breached"), (70, 15, 15) if is_open else (85, 0, 15))[0]
        if is_open:
            self.open[ticket_id] = (state, opened)
        else:
            self.closed.append((ticket_id, opened))
        status, lane, _, step = OPEN_STATES[state] if is_open else ("closed", "", "", "")
        customer = f"customer{ticket_id % 5000}"
        words = rng.sample(WORDS, 4)
        return (ticket_id, f"T-{ticket_id:06d}", status, lane, step, rng.choices(CHANNELS, CHANNEL_WEIGHTS)[0],
                customer, json.dumps({"email": f"{customer}@example.com"}), "system",
                f"{words[0].capitalize()} {words[1]} problem", self._description(rng, words), "incident", "medium",
                "medium", priority, rng.choice(UNITS), opened,
                opened + timedelta(minutes=rng.uniform(5, 300)) if answered else None, first_due,
                closed - timedelta(hours=1) if closed else None, closed, resolution_due, self.definition, 3, "",
                sla, 0, sla == "breached", False, 0, 0, 0, 0, 0, 0, "")

    def _description(self, rng: random.Random, words: list[str]) -> str:
        reference = f"ref{rng.randrange(max(1, self.count // 10))}"
        return f"The {words[2]} and the {words[3]} stopped working this morning. Reference {reference}."

    def tasks(self) -> Iterator[list[tuple[Any, ...]]]:
        """A ready task per open ticket (two in five assigned), a completed one per closed ticket."""
        rng = random.Random(17)
        batch: list[tuple[Any, ...]] = []
        for ticket_id, (state, opened) in self.open.items():
            _, lane, element, name = OPEN_STATES[state]
            agents = AGENTS.get(lane)
            assignee = rng.choice(agents) if agents and rng.random() < 0.4 else None
            created = opened + timedelta(minutes=30)
            batch.append((f"r{ticket_id:011d}", ticket_id, element, name, lane, f"{element}.json", "ready", assignee,
                          created, created if assignee else None, None, None))
            if len(batch) >= BATCH:
                yield batch
                batch = []
        for ticket_id, opened in self.closed:
            done = opened + timedelta(minutes=40)
            batch.append((f"c{ticket_id:011d}", ticket_id, "classify_ticket", "Classify type and priority",
                          "L1 Support", "classify_ticket.json", "completed", "l1agent1", opened, opened, "l1agent1",
                          done))
            if len(batch) >= BATCH:
                yield batch
                batch = []
        yield batch

    def replies(self) -> Iterator[list[tuple[Any, ...]]]:
        """A public agent reply on a third of the tickets (and an internal note on every tenth)."""
        rng = random.Random(19)
        batch: list[tuple[Any, ...]] = []
        for ticket_id in range(1, self.count + 1, 3):
            words = rng.sample(WORDS, 3)
            text = f"We checked the {words[0]} and reset the {words[1]}; please try the {words[2]} again."
            visibility = "internal" if ticket_id % 10 == 1 else "public"
            batch.append((ticket_id, REFERENCE - timedelta(days=rng.uniform(0, SPAN_DAYS)), "l1agent2", "agent",
                          "outbound", visibility, "agent", text, text, False, False, False, False))
            if len(batch) >= BATCH:
                yield batch
                batch = []
        yield batch
