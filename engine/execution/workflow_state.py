"""Workflow (de)serialization by spec reference, and compaction of the task tree at wait states."""
from __future__ import annotations

import contextvars
import json
from copy import copy
from typing import Any
from uuid import UUID

import orjson
from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.bpmn.serializer import BpmnWorkflowSerializer
from SpiffWorkflow.bpmn.serializer.default.workflow import BpmnWorkflowConverter, TaskConverter
from SpiffWorkflow.bpmn.serializer.helpers.encoder import create_encoder
from SpiffWorkflow.bpmn.specs.control import _EndJoin
from SpiffWorkflow.spiff.serializer.config import SPIFF_CONFIG
from SpiffWorkflow.task import Task
from SpiffWorkflow.util.deep_merge import DeepMerge
from SpiffWorkflow.util.task import TaskState

from engine.execution.pruning import prune_spent_branches
from engine.process.definitions import Definition

_restoring: contextvars.ContextVar[Definition] = contextvars.ContextVar("ticketflow_restoring")


class _WorkflowBySpecReference(BpmnWorkflowConverter):
    """Stores a workflow without its spec; restores it against the pinned, already-parsed spec.

    Every ticket otherwise carries a full copy of the diagram's spec (about 4x the state) and
    every load would deserialize it again.
    """

    def to_dict(self, workflow: BpmnWorkflow) -> dict[str, Any]:
        dct = super(BpmnWorkflowConverter, self).to_dict(workflow)
        dct["subprocesses"] = self.mapping_to_dict(workflow.subprocesses)
        dct["bpmn_events"] = self.registry.convert(workflow.bpmn_events)
        if digests(workflow):
            dct[_DIGESTS] = digests(workflow)
        return dct

    def from_dict(self, dct: dict[str, Any]) -> BpmnWorkflow:
        definition = _restoring.get()
        workflow = BpmnWorkflow(definition.spec, dict(definition.subprocess_specs), deserializing=True)
        workflow.tasks = self.mapping_from_dict(dct["tasks"], UUID, workflow=workflow)
        workflow.task_tree = workflow.tasks.get(UUID(dct["root"]))
        self.set_default_attributes(workflow, dct)
        self.subprocesses_from_dict(dct["subprocesses"], workflow)
        workflow.bpmn_events = self.registry.restore(dct.pop("bpmn_events", []))
        remember_digests(workflow, dct.pop(_DIGESTS, {}))
        return workflow


_DIGESTS = "ticketflow_digests"  # the stored state's member (and the workflow's attribute) holding them


def digests(workflow: BpmnWorkflow) -> dict[str, str]:
    """The process data digests the ticket's history recorded last (empty for a workflow stored before them)."""
    return getattr(workflow, _DIGESTS, {})  # type: ignore[no-any-return]


def remember_digests(workflow: BpmnWorkflow, recorded: dict[str, str]) -> None:
    """Keep, with the workflow and in its stored state, the digests just recorded: the next records only changes."""
    setattr(workflow, _DIGESTS, recorded)


class _Tasks(TaskConverter):
    """SpiffWorkflow's task converter, same output, with each task id's text made once.

    ``str(UUID)`` is pure Python and a task's id, parent and children are written on every save:
    it was a quarter of the serialization time.
    """

    def to_dict(self, task: Task) -> dict[str, Any]:
        parent = task.parent
        if parent is None:
            data, delta = task.data, {}
        else:
            data, delta = {}, {"updates": DeepMerge.get_updated_keys(parent.data, task.data),
                               "deletions": DeepMerge.get_deleted_keys(parent.data, task.data)}
        return {
            "id": _uuid_text(task.id),
            "parent": _uuid_text(task._parent) if parent is not None else None,
            "children": [_uuid_text(child) for child in task._children],
            "last_state_change": task.last_state_change,
            "state": task.state,
            "task_spec": task.task_spec.name,
            "triggered": task.triggered,
            "internal_data": self.registry.convert(task.internal_data),
            "data": data,
            "delta": delta,
        }


_UUID_TEXT: dict[int, str] = {}


def _uuid_text(value: UUID) -> str:
    text = _UUID_TEXT.get(value.int)
    if text is None:
        if len(_UUID_TEXT) >= 100_000:  # ids of finished tickets pile up; start over now and then
            _UUID_TEXT.clear()
        text = _UUID_TEXT[value.int] = str(value)
    return text


_CONFIG = copy(SPIFF_CONFIG)
_CONFIG[BpmnWorkflow] = _WorkflowBySpecReference
_CONFIG[Task] = _Tasks
SERIALIZER = BpmnWorkflowSerializer(BpmnWorkflowSerializer.configure(_CONFIG))


