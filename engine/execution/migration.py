"""Moving a running workflow from one version of its process to another, with SpiffWorkflow's own diff.

``SpiffWorkflow.bpmn.util.diff`` aligns the two versions' task specs by element id (and by structure
where ids changed) and ``migrate_workflow`` re-points every task at its counterpart, then resets and
re-predicts the tasks that are ready or waiting. A task whose element has no counterpart cannot be
moved without an explicit mapping (element in the old version -> element in the new); without one
the ticket is refused with the reason. The same function runs live and in the replay, so a replay
after a migration reproduces it step for step.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.bpmn.util.diff import WorkflowDiff, diff_workflow, migrate_workflow
from SpiffWorkflow.task import Task
from SpiffWorkflow.util.task import TaskState

from engine.errors import FieldError, InvalidInput
from engine.execution import workflow_state
from engine.process.definitions import Definition

# Tasks that are, or were, really there (predicted ones are dropped and predicted again by the reset).
_DEFINITE = TaskState.COMPLETED | TaskState.READY | TaskState.WAITING | TaskState.STARTED | TaskState.ERROR
_RESET = TaskState.READY | TaskState.WAITING  # what migrate_workflow resets and predicts again


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


def _diff(workflow: BpmnWorkflow, new: Definition, mapping: Mapping[str, str]) -> WorkflowDiff:
    diff, subprocesses = diff_workflow(workflow_state.SERIALIZER.registry, workflow, new.spec,
                                       dict(new.subprocess_specs))
    if workflow.subprocesses:
        raise MigrationRefused("the ticket is inside a subprocess; moving those is not supported yet")
    del subprocesses
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
    migrate_workflow(diff, workflow, new.spec)
    workflow.refresh_waiting_tasks()
