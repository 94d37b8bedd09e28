"""What every use-case area shares: the engine's parts, units of work, the pinned definitions and the
rules on who may read a ticket. The areas (definitions, tickets, tasks, timers) build on this class;
``engine.runtime.Runtime`` composes them."""
from __future__ import annotations

import sqlite3
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

import psycopg
from sqlalchemy import Connection, select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from engine.access import Actor
from engine.audit.replay import Replayer
from engine.errors import NotFound, SandboxViolation
from engine.execution.clock import Clock, system_clock
from engine.execution.services import AnswerLinkMaker, MessageComposer, ServiceRegistry
from engine.execution.steps import Execution
from engine.execution.workflow_cache import WorkflowCache
from engine.limits import STALLED_REASON, clip
from engine.process.definitions import Definition, DefinitionLoader
from engine.store.db import checkpoint
from engine.store.history import Journal, Where
from engine.store.models import ProcessDefinition
from engine.store.tickets import TicketRecord, TicketStore
from engine.store.uow import UnitOfWork
from engine.views import EventView, TicketView, customer_trail

# A database's own errors, whether SQLAlchemy wrapped them or the hot path met them straight from the driver.
DATABASE_ERRORS = (DBAPIError, sqlite3.Error, psycopg.Error)
READ_ROLES = ("l1", "l2", "process_owner", "auditor", "admin")
STALL_RETRY = timedelta(minutes=5)  # the first retry; each next one waits twice as long
MAX_STEP_FAILURES = 8  # about 21 hours of retries in all
CUSTOMER_STALL_NOTE = "Our team has been notified of a technical problem with your ticket and is on it."


@dataclass(frozen=True)
class DefinitionInfo:
    id: int
    key: str
    version: int
    sha256: str


