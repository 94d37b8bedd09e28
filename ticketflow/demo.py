"""`ticketflow demo`: play tickets through every path of the procedure and print their trails."""
from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url

from engine.access import Actor
from engine.config import EngineConfig
from engine.execution.clock import FakeClock
from engine.runtime import Runtime
from engine.store.db import upgrade
from engine.usecases.knowledge import import_kb_file
from engine.usecases.tickets import TicketIntake
from engine.views import EventView
from ticketflow.composition import deploy_file, make_runtime

DEMO_KB = Path(__file__).parent / "data" / "demo_kb.json"
# The demo plays with a fake clock: its tickets must never land in the database `make run` serves.
DEMO_DATABASE_URL = "sqlite:///var/demo.db"
L1, L2 = Actor("lena (L1)", "l1"), Actor("otto (L2)", "l2")
SHOWN = {"ticket_opened", "task_completed", "gateway_taken", "service_called", "timer_fired", "process_completed"}

CLASSIFY = {"type": "incident", "impact": "medium", "urgency": "high"}
SOLUTION = {"actions_taken": "Applied the documented fix, cleared the cached session and repeated the customer's "
                             "failing scenario on their account.",
            "configuration_changes": "none", "observed_outcome": "The original scenario works again.",
            "customer_message": "We applied a fix for the problem you reported.",
            "customer_steps": ["Log out and log in again", "Repeat what failed before"]}
ESCALATE = {"problem_description": "Reports fail with a timeout for large date ranges.",
            "troubleshooting_steps": ["Retried with a smaller range: works", "Checked status page: no incident"],
            "escalation_reason": "Server-side timeout; L1 has no access to the report service."}
INVESTIGATE = {"logs_reviewed": "report-service logs and slow query log", "reproduced": True,
               "root_cause": "A missing index on report_rows(created_at) makes large ranges time out."}
FIX = {"fix_details": "Added the index and a migration; query time dropped from 45 s to 0.3 s.",
       "components_changed": ["migrations/0042_report_rows_index.sql"], "fix_kind": "definitive"}


def run_demo(config: EngineConfig, out: Callable[[str], None] = print) -> None:
    """Play every path in ``config``'s database, made afresh (an SQLite file is replaced), and print the trails."""
    fresh_database(config.database_url)
    out(f"Playing the demo in {config.database_url} (a database of its own, made afresh).")
    clock = FakeClock(datetime.now(UTC).replace(microsecond=0))
    runtime = make_runtime(config, clock)
    version, created = deploy_file(runtime)
    out(f"Process definition support_ticket v{version} {'deployed' if created else 'already deployed'}.")
    created_n, updated_n = import_kb_file(runtime, DEMO_KB)
    out(f"Knowledge base: {created_n} articles added, {updated_n} updated.\n"
        "Time below is simulated, so the customer's response window can pass in a second.\n")
    scenarios: list[tuple[str, Callable[[Runtime, FakeClock], str]]] = [
        ("1. Known problem, resolved at first level by L1", _resolved_at_l1),
        ("2. Escalated to L2, fixed at the root, confirmed", _escalated_and_fixed),
        ("3. Issue persists twice, then confirmed resolved", _persists_twice),
        ("4. Customer silent past the response window", _customer_silent),
    ]
    for title, play in scenarios:
        number = play(runtime, clock)
        _print_trail(runtime, number, title, out)


