"""Shared fixtures: a migrated database per test, a fake clock, a runtime wired like production."""
from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from engine.access import Actor
from engine.config import EngineConfig
from engine.execution.clock import FakeClock
from engine.runtime import Runtime
from engine.store.db import make_engine, upgrade
from engine.usecases.tickets import TicketIntake
from ticketflow.composition import deploy_file, make_runtime

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
# Signing keys (page sessions, answer links) come from here in tests, never from a var/secret_key file the
# suite would otherwise write into the checkout.
os.environ.setdefault("TICKETFLOW_SECRET_KEY", "ticketflow-test-suite-secret")
POSTGRES_URL = os.environ.get("TICKETFLOW_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")

L1 = Actor("lena", "l1")
L2 = Actor("otto", "l2")
CUSTOMER = Actor("alice", "customer")
OWNER = Actor("petra", "process_owner")
ADMIN = Actor("root", "admin")


@pytest.fixture(autouse=True)
def logging_left_as_found() -> Iterator[None]:
    """Take back the root log handlers a test added. A command run in a test sends the log to stderr as pytest
    captured it, which closes with the test; a server thread logging later would print "Logging error" traces."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for added in [handler for handler in root.handlers if handler not in handlers]:
        root.removeHandler(added)
    root.setLevel(level)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(START)


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'ticketflow.db'}"
    upgrade(url)
    return url


@pytest.fixture
def runtimes(clock: FakeClock) -> Iterator[Callable[..., Runtime]]:
    """Build runtimes over a database URL (as separate processes would); all closed at teardown."""
    made: list[Runtime] = []

    def make(url: str, run_clock: FakeClock | None = None) -> Runtime:
        made.append(make_runtime(EngineConfig(database_url=url), run_clock or clock))
        return made[-1]

    yield make
    for runtime in made:
        runtime.close()


@pytest.fixture
def runtime(sqlite_url: str, runtimes: Callable[..., Runtime]) -> Runtime:
    runtime = runtimes(sqlite_url)
    deploy_file(runtime)
    return runtime


def postgres_available() -> str | None:
    """Why PostgreSQL cannot be used, or None when it answers."""
    try:
        import psycopg

        with psycopg.connect(POSTGRES_URL.replace("+psycopg", ""), connect_timeout=3):
            return None
    except Exception as exc:  # any failure to connect is a reason to skip (or fail under CI)
        return f"PostgreSQL at {POSTGRES_URL} is unreachable: {exc}"


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh, migrated PostgreSQL database; under CI=true an unreachable server fails the test."""
    reason = postgres_available()
    if reason:
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    import psycopg

    name = f"ticketflow_test_{uuid.uuid4().hex[:10]}"
    admin_dsn = POSTGRES_URL.replace("+psycopg", "")
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = admin_dsn.rsplit("/", 1)[0] + "/" + name
    upgrade(url)
    try:
        yield url
    finally:
        make_engine(url).dispose()
        with psycopg.connect(admin_dsn, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def intake(customer: str = "alice", subject: str = "Cannot log in after password reset",
           description: str = "The login page says 'invalid token' since I reset my password.",
           channel: str = "portal") -> TicketIntake:
    return TicketIntake(subject=subject, description=description, customer=customer,
                        contact={"email": f"{customer}@example.com"}, channel=channel)


CLASSIFY = {"type": "incident", "impact": "high", "urgency": "medium"}
ASSESS_RESOLVE = {"resolve_at_first_level": True, "kb_article": "reset-token-cache",
                  "assessment": "The KB article on token caches matches exactly."}
ASSESS_ESCALATE = {"resolve_at_first_level": False, "assessment": "No article matches; looks like a server defect."}
ESCALATE = {"problem_description": "Invalid token on login after a password reset",
            "troubleshooting_steps": ["Cleared browser cache", "Reset the password a second time"],
            "escalation_reason": "Reproducible for several customers; needs server logs."}
INVESTIGATE = {"logs_reviewed": "auth-service logs 09:00-10:00", "reproduced": True,
               "root_cause": "Token cache is not invalidated on password reset."}
FIX = {"fix_details": "Invalidate the token cache entry when the password changes.",
       "components_changed": ["auth/reset.py"], "fix_kind": "definitive"}
SOLUTION = {"actions_taken": "Deployed the L2 fix and verified login in staging with a reset account.",
            "configuration_changes": "none", "observed_outcome": "Login succeeds after reset.",
            "customer_message": "We fixed the login problem that appeared after password resets.",
            "customer_steps": ["Log out and log in again"]}
RESOLVED = {"validation_outcome": "resolved"}
PERSISTS = {"validation_outcome": "persists", "customer_comment": "Still failing for me."}


def complete_current(runtime: Runtime, number: str, actor: Actor, data: dict) -> object:
    """Complete the ticket's single ready task in ``actor``'s lanes."""
    ready = runtime.get_ticket(number).ready_tasks
    if len(ready) > 1:  # L1's follow-up call may be open beside the silent customer's task
        ready = [t for t in ready if runtime.lane_roles.get(t.lane) == actor.role]
    assert len(ready) == 1, ready
    return runtime.complete_task(ready[0].id, data, actor)
