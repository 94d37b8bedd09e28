"""One ticket's workflow inside one transaction: load, step, record, project, compact, save."""
from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import datetime
from functools import lru_cache
from time import perf_counter
from typing import Any
from uuid import UUID

from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.bpmn.specs.mixins.exclusive_gateway import ExclusiveGateway
from SpiffWorkflow.bpmn.specs.mixins.service_task import ServiceTask
from SpiffWorkflow.exceptions import SpiffWorkflowException
from SpiffWorkflow.task import Task
from SpiffWorkflow.util.task import TaskState

from engine.errors import Conflict, SandboxViolation, StepFailed, TicketflowError
from engine.execution import sla, workflow_state
from engine.execution.clock import engine_time
from engine.execution.observe import step_observer
from engine.execution.services import ServiceContext, ServiceRegistry
from engine.limits import CURRENT_LANES, CURRENT_STEPS, clip
from engine.process.definitions import Definition
from engine.process.sandbox import TicketScriptEngine, compile_expression
from engine.store.history import Journal, Where, canonical
from engine.store.tickets import TicketRecord, TicketStore, WorkItem
from engine.store.webhooks import queue_events


class Execution:
    """The workflow of one ticket within one use case: step it, record what happened, save it.

    ``store`` is the transaction's rows and ``journal`` the ticket's pending history events; the
    replay runs the same code without a store (it overrides what would write).
    """

    def __init__(self, ticket: TicketRecord, definition: Definition, registry: ServiceRegistry,
                 lane_roles: Mapping[str, str], now: datetime, workflow: BpmnWorkflow,
                 store: TicketStore | None = None, journal: Journal | None = None) -> None:
        self.ticket = ticket
        self.definition = definition
        self.registry = registry
        self.lane_roles = lane_roles
        self.now = now
        self.workflow = workflow
        self.workflow.script_engine = TicketScriptEngine(self._dispatch)  # not serialized: attach every load
        self.store = store
        self.journal = journal if journal is not None else Journal(ticket)
        # The worklist rows that are ready now are exactly the workflow's ready user tasks: every
        # step that changes one also syncs the other, in the same transaction.
        self._listed = {str(t.id) for t in self.ready_user_tasks()}
        self._completed: set[str] = set()  # user tasks this use case completed (their rows say so already)
        self._added: list[WorkItem] = []  # worklist rows the last settle inserted
        self._carried_over: list[str] = []  # ready before and after it
        self._cause, self._began = "engine_steps", perf_counter()  # what the step observer is told at save

    # -- what the engine is waiting for -------------------------------------------------------
    def ready_user_tasks(self) -> list[Task]:
        workflow = self.workflow
        if workflow.subprocesses:  # their tasks live in the subprocesses' own trees
            return [t for t in workflow.get_tasks(state=TaskState.READY) if t.task_spec.manual]
        # A plain scan of the task map: SpiffWorkflow's tree iterator costs several times more.
        return [t for t in workflow.tasks.values() if t.state == TaskState.READY and t.task_spec.manual]

    def user_task(self, task_id: str) -> Task:
        task = self.workflow.get_task_from_id(UUID(task_id))
        if task is None or task.state != TaskState.READY or not task.task_spec.manual:
            raise Conflict(f"task {task_id} is not ready in ticket {self.ticket.number}")
        return task

    def where(self, task: Task) -> Where:
        element = self.definition.elements.get(task.task_spec.bpmn_id or "")
        return Where(task.task_spec.bpmn_id, element.name if element else task.task_spec.bpmn_name,
                     element.lane if element else task.task_spec.lane, str(task.id))

    def current_data(self) -> dict[str, Any]:
        """The process data as the next step sees it (``wf.data`` stays empty until the end)."""
        ready = self.ready_user_tasks()
        if ready:
            return dict(ready[0].data)
        if self.workflow.is_completed():
            return dict(self.workflow.data)
        return dict(self.workflow.last_task.data) if self.workflow.last_task else {}

    # -- stepping -----------------------------------------------------------------------------
    def complete_user_task(self, task: Task, data: dict[str, Any], actor: str) -> None:
        # Task data is copied shallowly between tasks; give this task its own copy of nested values.
        task.data.update(copy_json(data))
        self._cause = "task_completed"
        with engine_time(self.now):
            self._guard(task.run)
        self._completed.add(str(task.id))
        self._record("task_completed", actor, {"form": data}, self.where(task))

    def run_engine_steps(self) -> None:
        with engine_time(self.now):
            self._guard(lambda: self.workflow.do_engine_steps(did_complete_task=self._on_completed))

    def fire_timers(self) -> list[str]:
        """Fire every due timer (SpiffWorkflow fires strictly after the deadline); return their elements."""
        fired, lags = [], []
        for task in self.workflow.get_tasks(state=TaskState.WAITING):
            definition: Any = getattr(task.task_spec, "event_definition", None)
            value = definition.details(task).value if hasattr(definition, "details") else None
            if isinstance(value, str) and (due := datetime.fromisoformat(value)) < self.now:
                fired.append(task)
                lags.append((self.now - due).total_seconds())
        with engine_time(self.now):
            self._guard(self.workflow.refresh_timers)
        self._cause = "timer_fired"
        for task in fired:
            self._record("timer_fired", "worker", {"timer": task.task_spec.bpmn_name}, self.where(task))
        self.run_engine_steps()
        if self.store is not None:  # a live firing, not a replay's
            for lag in lags:
                step_observer().timer_fired(lag)
        return [t.task_spec.bpmn_id for t in fired]

    def _guard(self, step: Any) -> Any:
        """Unwrap SpiffWorkflow's exception wrappers so callers see a domain error."""
        try:
            return step()
        except SpiffWorkflowException as exc:
            task = getattr(exc, "task", None)
            element = (task.task_spec.bpmn_id if task is not None else None) or "?"
            cause: BaseException | None = exc
            while cause is not None:
                if isinstance(cause, SandboxViolation):
                    # Diagram code stopped at run time is the step's failure, not the caller's bad input.
                    raise StepFailed(element, cause, f"step '{element}': {cause.detail}") from exc
                if isinstance(cause, TicketflowError):
                    raise cause from exc
                cause = getattr(cause, "exception", None) or cause.__cause__
            raise StepFailed(element, exc) from exc

    def _dispatch(self, operator: str, element: str, params: Mapping[str, Any]) -> Any:
        info = self.definition.elements.get(element)
        where = Where(element, info.name if info else element, info.lane if info else None)
        result = self._service_result(operator, where, params)
        self._record("service_called", "system", {"operator": operator, "inputs": dict(params), "result": result},
                     where)
        return result

    # -- what a replay replaces: recording, service results, the worklist -----------------------
    def record(self, kind: str, actor: str, data: dict[str, Any], where: Where = Where()) -> None:
        """Record an event of the use case around the engine (an override, a retry, a failure)."""
        self.journal.record(kind, actor, self.now, data, where)

    def _record(self, kind: str, actor: str, data: dict[str, Any], where: Where = Where()) -> None:
        """Record an event the engine generates (the replay compares these instead)."""
        self.record(kind, actor, data, where)

    def _service_result(self, operator: str, where: Where, params: Mapping[str, Any]) -> Any:
        handler = self.registry.get(operator)
        assert self.store is not None
        return handler(ServiceContext(self.store, self.ticket, self.now, where, self.journal, self.registry.composer,
                                      self.registry.links), **params)

    def _on_completed(self, task: Task) -> None:
        spec = task.task_spec
        if spec.bpmn_id is None or isinstance(spec, ServiceTask):
            return  # internal bookkeeping tasks; service calls record themselves
        if isinstance(spec, ExclusiveGateway):
            self._record_gateway(task)
        elif spec.__class__.__name__ == "EndEvent":
            self._record_digest("end_reached", task)
        elif spec.__class__.__name__ == "StartEvent":
            self._record("process_started", "system", {"definition": self.definition.sha256}, self.where(task))

    def _record_gateway(self, task: Task) -> None:
        taken = [c for c in task.children if not c.has_state(TaskState.PREDICTED_MASK)]
        target = taken[0].task_spec.bpmn_id if taken else None
        names: set[str] = set()
        for condition, _ in task.task_spec.cond_task_specs:
            if condition is not None:
                names |= set(compile_expression(condition.args[0]).co_names)
        inputs = {n: task.data[n] for n in sorted(names) if n in task.data}
        branch = self.definition.flow_names.get((task.task_spec.bpmn_id, target or ""), target)
        self._record("gateway_taken", "system",
                     {"gateway": task.task_spec.bpmn_name, "branch": branch, "target": target, "inputs": inputs},
                     self.where(task))

    # -- saving -------------------------------------------------------------------------------
    def save(self) -> list[WorkItem]:
        """Settle at the wait state and write it; return the ready worklist rows."""
        self.settle()
        return self.persist()

    def settle(self) -> list[Task]:
        """At a wait state: sync the worklist, project onto the ticket, compact and prune the task tree."""
        # A signal no task waits for (the customer answered with no follow-up call open) is queued for the
        # application in ``bpmn_events``; we take none from outside, so drop it rather than save it forever.
        self.workflow.get_events()
        ready = self.ready_user_tasks()
        self._sync_worklist(ready)
        self._project(ready)
        self._track_service_levels(ready)
        if self.definition.compactable:
            self._compact()
        return ready

    def _track_service_levels(self, ready: list[Task]) -> None:
        """Pause or resume the resolution clock as the customer's test opens or closes; stop both at the end."""
        if self.store is not None:  # a replay re-derives no rows
            sla.settle(self.ticket, self.store, {str(t.task_spec.bpmn_id) for t in ready},
                       self.workflow.is_completed(), self.now)

    def _compact(self) -> None:
        """Cut finished history and the reminders' spent branches (the one place a replay settles through too)."""
        workflow_state.compact(self.workflow)

    def persist(self) -> list[WorkItem]:
        """Serialize the workflow and write the ticket and its new events (version-checked)."""
        assert self.store is not None
        self.ticket.workflow = self._stored_state()
        events = self.journal.take()
        self.store.save(self.ticket, events)
        # Outbound webhooks commit with the state change they report, or not at all.
        queue_events(self.store.connection, self.ticket.id, self.ticket.number, events, self.lane_roles, self.now)
        step_observer().step_saved(self._cause, perf_counter() - self._began)
        if self._carried_over:
            return self.store.ready_tasks(self.ticket.id)
        return self._added

    def _stored_state(self) -> str:
        """The workflow as stored; a finished one is not kept: its history and pinned definition replay it."""
        return "" if self.workflow.is_completed() else workflow_state.dump(self.workflow)

    def _sync_worklist(self, ready: list[Task]) -> None:
        assert self.store is not None
        ready_ids = {str(t.id): t for t in ready}
        self.store.cancel_tasks([i for i in self._listed if i not in ready_ids and i not in self._completed])
        self._carried_over = [i for i in ready_ids if i in self._listed]
        self._added = [self._work_item(t) for i, t in ready_ids.items() if i not in self._listed]
        self.store.add_tasks(self._added)
        for item in self._added:
            self._record_ready(ready_ids[item.id])
        self._listed, self._completed = set(ready_ids), set()

    def _work_item(self, task: Task) -> WorkItem:
        element = self.definition.elements[task.task_spec.bpmn_id]
        return WorkItem(id=str(task.id), ticket_id=self.ticket.id, element_id=element.id, name=element.name,
                        lane=element.lane or "", form=element.form, state="ready", assignee=None,
                        created_at=self.now)

    def _record_ready(self, task: Task) -> None:
        self._record_digest("task_ready", task)

    def _record_digest(self, kind: str, task: Task) -> None:
        """Record where the process data stands, as the digests that changed since the last ones recorded."""
        self._record(kind, "system", {"data_digest": self._digest_changes(data_digest(task.data))}, self.where(task))

    def _digest_changes(self, whole: dict[str, str]) -> dict[str, str | None]:
        """The variables whose digest differs from the last recorded (None: the variable is gone); keeps ``whole``.

        Events recorded before this kept every digest each time; a replay accepts either form (``audit.replay``).
        """
        before = workflow_state.digests(self.workflow)
        changes: dict[str, str | None] = {key: value for key, value in whole.items() if before.get(key) != value}
        changes.update({key: None for key in before if key not in whole})
        workflow_state.remember_digests(self.workflow, whole)
        return changes

    def _project(self, ready: list[Task]) -> None:
        ticket = self.ticket
        lanes = sorted({self.where(t).lane or "" for t in ready})
        ticket.current_lanes = clip(",".join(lanes), CURRENT_LANES)
        ticket.current_steps = clip(", ".join(self.where(t).element_name or "" for t in ready), CURRENT_STEPS)
        if self.workflow.is_completed():
            if ticket.status != "closed":
                self._record("process_completed", "system", {})
            ticket.status = "closed"
            ticket.next_timer_at = None
            return
        roles = {self.lane_roles.get(lane) for lane in lanes}
        if "customer" in roles:
            ticket.status = "awaiting_customer"
        elif ready:
            ticket.status = "with_" + "_".join(sorted(r or "unmapped" for r in roles))
        else:
            ticket.status = "waiting"  # only timers or messages can move it on
        ticket.next_timer_at = self._next_timer()

    def _next_timer(self) -> datetime | None:
        times = [datetime.fromisoformat(e.value) for e in self.workflow.waiting_events()
                 if isinstance(e.value, str)]
        return min(times) if times else None


