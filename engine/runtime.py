"""Use cases of the process engine; each one is one transaction."""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from .access import Actor, check_may_work
from .clock import Clock, system_clock
from .definitions import Definition, DefinitionLoader, referenced_forms
from .errors import Conflict, FieldError, Forbidden, InvalidInput, NotFound, SandboxViolation, StepFailed
from .execution import Execution, new_workflow
from .forms import validate_form
from .history import Journal, Where
from .services import ServiceRegistry
from .store.db import checkpoint
from .store.models import ProcessDefinition
from .store.tickets import TASK, TICKET, TicketRecord, TicketStore, WorkItem
from .store.uow import UnitOfWork
from .views import EventView, TaskView, TicketView, customer_trail
from .workflow_cache import WorkflowCache

CHANNELS = ("portal", "email", "phone", "chat", "api")
AGENT_CHANNELS = tuple(channel for channel in CHANNELS if channel != "portal")  # the portal is the customer's own
AGENT_CHANNEL_RULE = "an agent registers a request that came in by one of: " + ", ".join(AGENT_CHANNELS)
PROCESS_KEY = "support_ticket"


@dataclass(frozen=True)
class TicketIntake:
    """A ticket as the support channel (or an L1 agent registering it) hands it over."""

    subject: str
    description: str
    customer: str
    contact: dict[str, Any]
    channel: str = "portal"
    unit: str = "general"
    extra: dict[str, Any] = field(default_factory=dict)

    def problems(self) -> list[FieldError]:
        problems = []
        if not isinstance(self.subject, str) or not 3 <= len(self.subject.strip()) <= 300:
            problems.append(FieldError("/subject", "subject must be 3 to 300 characters"))
        if not isinstance(self.description, str) or not 10 <= len(self.description.strip()) <= 20000:
            problems.append(FieldError("/description", "description must be 10 to 20000 characters"))
        if not isinstance(self.customer, str) or not self.customer.strip():
            problems.append(FieldError("/customer", "the customer must be named"))
        if not isinstance(self.contact, dict) or not (self.contact.get("email") or self.contact.get("phone")):
            problems.append(FieldError("/contact", "contact needs an email or a phone number"))
        elif not all(isinstance(v, str) and len(v) <= 300 for v in self.contact.values()):
            problems.append(FieldError("/contact", "contact details must be short strings"))
        if self.channel not in CHANNELS:
            problems.append(FieldError("/channel", f"channel must be one of: {', '.join(CHANNELS)}"))
        return problems


@dataclass(frozen=True)
class DefinitionInfo:
    id: int
    key: str
    version: int
    sha256: str


@dataclass(frozen=True)
class TicketFilter:
    """Ticket list filters; None means any."""

    status: str | None = None
    lane: str | None = None
    priority: str | None = None
    unit: str | None = None
    customer: str | None = None


@dataclass(frozen=True)
class TaskDetail:
    """A task as the person working it sees it: form, ticket, and what earlier steps found out."""

    task: TaskView
    ticket: TicketView
    schema: dict[str, Any]
    ui_schema: dict[str, Any]
    context: dict[str, Any]  # read-only process data the step needs (KB matches, triage, the fix, ...)
    prefill: dict[str, Any]  # values of this form's own fields already known (e.g. from an earlier loop)


# What a customer may see of the process data on their validation task; agents see all of it.
CUSTOMER_CONTEXT = ("ticket_number", "subject", "description", "customer_message", "customer_steps",
                    "validation_request")
READ_ROLES = ("l1", "l2", "process_owner", "auditor", "admin")


_LIST_COLUMNS = [c for c in TICKET.c if c.name != "workflow"]  # a list page never needs the state


