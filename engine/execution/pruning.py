"""Keep a task tree small while a customer stays silent: prune what reminders leave behind.

Each firing of a non-interrupting boundary timer (the follow-up reminder) adds, under the timer's
task, a branch that runs to its end event and stops at an ``_EndJoin`` (cancelled by the next one),
plus a ``BoundaryEventJoin`` instance that waits for the main task. Compaction cannot cut them (the
timer is still live), so the tree grew by four tasks per reminder, and SpiffWorkflow walks the
whole tree and updates every waiting task after each task it completes: the cost of one wait grew
with the square of its reminders (900 reminders took 219 s to build, a replay of 870 about 25 s).

At each wait state (``workflow_state.compact``, which the live steps and the replay share) this
removes the tasks that can no longer change anything a step observes:

- a waiting ``BoundaryEventJoin`` born of a non-interrupting boundary event: when the main task
  finishes, its own join instance is updated first (``TaskSpec._on_complete`` updates the children
  before the waiting tasks) and cancels every other instance; a cancelled structured join passes
  no data on;
- a spent branch (finished tasks in a chain from the timer's task down to a cancelled ``_EndJoin``)
  whose end data the next finished branch *covers*: at the process end, ``_EndJoin`` deep-merges
  the end data of every finished branch in time order, and merging a covered branch and then its
  successor gives what merging the successor alone gives (see ``covers``).

A tree stored before pruning still carries its spent branches; the next wait state prunes them.
Any difference pruning made would show up in a replay as a divergence of the recorded data
digests, never as a hidden change.
"""
from __future__ import annotations

from typing import Any

from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.bpmn.specs.control import BoundaryEventJoin, _EndJoin
from SpiffWorkflow.bpmn.specs.mixins.events.intermediate_event import BoundaryEvent
from SpiffWorkflow.task import Task
from SpiffWorkflow.util.task import TaskState

_CONTAINERS = (dict, list, set)


def prune_spent_branches(workflow: BpmnWorkflow) -> int:
    """Drop idle boundary joins and covered spent branches of reminders; return how many tasks went.

    For a wait state of a running workflow without subprocesses: ``workflow_state.compact`` checks that.
    """
    idle, ends = [], []
    for task in workflow.tasks.values():  # one pass: a tree without reminders costs a type check a task
        spec = task.task_spec
        if isinstance(spec, BoundaryEventJoin):
            if task.state == TaskState.WAITING and not task._children and _under_reminder(task):
                idle.append(task)
        elif isinstance(spec, _EndJoin) and task.has_state(TaskState.FINISHED_MASK):
            ends.append(task)
    for task in idle:
        _detach(workflow, [task])
    return len(idle) + (_drop_covered_branches(workflow, ends) if len(ends) > 1 else 0)


def _under_reminder(task: Task) -> bool:
    """The task hangs directly under the task of a non-interrupting boundary event."""
    parent = task.parent
    return (parent is not None and isinstance(parent.task_spec, BoundaryEvent)
            and not parent.task_spec.cancel_activity)


def _drop_covered_branches(workflow: BpmnWorkflow, ends: list[Task]) -> int:
    """Drop each spent branch whose end data the next finished ``_EndJoin`` (in merge order) covers."""
    # The order (and the tie-break by task order) is the one _EndJoin's _run_hook merges in.
    ends.sort(key=lambda t: t.last_state_change)
    removed = 0
    for older, newer in zip(ends, ends[1:], strict=False):
        chain = _spent_chain(older)
        # A finished _EndJoin with children could be an ancestor of the last one, which it skips.
        if not chain or newer._children or newer.parent is None or workflow.last_task in chain:
            continue
        if covers(older.parent.data, newer.parent.data):
            _detach(workflow, chain)
            removed += len(chain)
    return removed


def _spent_chain(leaf: Task) -> list[Task]:
    """The finished chain from a reminder's task down to ``leaf``, leaf first; empty if it is not one."""
    if leaf._children or leaf.parent is None:
        return []
    chain, node = [leaf], leaf
    while not _under_reminder(node):
        parent = node.parent
        if parent is None or len(parent._children) != 1 or not parent.has_state(TaskState.FINISHED_MASK):
            return []
        chain.append(parent)
        node = parent
    return chain


def covers(older: dict[str, Any], newer: dict[str, Any]) -> bool:
    """Deep-merging ``older`` then ``newer`` into any data gives what merging ``newer`` alone gives.

    True when every key of ``older`` is in ``newer`` with an identical value (merging a value twice
    changes nothing), or with a scalar of the same type that replaces it, or with dicts on both
    sides of which the same holds, recursively. (One corner stays: a value loosely equal to the
    newer one but of another type already in the final data, such as ``True`` against ``1``; it
    would show up as a divergence of the end's data digest, never hide one.)
    """
    for key, old in older.items():
        if key not in newer:
            return False
        new = newer[key]
        if isinstance(old, dict) and isinstance(new, dict):
            if not covers(old, new):
                return False
        elif not (_identical(old, new) or (type(old) is type(new) and not isinstance(new, _CONTAINERS))):
            return False
    return True


def _identical(a: Any, b: Any) -> bool:
    """Equal and of the same types all the way down (``==`` alone takes ``True`` for ``1``)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_identical(v, b[k]) for k, v in a.items())
    if isinstance(a, list | tuple):
        return len(a) == len(b) and all(_identical(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


def _detach(workflow: BpmnWorkflow, chain: list[Task]) -> None:
    """Remove a chain of tasks (leaf first) from the tree and the task map."""
    top = chain[-1]
    assert top.parent is not None
    top.parent._children.remove(top.id)
    for task in chain:
        del workflow.tasks[task.id]