class RuntimeCore:
    """The parts a use case needs; persistence, definitions and handlers are handed in by a composition root."""

    def __init__(self, sessions: sessionmaker[Session], loader: DefinitionLoader, registry: ServiceRegistry,
                 lane_roles: Mapping[str, str], clock: Clock = system_clock,
                 workflows: WorkflowCache | None = None, composer: MessageComposer | None = None,
                 links: AnswerLinkMaker | None = None) -> None:
        self.sessions = sessions
        self.loader = loader
        self.registry = registry
        if composer is not None:
            registry.composer = composer  # the handlers' contexts come from the registry (see steps.Execution)
        if links is not None:
            registry.links = links
        self.composer = registry.composer
        self.links = registry.links  # the web side checks the answer links the handlers wrote with it
        self.lane_roles = dict(lane_roles)
        self.clock = clock
        self.workflows = workflows if workflows is not None else WorkflowCache()
        self._definitions: dict[int, tuple[DefinitionInfo, Definition]] = {}

    def close(self) -> None:
        """Release the database connections this runtime holds."""
        bind = self.sessions.kw.get("bind")
        if bind is not None:
            bind.dispose()

    def uow(self, read_only: bool = False) -> UnitOfWork:
        return UnitOfWork(self.sessions, read_only)

    def definition_of(self, connection: Connection | Session, definition_id: int) -> tuple[DefinitionInfo, Definition]:
        """The pinned definition; rows are immutable, so the parsed form is cached by id."""
        cached = self._definitions.get(definition_id)
        if cached is not None:
            return cached
        table = ProcessDefinition.__table__
        row = connection.execute(select(table).where(table.c.id == definition_id)).first()
        if row is None:
            raise NotFound(f"process definition {definition_id} does not exist")
        parsed = self.loader.load(row.bpmn, {k: v.encode() for k, v in row.forms.items()})
        info = DefinitionInfo(row.id, row.key, row.version, row.sha256)
        self._definitions[definition_id] = (info, parsed)
        return info, parsed

    def definition_by_sha(self, connection: Connection | Session, sha256: str) -> Definition:
        """A deployed version by its content hash (a migrated ticket's history names each version it ran on)."""
        table = ProcessDefinition.__table__
        found = connection.execute(select(table.c.id).where(table.c.sha256 == sha256)).scalar()
        if found is None:
            raise NotFound(f"no deployed definition has the content hash {sha256[:12]}")
        return self.definition_of(connection, found)[1]

    def checkpoint(self) -> int | None:
        """Background upkeep of the embedded database (see ``store.db.checkpoint``)."""
        return checkpoint(self.sessions.kw["bind"])

    def ping(self) -> None:
        """Raise unless the database answers."""
        with self.uow(read_only=True) as uow:
            uow.connection.execute(select(1))

    # -- who may read what --------------------------------------------------------------------
    def _readable(self, ticket: TicketRecord | None, number: str, reader: Actor | None) -> TicketRecord:
        """The ticket, if ``reader`` (when given) may read it; another customer's ticket does not exist."""
        if ticket is None or (reader is not None and not self._may_read(reader, ticket)):
            raise NotFound(f"ticket {number} does not exist")
        return ticket

    @staticmethod
    def _may_read(actor: Actor, ticket: TicketRecord) -> bool:
        return actor.role in READ_ROLES or (actor.role == "customer" and ticket.customer == actor.name)

    def _trail_for(self, reader: Actor | None, ticket: TicketRecord, events: list[EventView]) -> list[EventView]:
        """Agents, auditors and admins read every event; a customer reads the trail without L1's and L2's
        work notes (troubleshooting, root cause, service results): those are internal."""
        if reader is None or reader.role != "customer":
            return events
        customer_lanes = {lane for lane, role in self.lane_roles.items() if role == "customer"}
        return customer_trail(events, customer_lanes, {ticket.customer, ticket.contact.get("email")})

    # -- a ticket's workflow ------------------------------------------------------------------
    def _peek(self, connection: Connection, ticket: TicketRecord, read: Callable[[Execution], Any]) -> Any:
        """Read from the ticket's workflow without changing it (the kept copy goes back as it was)."""
        _, definition = self.definition_of(connection, ticket.definition_id)
        workflow = self.workflows.take(ticket.id, ticket.version, ticket.workflow, definition)
        result = read(Execution(ticket, definition, self.registry, self.lane_roles, self.clock(), workflow))
        self.workflows.put(ticket.id, ticket.version, workflow)
        return result

    def _replayed_data(self, connection: Connection, ticket: TicketRecord, events: list[EventView]) -> dict[str, Any]:
        """The process data of a ticket whose workflow state was dropped (closed), rebuilt by replaying its history."""
        _, definition = self.definition_of(connection, ticket.definition_id)
        outcome = Replayer(ticket.number or "", definition, self.lane_roles, events,
                           versions=lambda sha: self.definition_by_sha(connection, sha)).run()
        return outcome.data

    def _execution(self, store: TicketStore, ticket: TicketRecord, definition: Definition,
                   now: datetime) -> Execution:
        """The ticket's workflow, ready to step; it is put back in the cache only after a commit."""
        workflow = self.workflows.take(ticket.id, ticket.version, ticket.workflow, definition)
        return Execution(ticket, definition, self.registry, self.lane_roles, now, workflow, store)

    @staticmethod
    def _stall(ticket: TicketRecord, journal: Journal, failure: Exception | None, now: datetime,
               step_name: str | None = None) -> None:
        """Keep the ticket where it was, stalled, and schedule the worker's retry: each failure waits twice as
        long as the one before, and after MAX_STEP_FAILURES the worker stops until someone retries it."""
        ticket.status = "stalled"
        ticket.step_failures += 1
        journal.record("step_failed", "system", now, {"error": str(failure), "failures": ticket.step_failures},
                       Where(getattr(failure, "element", None)))
        if ticket.step_failures >= MAX_STEP_FAILURES:
            ticket.next_timer_at = None
            retry = f"retried {ticket.step_failures} times without success; an agent can retry it"
        else:
            ticket.next_timer_at = now + STALL_RETRY * 2 ** (ticket.step_failures - 1)
            retry = f"retried automatically at {ticket.next_timer_at:%Y-%m-%d %H:%M} UTC"
        step = f"The step '{step_name}'" if step_name else "An automated step"
        ticket.stalled_reason = clip(f"{step} could not finish ({failure_in_words(failure)}); {retry}", STALLED_REASON)


def shown_to(reader: Actor | None, view: TicketView) -> TicketView:
    """``view`` as ``reader`` may see it: a customer learns that a stalled ticket is being looked after, not why
    (the reason is the team's, and may name the system's internals)."""
    if reader is None or reader.role != "customer" or view.stalled_reason is None:
        return view
    return replace(view, stalled_reason=CUSTOMER_STALL_NOTE)


def failed_step_name(definition: Definition, failure: Exception | None) -> str | None:
    """The diagram's name for the element a failure happened in, if it names one."""
    info = definition.elements.get(getattr(failure, "element", None) or "")
    return info.name if info is not None else None


def failure_in_words(failure: Exception | None) -> str:
    """A failure as agents read it: a handler's own message, but never a database's text (it names tables and
    values, and belongs in the log and the history, not on a page)."""
    cause = getattr(failure, "cause", failure)
    if isinstance(cause, DATABASE_ERRORS):
        return "the database refused the change"
    if isinstance(cause, SandboxViolation):
        return cause.detail  # the sandbox's own words: what the diagram's code tried, and the limit
    text = str(cause).strip().splitlines()[0] if cause is not None and str(cause).strip() else "unknown error"
    return clip(text, 200)
