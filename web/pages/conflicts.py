"""A task form meeting a change since it was shown: complete it unless the task itself changed, and say
in plain words what happened when it did (the typed values are shown again; see ``views.task_submit``)."""
from __future__ import annotations

from typing import Any

from flask import request

from engine.access import Actor
from engine.errors import Conflict
from engine.runtime import Runtime
from engine.usecases.tasks import SeenTask
from engine.views import TaskView, TicketView


def seen_task() -> SeenTask | None:
    """The ticket version and the task's assignee the form was rendered with (its hidden fields)."""
    raw = request.form.get("version", "")
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 12):
        return None
    return SeenTask(int(raw), request.form.get("assignee") or None)


def complete_as_seen(runtime: Runtime, task_id: str, data: Any, actor: Actor, seen: SeenTask | None) -> TicketView:
    """Complete the task unless the task itself changed since the form was shown.

    A change elsewhere on the ticket does not count (the engine checks ``seen``). One that lands during
    this very submit makes the engine refuse the stale write; then look again and, if the task is still
    the same, complete it once more.
    """
    try:
        return runtime.complete_task(task_id, data, actor, seen=seen)
    except Conflict:
        if seen is None:
            raise
        fresh = runtime.task_detail(task_id, actor)
        if fresh.task.state != "ready" or fresh.task.assignee not in (None, actor.name, seen.assignee):
            raise
        return runtime.complete_task(task_id, data, actor, seen=SeenTask(fresh.ticket.version, seen.assignee))


def what_happened(task: TaskView, me: str) -> str:
    """A plain sentence on why the typed answers were not saved: no ids, no versions."""
    if task.state != "ready":
        happened = f"“{task.name}” was {task.state}"
    elif task.assignee not in (None, me):
        happened = f"{task.assignee} claimed “{task.name}”"
    else:
        happened = f"“{task.name}” changed"
    return (f"{happened} while you were filling in the form, so your answers were not saved and the ticket is "
            f"unchanged by them. They are kept below: copy what you still need, then reload “{task.name}” to "
            "see it as it is now.")
