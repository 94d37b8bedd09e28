"""A deployed diagram's elements (names, flows) for the pages, and what the bpmn-js viewer is told to mark.

The picture itself is drawn in the browser by bpmn-js (``web/assets/diagram.js``) from the diagram XML that
``web/pages/process.py`` serves same-origin; a page hands it a ``DiagramView`` as ``data-`` attributes and
says the same in words for readers without scripts. Parsing goes through ``engine.process.xml.parse_xml``
(no DTD, no entities, no network). Definition rows are immutable, so a parse is cached by SHA-256.
"""
from __future__ import annotations

import json
import threading
from collections import Counter, OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from lxml import etree

from engine.process.xml import parse_xml
from engine.views import EventView

if TYPE_CHECKING:
    from engine.runtime import Runtime

BPMN = "http://www.omg.org/spec/BPMN/20100524/MODEL"
CACHE_SIZE = 64
# The events that say the ticket reached an element: a user task became ready, a service ran, a gateway chose,
# a timer fired. (Claims and completions of the same task are the same visit.)
PASSING = frozenset({"task_ready", "service_called", "gateway_taken", "timer_fired"})


@dataclass(frozen=True)
class Flow:
    """A sequence flow: its id, its name and the two elements it joins."""

    element_id: str
    name: str
    source: str
    target: str


@dataclass(frozen=True)
class Diagram:
    """The named elements and the sequence flows of a definition."""

    names: Mapping[str, str]
    flows: tuple[Flow, ...]

    def name_of(self, element_id: str) -> str:
        return self.names.get(element_id) or element_id

    def flow_between(self, source: str, target: str) -> str | None:
        return next((f.element_id for f in self.flows if f.source == source and f.target == target), None)


@dataclass(frozen=True)
class PinnedDiagram:
    """The definition version a ticket is pinned to."""

    version: int
    sha256: str
    diagram: Diagram


@dataclass(frozen=True)
class DiagramView:
    """What the bpmn-js viewer on a page loads and marks (``web/templates/_diagram.html`` renders it)."""

    url: str  # the diagram XML, same-origin
    label: str  # what the picture shows, for screen readers
    current: tuple[str, ...] = ()  # element ids marked "current"
    visited: tuple[str, ...] = ()  # element ids marked "visited"
    counts: Mapping[str, int] = field(default_factory=dict)  # element or flow id -> the number in its badge
    mode: str = "path"  # path: one ticket's way through; heat: tickets waiting per element now

    @property
    def current_json(self) -> str:
        return json.dumps(list(self.current))

    @property
    def visited_json(self) -> str:
        return json.dumps(list(self.visited))

    @property
    def counts_json(self) -> str:
        return json.dumps(dict(self.counts), sort_keys=True)


# -- parsing --------------------------------------------------------------------------------------
def parse_diagram(bpmn: bytes) -> Diagram:
    """Every BPMN element's name by id, and the sequence flows."""
    root = parse_xml(bpmn).getroot()
    names: dict[str, str] = {}
    flows: list[Flow] = []
    for element in root.iter(f"{{{BPMN}}}*"):
        element_id = element.get("id")
        if not element_id:
            continue
        names[element_id] = element.get("name", "")
        if etree.QName(element).localname == "sequenceFlow":
            flows.append(Flow(element_id, element.get("name", ""), element.get("sourceRef", ""),
                              element.get("targetRef", "")))
    return Diagram(names, tuple(flows))


_cache: OrderedDict[str, Diagram] = OrderedDict()
_cache_lock = threading.Lock()


def diagram_of(sha256: str, bpmn: bytes) -> Diagram:
    """The parsed definition; kept per SHA-256 (a definition never changes)."""
    with _cache_lock:
        cached = _cache.get(sha256)
        if cached is not None:
            _cache.move_to_end(sha256)
            return cached
    diagram = parse_diagram(bpmn)
    with _cache_lock:
        _cache[sha256] = diagram
        while len(_cache) > CACHE_SIZE:
            _cache.popitem(last=False)
    return diagram


def pinned_diagram(runtime: Runtime, number: str) -> PinnedDiagram:
    """The definition version ticket ``number`` runs on."""
    version, sha256, bpmn = runtime.pinned_definition(number)
    return PinnedDiagram(version, sha256, diagram_of(sha256, bpmn))


# -- a ticket's way through -----------------------------------------------------------------------
def passes(diagram: Diagram, trail: Iterable[EventView]) -> Counter[str]:
    """How often the ticket reached each element, and took each flow out of a gateway, by its history."""
    counts: Counter[str] = Counter()
    for event in trail:
        if event.kind not in PASSING or not event.element_id:
            continue
        counts[event.element_id] += 1
        if event.kind == "gateway_taken":
            flow = diagram.flow_between(event.element_id, str(event.data.get("target") or ""))
            if flow is not None:
                counts[flow] += 1
    return counts


def loops(diagram: Diagram, counts: Mapping[str, int]) -> dict[str, int]:
    """The counts worth a badge: whatever was passed more than once, and the flows that led back to it."""
    shown = {element: times for element, times in counts.items() if times > 1}
    for flow in diagram.flows:
        if counts.get(flow.element_id) and flow.target in shown:
            shown[flow.element_id] = counts[flow.element_id]
    return shown


def walked(diagram: Diagram, visited: Iterable[str], current: Iterable[str]) -> tuple[str, ...]:
    """The elements passed, and the flows between them (and into where the ticket is now)."""
    passed = tuple(visited)
    seen = set(passed)
    reached = seen | set(current)
    return passed + tuple(f.element_id for f in diagram.flows if f.source in seen and f.target in reached)


def ticket_view(url: str, diagram: Diagram, current: Iterable[str], trail: Iterable[EventView],
                label: str) -> DiagramView:
    """A ticket's diagram: where it is now, where it has been, and how often it went round a loop."""
    now = tuple(current)
    counts = passes(diagram, trail)
    flows = {f.element_id for f in diagram.flows}
    elements = [e for e in counts if e in diagram.names and e not in flows]
    return DiagramView(url, label, now, walked(diagram, elements, now), loops(diagram, counts))
