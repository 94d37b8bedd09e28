"""Definitions: deploy a diagram (with its forms) as a new immutable version, activate a version, list them.

Deploying and activating are separate acts: a deployed version is immutable and content-hashed, and new
tickets start on the *active* version of their process key. Activations are an append-only record (the
latest per key wins), so going back to an earlier good version is one more row and leaves a trail.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from engine.access import Actor
from engine.errors import Conflict, DefinitionRejected, Forbidden, NotFound
from engine.process.definitions import referenced_forms
from engine.process.diff import Change, diff_definitions
from engine.process.lint import Problem, locate
from engine.process.xml import parse_xml
from engine.store.models import DefinitionActivation, ProcessDefinition, Ticket

from .base import RuntimeCore

OWNER_ROLES = ("process_owner", "admin")


@dataclass(frozen=True)
class VersionSummary:
    """One deployed version as the process owner's page lists it."""

    key: str
    version: int
    deployed_by: str
    deployed_at: datetime
    sha256: str
    active: bool
    open_tickets: int  # running tickets pinned to it


def _require_owner(actor: Actor, what: str) -> None:
    if actor.role not in OWNER_ROLES:
        raise Forbidden(f"only a process owner or an admin {what}: a diagram carries code")


def _check_base(session: Session, key: str, base_sha256: str) -> None:
    """Refuse (409) when the latest version of ``key`` is not the one the editor opened (an optimistic lock)."""
    latest = session.execute(select(ProcessDefinition.version, ProcessDefinition.sha256).where(
        ProcessDefinition.key == key).order_by(ProcessDefinition.version.desc()).limit(1)).first()
    if latest is None or latest.sha256 == base_sha256:
        return
    opened = session.scalar(select(ProcessDefinition.version).where(ProcessDefinition.key == key,
                                                                    ProcessDefinition.sha256 == base_sha256))
    since = f"since you opened version {opened}" if opened is not None else "and you did not open a version of it"
    raise Conflict(f"someone deployed version {latest.version} of '{key}' {since}: reload to edit the latest")


def active_definition_id(session: Session, key: str) -> int | None:
    """The active version's row id: the latest activation, else (none recorded yet) the latest deploy."""
    activated = session.scalar(select(DefinitionActivation.definition_id).where(DefinitionActivation.key == key)
                               .order_by(DefinitionActivation.id.desc()).limit(1))
    if activated is not None:
        return activated
    return session.scalar(select(ProcessDefinition.id).where(ProcessDefinition.key == key)
                          .order_by(ProcessDefinition.version.desc()).limit(1))


