"""What the ticket page needs beside the ticket and its trail: the service-level clocks, and the words the
ticket's own procedure version uses for each form (titles, choices), so the work reads in the procedure's words.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from engine.access import Actor
from engine.process.definitions import Definition
from engine.store.tickets import TicketStore

from .base import RuntimeCore


@dataclass(frozen=True)
class Clocks:
    """The ticket's service-level record (see models.Ticket): due times, when each was met, the state."""

    first_response_due: datetime | None
    first_response_at: datetime | None
    resolution_due: datetime | None
    resolved_at: datetime | None
    closed_at: datetime | None
    state: str  # on_track, at_risk, breached (the SLA sweep's verdict)
    paused_since: datetime | None  # the clocks stand still while the customer has the ticket


@dataclass(frozen=True)
class FormWords:
    """One form's words: its title, each field's title, and the label of each choice of a field."""

    title: str
    fields: dict[str, str] = field(default_factory=dict)
    choices: dict[str, dict[str, str]] = field(default_factory=dict)


@dataclass(frozen=True)
class TicketFacts:
    clocks: Clocks
    unit_time_zone: str
    forms: dict[str, FormWords]  # by the user task's element id


def ticket_facts(core: RuntimeCore, number: str, actor: Actor) -> TicketFacts:
    """The clocks and the form words of ticket ``number``, if ``actor`` may read it (else NotFound)."""
    with core.uow(read_only=True) as uow:
        store = TicketStore(uow.connection)
        ticket = core._readable(store.ticket_by_number(number), number, actor)
        _, definition = core.definition_of(uow.connection, ticket.definition_id)
        unit = store.unit(ticket.unit_code)
        clocks = Clocks(ticket.first_response_due, ticket.first_response_at, ticket.resolution_due,
                        ticket.resolved_at, ticket.closed_at, ticket.sla_state, ticket.sla_paused_since)
        return TicketFacts(clocks, unit.time_zone if unit is not None else "UTC", form_words(definition))


def form_words(definition: Definition) -> dict[str, FormWords]:
    """Each user task's form words, read from its JSON Schema's ``title``s and ``x-enumNames``."""
    words: dict[str, FormWords] = {}
    for element_id, element in definition.elements.items():
        if element.form:
            words[element_id] = _words(definition.form_schema(element_id), element.name)
    return words


def _words(schema: Mapping[str, Any], fallback: str) -> FormWords:
    properties: Mapping[str, Any] = schema.get("properties", {})
    titles = {name: str(spec.get("title") or name) for name, spec in properties.items()}
    choices: dict[str, dict[str, str]] = {}
    for name, spec in properties.items():
        if "enum" in spec:
            labels = spec.get("x-enumNames") or spec["enum"]
            choices[name] = {str(v): str(label) for v, label in zip(spec["enum"], labels, strict=False)}
    return FormWords(str(schema.get("title") or fallback), titles, choices)
