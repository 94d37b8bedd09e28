"""Deterministic replay: re-execute a ticket's pinned definition on its recorded inputs, in memory.

The recorded history holds every input the workflow ever received: the intake (``ticket_opened``),
each form submission (``task_completed``), each service result (``service_called``), each timer
firing (``timer_fired``, at its recorded time) and each retry of a stalled ticket
(``step_retried``). A replay feeds those inputs, in order, to the same ``Execution`` code the live
path runs, with three things swapped out:

- recording: every event the replay generates is compared with the next recorded one (kind,
  element, lane, actor, time, task and data) instead of being written;
- service dispatch: a service task gets the result recorded for it; no handler runs, so nothing
  is queued, sent or written;
- the worklist: kept as a set of task ids in memory.

The task tree is compacted, and what reminders left behind pruned, at each wait state exactly as
the live path does (``workflow_state.compact``), so the cost of a replay grows linearly with the
number of events, whatever the ticket's loop count or reminders.

Where a task becomes ready or an end is reached, the process data is recorded as digests: every variable's in
events recorded before the storage change, only those that changed since the last ones in newer events; the
replay computes both and compares the recorded event with the form it has.

Events a person or the runtime records around the engine (claims, releases, admin overrides,
queued messages, failures) are not re-executed; they are listed as "recorded". Task ids are new
random UUIDs on every run, so recorded ids are mapped to replayed ones when a task becomes ready.
"""
from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from SpiffWorkflow.task import Task
from SpiffWorkflow.util.task import TaskState

from engine.errors import TicketflowError
from engine.execution import workflow_state
from engine.execution.migration import MigrationRefused, migrate
from engine.execution.services import ServiceRegistry
from engine.execution.steps import Execution, data_digest, new_workflow
from engine.process.definitions import Definition
from engine.store.history import REQUEST_ID, Where, canonical
from engine.store.packing import event_data
from engine.store.tickets import TicketRecord
from engine.views import EventView

GENERATED = frozenset({"process_started", "service_called", "gateway_taken", "end_reached", "task_ready",
                       "task_completed", "timer_fired", "process_completed"})
"""Kinds the engine itself records, which a replay regenerates and compares."""

INPUTS = frozenset({"ticket_opened", "task_completed", "timer_fired", "step_retried", "definition_migrated"})
"""Kinds that move the workflow on; everything else the replay reads is recorded-only."""

_REPLAYED = GENERATED | INPUTS

_COMPARED = ("kind", "element_id", "element_name", "lane", "actor", "at")


def _jsonable(value: Any) -> Any:
    return json.loads(canonical(value))


RecordedEvent = EventView  # one history event as plain data


def event_dict(event: RecordedEvent) -> dict[str, Any]:
    return {"seq": event.seq, "at": event.at.isoformat(), "actor": event.actor, "kind": event.kind,
            "element_id": event.element_id, "element_name": event.element_name, "lane": event.lane,
            "task_id": event.task_id, "data": event.data}


@dataclass(frozen=True)
class ReplayStep:
    """One recorded event as the replay met it: ``match`` (regenerated identically), ``input``
    (an input the replay applied) or ``recorded`` (kept as recorded, not re-executed)."""

    seq: int
    kind: str
    element_id: str | None
    element_name: str | None
    lane: str | None
    outcome: str

    def to_dict(self) -> dict[str, Any]:
        return {"seq": self.seq, "kind": self.kind, "element_id": self.element_id,
                "element_name": self.element_name, "lane": self.lane, "outcome": self.outcome}


@dataclass(frozen=True)
class Divergence:
    """The first place where re-execution and record disagree.

    ``expected`` is the recorded event (None when the replay produced an event the history lacks);
    ``actual`` is what the replay produced (None when it did not reproduce a recorded event).
    """

    seq: int
    reason: str
    expected: dict[str, Any] | None
    actual: dict[str, Any] | None

    def to_dict(self) -> dict[str, Any]:
        return {"seq": self.seq, "reason": self.reason, "expected": self.expected, "actual": self.actual}


@dataclass(frozen=True)
class ReadyTask:
    task_id: str | None  # the recorded id of the task (None if the history never listed it)
    element_id: str
    name: str
    lane: str | None

    def to_dict(self) -> dict[str, Any]:
        return {"task_id": self.task_id, "element_id": self.element_id, "name": self.name, "lane": self.lane}