class DefinitionUseCases(RuntimeCore):
    def deploy(self, bpmn: bytes, forms: Mapping[str, bytes], actor: Actor,
               activate: bool = True, base_sha256: str | None = None) -> tuple[ProcessDefinition, bool]:
        """Lint and record a new definition version, active unless ``activate`` is false; content identical to
        a deployed version records nothing (the caller may offer to activate that version). With
        ``base_sha256`` (the version an editor opened) it refuses when another version was deployed since."""
        _require_owner(actor, "deploys diagrams")
        definition = self.loader.load(bpmn, forms)
        with self.uow() as uow:
            session = uow.session
            existing = session.scalar(select(ProcessDefinition).where(ProcessDefinition.sha256 == definition.sha256))
            if existing is not None:
                session.expunge(existing)
                return existing, False
            key = definition.process_id
            if base_sha256 is not None:
                _check_base(session, key, base_sha256)
            pinned = active_definition_id(session, key)
            latest = session.scalar(select(func.max(ProcessDefinition.version)).where(
                ProcessDefinition.key == key)) or 0
            row = ProcessDefinition(
                key=key, version=latest + 1, sha256=definition.sha256, bpmn=bpmn,
                forms={name: body.decode() for name, body in forms.items()}, deployed_by=actor.name,
                deployed_at=self.clock())
            session.add(row)
            session.flush()
            if activate:
                self._record_activation(session, row.key, row.id, actor)
            elif pinned is not None and not self._has_activation(session, key):
                # Until a first activation is recorded the latest deploy counts as active: pin the one
                # that was, so a version deployed inactive does not take over by being the newest.
                self._record_activation(session, key, pinned, actor)
            uow.commit()
            return row, True

    def deploy_upload(self, bpmn: bytes, forms: Mapping[str, bytes], actor: Actor,
                      activate: bool = True, base_sha256: str | None = None) -> tuple[ProcessDefinition, bool]:
        """Deploy a diagram whose form files may be missing: the ones it names but lacks are taken from the latest
        version of its process, so a process owner can deploy only the diagram they edited in a modeler."""
        return self.deploy(bpmn, self._with_known_forms(bpmn, forms), actor, activate, base_sha256)

    def lint_upload(self, bpmn: bytes, forms: Mapping[str, bytes], actor: Actor) -> list[Problem]:
        """What would stop ``deploy_upload`` of this diagram, each problem with the element it is about."""
        _require_owner(actor, "checks diagrams")
        try:
            bundle = self._with_known_forms(bpmn, forms)
            tree = parse_xml(bpmn)
        except DefinitionRejected as rejected:
            return locate(rejected.problems, None)
        return locate(self.loader.check(bpmn, bundle), tree)

    def _with_known_forms(self, bpmn: bytes, forms: Mapping[str, bytes]) -> dict[str, bytes]:
        """The forms the diagram names: the uploaded ones, the rest from the latest version."""
        named = referenced_forms(bpmn)
        bundle = {name: forms[name] for name in named if name in forms}  # the hash covers only these
        with self.uow(read_only=True) as uow:
            latest = uow.session.scalar(select(ProcessDefinition).order_by(ProcessDefinition.id.desc()).limit(1))
            known = dict(latest.forms) if latest is not None else {}
        for name in named:
            if name not in bundle and name in known:
                bundle[name] = known[name].encode()
        return bundle

    def activate(self, key: str, version: int, actor: Actor) -> tuple[ProcessDefinition, bool]:
        """Make ``version`` of ``key`` the one new tickets start on; (row, False) when it already is."""
        _require_owner(actor, "activates diagram versions")
        with self.uow() as uow:
            session = uow.session
            row = session.scalar(select(ProcessDefinition).where(ProcessDefinition.key == key,
                                                                 ProcessDefinition.version == version))
            if row is None:
                raise NotFound(f"process '{key}' has no version {version}")
            if active_definition_id(session, key) == row.id and self._has_activation(session, key):
                session.expunge(row)
                return row, False
            self._record_activation(session, key, row.id, actor)
            session.flush()
            session.expunge(row)
            uow.commit()
            return row, True

    def active_versions(self) -> dict[str, int]:
        """Each process key's active version number."""
        with self.uow(read_only=True) as uow:
            keys = uow.session.scalars(select(ProcessDefinition.key).distinct())
            return {key: version for key in keys if (version := self._active_version(uow.session, key)) is not None}

    def diff_versions(self, key: str, before: int, after: int) -> list[Change]:
        """What changed from version ``before`` to ``after`` of ``key``: nodes, lanes, flows, conditions, timers,
        service calls, forms and their fields."""
        with self.uow(read_only=True) as uow:
            rows = {row.version: (row.bpmn, dict(row.forms)) for row in uow.session.scalars(
                select(ProcessDefinition).where(ProcessDefinition.key == key,
                                                ProcessDefinition.version.in_((before, after))))}
        for version in (before, after):
            if version not in rows:
                raise NotFound(f"process '{key}' has no version {version}")
        return diff_definitions(rows[before], rows[after])

    def version_summaries(self) -> list[VersionSummary]:
        """Every version, newest first per key, with whether it is active and how many open tickets run on it."""
        active = self.active_versions()
        with self.uow(read_only=True) as uow:
            open_by_id: dict[int, int] = {row[0]: row[1] for row in uow.session.execute(
                select(Ticket.definition_id, func.count()).where(Ticket.status != "closed")
                .group_by(Ticket.definition_id))}
            rows = uow.session.execute(select(
                ProcessDefinition.id, ProcessDefinition.key, ProcessDefinition.version, ProcessDefinition.deployed_by,
                ProcessDefinition.deployed_at, ProcessDefinition.sha256).order_by(
                ProcessDefinition.key, ProcessDefinition.version.desc())).all()
        return [VersionSummary(r.key, r.version, r.deployed_by, r.deployed_at, r.sha256,
                               active.get(r.key) == r.version, open_by_id.get(r.id, 0)) for r in rows]

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

    # -- helpers ------------------------------------------------------------------------------
    def _record_activation(self, session: Session, key: str, definition_id: int, actor: Actor) -> None:
        session.add(DefinitionActivation(key=key, definition_id=definition_id, activated_by=actor.name,
                                         activated_at=self.clock()))

    @staticmethod
    def _has_activation(session: Session, key: str) -> bool:
        return session.scalar(select(DefinitionActivation.id).where(DefinitionActivation.key == key).limit(1)) \
            is not None

    @staticmethod
    def _active_version(session: Session, key: str) -> int | None:
        active = active_definition_id(session, key)
        if active is None:
            return None
        return session.scalar(select(ProcessDefinition.version).where(ProcessDefinition.id == active))
