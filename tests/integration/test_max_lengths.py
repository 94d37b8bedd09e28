"""Lengths agree end to end: every text field at the longest the API and the forms accept, in multi-byte
text, flows through every path of the procedure on SQLite and on PostgreSQL without a stall."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import select

from engine import limits
from engine.access import Actor
from engine.errors import InvalidInput
from engine.execution.clock import FakeClock
from engine.runtime import Runtime
from engine.store.models import OutboxMessage
from engine.usecases.tickets import TicketIntake
from tests.conftest import (
    ASSESS_ESCALATE,
    ASSESS_RESOLVE,
    CLASSIFY,
    ESCALATE,
    FIX,
    INVESTIGATE,
    L1,
    L2,
    PERSISTS,
    RESOLVED,
    SOLUTION,
)
from ticketflow.composition import deploy_file

WIDE = "Ünïcødé 漢字 🎫 ñ—“quoted” "  # 1 to 4 bytes a character in UTF-8
LONGEST_NAME = ("Zoë Ångström-Łukasiewicz " * 10)[: limits.PERSON_NAME]


def text(length: int) -> str:
    return (WIDE * (length // len(WIDE) + 1))[:length]


def record(length: int) -> str:
    """Text that passes the resolution record's quality rules (distinct sentences, an observed outcome)."""
    sentences = (f"Step {n}: checked Ünïcødé 漢字 🎫 setting {n} and verified it works. " for n in range(1, length))
    return "".join(sentences)[:length]


def longest(runtime: Runtime, number: str, data: dict[str, Any]) -> dict[str, Any]:
    """``data`` with every free-text field of the ready task's form at its maxLength (lists at maxItems)."""
    task = runtime.get_ticket(number).ready_tasks[0]
    schema = runtime.task_detail(task.id, Actor("root", "admin")).schema
    filled = dict(data)
    for name, field in schema.get("properties", {}).items():
        if field.get("type") == "string" and "maxLength" in field and "pattern" not in field:
            filled[name] = (record if "x-quality" in field else text)(field["maxLength"])
        elif field.get("type") == "array" and "maxLength" in field.get("items", {}):
            filled[name] = [text(field["items"]["maxLength"])] * field.get("maxItems", 3)
    return filled


def step(runtime: Runtime, number: str, actor: Actor, data: dict[str, Any]) -> None:
    task = runtime.get_ticket(number).ready_tasks[0]
    runtime.complete_task(task.id, longest(runtime, number, data), actor)


def open_longest(runtime: Runtime) -> tuple[str, Actor]:
    intake = TicketIntake(subject=text(limits.SUBJECT), description=text(limits.DESCRIPTION),
                          customer=LONGEST_NAME, channel="phone",
                          contact={"email": text(limits.CONTACT_DETAIL - 12) + "@example.com",
                                   "phone": text(limits.CONTACT_DETAIL), "name": text(limits.CONTACT_DETAIL)})
    view = runtime.open_ticket(intake, L1)  # an L1 registration: the customer is named by the agent
    assert view.status != "stalled", view.stalled_reason
    return view.number, Actor(LONGEST_NAME, "customer")


def resolved_at_first_level(runtime: Runtime, clock: FakeClock) -> str:
    number, customer = open_longest(runtime)
    for data in (CLASSIFY, ASSESS_RESOLVE, SOLUTION):
        step(runtime, number, L1, data)
    step(runtime, number, customer, RESOLVED)
    return number


def persisted_reminded_then_resolved(runtime: Runtime, clock: FakeClock) -> str:
    number, customer = open_longest(runtime)
    for actor, data in ((L1, CLASSIFY), (L1, ASSESS_ESCALATE), (L1, ESCALATE), (L2, INVESTIGATE), (L2, FIX),
                        (L1, SOLUTION), (customer, PERSISTS), (L2, INVESTIGATE), (L2, FIX), (L1, SOLUTION)):
        step(runtime, number, actor, data)
    for _ in range(2):  # two reminders: their subjects carry the longest subject too
        clock.advance(days=3, minutes=1)
        assert runtime.fire_due_timers() == [number]
    step(runtime, number, customer, RESOLVED)
    return number


PATHS = [resolved_at_first_level, persisted_reminded_then_resolved]


def play_every_path(runtime: Runtime, clock: FakeClock) -> None:
    deploy_file(runtime)
    for play in PATHS:
        number = play(runtime, clock)
        ticket = runtime.get_ticket(number)
        assert ticket.status == "closed", (play.__name__, ticket.status, ticket.stalled_reason)
    with runtime.uow(read_only=True) as uow:
        subjects = list(uow.session.scalars(select(OutboxMessage.subject)))
    assert subjects and all(len(s) <= limits.MESSAGE_SUBJECT for s in subjects)
    assert all(s.endswith(limits.ELLIPSIS) for s in subjects)  # each one was cut, visibly


def test_every_path_at_maximum_lengths_on_sqlite(sqlite_url: str, runtimes: Callable[..., Runtime],
                                                 clock: FakeClock) -> None:
    play_every_path(runtimes(sqlite_url), clock)


@pytest.mark.postgres
def test_every_path_at_maximum_lengths_on_postgresql(postgres_url: str, runtimes: Callable[..., Runtime],
                                                     clock: FakeClock) -> None:
    play_every_path(runtimes(postgres_url), clock)


@pytest.mark.parametrize("field, value", [
    ("customer", "x" * (limits.PERSON_NAME + 1)),
    ("subject", "x" * (limits.SUBJECT + 1)),
    ("subject", "a NUL \x00 inside"),
    ("description", "a lone surrogate \ud800 in the description"),
])
def test_text_that_would_not_fit_or_not_store_is_refused_with_the_field_named(
        runtime: Runtime, field: str, value: str) -> None:
    fields: dict[str, Any] = {"subject": "Printer on fire", "description": "It is on fire, really, flames.",
                              "customer": "alice", "contact": {"email": "alice@example.com"}, "channel": "phone"}
    with pytest.raises(InvalidInput) as refused:
        runtime.open_ticket(TicketIntake(**{**fields, field: value}), L1)
    assert [e.pointer for e in refused.value.errors] == [f"/{field}"]


def test_clip_marks_the_cut_and_keeps_within_the_limit() -> None:
    assert limits.clip("short", 10) == "short"
    assert limits.clip("x" * 11, 10) == "x" * 9 + "…" and len(limits.clip("y" * 500, 300)) == 300