def new_workflow(definition: Definition, data: dict[str, Any]) -> BpmnWorkflow:
    """A fresh workflow of the definition, its start carrying the intake data."""
    workflow = BpmnWorkflow(definition.spec, dict(definition.subprocess_specs))
    workflow.task_tree.data.update(copy_json(data))
    for task in workflow.get_tasks(state=TaskState.READY):
        task.data.update(copy_json(data))
    return workflow


def copy_json(value: Any) -> Any:
    """A deep copy of JSON data (dicts, lists, scalars): what ``copy.deepcopy`` does, without its memo."""
    if isinstance(value, dict):
        return {key: copy_json(item) for key, item in value.items()}
    if isinstance(value, list):
        return [copy_json(item) for item in value]
    return value


def data_digest(data: Mapping[str, Any]) -> dict[str, str]:
    """Per process variable, the first 16 hex digits of the SHA-256 of its canonical JSON.

    Recorded where a task becomes ready and where an end is reached, so a replay notices (and
    names) a variable whose value differs from what the live run had, e.g. an altered service
    result, without storing the whole process data again at every step.
    """
    return {key: _scalar_digest(value) if isinstance(value, _SCALARS) else _digest(value)
            for key, value in sorted(data.items())}


_SCALARS = (str, int, float, bool, type(None))


def _digest(value: Any) -> str:
    return hashlib.sha256(canonical(value)).hexdigest()[:16]


# Most process variables are strings that stay the same from step to step (subject, description,
# answers); their digests are remembered. ``typed`` keeps True, 1 and 1.0 apart, as JSON does.
_scalar_digest = lru_cache(maxsize=4096, typed=True)(_digest)

