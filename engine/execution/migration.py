"""Moving a running workflow from one version of its process to another, with SpiffWorkflow's own diff.

``SpiffWorkflow.bpmn.util.diff`` aligns the two versions' task specs by element id (and by structure
where ids changed) and ``migrate_workflow`` re-points every task at its counterpart, then resets and
re-predicts the tasks that are ready or waiting. A task whose element has no counterpart cannot be
moved without an explicit mapping (element in the old version -> element in the new); without one
the ticket is refused with the reason. The same function runs live and in the replay, so a replay
after a migration reproduces it step for step: it reads no clock. A timer already waiting keeps its
schedule (the next reminder stays due when it was, the ones sent stay counted), as Camunda keeps a
migrated timer's due date: a changed expression applies from the next time its step starts. A timer the
target adds is evaluated by the engine steps that follow, at the migration's time.
"""
from __future__ import annotations

import threading
from collections.abc import Mapping
from copy import deepcopy
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.bpmn.specs.bpmn_process_spec import BpmnProcessSpec
from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition
from SpiffWorkflow.bpmn.util.diff import SpecDiff, WorkflowDiff, migrate_workflow
from SpiffWorkflow.task import Task
from SpiffWorkflow.util.task import TaskState

from engine.errors import FieldError, InvalidInput
from engine.execution import workflow_state
from engine.execution.clock import engine_time
from engine.process.definitions import Definition

# Tasks that are, or were, really there (predicted ones are dropped and predicted again by the reset).
_DEFINITE = TaskState.COMPLETED | TaskState.READY | TaskState.WAITING | TaskState.STARTED | TaskState.ERROR
_RESET = TaskState.READY | TaskState.WAITING  # what migrate_workflow resets and predicts again
# The reset evaluates waiting timers again; at this time none is due, so none fires while tasks are re-pointed.
_BEFORE_ANY_TIMER = datetime(1970, 1, 1, tzinfo=UTC)
_SPEC_DIFFS: dict[tuple[int, int], tuple[BpmnProcessSpec, BpmnProcessSpec, SpecDiff]] = {}
_SPEC_DIFFS_KEPT = 16  # version pairs; a bulk run uses one
_SPEC_DIFFS_LOCK = threading.Lock()


class MigrationRefused(Exception):
    """The workflow cannot move to the target version; ``reason`` says why in the procedure's words."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Standing:
    """Where a ticket waits now (the names of its ready or waiting elements) and whether it can move."""

    elements: tuple[str, ...]
    movable: bool
    reason: str


def check_mapping(mapping: Mapping[str, str], old: Definition, new: Definition) -> None:
    """Refuse a mapping whose elements do not exist in their versions (422, naming each)."""
    errors = [FieldError(f"/mapping/{source}", f"'{source}' is not an element of the version being left")
              for source in mapping if source not in old.elements]
    errors += [FieldError(f"/mapping/{source}", f"'{target}' is not an element of the target version")
               for source, target in mapping.items() if target not in new.elements]
    if errors:
        raise InvalidInput("the element mapping names elements that do not exist", errors)


def standing(workflow: BpmnWorkflow, definition: Definition) -> tuple[str, ...]:
    """The names of the elements the workflow waits at."""
    waiting = workflow.get_tasks(state=TaskState.READY | TaskState.WAITING, skip_subprocesses=True)
    names = [definition.elements[t.task_spec.bpmn_id].name or t.task_spec.bpmn_id for t in waiting
             if t.task_spec.bpmn_id in definition.elements]
    return tuple(dict.fromkeys(names))


def _spec_diff(old: BpmnProcessSpec, new: BpmnProcessSpec) -> SpecDiff:
    """How two versions' specs align; computed once per pair (it serializes every spec pair it compares), since
    every ticket restored against a version shares that version's parsed spec."""
    key = (id(old), id(new))
    with _SPEC_DIFFS_LOCK:
        known = _SPEC_DIFFS.get(key)
        if known is not None and known[0] is old and known[1] is new:
            return known[2]
    found = SpecDiff(workflow_state.SERIALIZER.registry, old, new)
    with _SPEC_DIFFS_LOCK:
        if len(_SPEC_DIFFS) >= _SPEC_DIFFS_KEPT:
            _SPEC_DIFFS.clear()
        _SPEC_DIFFS[key] = (old, new, found)
    return found


