"""Tickets: open one (the procedure's start), read one with its trail, list them."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, cast

from sqlalchemy import Table, func, insert, select

from engine import limits
from engine.access import Actor
from engine.errors import FieldError, Forbidden, InvalidInput, NotFound, SandboxViolation, StepFailed
from engine.execution.steps import Execution, new_workflow
from engine.store.history import Journal
from engine.store.models import ProcessDefinition, WebhookDelivery
from engine.store.tickets import TASK, TICKET, TicketStore
from engine.views import EventView, TicketView

from .base import READ_ROLES, RuntimeCore, failed_step_name, shown_to

CHANNELS = ("portal", "email", "phone", "chat", "api")
AGENT_CHANNELS = tuple(channel for channel in CHANNELS if channel != "portal")  # the portal is the customer's own
AGENT_CHANNEL_RULE = "an agent registers a request that came in by one of: " + ", ".join(AGENT_CHANNELS)
PROCESS_KEY = "support_ticket"
WEBHOOK_INTAKE_ROLE = "l1"  # a registered channel opens tickets for a named customer, as an agent registering one


@dataclass(frozen=True)
class DeliveryKey:
    """A webhook delivery's identity: written in the ticket's own transaction, unique per channel."""

    channel: str
    webhook_id: str


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

    def problems(self, webhook_channel: str | None = None) -> list[FieldError]:
        """What is wrong with the intake; ``webhook_channel`` is the registered channel it came by, if any
        (a registered channel's name is a valid channel for that channel's own webhook intake only)."""
        problems = []
        if not isinstance(self.subject, str) or not 3 <= len(self.subject.strip()) <= limits.SUBJECT:
            problems.append(FieldError("/subject", f"subject must be 3 to {limits.SUBJECT} characters"))
        if not isinstance(self.description, str) or not 10 <= len(self.description.strip()) <= limits.DESCRIPTION:
            problems.append(FieldError("/description", f"description must be 10 to {limits.DESCRIPTION} characters"))
        if not isinstance(self.customer, str) or not self.customer.strip():
            problems.append(FieldError("/customer", "the customer must be named"))
        elif len(self.customer) > limits.PERSON_NAME:
            problems.append(FieldError("/customer", f"the customer's name must be at most {limits.PERSON_NAME} "
                                                    "characters"))
        if not isinstance(self.contact, dict) or not (self.contact.get("email") or self.contact.get("phone")):
            problems.append(FieldError("/contact", "contact needs an email or a phone number"))
        elif not all(isinstance(v, str) and len(v) <= limits.CONTACT_DETAIL for v in self.contact.values()):
            problems.append(FieldError("/contact", f"contact details must be texts of at most "
                                                   f"{limits.CONTACT_DETAIL} characters"))
        if self.channel not in CHANNELS and (webhook_channel is None or self.channel != webhook_channel):
            problems.append(FieldError("/channel", f"channel must be one of: {', '.join(CHANNELS)}"))
        texts = {"subject": self.subject, "description": self.description, "customer": self.customer,
                 "contact": self.contact}
        problems += [FieldError(pointer, reason) for pointer, reason in limits.unstorable_strings(texts)]
        return problems


def _check_intake_by_person(intake: TicketIntake, actor: Actor) -> None:
    """A customer opens tickets for themself in the portal; an agent registers what came in by another channel."""
    if actor.role == "customer" and (intake.customer != actor.name or intake.channel != "portal"):
        raise Forbidden("a customer opens tickets for themself through the portal")
    if actor.role not in ("customer", "l1", "admin"):
        raise Forbidden(f"role '{actor.role}' does not open tickets")
    if actor.role != "customer" and intake.channel not in AGENT_CHANNELS:
        # The procedure starts in the support channel: what came in elsewhere is registered by an agent.
        raise InvalidInput("the ticket cannot be opened", [FieldError("/channel", AGENT_CHANNEL_RULE)])


def _check_webhook_intake(intake: TicketIntake, actor: Actor, key: DeliveryKey) -> None:
    """A channel's webhook opens tickets on its own channel only, as the channel itself (see ``channels``)."""
    if intake.channel != key.channel:
        raise InvalidInput("the ticket cannot be opened",
                           [FieldError("/channel", f"a delivery of '{key.channel}' opens tickets on that channel")])
    if actor.role != WEBHOOK_INTAKE_ROLE or key.channel in CHANNELS:
        raise Forbidden("only a registered webhook channel opens tickets by webhook")


