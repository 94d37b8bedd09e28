"""Moving running tickets from one version of their process to another, one transaction per ticket.

A dry run says, per ticket, where it stands and whether it can move (and why not). A real run moves
each ticket in its own transaction: the workflow is re-pointed by ``engine.execution.migration``, the
ticket is pinned to the new version, a ``definition_migrated`` event records both versions and the
mapping used, and the worklist rows follow. A refused ticket is left exactly as it was. Moved tickets
are no longer on the old version, so an interrupted bulk run resumes by running it again. Tickets move
forward only: a fix to a version is deployed as a newer one, and the tickets move to that.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select

from engine.access import Actor
from engine.errors import FieldError, Forbidden, InvalidInput, NotFound, TicketflowError
from engine.execution.migration import MigrationRefused, assess, check_mapping, migrate, standing
from engine.execution.steps import Execution
from engine.process.definitions import Definition
from engine.store.models import ProcessDefinition, Ticket
from engine.store.tickets import TicketStore, WorkItem

from .base import DefinitionInfo, RuntimeCore

OWNER_ROLES = ("process_owner", "admin")


@dataclass(frozen=True)
class TicketMove:
    """One ticket's outcome: ``moved``, ``movable`` (a dry run), ``refused`` or ``skipped``, in words."""

    number: str
    outcome: str
    standing: tuple[str, ...]
    reason: str = ""

    def as_dict(self) -> dict[str, object]:
        return {"number": self.number, "outcome": self.outcome, "standing": list(self.standing),
                "reason": self.reason}


@dataclass(frozen=True)
class MigrationRequest:
    key: str
    from_version: int
    to_version: int
    numbers: Sequence[str] = ()  # empty: every open ticket on the old version
    mapping: Mapping[str, str] | None = None
    dry_run: bool = False
    limit: int | None = None  # at most this many tickets (a bounded call; run again to continue)


class Migrations:
    """Migrations over a runtime: plan (dry run) and move tickets between versions of a process."""

    def __init__(self, runtime: RuntimeCore) -> None:
        self.runtime = runtime

    def run(self, request: MigrationRequest, actor: Actor,
            progress: Callable[[TicketMove], None] = lambda move: None) -> list[TicketMove]:
        """Move (or, for a dry run, assess) the tickets the request names; ``progress`` hears of each one."""
        if actor.role not in OWNER_ROLES:
            raise Forbidden("only a process owner or an admin moves tickets between versions")
        if request.from_version == request.to_version:
            raise InvalidInput("the versions must differ", [FieldError("/to", "choose another version than the "
                                                                          "one the tickets are on")])
        source, target = self._version(request.key, request.from_version), self._version(request.key,
                                                                                         request.to_version)
        _refuse_going_back(request)
        check_mapping(request.mapping or {}, source[1], target[1])
        moves = []
        for number in self._tickets(source[0].id, request.numbers, request.limit):
            move = self._one(number, source, target, request, actor)
            moves.append(move)
            progress(move)
        return moves

    def _version(self, key: str, version: int) -> tuple[DefinitionInfo, Definition]:
        with self.runtime.uow(read_only=True) as uow:
            row_id = uow.session.scalar(select(ProcessDefinition.id).where(ProcessDefinition.key == key,
                                                                           ProcessDefinition.version == version))
            if row_id is None:
                raise NotFound(f"process '{key}' has no version {version}")
            return self.runtime.definition_of(uow.connection, row_id)

    def remaining(self, key: str, version: int) -> int:
        """How many open tickets are still on ``version`` of ``key``."""
        with self.runtime.uow(read_only=True) as uow:
            return uow.session.scalar(select(func.count()).select_from(Ticket).join(
                ProcessDefinition, ProcessDefinition.id == Ticket.definition_id).where(
                ProcessDefinition.key == key, ProcessDefinition.version == version, Ticket.status != "closed")) or 0

    def _tickets(self, definition_id: int, numbers: Sequence[str], limit: int | None) -> Iterator[str]:
        if numbers:
            yield from list(dict.fromkeys(numbers))[:limit]
            return
        with self.runtime.uow(read_only=True) as uow:
            found = list(uow.session.scalars(select(Ticket.number).where(
                Ticket.definition_id == definition_id, Ticket.status != "closed").order_by(Ticket.id).limit(limit)))
        yield from (number for number in found if number is not None)

    def _one(self, number: str, source: tuple[DefinitionInfo, Definition], target: tuple[DefinitionInfo, Definition],
             request: MigrationRequest, actor: Actor) -> TicketMove:
        runtime, mapping = self.runtime, dict(request.mapping or {})
        now = runtime.clock()
        with runtime.uow() as uow:
            store = TicketStore(uow.connection)
            ticket = store.ticket_by_number(number)
            if ticket is None:
                return TicketMove(number, "skipped", (), "no such ticket")
            if ticket.definition_id != source[0].id or ticket.status == "closed":
                why = "it is closed" if ticket.status == "closed" else "it is not on the version being left"
                return TicketMove(number, "skipped", (), why)
            execution = runtime._execution(store, ticket, source[1], now)
            if request.dry_run:
                seen = assess(execution.workflow, source[1], target[1], mapping)
                runtime.workflows.put(ticket.id, ticket.version, execution.workflow)
                return TicketMove(number, "movable" if seen.movable else "refused", seen.elements, seen.reason)
            where = standing(execution.workflow, source[1])
            try:
                migrate(execution.workflow, source[1], target[1], mapping)
                execution.definition = target[1]
                ticket.definition_id = target[0].id
                execution.record("definition_migrated", actor.name, {
                    "from": {"version": source[0].version, "sha256": source[0].sha256},
                    "to": {"version": target[0].version, "sha256": target[0].sha256}, "mapping": mapping})
                execution.run_engine_steps()
                execution.save()
                store.relabel_tasks(_relabelled(execution, ticket.id, now))
            except (MigrationRefused, TicketflowError) as refused:
                return TicketMove(number, "refused", where, getattr(refused, "reason", None) or str(refused))
            uow.commit()
        runtime.workflows.put(ticket.id, ticket.version, execution.workflow)
        return TicketMove(number, "moved", where)


def _refuse_going_back(request: MigrationRequest) -> None:
    """Tickets only move forward: a fix to a version is deployed as a newer one (older versions stay as they were,
    so every ticket's history still replays on the version it ran)."""
    if request.to_version < request.from_version:
        raise InvalidInput("tickets cannot move to an older version", [FieldError(
            "/to", f"version {request.to_version} is older than version {request.from_version}: tickets only move "
                   "forward; deploy the fix as a new version and move them to that one")])


def _relabelled(execution: Execution, ticket_id: int, now: datetime) -> list[WorkItem]:
    """The ready rows as the new version names them (a mapped task's row changes element too)."""
    rows = []
    for task in execution.ready_user_tasks():
        element = execution.definition.elements[task.task_spec.bpmn_id]
        rows.append(WorkItem(str(task.id), ticket_id, element.id, element.name, element.lane or "", element.form,
                             "ready", None, now))
    return rows