def fresh_database(url: str) -> None:
    """Replace an SQLite file with a freshly migrated one; migrate any other database as it is."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        for suffix in ("", "-wal", "-shm"):
            Path(f"{parsed.database}{suffix}").unlink(missing_ok=True)
    upgrade(url)


def _open(runtime: Runtime, customer: str, subject: str, description: str) -> str:
    actor = Actor(customer, "customer")
    view = runtime.open_ticket(TicketIntake(subject, description, customer, {"email": f"{customer}@example.com"}),
                               actor)
    return view.number


def _step(runtime: Runtime, clock: FakeClock, number: str, actor: Actor, data: dict[str, Any]) -> None:
    clock.advance(minutes=20)
    task = runtime.get_ticket(number).ready_tasks[0]
    runtime.claim_task(task.id, actor)
    runtime.complete_task(task.id, data, actor)


def _resolved_at_l1(runtime: Runtime, clock: FakeClock) -> str:
    number = _open(runtime, "alice", "Invalid token when logging in",
                   "Since my password reset the login page says the token is invalid.")
    _step(runtime, clock, number, L1, CLASSIFY)
    _step(runtime, clock, number, L1, {"resolve_at_first_level": True, "kb_article": "reset-token-cache",
                                       "assessment": "KB article reset-token-cache matches the symptom exactly."})
    _step(runtime, clock, number, L1, {**SOLUTION, "kb_article_used": "reset-token-cache"})
    _step(runtime, clock, number, Actor("alice", "customer"), {"validation_outcome": "resolved"})
    return number


def _escalate(runtime: Runtime, clock: FakeClock, customer: str) -> str:
    number = _open(runtime, customer, "Monthly report times out",
                   "The monthly usage report fails with a timeout when I pick a whole year.")
    _step(runtime, clock, number, L1, CLASSIFY)
    _step(runtime, clock, number, L1, {"resolve_at_first_level": False,
                                       "assessment": "No article covers report timeouts; server-side problem."})
    _step(runtime, clock, number, L1, ESCALATE)
    _step(runtime, clock, number, L2, INVESTIGATE)
    _step(runtime, clock, number, L2, FIX)
    _step(runtime, clock, number, L1, SOLUTION)
    return number


def _escalated_and_fixed(runtime: Runtime, clock: FakeClock) -> str:
    number = _escalate(runtime, clock, "bruno")
    _step(runtime, clock, number, Actor("bruno", "customer"), {"validation_outcome": "resolved"})
    return number


def _persists_twice(runtime: Runtime, clock: FakeClock) -> str:
    number = _escalate(runtime, clock, "carla")
    carla = Actor("carla", "customer")
    for attempt in (1, 2):
        _step(runtime, clock, number, carla, {"validation_outcome": "persists",
                                              "customer_comment": f"Still times out (attempt {attempt})."})
        _step(runtime, clock, number, L2, {**INVESTIGATE, "root_cause": f"Cause {attempt + 1}: a second slow query."})
        _step(runtime, clock, number, L2, FIX)
        _step(runtime, clock, number, L1, SOLUTION)
    _step(runtime, clock, number, carla, {"validation_outcome": "resolved"})
    return number


def _customer_silent(runtime: Runtime, clock: FakeClock) -> str:
    number = _escalate(runtime, clock, "dmitri")
    for _ in range(3):  # three response windows pass without an answer
        clock.advance(days=3, minutes=1)
        runtime.fire_due_timers()
    return number


def _print_trail(runtime: Runtime, number: str, title: str, out: Callable[[str], None]) -> None:
    ticket = runtime.get_ticket(number)
    out(f"{title}\n{ticket.number}  {ticket.subject!r}  priority {ticket.priority}")
    out(f"  {'step':<44} {'lane':<11} {'actor':<12} detail")
    for event in runtime.ticket_history(number):
        if event.kind in SHOWN:
            out(f"  {_step_name(event):<44} {event.lane or '':<11} {event.actor:<12} {_detail(event)}")
    waiting = f", waiting for: {ticket.current_steps}" if ticket.current_steps else ""
    out(f"  => status: {ticket.status}{waiting}\n")


def _step_name(event: EventView) -> str:
    return (event.element_name or event.kind.replace("_", " "))[:44]


def _detail(event: EventView) -> str:
    data = event.data
    if event.kind == "gateway_taken":
        return f"decision: {data['branch']}"
    if event.kind == "task_completed":
        return _short(", ".join(f"{k}={v}" for k, v in data["form"].items()))
    if event.kind == "service_called":
        result = data["result"]
        if isinstance(result, list):  # knowledge-base matches: name them
            result = ", ".join(m.get("slug", "?") for m in result) or "no match"
        return _short(f"{data['operator']} -> {result}")
    if event.kind == "ticket_opened":
        return f"via {data['channel']}, definition v{data['definition']['version']}"
    return event.kind.replace("_", " ")


def _short(text: str, width: int = 90) -> str:
    return text if len(text) <= width else text[: width - 3] + "..."