def _diff(workflow: BpmnWorkflow, new: Definition, mapping: Mapping[str, str]) -> WorkflowDiff:
    if workflow.subprocesses:
        raise MigrationRefused("the ticket is inside a subprocess; moving those is not supported yet")
    diff = WorkflowDiff(workflow, _spec_diff(workflow.spec, new.spec))
    for task in list(diff.removed):
        target = mapping.get(task.task_spec.name)
        if target is not None:
            diff.alignment[task] = new.spec.task_specs[target]
            diff.removed.remove(task)
    return diff


def _unmatched(diff: WorkflowDiff, old: Definition) -> list[str]:
    """Elements the workflow reached (or predicts outside a branch the reset redraws) with no counterpart."""
    names = {old.elements[t.task_spec.bpmn_id].name or t.task_spec.bpmn_id for t in diff.removed
             if t.task_spec.bpmn_id in old.elements and (t.has_state(_DEFINITE) or not _redrawn(t))}
    return sorted(names)


def _redrawn(task: Task) -> bool:
    """Whether the migration's reset of ready and waiting tasks drops this predicted task with its branch."""
    parent = task.parent
    while parent is not None:
        if parent.has_state(_RESET):
            return True
        parent = parent.parent
    return False


def assess(workflow: BpmnWorkflow, old: Definition, new: Definition, mapping: Mapping[str, str]) -> Standing:
    """Where the workflow stands and whether it could move, without changing it."""
    where = standing(workflow, old)
    try:
        diff = _diff(workflow, new, mapping)
    except MigrationRefused as refused:
        return Standing(where, False, refused.reason)
    unmatched = _unmatched(diff, old)
    if unmatched:
        return Standing(where, False, _unmatched_reason(unmatched))
    return Standing(where, True, "")


def _unmatched_reason(names: list[str]) -> str:
    listed = ", ".join(f"'{n}'" for n in names)
    return (f"the target version has no counterpart for {listed}, which the ticket has reached; "
            "map each to an element of the target version")


def migrate(workflow: BpmnWorkflow, old: Definition, new: Definition, mapping: Mapping[str, str]) -> None:
    """Re-point ``workflow`` at ``new`` in place, or raise MigrationRefused and leave its spec untouched."""
    diff = _diff(workflow, new, mapping)
    unmatched = _unmatched(diff, old)
    if unmatched:
        raise MigrationRefused(_unmatched_reason(unmatched))
    timers = _waiting_timers(workflow)
    with engine_time(_BEFORE_ANY_TIMER):
        migrate_workflow(diff, workflow, new.spec)
    _carry_over(workflow, timers)


def _timer(task: Task) -> str | None:
    """A timer's kind (date, duration or cycle: each keeps its progress in its own shape), or None."""
    definition = getattr(task.task_spec, "event_definition", None)
    return type(definition).__name__ if isinstance(definition, TimerEventDefinition) else None


def _waiting_timers(workflow: BpmnWorkflow) -> dict[Any, tuple[str, dict[str, Any]]]:
    """Each waiting timer's kind and its progress (next due time, cycles left), by task id."""
    found = {}
    for task in workflow.get_tasks(state=TaskState.WAITING, skip_subprocesses=True):
        timer = _timer(task)
        if timer is not None:
            found[task.id] = (timer, deepcopy(task.internal_data))
    return found


def _carry_over(workflow: BpmnWorkflow, before: Mapping[Any, tuple[str, dict[str, Any]]]) -> None:
    """Give each timer that was waiting its progress back; let a new one be evaluated at the migration's time."""
    for task in workflow.get_tasks(state=TaskState.WAITING, skip_subprocesses=True):
        timer = _timer(task)
        if timer is None:
            continue
        kept = before.get(task.id)
        if kept is not None and kept[0] == timer:
            task.internal_data = deepcopy(kept[1])
        else:
            task.internal_data.pop("event_value", None)
            task.internal_data.pop("event_fired", None)
