"""Restored workflows kept in memory between steps, keyed by the ticket version they belong to.

Restoring a workflow from its JSON costs about as much as the engine step that follows. Most
steps of a ticket are taken by the same process one after another, so the workflow a committed
step leaves behind is kept and handed to the next step of that ticket instead of being parsed
again. Correctness never depends on the cache:

- an entry is used only for the exact ticket version it was stored with; every change of the
  ticket row bumps the version, so a change by another process is always a miss;
- a step takes the entry out (it owns the object while it runs) and puts it back only after its
  transaction committed, so a failed or rolled-back step never leaves a half-stepped workflow.
"""
from __future__ import annotations

import threading
from collections import OrderedDict

from SpiffWorkflow.bpmn import BpmnWorkflow

from engine.execution import workflow_state
from engine.process.definitions import Definition

DEFAULT_SIZE = 512  # a compacted ticket workflow is a few dozen KB in memory


class WorkflowCache:
    def __init__(self, size: int = DEFAULT_SIZE) -> None:
        self._size = size
        self._entries: OrderedDict[int, tuple[int, BpmnWorkflow]] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def take(self, ticket_id: int, version: int, state: str, definition: Definition) -> BpmnWorkflow:
        """The ticket's workflow at ``version``: the kept one if it is that version, else restored."""
        with self._lock:
            entry = self._entries.get(ticket_id)
            if entry is not None and entry[0] <= version:
                del self._entries[ticket_id]  # ours to step now, or older than the row: useless
            if entry is not None and entry[0] == version:
                self.hits += 1
                return entry[1]
            self.misses += 1
        return workflow_state.restore(state, definition)

    def put(self, ticket_id: int, version: int, workflow: BpmnWorkflow) -> None:
        """Keep a workflow whose state was committed as ``version`` of the ticket."""
        if self._size <= 0:
            return
        with self._lock:
            entry = self._entries.get(ticket_id)
            if entry is not None and entry[0] > version:
                return  # a reader of an older version finished after a newer step was kept
            self._entries[ticket_id] = (version, workflow)
            self._entries.move_to_end(ticket_id)
            while len(self._entries) > self._size:
                self._entries.popitem(last=False)

    def moved(self, ticket_id: int, seen: int, version: int) -> None:
        """The ticket went from ``seen`` to ``version`` without a workflow change (a claim, say)."""
        with self._lock:
            entry = self._entries.get(ticket_id)
            if entry is not None and entry[0] == seen:
                self._entries[ticket_id] = (version, entry[1])

    def __len__(self) -> int:
        return len(self._entries)
