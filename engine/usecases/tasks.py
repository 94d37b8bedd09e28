"""Tasks: the worklist, a task with its form, claim and release, and completing a task."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from engine.access import Actor, check_may_work
from engine.errors import Conflict, FieldError, InvalidInput, NotFound
from engine.execution.sla import count_completion
from engine.process.forms import validate_form
from engine.store.history import Journal, Where
from engine.store.models import User
from engine.store.tickets import TicketRecord, TicketStore, WorkItem
from engine.views import TaskView, TicketView

from .base import RuntimeCore

# What a customer may see of the process data on their validation task; agents see all of it.
CUSTOMER_CONTEXT = ("ticket_number", "subject", "description", "customer_message", "customer_steps",
                    "validation_request")
# Of the validation request, only when the answer is due; the reminder schedule is the team's.
CUSTOMER_VALIDATION = ("response_window", "respond_by")


@dataclass(frozen=True)
class TaskDetail:
    """A task as the person working it sees it: form, ticket, and what earlier steps found out."""

    task: TaskView
    ticket: TicketView
    schema: dict[str, Any]
    ui_schema: dict[str, Any]
    context: dict[str, Any]  # read-only process data the step needs (KB matches, triage, the fix, ...)
    prefill: dict[str, Any]  # values of this form's own fields already known (e.g. from an earlier loop)


@dataclass(frozen=True)
class Assignment:
    """A claim or release as done: the task, and the ticket's version after it (the ticket's ETag)."""

    task: TaskView
    ticket_version: int


@dataclass(frozen=True)
class SeenTask:
    """What a form page showed: the ticket's version and the task's assignee when it was rendered.

    A later change elsewhere on the ticket (a reminder firing, a claim of the task by its own worker)
    does not invalidate the typed form; only a change of the task itself does (see ``complete_task``).
    """

    version: int
    assignee: str | None


class TaskUseCases(RuntimeCore):
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
                if isinstance(context.get("validation_request"), dict):
                    request = context["validation_request"]
                    context["validation_request"] = {k: request[k] for k in CUSTOMER_VALIDATION if k in request}
            else:
                context = {k: v for k, v in data.items() if k not in schema.get("properties", {})}
            prefill = {k: data[k] for k in schema.get("properties", {}) if k in data}
            view = TicketView.of(ticket, info.version, store.ready_tasks(ticket.id))
            return TaskDetail(TaskView.of(row, ticket.number or ""), view, schema, ui_schema, context, prefill)

    def claim_task(self, task_id: str, actor: Actor) -> TaskView:
        """Assign a ready task to the actor; a conditional update, so only one claim wins."""
        return self.assign_task(task_id, actor, claim=True).task

    def release_task(self, task_id: str, actor: Actor) -> TaskView:
        return self.assign_task(task_id, actor, claim=False).task

    def assign_to(self, task_id: str, actor: Actor, assignee: str) -> Assignment:
        """Give a ready task to a named agent of its lane (admins, or agents of that lane, may); recorded as
        ``task_assigned`` with who held it before. Conditional on that holder, so a concurrent claim wins."""
        now = self.clock()
        with self.uow() as uow:
            store = TicketStore(uow.connection)
            row, ticket = self._task_and_ticket(store, task_id, actor)
            check_may_work(actor, row.lane, ticket.customer, self.lane_roles)
            role = self.lane_roles.get(row.lane)
            user = uow.session.scalar(select(User).where(User.name == assignee)) if isinstance(assignee, str) else None
            if user is None or user.disabled:
                raise InvalidInput("the task cannot be assigned", [FieldError("/assignee", "no such active user")])
            if role in (None, "customer") or user.role != role:
                raise InvalidInput("the task cannot be assigned", [FieldError(
                    "/assignee", f"{user.name} does not work the {row.lane} lane")])
            if not store.assign_task(task_id, user.name, now, expected_assignee=row.assignee):
                raise Conflict(f"task {task_id} changed hands meanwhile: reload it")
            journal = Journal(ticket)
            journal.record("task_assigned", actor.name, now, {"assignee": user.name,
                                                             "previous_assignee": row.assignee},
                           Where(row.element_id, row.name, row.lane, row.id))
            seen = ticket.version
            store.save(ticket, journal.take())
            uow.commit()
        self.workflows.moved(ticket.id, seen, ticket.version)
        row.assignee, row.claimed_at = user.name, now
        return Assignment(TaskView.of(row, ticket.number or ""), ticket.version)

    def assign_task(self, task_id: str, actor: Actor, claim: bool) -> Assignment:
        """Claim (or release) a task; also says the ticket's new version, for a following If-Match."""
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
        return Assignment(TaskView.of(row, ticket.number or ""), ticket.version)

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

    def complete_task(self, task_id: str, data: Any, actor: Actor, expected_version: int | None = None,
                      seen: SeenTask | None = None) -> TicketView:
        """Validate the form, complete the task and run the process until it needs a person again.

        ``expected_version`` (the API's If-Match) refuses any change of the ticket since; ``seen`` (a form
        page) refuses only a change of this task: completed, or now someone else's than it was.
        """
        now = self.clock()
        with self.uow() as uow:
            store = TicketStore(uow.connection)
            row, ticket = self._task_and_ticket(store, task_id, actor)
            if expected_version is not None and expected_version != ticket.version:
                raise Conflict(f"ticket {ticket.number} changed (version {ticket.version}, "
                               f"you saw {expected_version}): reload and try again")
            check_may_work(actor, row.lane, ticket.customer, self.lane_roles)
            if seen is not None and seen.version != ticket.version and row.assignee not in (
                    None, actor.name, seen.assignee):
                # An admin may complete a task claimed by someone, but not one claimed since they looked.
                raise Conflict(f"task {task_id} was claimed by {row.assignee} meanwhile")
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
            count_completion(ticket, row.element_id, data)
            if not store.complete_task(row.id, actor.name, now):
                raise Conflict(f"task {task_id} is no longer ready")
            execution.run_engine_steps()
            ready = execution.save()
            uow.commit()
        self.workflows.put(ticket.id, ticket.version, execution.workflow)
        return TicketView.of(ticket, info.version, ready)
