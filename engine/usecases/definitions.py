"""Definitions: deploy a diagram (with its forms) as a new immutable version, and list the versions."""
from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy import func, select

from engine.access import Actor
from engine.errors import Forbidden, NotFound
from engine.process.definitions import referenced_forms
from engine.store.models import ProcessDefinition, Ticket

from .base import RuntimeCore


class DefinitionUseCases(RuntimeCore):
    def deploy(self, bpmn: bytes, forms: Mapping[str, bytes], actor: Actor) -> tuple[ProcessDefinition, bool]:
        """Lint and record a new definition version; identical content is a no-op."""
        if actor.role not in ("process_owner", "admin"):
            raise Forbidden("only a process owner or an admin deploys diagrams: a diagram carries code")
        definition = self.loader.load(bpmn, forms)
        with self.uow() as uow:
            existing = uow.session.scalar(select(ProcessDefinition).where(
                ProcessDefinition.sha256 == definition.sha256))
            if existing is not None:
                return existing, False
            latest = uow.session.scalar(select(func.max(ProcessDefinition.version)).where(
                ProcessDefinition.key == definition.process_id)) or 0
            row = ProcessDefinition(
                key=definition.process_id, version=latest + 1, sha256=definition.sha256, bpmn=bpmn,
                forms={name: body.decode() for name, body in forms.items()}, deployed_by=actor.name,
                deployed_at=self.clock())
            uow.session.add(row)
            uow.commit()
            return row, True

    def deploy_upload(self, bpmn: bytes, forms: Mapping[str, bytes], actor: Actor) -> tuple[ProcessDefinition, bool]:
        """Deploy an uploaded diagram. Form files it names but the upload lacks are taken from the latest
        version, so a process owner can upload only the diagram they edited in a modeler."""
        named = referenced_forms(bpmn)
        bundle = {name: forms[name] for name in named if name in forms}  # the hash covers only these
        with self.uow(read_only=True) as uow:
            latest = uow.session.scalar(select(ProcessDefinition).order_by(
                ProcessDefinition.id.desc()).limit(1))
            known = dict(latest.forms) if latest is not None else {}
        for name in named:
            if name not in bundle and name in known:
                bundle[name] = known[name].encode()
        return self.deploy(bpmn, bundle, actor)

    def list_definitions(self) -> list[ProcessDefinition]:
        """Every deployed version, newest first (rows are immutable; returned detached)."""
        with self.uow(read_only=True) as uow:
            rows = list(uow.session.scalars(select(ProcessDefinition).order_by(
                ProcessDefinition.key, ProcessDefinition.version.desc())))
            for row in rows:
                uow.session.expunge(row)
            return rows

    def pinned_definition(self, number: str) -> tuple[int, str, bytes]:
        """(version, sha256, diagram) of the definition ticket ``number`` runs on, read in one query."""
        with self.uow(read_only=True) as uow:
            row = uow.session.execute(
                select(ProcessDefinition.version, ProcessDefinition.sha256, ProcessDefinition.bpmn)
                .join(Ticket, Ticket.definition_id == ProcessDefinition.id).where(Ticket.number == number)).first()
        if row is None:
            raise NotFound(f"ticket {number} does not exist")
        return row.version, row.sha256, row.bpmn