class _Diverged(Exception):
    def __init__(self, divergence: Divergence) -> None:
        super().__init__(divergence.reason)
        self.divergence = divergence


@dataclass
class ReplayOutcome:
    """What a replay run found, and the replayed ticket's state where it stopped."""

    steps: list[ReplayStep]
    divergence: Divergence | None
    last_seq: int
    status: str
    data: dict[str, Any]
    ready: list[ReadyTask]
    current_elements: list[str]
    visited_elements: list[str] = field(default_factory=list)


class _Cursor:
    """The recorded events in order, with one event of look-ahead."""

    def __init__(self, events: Iterable[RecordedEvent]) -> None:
        self._events = iter(events)
        self._next: RecordedEvent | None = None
        self.last_seq = 0
        self._advance()

    def _advance(self) -> None:
        self._next = next(self._events, None)

    def peek(self) -> RecordedEvent | None:
        return self._next

    def take(self) -> RecordedEvent:
        event = self._next
        assert event is not None
        self.last_seq = event.seq
        self._advance()
        return event


class ReplayExecution(Execution):
    """An ``Execution`` that writes nothing: it hands its events and service calls to the replayer."""

    def __init__(self, replayer: Replayer, ticket: TicketRecord, definition: Definition,
                 lane_roles: Mapping[str, str], now: datetime, data: dict[str, Any], prune: bool = True) -> None:
        # No store, and an empty registry: a handler can never be reached from here.
        super().__init__(ticket, definition, ServiceRegistry(), lane_roles, now, new_workflow(definition, data))
        self.replayer = replayer
        self.listed: set[str] = set()
        # Pruning rests on the same premise as compaction: no parallel or inclusive join looks back.
        self.prune = prune and definition.compactable

    def _compact(self) -> None:
        """Compact as the live path does; ``prune=False`` keeps the reminders' spent branches."""
        if self.prune:
            super()._compact()
        else:
            workflow_state.compact(self.workflow, prune=False)

    def _record(self, kind: str, actor: str, data: dict[str, Any], where: Where = Where()) -> None:
        self.replayer.generated(kind, actor, self.now, data, where)

    def _record_digest(self, kind: str, task: Task) -> None:
        """Generate the changed digests, offering every digest too: events recorded before kept them all."""
        whole = data_digest(task.data)
        self.replayer.generated(kind, "system", self.now, {"data_digest": self._digest_changes(whole)},
                                self.where(task), {"data_digest": whole})

    def _service_result(self, operator: str, where: Where, params: Mapping[str, Any]) -> Any:
        return self.replayer.service_result(operator, where)

    def _sync_worklist(self, ready: list[Task]) -> None:
        for task in ready:
            if str(task.id) not in self.listed:
                self._record_ready(task)
        self.listed = {str(t.id) for t in ready}