_ENCODER = create_encoder(SERIALIZER.registry)()
# Typed values (datetimes, subclasses of str/int/dict/list, dataclasses) go to the registry's encoder,
# exactly as SpiffWorkflow's own json.dumps path sends them; keys that are not strings become strings
# as json.dumps makes them.
_ORJSON_OPTIONS = (orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_SUBCLASS | orjson.OPT_PASSTHROUGH_DATACLASS
                   | orjson.OPT_NON_STR_KEYS)


def dump(workflow: BpmnWorkflow) -> str:
    """Serialize the workflow's state to JSON, without its spec.

    This is SpiffWorkflow's ``serialize_json`` with orjson for the encoding, which was half the time of
    every save. The registry's encoder mode is what ``serialize_json`` sets too: values of registered
    types are converted by the encoder as it meets them instead of in a walk over all the data first.
    Values orjson refuses (integers beyond 64 bits, say) fall back to the stdlib encoder.
    """
    registry = SERIALIZER.registry
    registry._encoder_mode = True
    try:
        dct = SERIALIZER.to_dict(workflow)
    finally:
        registry._encoder_mode = False
    dct[SERIALIZER.VERSION_KEY] = SERIALIZER.VERSION
    try:
        return orjson.dumps(dct, default=_ENCODER.default, option=_ORJSON_OPTIONS).decode()
    except (orjson.JSONEncodeError, TypeError):
        return json.dumps(dct, default=_ENCODER.default)


def restore(state: str, definition: Definition) -> BpmnWorkflow:
    """Rebuild a workflow from stored JSON against the definition it is pinned to."""
    token = _restoring.set(definition)
    try:
        return SERIALIZER.deserialize_json(state)
    finally:
        _restoring.reset(token)


def _is_spent_end_join(task: Task) -> bool:
    """A branch that already reached its end event and only waits for the process to end.

    Each reminder branch leaves one; the final ``_EndJoin`` waits for 'everything else to finish'
    and so does not need it.
    """
    return isinstance(task.task_spec, _EndJoin) and task.state == TaskState.WAITING


def compact(workflow: BpmnWorkflow, prune: bool = True) -> int:
    """Drop finished history and what reminders left behind from the task tree; return how many tasks went.

    At a wait state, the lowest finished common ancestor of every live task becomes the root, then
    the reminders' spent branches are pruned (``engine.execution.pruning``; ``prune=False`` keeps
    them, as trees stored before pruning have them). The live steps and the replay both settle
    through here, so they cannot drift apart. Our own history carries the record of what was
    dropped. Sound for this engine only while no parallel or inclusive join above the cut looks
    back for its split: the caller checks the definition allows it (``Definition.compactable``).
    """
    if workflow.is_completed() or workflow.subprocesses:
        return 0
    removed = _cut_finished_history(workflow)
    if prune:
        removed += prune_spent_branches(workflow)
    return removed


def _cut_finished_history(workflow: BpmnWorkflow) -> int:
    """Make the lowest finished common ancestor of the live tasks the root; return how many tasks went."""
    live = [t for t in workflow.tasks.values()
            if t.has_state(TaskState.NOT_FINISHED_MASK) and not _is_spent_end_join(t)]
    if not live:
        return 0
    # A live task under another live one (the predicted rest of the process) cannot move their common
    # ancestor: only the topmost ones count.
    live_ids = {t.id for t in live}
    root = _lowest_finished_common_ancestor([t for t in live if t._parent not in live_ids])
    if root is None or root is workflow.task_tree:
        return 0
    keep: dict[UUID, Task] = {}
    stack = [root]
    while stack:
        task = stack.pop()
        keep[task.id] = task
        stack.extend(task.children)
    removed = len(workflow.tasks) - len(keep)
    # Materialise the root's data: a parentless task is serialized with full data, not a delta.
    root.data = dict(root.data)
    root._parent = None
    workflow.task_tree = root
    workflow.tasks = keep
    if workflow.last_task is not None and workflow.last_task.id not in keep:
        workflow.last_task = root
    return removed


def _lowest_finished_common_ancestor(tasks: list[Task]) -> Task | None:
    path: list[Task] = []  # the first task's ancestry, root first
    node: Task | None = tasks[0]
    while node is not None:
        path.append(node)
        node = node.parent
    path.reverse()
    depth_of = {id(task): depth for depth, task in enumerate(path)}
    common = len(path)  # the shared prefix of every ancestry seen so far
    for task in tasks[1:]:
        node = task
        while node is not None and id(node) not in depth_of:
            node = node.parent  # the first ancestor on the path is the lowest common one
        common = min(common, depth_of[id(node)] + 1) if node is not None else 0
    for candidate in reversed(path[:common]):
        if candidate.has_state(TaskState.FINISHED_MASK):
            return candidate
    return None