@dataclass(frozen=True)
class TicketFilter:
    """Ticket list filters; None means any."""

    status: str | None = None
    lane: str | None = None
    priority: str | None = None
    unit: str | None = None
    customer: str | None = None


_LIST_COLUMNS = [c for c in TICKET.c if c.name != "workflow"]  # a list page never needs the state


class TicketUseCases(RuntimeCore):
    def open_ticket(self, intake: TicketIntake, actor: Actor, delivery_key: DeliveryKey | None = None) -> TicketView:
        """Register a ticket and run the process until it needs a person. With ``delivery_key`` (a registered
        channel's webhook) its key row is written in the ticket's transaction: a second copy of the delivery then
        fails on the key's unique constraint (an IntegrityError) and opens nothing."""
        problems = intake.problems(delivery_key.channel if delivery_key else None)
        if problems:
            raise InvalidInput("the ticket cannot be opened", problems)
        if delivery_key is not None:
            _check_webhook_intake(intake, actor, delivery_key)
        else:
            _check_intake_by_person(intake, actor)
        try:
            return self._open(intake, actor, run_steps=True, delivery_key=delivery_key)
        except (StepFailed, SandboxViolation) as failure:
            # The intake must never be lost: keep the ticket at its start, stalled and retryable.
            return self._open(intake, actor, run_steps=False, failure=failure, delivery_key=delivery_key)

    def _open(self, intake: TicketIntake, actor: Actor, run_steps: bool, failure: Exception | None = None,
              delivery_key: DeliveryKey | None = None) -> TicketView:
        now = self.clock()
        with self.uow() as uow:
            store = TicketStore(uow.connection)
            if store.unit(intake.unit) is None:
                raise InvalidInput("the ticket cannot be opened",
                                   [FieldError("/unit", f"unknown unit '{intake.unit}'")])
            definition_id = store.active_definition_id(PROCESS_KEY)
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
                "step_failures": 0, "history_seq": 0, "history_head": ""})
            ticket.number = f"T-{ticket.id:06d}"
            if delivery_key is not None:  # before the steps run: a concurrent copy waits here, then fails
                uow.connection.execute(insert(cast(Table, WebhookDelivery.__table__)).values(
                    channel=delivery_key.channel, webhook_id=delivery_key.webhook_id, ticket_id=ticket.id,
                    received_at=now))
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
                self._stall(ticket, journal, failure, now, failed_step_name(definition, failure))
            ready = execution.persist()
            uow.commit()
        self.workflows.put(ticket.id, ticket.version, execution.workflow)
        return shown_to(actor, TicketView.of(ticket, info.version, ready))

    def get_ticket(self, number: str, actor: Actor | None = None) -> TicketView:
        with self.uow(read_only=True) as uow:
            store = TicketStore(uow.connection)
            ticket = self._readable(store.ticket_by_number(number), number, actor)
            info, _ = self.definition_of(uow.connection, ticket.definition_id)
            return shown_to(actor, TicketView.of(ticket, info.version, store.ready_tasks(ticket.id)))

    def ticket_with_trail(self, number: str, actor: Actor | None = None) -> tuple[TicketView, list[EventView]]:
        """The ticket and its history, read in one transaction (so they agree)."""
        with self.uow(read_only=True) as uow:
            store = TicketStore(uow.connection)
            ticket = self._readable(store.ticket_by_number(number), number, actor)
            info, _ = self.definition_of(uow.connection, ticket.definition_id)
            trail = self._trail_for(actor, ticket, store.events(ticket.id))
            return shown_to(actor, TicketView.of(ticket, info.version, store.ready_tasks(ticket.id))), trail

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
            rows = uow.connection.execute(query)
            return [shown_to(actor, TicketView.of(row, row.definition_version, [])) for row in rows], total

    def ticket_history(self, number: str, actor: Actor | None = None) -> list[EventView]:
        with self.uow(read_only=True) as uow:
            store = TicketStore(uow.connection)
            ticket = self._readable(store.ticket_by_number(number), number, actor)
            return self._trail_for(actor, ticket, store.events(ticket.id))

    def ticket_data(self, number: str) -> dict[str, Any]:
        """The process data of a ticket as its next step sees it."""
        with self.uow(read_only=True) as uow:
            store = TicketStore(uow.connection)
            ticket = self._readable(store.ticket_by_number(number), number, None)
            if not ticket.workflow:  # closed: its state was not kept, the history replays it
                return self._replayed_data(uow.connection, ticket, store.events(ticket.id))
            return self._peek(uow.connection, ticket, lambda execution: execution.current_data())
