"""Use cases of the process engine; each one is one transaction."""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.orm.exc import StaleDataError

from . import history
from .access import Actor, check_may_work
from .clock import Clock, system_clock
from .definitions import Definition, DefinitionLoader, referenced_forms
from .errors import Conflict, FieldError, Forbidden, InvalidInput, NotFound, SandboxViolation, StepFailed
from .execution import Execution, stale_ticket
from .forms import validate_form
from .history import Where
from .services import ServiceRegistry
from .store.models import HumanTask, ProcessDefinition, Ticket, Unit
from .store.uow import UnitOfWork
from .views import EventView, TaskView, TicketView

CHANNELS = ("portal", "email", "phone", "chat", "api")
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


class Runtime:
    """The engine facade: persistence, definitions and handlers are handed in by a composition root."""

    def __init__(self, sessions: sessionmaker[Session], loader: DefinitionLoader, registry: ServiceRegistry,
                 lane_roles: Mapping[str, str], clock: Clock = system_clock) -> None:
        self.sessions = sessions
        self.loader = loader
        self.registry = registry
        self.lane_roles = dict(lane_roles)
        self.clock = clock
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
        with self.uow() as uow:
            latest = uow.session.scalar(select(ProcessDefinition).order_by(
                ProcessDefinition.id.desc()).limit(1))
            known = dict(latest.forms) if latest is not None else {}
        for name in named:
            if name not in bundle and name in known:
                bundle[name] = known[name].encode()
        return self.deploy(bpmn, bundle, actor)

    def definition_of(self, session: Session, definition_id: int) -> tuple[DefinitionInfo, Definition]:
        """The pinned definition; rows are immutable, so the parsed form is cached by id."""
        cached = self._definitions.get(definition_id)
        if cached is not None:
            return cached
        row = session.get(ProcessDefinition, definition_id)
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

    def ping(self) -> None:
        """Raise unless the database answers."""
        with self.uow(read_only=True) as uow:
            uow.session.execute(select(1))

    def _latest_definition_id(self, session: Session) -> int:
        row = session.scalar(select(ProcessDefinition.id).where(ProcessDefinition.key == PROCESS_KEY)
                             .order_by(ProcessDefinition.version.desc()).limit(1))
        if row is None:
            raise NotFound("no process definition is deployed: run `ticketflow deploy bpmn/support_ticket.bpmn`")
        return row

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
        try:
            return self._open(intake, actor, run_steps=True)
        except (StepFailed, SandboxViolation) as failure:
            # The intake must never be lost: keep the ticket at its start, stalled and retryable.
            return self._open(intake, actor, run_steps=False, failure=failure)

    def _open(self, intake: TicketIntake, actor: Actor, run_steps: bool,
              failure: Exception | None = None) -> TicketView:
        now = self.clock()
        with self.uow() as uow:
            session = uow.session
            if session.get(Unit, intake.unit) is None:
                raise InvalidInput("the ticket cannot be opened", [FieldError("/unit", f"unknown unit '{intake.unit}'")])
            definition_info, definition = self.definition_of(session, self._latest_definition_id(session))
            ticket = Ticket(
                status="new", channel=intake.channel, customer=intake.customer, contact=intake.contact,
                registered_by=actor.name, subject=intake.subject.strip(), description=intake.description.strip(),
                unit_code=intake.unit, opened_at=now, definition_id=definition_info.id, workflow="",
                current_lanes="", current_steps="", history_seq=0, history_head="")
            session.add(ticket)
            session.flush()
            ticket.number = f"T-{ticket.id:06d}"
            history.record(session, ticket, "ticket_opened", actor.name, now, {
                "channel": intake.channel, "customer": intake.customer, "contact": intake.contact,
                "registered_by": actor.name, "subject": ticket.subject, "description": ticket.description,
                "unit": intake.unit, "definition": {"key": definition_info.key, "version": definition_info.version,
                                                    "sha256": definition_info.sha256}})
            data = {"ticket_number": ticket.number, "subject": ticket.subject, "description": ticket.description,
                    "channel": intake.channel, "customer": intake.customer, "unit": intake.unit}
            execution = Execution.start(session, ticket, definition, self.registry, self.lane_roles, now, data)
            if run_steps:
                execution.run_engine_steps()
            execution.save()
            if not run_steps:
                self._stall(ticket, failure, now)
            view = self._view(session, ticket, definition_info.version)
            uow.commit()
            return view

    def _stall(self, ticket: Ticket, failure: Exception | None, now: datetime) -> None:
        ticket.status = "stalled"
        ticket.stalled_reason = str(failure)
        where = Where(getattr(failure, "element", None))
        history.record(self._session_of(ticket), ticket, "step_failed", "system", now,
                       {"error": str(failure)}, where)
        ticket.next_timer_at = now + timedelta(minutes=5)  # the worker retries stalled tickets

    @staticmethod
    def _session_of(ticket: Ticket) -> Session:
        from sqlalchemy.orm import object_session

        session = object_session(ticket)
        assert session is not None
        return session

    def get_ticket(self, number: str, actor: Actor | None = None) -> TicketView:
        with self.uow(read_only=True) as uow:
            ticket = self._ticket(uow.session, number, actor)
            return self._view(uow.session, ticket)

    def list_tickets(self, actor: Actor, filters: TicketFilter = TicketFilter(), limit: int = 50,
                     offset: int = 0) -> tuple[list[TicketView], int]:
        """A page of tickets, newest first, and the total; a customer sees only their own."""
        if actor.role == "customer":
            filters = TicketFilter(filters.status, filters.lane, filters.priority, filters.unit, actor.name)
        elif actor.role not in READ_ROLES:
            raise Forbidden(f"role '{actor.role}' does not read tickets")
        conditions = []
        if filters.status is not None:
            conditions.append(Ticket.status == filters.status)
        if filters.priority is not None:
            conditions.append(Ticket.priority == filters.priority)
        if filters.unit is not None:
            conditions.append(Ticket.unit_code == filters.unit)
        if filters.customer is not None:
            conditions.append(Ticket.customer == filters.customer)
        if filters.lane is not None:
            conditions.append(Ticket.id.in_(select(HumanTask.ticket_id).where(
                HumanTask.state == "ready", HumanTask.lane == filters.lane)))
        query = (select(Ticket, ProcessDefinition.version)
                 .join(ProcessDefinition, ProcessDefinition.id == Ticket.definition_id).where(*conditions)
                 .order_by(Ticket.opened_at.desc(), Ticket.id.desc()).limit(limit).offset(offset))
        with self.uow(read_only=True) as uow:
            total = uow.session.scalar(select(func.count()).select_from(Ticket).where(*conditions)) or 0
            return [TicketView.of(t, version, []) for t, version in uow.session.execute(query)], total

    def _ticket(self, session: Session, number: str, reader: Actor | None = None) -> Ticket:
        """The ticket, if ``reader`` (when given) may read it; another customer's ticket does not exist."""
        ticket = session.scalar(select(Ticket).where(Ticket.number == number))
        if ticket is None or (reader is not None and not self._may_read(reader, ticket)):
            raise NotFound(f"ticket {number} does not exist")
        return ticket

    @staticmethod
    def _may_read(actor: Actor, ticket: Ticket) -> bool:
        return actor.role in READ_ROLES or (actor.role == "customer" and ticket.customer == actor.name)

    def _view(self, session: Session, ticket: Ticket, definition_version: int | None = None) -> TicketView:
        """The ticket as callers see it; built inside the use case's transaction (flushing it)."""
        if definition_version is None:
            definition_version = self.definition_of(session, ticket.definition_id)[0].version
        session.flush()  # one batch for the whole step, so the view carries the version it commits
        ready = list(session.scalars(select(HumanTask).where(
            HumanTask.ticket_id == ticket.id, HumanTask.state == "ready").order_by(HumanTask.created_at)))
        return TicketView.of(ticket, definition_version, ready)

    def ticket_history(self, number: str, actor: Actor | None = None) -> list[EventView]:
        with self.uow(read_only=True) as uow:
            ticket = self._ticket(uow.session, number, actor)
            return [EventView.of(e) for e in history.events(uow.session, ticket.id)]

    def ticket_data(self, number: str) -> dict[str, Any]:
        """The process data of a ticket as its next step sees it."""
        with self.uow(read_only=True) as uow:
            ticket = self._ticket(uow.session, number)
            _, definition = self.definition_of(uow.session, ticket.definition_id)
            return Execution(uow.session, ticket, definition, self.registry, self.lane_roles,
                             self.clock()).current_data()

    # -- worklist -----------------------------------------------------------------------------
    def list_tasks(self, lanes: list[str] | None = None, assignee: str | None = None,
                   unassigned: bool = False, customer: str | None = None, limit: int = 50,
                   offset: int = 0) -> list[TaskView]:
        """Ready user tasks, oldest first; a plain indexed query, no workflow is loaded."""
        query = select(HumanTask, Ticket.number).join(Ticket, Ticket.id == HumanTask.ticket_id).where(
            HumanTask.state == "ready")
        if lanes is not None:
            query = query.where(HumanTask.lane.in_(lanes))
        if assignee is not None:
            query = query.where(HumanTask.assignee == assignee)
        if unassigned:
            query = query.where(HumanTask.assignee.is_(None))
        if customer is not None:
            query = query.where(Ticket.customer == customer)
        query = query.order_by(HumanTask.created_at, HumanTask.id).limit(limit).offset(offset)
        with self.uow(read_only=True) as uow:
            return [TaskView.of(row, number) for row, number in uow.session.execute(query)]

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
            session = uow.session
            row = session.get(HumanTask, task_id)
            ticket = session.get(Ticket, row.ticket_id) if row is not None else None
            if row is None or ticket is None or not self._may_read(actor, ticket):
                raise NotFound(f"task {task_id} does not exist")
            if actor.role not in ("auditor", "admin"):
                check_may_work(actor, row.lane, ticket.customer, self.lane_roles)
            info, definition = self.definition_of(session, ticket.definition_id)
            schema, ui_schema = definition.form_schema(row.element_id), definition.ui_schema(row.element_id)
            data: dict[str, Any] = {}
            if row.state == "ready":
                execution = Execution(session, ticket, definition, self.registry, self.lane_roles, self.clock())
                data = dict(execution.user_task(row.id).data)
            if self.lane_roles.get(row.lane) == "customer":
                context = {k: data[k] for k in CUSTOMER_CONTEXT if k in data}
            else:
                context = {k: v for k, v in data.items() if k not in schema.get("properties", {})}
            prefill = {k: data[k] for k in schema.get("properties", {}) if k in data}
            return TaskDetail(TaskView.of(row, ticket.number or ""), self._view(session, ticket, info.version),
                              schema, ui_schema, context, prefill)

    def claim_task(self, task_id: str, actor: Actor) -> TaskView:
        """Assign a ready task to the actor; a conditional update, so only one claim wins."""
        return self._assign(task_id, actor, claim=True)

    def release_task(self, task_id: str, actor: Actor) -> TaskView:
        return self._assign(task_id, actor, claim=False)

    def _assign(self, task_id: str, actor: Actor, claim: bool) -> TaskView:
        now = self.clock()
        with self.uow() as uow:
            session = uow.session
            row, ticket = self._task_and_ticket(session, task_id, actor)
            check_may_work(actor, row.lane, ticket.customer, self.lane_roles)
            if claim:
                condition = HumanTask.assignee.is_(None)
                values: dict[str, Any] = {"assignee": actor.name, "claimed_at": now}
            else:
                condition = HumanTask.assignee == actor.name if not actor.is_admin else HumanTask.assignee.isnot(None)
                values = {"assignee": None, "claimed_at": None}
            done = session.execute(update(HumanTask).where(
                HumanTask.id == task_id, HumanTask.state == "ready", condition).values(**values)).rowcount
            if not done:
                holder = row.assignee or "nobody"
                raise Conflict(f"task {task_id} is already claimed by {holder}" if claim
                               else f"task {task_id} is not claimed by {actor.name}")
            where = Where(row.element_id, row.name, row.lane, row.id)
            if not claim and actor.is_admin and row.assignee != actor.name:
                history.record(session, ticket, "admin_override", actor.name, now,
                               {"action": "release_task", "assignee": row.assignee}, where)
            history.record(session, ticket, "task_claimed" if claim else "task_released", actor.name, now,
                           {"previous_assignee": row.assignee} if not claim else {}, where)
            uow.commit()
            session.refresh(row)
            return TaskView.of(row, ticket.number or "")

    def _task_and_ticket(self, session: Session, task_id: str, actor: Actor) -> tuple[HumanTask, Ticket]:
        """The ready task and its ticket; another customer's task does not exist for a customer."""
        row = session.get(HumanTask, task_id)
        ticket = session.get(Ticket, row.ticket_id) if row is not None else None
        if row is None or ticket is None or not self._may_read(actor, ticket):
            raise NotFound(f"task {task_id} does not exist")
        if row.state != "ready":
            raise Conflict(f"task {task_id} is already {row.state}")
        return row, ticket

    def complete_task(self, task_id: str, data: Any, actor: Actor, expected_version: int | None = None) -> TicketView:
        """Validate the form, complete the task and run the process until it needs a person again."""
        now = self.clock()
        with self.uow() as uow:
            session = uow.session
            row, ticket = self._task_and_ticket(session, task_id, actor)
            if expected_version is not None and expected_version != ticket.version:
                raise Conflict(f"ticket {ticket.number} changed (version {ticket.version}, "
                               f"you saw {expected_version}): reload and try again")
            check_may_work(actor, row.lane, ticket.customer, self.lane_roles)
            if row.assignee not in (None, actor.name) and not actor.is_admin:
                raise Conflict(f"task {task_id} is assigned to {row.assignee}")
            definition_row, definition = self.definition_of(session, ticket.definition_id)
            validate_form(definition.form_schema(row.element_id), data)
            number = ticket.number
            try:
                self._complete(session, row, ticket, definition, data, actor, now)
                view = self._view(session, ticket, definition_row.version)
                uow.commit()
            except (StaleDataError, IntegrityError):
                raise stale_ticket(number) from None
            return view

    def _complete(self, session: Session, row: HumanTask, ticket: Ticket, definition: Definition,
                  data: dict[str, Any], actor: Actor, now: datetime) -> None:
        execution = Execution(session, ticket, definition, self.registry, self.lane_roles, now)
        task = execution.user_task(row.id)
        if actor.is_admin and (self.lane_roles.get(row.lane) != "admin"):
            history.record(session, ticket, "admin_override", actor.name, now,
                           {"action": "complete_task", "assignee": row.assignee}, execution.where(task))
        execution.complete_user_task(task, data, actor.name)
        if ticket.first_response_at is None and actor.role != "customer":
            ticket.first_response_at = now
        row.state, row.completed_by, row.completed_at = "completed", actor.name, now
        execution.run_engine_steps()
        execution.save()

    # -- background work ----------------------------------------------------------------------
    def fire_due_timers(self, now: datetime | None = None, batch: int = 100) -> list[str]:
        """Fire every timer due by ``now`` and retry stalled tickets; one transaction per ticket."""
        now = now or self.clock()
        with self.uow() as uow:
            due = list(uow.session.scalars(select(Ticket.id).where(
                Ticket.next_timer_at < now, Ticket.status != "closed").order_by(Ticket.next_timer_at).limit(batch)))
        fired = []
        for ticket_id in due:
            number = self._advance(ticket_id, now)
            if number:
                fired.append(number)
        return fired

    def _advance(self, ticket_id: int, now: datetime) -> str | None:
        with self.uow() as uow:
            session = uow.session
            # On PostgreSQL, workers on any host skip a ticket another one is advancing.
            ticket = session.get(Ticket, ticket_id, with_for_update={"skip_locked": True})
            if ticket is None or ticket.next_timer_at is None or ticket.next_timer_at >= now:
                return None  # another worker got there first
            _, definition = self.definition_of(session, ticket.definition_id)
            execution = Execution(session, ticket, definition, self.registry, self.lane_roles, now)
            try:
                if ticket.status == "stalled":
                    ticket.stalled_reason = None
                    history.record(session, ticket, "step_retried", "worker", now, {})
                    execution.run_engine_steps()
                else:
                    execution.fire_timers()
            except (StepFailed, SandboxViolation) as failure:
                uow.session.rollback()
                self._record_failure(ticket_id, failure, now)
                return None
            execution.save()
            try:
                uow.commit()
            except StaleDataError:
                return None
            return ticket.number

    def _record_failure(self, ticket_id: int, failure: Exception, now: datetime) -> None:
        with self.uow() as uow:
            ticket = uow.session.get(Ticket, ticket_id)
            assert ticket is not None
            self._stall(ticket, failure, now)
            uow.commit()


def build_runtime(sessions: sessionmaker[Session], registry: ServiceRegistry, lane_roles: Mapping[str, str],
                  clock: Callable[[], datetime] = system_clock) -> Runtime:
    """Wire a runtime from its parts (used by the composition roots)."""
    return Runtime(sessions, DefinitionLoader(list(registry), lane_roles), registry, lane_roles, clock)