class Runtime:
    """The engine facade: persistence, definitions and handlers are handed in by a composition root."""

    def __init__(self, sessions: sessionmaker[Session], loader: DefinitionLoader, registry: ServiceRegistry,
                 lane_roles: Mapping[str, str], clock: Clock = system_clock,
                 workflows: WorkflowCache | None = None) -> None:
        self.sessions = sessions
        self.loader = loader
        self.registry = registry
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

    # -- definitions --------------------------------------------------------------------------
    def deploy(self, bpmn: bytes, forms: Mapping[str, bytes], actor: Actor) -> tuple[ProcessDefinition, bool]:
        """Lint and record a new definition version; identical content is a no-op."""
        if actor.role not in ("process_owner", "admin"):
            raise Forbidden("only a process owner or an admin deploys diagrams: a diagram carries code")
        definition = self.loader.load(bpmn, forms)
        with self.uow() as uow:
            existing = uow.session.scalar(select(ProcessDefinition).where(
                ProcessDefinition.sha256 == definition.sha256))
            if existing is not None:
                return existing, False
            latest = uow.session.scalar(select(func.max(ProcessDefinition.version)).where(
                ProcessDefinition.key == definition.process_id)) or 0
            row = ProcessDefinition(
                key=definition.process_id, version=latest + 1, sha256=definition.sha256, bpmn=bpmn,
                forms={name: body.decode() for name, body in forms.items()}, deployed_by=actor.name,
                deployed_at=self.clock())
            uow.session.add(row)
            uow.commit()
            return row, True

    def deploy_upload(self, bpmn: bytes, forms: Mapping[str, bytes], actor: Actor) -> tuple[ProcessDefinition, bool]:
        """Deploy an uploaded diagram. Form files it names but the upload lacks are taken from the latest
        version, so a process owner can upload only the diagram they edited in a modeler."""
        named = referenced_forms(bpmn)
        bundle = {name: forms[name] for name in named if name in forms}  # the hash covers only these
        with self.uow(read_only=True) as uow:
            latest = uow.session.scalar(select(ProcessDefinition).order_by(
                ProcessDefinition.id.desc()).limit(1))
            known = dict(latest.forms) if latest is not None else {}
        for name in named:
            if name not in bundle and name in known:
                bundle[name] = known[name].encode()
        return self.deploy(bpmn, bundle, actor)

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

    def list_definitions(self) -> list[ProcessDefinition]:
        """Every deployed version, newest first (rows are immutable; returned detached)."""
        with self.uow(read_only=True) as uow:
            rows = list(uow.session.scalars(select(ProcessDefinition).order_by(
                ProcessDefinition.key, ProcessDefinition.version.desc())))
            for row in rows:
                uow.session.expunge(row)
            return rows

    def checkpoint(self) -> int | None:
        """Background upkeep of the embedded database (see ``store.db.checkpoint``)."""
        return checkpoint(self.sessions.kw["bind"])

    def ping(self) -> None:
        """Raise unless the database answers."""
        with self.uow(read_only=True) as uow:
            uow.connection.execute(select(1))

    # -- tickets ------------------------------------------------------------------------------
    def open_ticket(self, intake: TicketIntake, actor: Actor) -> TicketView:
        """Register a ticket and run the process until it needs a person."""
        problems = intake.problems()
        if problems:
            raise InvalidInput("the ticket cannot be opened", problems)
        if actor.role == "customer" and (intake.customer != actor.name or intake.channel != "portal"):
            raise Forbidden("a customer opens tickets for themself through the portal")
        if actor.role not in ("customer", "l1", "admin"):
            raise Forbidden(f"role '{actor.role}' does not open tickets")
        if actor.role != "customer" and intake.channel not in AGENT_CHANNELS:
            # The procedure starts in the support channel: what came in elsewhere is registered by an agent.
            raise InvalidInput("the ticket cannot be opened", [FieldError("/channel", AGENT_CHANNEL_RULE)])
        try:
            return self._open(intake, actor, run_steps=True)
        except (StepFailed, SandboxViolation) as failure:
            # The intake must never be lost: keep the ticket at its start, stalled and retryable.
            return self._open(intake, actor, run_steps=False, failure=failure)

    def _open(self, intake: TicketIntake, actor: Actor, run_steps: bool,
              failure: Exception | None = None) -> TicketView:
        now = self.clock()
        with self.uow() as uow:
            store = TicketStore(uow.connection)
            if store.unit(intake.unit) is None:
                raise InvalidInput("the ticket cannot be opened",
                                   [FieldError("/unit", f"unknown unit '{intake.unit}'")])
            definition_id = store.latest_definition_id(PROCESS_KEY)
            if definition_id is None:
                raise NotFound("no process definition is deployed: run `ticketflow deploy bpmn/support_ticket.bpmn`")
            info, definition = self.definition_of(uow.connection, definition_id)
            ticket = store.insert_ticket({
                "number": None, "status": "new", "current_lanes": "", "current_steps": "", "channel": intake.channel,
                "customer": intake.customer, "contact": intake.contact, "registered_by": actor.name,
                "subject": intake.subject.strip(), "description": intake.description.strip(), "type": None,
                "impact": None, "urgency": None, "priority": None, "unit_code": intake.unit, "opened_at": now,
                "first_response_due": None, "first_response_at": None, "resolved_at": None, "closed_at": None,
                "definition_id": info.id, "workflow": "", "next_timer_at": None, "stalled_reason": None,
                "history_seq": 0, "history_head": ""})
            ticket.number = f"T-{ticket.id:06d}"
            journal = Journal(ticket)
            journal.record("ticket_opened", actor.name, now, {
                "channel": intake.channel, "customer": intake.customer, "contact": intake.contact,
                "registered_by": actor.name, "subject": ticket.subject, "description": ticket.description,
                "unit": intake.unit, "definition": {"key": info.key, "version": info.version, "sha256": info.sha256}})
            data = {"ticket_number": ticket.number, "subject": ticket.subject, "description": ticket.description,
                    "channel": intake.channel, "customer": intake.customer, "unit": intake.unit}
            execution = Execution(ticket, definition, self.registry, self.lane_roles, now,
                                  new_workflow(definition, data), store, journal)
            if run_steps:
                execution.run_engine_steps()
            execution.settle()
            if not run_steps:
                self._stall(ticket, journal, failure, now)
            ready = execution.persist()
            uow.commit()
        self.workflows.put(ticket.id, ticket.version, execution.workflow)
        return TicketView.of(ticket, info.version, ready)

    @staticmethod
    def _stall(ticket: TicketRecord, journal: Journal, failure: Exception | None, now: datetime) -> None:
        ticket.status = "stalled"
        ticket.stalled_reason = str(failure)
        journal.record("step_failed", "system", now, {"error": str(failure)}, Where(getattr(failure, "element", None)))
        ticket.next_timer_at = now + timedelta(minutes=5)  # the worker retries stalled tickets

    def get_ticket(self, number: str, actor: Actor | None = None) -> TicketView:
        with self.uow(read_only=True) as uow:
            store = TicketStore(uow.connection)
            ticket = self._readable(store.ticket_by_number(number), number, actor)
            info, _ = self.definition_of(uow.connection, ticket.definition_id)
            return TicketView.of(ticket, info.version, store.ready_tasks(ticket.id))

    def ticket_with_trail(self, number: str, actor: Actor | None = None) -> tuple[TicketView, list[EventView]]:
        """The ticket and its history, read in one transaction (so they agree)."""
        with self.uow(read_only=True) as uow:
            store = TicketStore(uow.connection)
            ticket = self._readable(store.ticket_by_number(number), number, actor)
            info, _ = self.definition_of(uow.connection, ticket.definition_id)
            trail = self._trail_for(actor, ticket, store.events(ticket.id))
            return TicketView.of(ticket, info.version, store.ready_tasks(ticket.id)), trail

    def list_tickets(self, actor: Actor, filters: TicketFilter = TicketFilter(), limit: int = 50,
                     offset: int = 0) -> tuple[list[TicketView], int]:
        """A page of tickets, newest first, and the total; a customer sees only their own."""
        if actor.role == "customer":
            filters = TicketFilter(filters.status, filters.lane, filters.priority, filters.unit, actor.name)
        elif actor.role not in READ_ROLES:
            raise Forbidden(f"role '{actor.role}' does not read tickets")
        conditions = []
        if filters.status is not None:
            conditions.append(TICKET.c.status == filters.status)
        if filters.priority is not None:
            conditions.append(TICKET.c.priority == filters.priority)
        if filters.unit is not None:
            conditions.append(TICKET.c.unit_code == filters.unit)
        if filters.customer is not None:
            conditions.append(TICKET.c.customer == filters.customer)
        if filters.lane is not None:
            conditions.append(TICKET.c.id.in_(select(TASK.c.ticket_id).where(
                TASK.c.state == "ready", TASK.c.lane == filters.lane)))
        query = (select(*_LIST_COLUMNS, ProcessDefinition.version.label("definition_version"))
                 .join_from(TICKET, ProcessDefinition.__table__, ProcessDefinition.id == TICKET.c.definition_id)
                 .where(*conditions).order_by(TICKET.c.opened_at.desc(), TICKET.c.id.desc())
                 .limit(limit).offset(offset))
        with self.uow(read_only=True) as uow:
            total = uow.connection.execute(select(func.count()).select_from(TICKET).where(*conditions)).scalar() or 0
            return [TicketView.of(row, row.definition_version, []) for row in uow.connection.execute(query)], total

    def _readable(self, ticket: TicketRecord | None, number: str, reader: Actor | None) -> TicketRecord:
        """The ticket, if ``reader`` (when given) may read it; another customer's ticket does not exist."""
        if ticket is None or (reader is not None and not self._may_read(reader, ticket)):
            raise NotFound(f"ticket {number} does not exist")
        return ticket

    @staticmethod
    def _may_read(actor: Actor, ticket: TicketRecord) -> bool:
        return actor.role in READ_ROLES or (actor.role == "customer" and ticket.customer == actor.name)

    def ticket_history(self, number: str, actor: Actor | None = None) -> list[EventView]:
        with self.uow(read_only=True) as uow:
            store = TicketStore(uow.connection)
            ticket = self._readable(store.ticket_by_number(number), number, actor)
            return self._trail_for(actor, ticket, store.events(ticket.id))

    def _trail_for(self, reader: Actor | None, ticket: TicketRecord, events: list[EventView]) -> list[EventView]:
        """Agents, auditors and admins read every event; a customer reads the trail without L1's and L2's
        work notes (troubleshooting, root cause, service results): those are internal."""
        if reader is None or reader.role != "customer":
            return events
        customer_lanes = {lane for lane, role in self.lane_roles.items() if role == "customer"}
        return customer_trail(events, customer_lanes, {ticket.customer, ticket.contact.get("email")})

    def ticket_data(self, number: str) -> dict[str, Any]:
        """The process data of a ticket as its next step sees it."""
        with self.uow(read_only=True) as uow:
            ticket = self._readable(TicketStore(uow.connection).ticket_by_number(number), number, None)
            return self._peek(uow.connection, ticket, lambda execution: execution.current_data())

    def _peek(self, connection: Connection, ticket: TicketRecord, read: Callable[[Execution], Any]) -> Any:
        """Read from the ticket's workflow without changing it (the kept copy goes back as it was)."""
        _, definition = self.definition_of(connection, ticket.definition_id)
        workflow = self.workflows.take(ticket.id, ticket.version, ticket.workflow, definition)
        result = read(Execution(ticket, definition, self.registry, self.lane_roles, self.clock(), workflow))
        self.workflows.put(ticket.id, ticket.version, workflow)
        return result

    # -- worklist -----------------------------------------------------------------------------
    def list_tasks(self, lanes: list[str] | None = None, assignee: str | None = None,
                   unassigned: bool = False, customer: str | None = None, limit: int = 50,
                   offset: int = 0) -> list[TaskView]:
        """Ready user tasks, oldest first; a plain indexed query, no workflow is loaded."""
        with self.uow(read_only=True) as uow:
            found = TicketStore(uow.connection).worklist(lanes, assignee, unassigned, customer, limit, offset)
            return [TaskView.of(item, number) for item, number in found]

    def tasks_for(self, actor: Actor, lane: str | None = None, mine: bool = False, unassigned: bool = False,
                  limit: int = 50, offset: int = 0) -> list[TaskView]:
        """The ready tasks ``actor`` may work (auditors and admins see every lane)."""
        if actor.role in ("auditor", "admin"):
            lanes = None
        else:
            lanes = [name for name, role in self.lane_roles.items() if role == actor.role]
        if lane is not None:
            lanes = [lane] if lanes is None or lane in lanes else []
        if lanes == []:
            return []
        return self.list_tasks(lanes, actor.name if mine else None, unassigned,
                               actor.name if actor.role == "customer" else None, limit, offset)

    def task_detail(self, task_id: str, actor: Actor) -> TaskDetail:
        """The task, its ticket, its form and what the step needs to know; readers see, workers work."""
        with self.uow(read_only=True) as uow:
            store = TicketStore(uow.connection)
            row, ticket = self._task_and_ticket(store, task_id, actor, ready=False)
            if actor.role not in ("auditor", "admin"):
                check_may_work(actor, row.lane, ticket.customer, self.lane_roles)
            info, definition = self.definition_of(uow.connection, ticket.definition_id)
            schema, ui_schema = definition.form_schema(row.element_id), definition.ui_schema(row.element_id)
            data: dict[str, Any] = {}
            if row.state == "ready":
                data = self._peek(uow.connection, ticket, lambda execution: dict(execution.user_task(row.id).data))
            if self.lane_roles.get(row.lane) == "customer":
                context = {k: data[k] for k in CUSTOMER_CONTEXT if k in data}
            else:
                context = {k: v for k, v in data.items() if k not in schema.get("properties", {})}
            prefill = {k: data[k] for k in schema.get("properties", {}) if k in data}
            view = TicketView.of(ticket, info.version, store.ready_tasks(ticket.id))
            return TaskDetail(TaskView.of(row, ticket.number or ""), view, schema, ui_schema, context, prefill)

    def claim_task(self, task_id: str, actor: Actor) -> TaskView:
        """Assign a ready task to the actor; a conditional update, so only one claim wins."""
        return self._assign(task_id, actor, claim=True)

    def release_task(self, task_id: str, actor: Actor) -> TaskView:
        return self._assign(task_id, actor, claim=False)

    def _assign(self, task_id: str, actor: Actor, claim: bool) -> TaskView:
        now = self.clock()
        with self.uow() as uow:
            store = TicketStore(uow.connection)
            row, ticket = self._task_and_ticket(store, task_id, actor)
            check_may_work(actor, row.lane, ticket.customer, self.lane_roles)
            if claim:
                done = store.assign_task(task_id, actor.name, now)
            elif actor.is_admin:
                done = store.assign_task(task_id, None, None, any_assignee=True)
            else:
                done = store.assign_task(task_id, None, None, expected_assignee=actor.name)
            if not done:
                raise Conflict(f"task {task_id} is already claimed by {row.assignee or 'nobody'}" if claim
                               else f"task {task_id} is not claimed by {actor.name}")
            journal = Journal(ticket)
            where = Where(row.element_id, row.name, row.lane, row.id)
            if not claim and actor.is_admin and row.assignee != actor.name:
                journal.record("admin_override", actor.name, now,
                               {"action": "release_task", "assignee": row.assignee}, where)
            journal.record("task_claimed" if claim else "task_released", actor.name, now,
                           {"previous_assignee": row.assignee} if not claim else {}, where)
            seen = ticket.version
            store.save(ticket, journal.take())
            uow.commit()
        self.workflows.moved(ticket.id, seen, ticket.version)  # a claim changes rows, not the workflow
        row.assignee, row.claimed_at = (actor.name, now) if claim else (None, None)
        return TaskView.of(row, ticket.number or "")

    def _task_and_ticket(self, store: TicketStore, task_id: str, actor: Actor,
                         ready: bool = True) -> tuple[WorkItem, TicketRecord]:
        """The task and its ticket (the task still ready, unless ``ready`` is False); another customer's
        task does not exist for a customer."""
        found = store.task_and_ticket(task_id)
        if found is None or not self._may_read(actor, found[1]):
            raise NotFound(f"task {task_id} does not exist")
        row, ticket = found
        if ready and row.state != "ready":
            raise Conflict(f"task {task_id} is already {row.state}")
        return row, ticket

    def complete_task(self, task_id: str, data: Any, actor: Actor, expected_version: int | None = None) -> TicketView:
        """Validate the form, complete the task and run the process until it needs a person again."""
        now = self.clock()
        with self.uow() as uow:
            store = TicketStore(uow.connection)
            row, ticket = self._task_and_ticket(store, task_id, actor)
            if expected_version is not None and expected_version != ticket.version:
                raise Conflict(f"ticket {ticket.number} changed (version {ticket.version}, "
                               f"you saw {expected_version}): reload and try again")
            check_may_work(actor, row.lane, ticket.customer, self.lane_roles)
            if row.assignee not in (None, actor.name) and not actor.is_admin:
                raise Conflict(f"task {task_id} is assigned to {row.assignee}")
            info, definition = self.definition_of(uow.connection, ticket.definition_id)
            validate_form(definition.form_schema(row.element_id), data)
            execution = self._execution(store, ticket, definition, now)
            task = execution.user_task(row.id)
            if actor.is_admin and self.lane_roles.get(row.lane) != "admin":
                execution.record("admin_override", actor.name,
                                 {"action": "complete_task", "assignee": row.assignee}, execution.where(task))
            execution.complete_user_task(task, data, actor.name)
            if ticket.first_response_at is None and actor.role != "customer":
                ticket.first_response_at = now
            if not store.complete_task(row.id, actor.name, now):
                raise Conflict(f"task {task_id} is no longer ready")
            execution.run_engine_steps()
            ready = execution.save()
            uow.commit()
        self.workflows.put(ticket.id, ticket.version, execution.workflow)
        return TicketView.of(ticket, info.version, ready)

    def _execution(self, store: TicketStore, ticket: TicketRecord, definition: Definition,
                   now: datetime) -> Execution:
        """The ticket's workflow, ready to step; it is put back in the cache only after a commit."""
        workflow = self.workflows.take(ticket.id, ticket.version, ticket.workflow, definition)
        return Execution(ticket, definition, self.registry, self.lane_roles, now, workflow, store)

    # -- background work ----------------------------------------------------------------------
    def fire_due_timers(self, now: datetime | None = None, batch: int = 100) -> list[str]:
        """Fire every timer due by ``now`` and retry stalled tickets; one transaction per ticket."""
        now = now or self.clock()
        with self.uow(read_only=True) as uow:
            due = list(uow.connection.execute(select(TICKET.c.id).where(
                TICKET.c.next_timer_at < now, TICKET.c.status != "closed")
                .order_by(TICKET.c.next_timer_at).limit(batch)).scalars())
        fired = []
        for ticket_id in due:
            number = self._advance(ticket_id, now)
            if number:
                fired.append(number)
        return fired

    def _advance(self, ticket_id: int, now: datetime) -> str | None:
        with self.uow() as uow:
            store = TicketStore(uow.connection)
            # On PostgreSQL, workers on any host skip a ticket another one is advancing.
            ticket = store.ticket(ticket_id, skip_locked=True)
            if ticket is None or ticket.next_timer_at is None or ticket.next_timer_at >= now:
                return None  # another worker got there first
            _, definition = self.definition_of(uow.connection, ticket.definition_id)
            execution = self._execution(store, ticket, definition, now)
            try:
                if ticket.status == "stalled":
                    ticket.stalled_reason = None
                    execution.record("step_retried", "worker", {})
                    execution.run_engine_steps()
                else:
                    execution.fire_timers()
            except (StepFailed, SandboxViolation) as failure:
                uow.connection.rollback()
                self._record_failure(ticket_id, failure, now)
                return None
            try:
                execution.save()
                uow.commit()
            except (Conflict, IntegrityError):
                return None  # someone else moved the ticket on; the next round looks again
        self.workflows.put(ticket.id, ticket.version, execution.workflow)
        return ticket.number

    def _record_failure(self, ticket_id: int, failure: Exception, now: datetime) -> None:
        with self.uow() as uow:
            store = TicketStore(uow.connection)
            ticket = store.ticket(ticket_id)
            assert ticket is not None
            journal = Journal(ticket)
            self._stall(ticket, journal, failure, now)
            store.save(ticket, journal.take())
            uow.commit()


def build_runtime(sessions: sessionmaker[Session], registry: ServiceRegistry, lane_roles: Mapping[str, str],
                  clock: Callable[[], datetime] = system_clock) -> Runtime:
    """Wire a runtime from its parts (used by the composition roots)."""
    return Runtime(sessions, DefinitionLoader(list(registry), lane_roles), registry, lane_roles, clock)
