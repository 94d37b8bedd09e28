"""The engine's facade: one object holding every use case, each method one transaction.

The use cases live by area in ``engine/usecases/`` (definitions, tickets, tasks, timers); this class
only composes them, so callers hold one ``Runtime`` whatever area they touch.
"""
from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy.orm import Session, sessionmaker

from engine.execution.clock import Clock, system_clock
from engine.execution.services import AnswerLinkMaker, MessageComposer, ServiceRegistry
from engine.process.definitions import DefinitionLoader
from engine.usecases.definitions import DefinitionUseCases
from engine.usecases.service_levels import ServiceLevelUseCases
from engine.usecases.tasks import TaskUseCases
from engine.usecases.tickets import TicketUseCases
from engine.usecases.timers import TimerUseCases


class Runtime(DefinitionUseCases, TicketUseCases, TaskUseCases, TimerUseCases, ServiceLevelUseCases):
    """Every use case of the engine over one database, definition loader and handler registry."""


def build_runtime(sessions: sessionmaker[Session], registry: ServiceRegistry, lane_roles: Mapping[str, str],
                  clock: Clock = system_clock, composer: MessageComposer | None = None,
                  links: AnswerLinkMaker | None = None) -> Runtime:
    """Wire a runtime from its parts (used by the composition roots); ``composer`` writes the handlers'
    messages (``mail.compose.TemplateComposer`` in the shipped wiring), ``links`` signs the customer's answer
    links in them (``engine.usecases.answer_links.AnswerLinkSigner``)."""
    return Runtime(sessions, DefinitionLoader(list(registry), lane_roles), registry, lane_roles, clock,
                   composer=composer, links=links)
