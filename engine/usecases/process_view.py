"""The live process for its owners: a definition's diagram and how many tickets wait at each step now.

The counts come from one grouped query over the worklist rows (ready tasks) joined to their tickets and
definitions; no workflow is loaded, so the view costs the same at ten tickets or a hundred thousand.
"""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select

from engine.access import Actor
from engine.errors import Forbidden, NotFound
from engine.store.models import HumanTask, ProcessDefinition, Ticket

from .base import RuntimeCore
from .definitions import active_definition_id

LIVE_ROLES = ("process_owner", "auditor", "admin")


@dataclass(frozen=True)
class DefinitionDiagram:
    """One version of a definition, with its diagram XML."""

    key: str
    version: int
    sha256: str
    bpmn: bytes


@dataclass(frozen=True)
class LiveProcess:
    """The newest version of ``key`` and, per element id, the open tickets waiting there now (all versions)."""

    definition: DefinitionDiagram
    waiting: dict[str, int]
    keys: tuple[str, ...]  # every deployed definition key, for choosing another

    @property
    def total(self) -> int:
        return sum(self.waiting.values())


class ProcessView:
    """Read-only use cases over a runtime's database for process owners, auditors and admins."""

    def __init__(self, runtime: RuntimeCore) -> None:
        self.runtime = runtime

    def definition(self, key: str | None, actor: Actor, version: int | None = None) -> DefinitionDiagram:
        """Version ``version`` (default: the active one) of definition ``key`` (default: the newest deployed)."""
        _allowed(actor)
        query = select(ProcessDefinition.key, ProcessDefinition.version, ProcessDefinition.sha256,
                       ProcessDefinition.bpmn)
        with self.runtime.uow(read_only=True) as uow:
            session = uow.session
            if key is None:  # the process deployed last
                key = session.scalar(select(ProcessDefinition.key).order_by(ProcessDefinition.id.desc()).limit(1))
            query = query.where(ProcessDefinition.key == key)
            if version is not None:
                query = query.where(ProcessDefinition.version == version)
            else:  # the version new tickets start on
                query = query.where(ProcessDefinition.id == active_definition_id(session, key or ""))
            row = session.execute(query.limit(1)).first()
        if row is None:
            what = f"definition {key}" + (f" version {version}" if version is not None else "")
            raise NotFound(f"{what} is not deployed" if key else "no process definition is deployed yet")
        return DefinitionDiagram(row.key, row.version, row.sha256, row.bpmn)

    def live(self, key: str | None, actor: Actor) -> LiveProcess:
        """The newest diagram of ``key`` and how many of its tickets wait at each element now."""
        definition = self.definition(key, actor)
        with self.runtime.uow(read_only=True) as uow:
            session = uow.session
            rows = session.execute(
                select(HumanTask.element_id, func.count(func.distinct(HumanTask.ticket_id)))
                .join(Ticket, Ticket.id == HumanTask.ticket_id)
                .join(ProcessDefinition, ProcessDefinition.id == Ticket.definition_id)
                .where(HumanTask.state == "ready", ProcessDefinition.key == definition.key)
                .group_by(HumanTask.element_id)).all()
            keys = tuple(session.scalars(select(ProcessDefinition.key).distinct().order_by(ProcessDefinition.key)))
        return LiveProcess(definition, {element: count for element, count in rows}, keys)


def _allowed(actor: Actor) -> None:
    if actor.role not in LIVE_ROLES:
        raise Forbidden("the live process is for process owners, auditors and admins")