class Replayer:
    """Drives one replay over a ticket's recorded events; see the module docstring.

    With ``until``, no input after that sequence number is applied; the transaction that
    recorded event ``until`` still runs to its end, because its events are one atomic change
    (the state "at" an event is the state its transaction committed). ``prune=False`` keeps the
    spent reminder branches, as tickets stored before pruning kept them (slower; the tests compare both).
    """

    def __init__(self, number: str, definition: Definition, lane_roles: Mapping[str, str],
                 events: Iterable[RecordedEvent], until: int | None = None, prune: bool = True,
                 versions: Callable[[str], Definition] | None = None) -> None:
        self.number = number
        self.prune = prune
        self.definition = definition  # where the replay is: the version opened on, then each one migrated to
        self.pinned = definition  # the version the ticket is on now, where a full replay must end
        self.versions = versions  # a definition by its sha256: a ticket that was migrated started on another
        self.lane_roles = lane_roles
        self.cursor = _Cursor(events)
        self.until = until
        self.steps: list[ReplayStep] = []
        self.recorded_id: dict[str, str] = {}  # replayed task id -> recorded task id
        self.replayed_id: dict[str, str] = {}  # recorded task id -> replayed task id
        self.visited: dict[str, None] = {}
        self.execution: ReplayExecution | None = None
        self.ticket = TicketRecord.unsaved(number, datetime.fromtimestamp(0, UTC))

    # -- running ------------------------------------------------------------------------------
    def run(self) -> ReplayOutcome:
        divergence = None
        try:
            self._open()
            while self._pass_recorded_only(self.until) is not None:
                self._apply_next_input()
            if self.until is None and self.definition.sha256 != self.pinned.sha256:
                raise _Diverged(Divergence(self.cursor.last_seq, "the history ends on another version than the "
                                           "ticket is pinned to", {"definition": self.definition.sha256},
                                           {"definition": self.pinned.sha256}))
        except _Diverged as diverged:
            divergence = diverged.divergence
        return self._outcome(divergence)

    def _open(self) -> None:
        first = self._pass_recorded_only()
        if first is None or first.kind != "ticket_opened":
            raise self._missing(first, "the history does not start with ticket_opened")
        self._take(first, "input")
        pinned = first.data.get("definition", {}).get("sha256")
        if pinned != self.definition.sha256 and self.versions is not None and pinned:
            self.definition = self._version(first, pinned)
        if pinned != self.definition.sha256:
            raise _Diverged(Divergence(first.seq, "the ticket was opened on another definition than it is "
                                       "pinned to", {"definition": pinned}, {"definition": self.definition.sha256}))
        data = {"ticket_number": self.number, "subject": first.data.get("subject"),
                "description": first.data.get("description"), "channel": first.data.get("channel"),
                "customer": first.data.get("customer"), "unit": first.data.get("unit")}  # as TicketUseCases._open
        self.execution = ReplayExecution(self, self.ticket, self.definition, self.lane_roles, first.at, data,
                                         self.prune)
        following = self.cursor.peek()
        if following is None or following.kind != "step_failed":  # a stalled opening ran no steps
            self._guarded(first, self.execution.run_engine_steps)
        self._settle(first)

    def _apply_next_input(self) -> None:
        execution = self.execution
        assert execution is not None
        event = self.cursor.peek()
        assert event is not None
        execution.now = event.at
        if event.kind == "task_completed":
            task = self._ready_task(event)
            self._guarded(event, lambda: execution.complete_user_task(task, dict(event.data.get("form", {})),
                                                                      event.actor))
            self._guarded(event, execution.run_engine_steps)
        elif event.kind == "timer_fired":
            self._guarded(event, execution.fire_timers)
        elif event.kind == "definition_migrated":
            self._take(event, "input")
            self._migrate(event)
            self._guarded(event, execution.run_engine_steps)
        elif event.kind == "step_retried":
            self._take(event, "input")
            self.ticket.status, self.ticket.stalled_reason = "waiting", None
            # A retry fires due timers too (a failed timer is retried this way); retries recorded before
            # they counted their attempts ran the engine steps only.
            self._guarded(event, execution.fire_timers if "attempt" in event.data else execution.run_engine_steps)
        else:
            raise self._missing(event, f"recorded {event.kind} was not reproduced by the replay")
        if self.cursor.last_seq < event.seq:
            raise self._missing(event, f"recorded {event.kind} was not reproduced: nothing was due at {event.at}")
        self._settle(event)

    def _version(self, event: RecordedEvent, sha256: str) -> Definition:
        try:
            return self.versions(sha256) if self.versions is not None else self.definition
        except TicketflowError as exc:
            raise _Diverged(Divergence(event.seq, f"the definition {sha256[:12]} named by the history is not "
                                       f"deployed: {exc}", event_dict(event), None)) from exc

    def _migrate(self, event: RecordedEvent) -> None:
        """Apply the recorded migration to the replayed workflow, as the live path did."""
        assert self.execution is not None
        target = self._version(event, str(event.data.get("to", {}).get("sha256", "")))
        try:
            migrate(self.execution.workflow, self.definition, target, dict(event.data.get("mapping") or {}))
        except MigrationRefused as refused:
            raise _Diverged(Divergence(event.seq, f"the recorded migration does not apply: {refused.reason}",
                                       event_dict(event), None)) from refused
        self.definition = self.execution.definition = target

    def _settle(self, cause: RecordedEvent) -> None:
        assert self.execution is not None
        self._guarded(cause, self.execution.settle)
        nxt = self._pass_recorded_only()
        if nxt is not None and nxt.kind not in INPUTS:
            raise self._missing(nxt, f"recorded {nxt.kind} was not reproduced by the replay")

    def _guarded(self, cause: RecordedEvent, step: Any) -> Any:
        try:
            return step()
        except _Diverged:
            raise
        except (TicketflowError, RecursionError, KeyError, TypeError, ValueError) as exc:
            raise _Diverged(Divergence(cause.seq, f"the replay failed after event {cause.seq}: {exc}",
                                       event_dict(cause), None)) from exc

    def _pass_recorded_only(self, limit: int | None = None) -> RecordedEvent | None:
        """Step over events the engine does not generate; return the next one that matters.

        With ``limit``, stop before any event after it (and return None there).
        """
        while (event := self.cursor.peek()) is not None and event.kind not in _REPLAYED:
            if limit is not None and event.seq > limit:
                return None
            if event.kind in ("task_claimed", "task_released") and event.task_id not in self.replayed_id:
                raise self._missing(event, f"{event.kind} names task {event.task_id}, which was never ready")
            if event.kind == "step_failed":
                self.ticket.status = "stalled"
            self._take(event, "recorded")
        if event is not None and limit is not None and event.seq > limit:
            return None
        return event

    def _take(self, event: RecordedEvent, outcome: str) -> None:
        self.cursor.take()
        self.steps.append(ReplayStep(event.seq, event.kind, event.element_id, event.element_name, event.lane,
                                     outcome))

    def _ready_task(self, event: RecordedEvent) -> Task:
        assert self.execution is not None
        ready = self.execution.ready_user_tasks()
        replayed = self.replayed_id.get(event.task_id or "")
        matches = [t for t in ready if str(t.id) == replayed] if replayed else [
            t for t in ready if t.task_spec.bpmn_id == event.element_id]
        if len(matches) != 1:
            raise _Diverged(Divergence(event.seq, f"task {event.element_id} completed in the record is not "
                                       "ready in the replay", event_dict(event),
                                       {"ready": [t.task_spec.bpmn_id for t in ready]}))
        return matches[0]

    # -- what the execution calls -------------------------------------------------------------
    def generated(self, kind: str, actor: str, at: datetime, data: dict[str, Any], where: Where,
                  whole: dict[str, Any] | None = None) -> None:
        """Compare one generated event with the next recorded one; ``whole`` is another form its data may have
        been recorded in (every digest, where newer events record only the changed ones)."""
        produced = {"kind": kind, "actor": actor, "at": at, "element_id": where.element_id,
                    "element_name": where.element_name, "lane": where.lane, "task_id": where.task_id,
                    "data": _jsonable(data)}
        recorded = self._pass_recorded_only()
        if whole is not None and recorded is not None:
            produced["data"] = _nearer(recorded.data, produced["data"], _jsonable(whole))
        if recorded is None or recorded.kind not in GENERATED:
            raise _Diverged(Divergence(self.cursor.last_seq + 1, f"the replay produced {kind} "
                                       f"({where.element_id}) which the history does not have",
                                       event_dict(recorded) if recorded else None, self._shown(produced)))
        differences = self._differences(recorded, produced)
        if differences:
            label = f"{recorded.kind} {recorded.element_id or ''}".strip()
            raise _Diverged(Divergence(recorded.seq, f"event {recorded.seq} ({label}) differs in "
                                       f"{', '.join(differences)}", event_dict(recorded),
                                       self._shown(produced, recorded.seq)))
        if where.task_id and recorded.task_id:
            self.recorded_id[where.task_id] = recorded.task_id
            self.replayed_id[recorded.task_id] = where.task_id
        if where.element_id:
            self.visited[where.element_id] = None
        self._take(recorded, "match")

    def service_result(self, operator: str, where: Where) -> Any:
        """The result recorded for this call; the inputs are compared when the call is recorded."""
        recorded = self._pass_recorded_only()
        if (recorded is None or recorded.kind != "service_called" or recorded.data.get("operator") != operator
                or recorded.element_id != where.element_id):
            seq = recorded.seq if recorded is not None else self.cursor.last_seq + 1
            actual = {"kind": "service_called", "element_id": where.element_id, "data": {"operator": operator}}
            raise _Diverged(Divergence(seq, f"the replay calls {operator} in {where.element_id}, which the "
                                       "history does not record here", event_dict(recorded) if recorded else None,
                                       actual))
        return recorded.data.get("result")

    def _differences(self, recorded: RecordedEvent, produced: dict[str, Any]) -> list[str]:
        differences = [name for name in _COMPARED if getattr(recorded, name) != produced[name]]
        replayed_task = produced["task_id"]
        if replayed_task and recorded.task_id:
            known = self.replayed_id.get(recorded.task_id)
            if (known is not None and known != replayed_task) or (
                    known is None and self.recorded_id.get(replayed_task, recorded.task_id) != recorded.task_id):
                differences.append("task")
        data = recorded.data
        if REQUEST_ID in data:  # which request recorded it, not what the engine did: never reproduced
            data = {key: value for key, value in data.items() if key != REQUEST_ID}
        if data != produced["data"]:
            differences.append(_data_difference(data, produced["data"]))
        return differences

    def _shown(self, produced: dict[str, Any], seq: int | None = None) -> dict[str, Any]:
        shown = dict(produced, at=produced["at"].isoformat())
        shown["task_id"] = self.recorded_id.get(produced["task_id"] or "", produced["task_id"])
        return {"seq": seq, **shown} if seq is not None else shown

    def _missing(self, event: RecordedEvent | None, reason: str) -> _Diverged:
        seq = event.seq if event is not None else self.cursor.last_seq + 1
        return _Diverged(Divergence(seq, reason, event_dict(event) if event is not None else None, None))

    # -- the state where the replay stopped ---------------------------------------------------
    def _outcome(self, divergence: Divergence | None) -> ReplayOutcome:
        execution = self.execution
        if execution is None:
            return ReplayOutcome(self.steps, divergence, self.cursor.last_seq, self.ticket.status, {}, [], [])
        ready = [ReadyTask(self.recorded_id.get(str(t.id)), t.task_spec.bpmn_id or "",
                           execution.where(t).element_name or "", execution.where(t).lane)
                 for t in execution.ready_user_tasks()]
        current = [t.task_spec.bpmn_id for t in execution.workflow.get_tasks(state=TaskState.READY | TaskState.WAITING)
                   if t.task_spec.bpmn_id in self.definition.elements]
        return ReplayOutcome(self.steps, divergence, self.cursor.last_seq, self.ticket.status,
                             _jsonable(execution.current_data()), ready, list(dict.fromkeys(current)),
                             list(self.visited))


def _nearer(recorded: dict[str, Any], changes: dict[str, Any], whole: dict[str, Any]) -> dict[str, Any]:
    """Of the two forms of a digest event's data, the one the recorded event has (or differs from least)."""
    def distance(form: dict[str, Any]) -> int:
        inner_r, inner_p = recorded.get("data_digest"), form.get("data_digest")
        if not isinstance(inner_r, dict) or not isinstance(inner_p, dict):
            return 0
        return sum(inner_r.get(k) != inner_p.get(k) for k in set(inner_r) | set(inner_p))
    return whole if distance(whole) < distance(changes) else changes


def _data_difference(recorded: dict[str, Any], produced: dict[str, Any]) -> str:
    """Name the data keys that differ, one level into a data digest (the process variables)."""
    keys = sorted(k for k in set(recorded) | set(produced) if recorded.get(k) != produced.get(k))
    named = []
    for key in keys:
        inner_r, inner_p = recorded.get(key), produced.get(key)
        if isinstance(inner_r, dict) and isinstance(inner_p, dict) and key == "data_digest":
            variables = sorted(k for k in set(inner_r) | set(inner_p) if inner_r.get(k) != inner_p.get(k))
            named.append(f"process data ({', '.join(variables)})")
        else:
            named.append(f"data.{key}")
    return ", ".join(named)


def recorded_events(rows: Iterable[Any]) -> Iterator[RecordedEvent]:
    """Plain recorded events from history rows (ORM objects or result rows with the same names)."""
    for row in rows:
        yield EventView(row.seq, row.at, row.actor, row.kind, row.element_id, row.element_name, row.lane, row.task_id,
                        event_data(row.stored_data, row.packed), row.hash)
