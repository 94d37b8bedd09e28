"""A deployed diagram's layout (BPMN DI) as plain shapes and edges, and as inline SVG for the pages.

Parsing goes through ``engine.process.xml.parse_xml`` (no DTD, no entities, no network). Names come from an
uploaded diagram, so the SVG is built as an lxml tree and serialized by lxml: every name lands in a
text node or an attribute value, escaped. Colours are SVG presentation attributes (the pages' CSP
allows no inline styles); the classes are hooks for ``site.css`` and for tests.

Definition rows are immutable, so a parsed layout is cached by the definition's SHA-256.
"""
from __future__ import annotations

import math
import threading
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from lxml import etree
from markupsafe import Markup

from engine.process.xml import parse_xml

if TYPE_CHECKING:
    from engine.runtime import Runtime

BPMN = "http://www.omg.org/spec/BPMN/20100524/MODEL"
BPMNDI = "http://www.omg.org/spec/BPMN/20100524/DI"
DC = "http://www.omg.org/spec/DD/20100524/DC"
DI = "http://www.omg.org/spec/DD/20100524/DI"
SVG = "http://www.w3.org/2000/svg"
NS = {"bpmn": BPMN, "bpmndi": BPMNDI, "dc": DC, "di": DI}

TASKS = frozenset({"task", "userTask", "manualTask", "serviceTask", "scriptTask", "sendTask", "receiveTask",
                   "businessRuleTask", "callActivity", "subProcess"})
EVENTS = frozenset({"startEvent", "endEvent", "intermediateCatchEvent", "intermediateThrowEvent",
                    "boundaryEvent"})
GATEWAYS = frozenset({"exclusiveGateway", "parallelGateway", "inclusiveGateway", "eventBasedGateway",
                      "complexGateway"})
CONTAINERS = {"participant": "pool", "lane": "lane"}
NODE_KINDS = ("task", "gateway", "event")  # drawn in this order, events (boundary ones) on top
CACHE_SIZE = 64

FONT = 12.0
LINE = 14.0
HEADER = 30.0  # the band at the left of a horizontal pool or lane that holds its name
ARROW = (10.0, 4.0)  # arrowhead length and half-width
INK, MUTED, PAPER = "#1d2430", "#5b6574", "#ffffff"
LOOK = {  # state -> (fill, stroke, stroke width) of flow nodes
    "current": ("#fff1cc", "#c25e00", 3.0),
    "visited": ("#dde7f6", "#1f5fbf", 1.5),
    "pending": (PAPER, INK, 1.5),
}


@dataclass(frozen=True)
class Box:
    x: float
    y: float
    width: float
    height: float

    @property
    def cx(self) -> float:
        return self.x + self.width / 2

    @property
    def cy(self) -> float:
        return self.y + self.height / 2

    @property
    def right(self) -> float:
        return self.x + self.width

    @property
    def bottom(self) -> float:
        return self.y + self.height


@dataclass(frozen=True)
class Shape:
    """A pool, lane or flow node with its bounds; ``tag`` is the BPMN element's local name."""

    element_id: str
    kind: str  # pool, lane, task, gateway, event
    tag: str
    name: str
    bounds: Box
    label: Box | None = None
    marker: str = ""  # events: the definition (timer, message, ...); gateways: "x" when it is drawn


@dataclass(frozen=True)
class Edge:
    """A sequence flow with the waypoints its DI gives."""

    element_id: str
    name: str
    source: str
    target: str
    waypoints: tuple[tuple[float, float], ...]
    label: Box | None = None


@dataclass(frozen=True)
class Diagram:
    shapes: tuple[Shape, ...]
    edges: tuple[Edge, ...]

    @property
    def nodes(self) -> tuple[Shape, ...]:
        return tuple(s for s in self.shapes if s.kind in NODE_KINDS)

    @property
    def lanes(self) -> tuple[Shape, ...]:
        return tuple(s for s in self.shapes if s.kind == "lane")

    @property
    def pools(self) -> tuple[Shape, ...]:
        return tuple(s for s in self.shapes if s.kind == "pool")

    def name_of(self, element_id: str) -> str:
        return next((s.name for s in self.shapes if s.element_id == element_id and s.name), element_id)

    def extent(self, pad: float = 12.0) -> Box:
        boxes = [s.bounds for s in self.shapes] + [s.label for s in self.shapes if s.label]
        boxes += [e.label for e in self.edges if e.label]
        xs = [b.x for b in boxes] + [b.right for b in boxes] + [x for e in self.edges for x, _ in e.waypoints]
        ys = [b.y for b in boxes] + [b.bottom for b in boxes] + [y for e in self.edges for _, y in e.waypoints]
        if not xs:
            return Box(0, 0, 2 * pad, 2 * pad)
        return Box(min(xs) - pad, min(ys) - pad, max(xs) - min(xs) + 2 * pad, max(ys) - min(ys) + 2 * pad)


@dataclass(frozen=True)
class PinnedDiagram:
    """The layout of the definition version a ticket is pinned to."""

    version: int
    sha256: str
    diagram: Diagram


# -- parsing --------------------------------------------------------------------------------------
def parse_diagram(bpmn: bytes) -> Diagram:
    """The first plane's shapes and sequence-flow edges; DI without usable bounds is left out."""
    root = parse_xml(bpmn).getroot()
    elements = {el.get("id"): el for el in root.iter(f"{{{BPMN}}}*") if el.get("id")}
    plane = root.find("bpmndi:BPMNDiagram/bpmndi:BPMNPlane", NS)
    if plane is None:
        return Diagram((), ())
    shapes = [_shape(di, elements) for di in plane.iterfind("bpmndi:BPMNShape", NS)]
    edges = [_edge(di, elements) for di in plane.iterfind("bpmndi:BPMNEdge", NS)]
    return Diagram(tuple(s for s in shapes if s is not None), tuple(e for e in edges if e is not None))


def _local(element: etree._Element) -> str:
    return etree.QName(element).localname


def _kind(tag: str) -> str | None:
    if tag in TASKS:
        return "task"
    if tag in EVENTS:
        return "event"
    if tag in GATEWAYS:
        return "gateway"
    return CONTAINERS.get(tag)


def _number(raw: str | None) -> float | None:
    try:
        value = float(raw or "")
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _box(node: etree._Element | None) -> Box | None:
    if node is None:
        return None
    x, y, width, height = (_number(node.get(name)) for name in ("x", "y", "width", "height"))
    if x is None or y is None or width is None or height is None or width < 0 or height < 0:
        return None
    return Box(x, y, width, height)


def _shape(di: etree._Element, elements: dict[str, etree._Element]) -> Shape | None:
    element = elements.get(di.get("bpmnElement", ""))
    bounds = _box(di.find("dc:Bounds", NS))
    if element is None or bounds is None:
        return None
    tag = _local(element)
    kind = _kind(tag)
    if kind is None:
        return None
    return Shape(element.get("id", ""), kind, tag, element.get("name", ""), bounds,
                 _box(di.find("bpmndi:BPMNLabel/dc:Bounds", NS)), _marker(element, kind, di))


def _marker(element: etree._Element, kind: str, di: etree._Element) -> str:
    if kind == "event":
        for child in element.iterchildren(f"{{{BPMN}}}*"):
            name = _local(child)
            if name.endswith("EventDefinition"):
                return name.removesuffix("EventDefinition")
    if kind == "gateway" and _local(element) == "exclusiveGateway" and di.get("isMarkerVisible") == "true":
        return "x"
    if kind == "gateway" and _local(element) == "parallelGateway":
        return "+"
    return ""


def _edge(di: etree._Element, elements: dict[str, etree._Element]) -> Edge | None:
    element = elements.get(di.get("bpmnElement", ""))
    if element is None or _local(element) != "sequenceFlow":
        return None
    points = []
    for waypoint in di.iterfind("di:waypoint", NS):
        x, y = _number(waypoint.get("x")), _number(waypoint.get("y"))
        if x is None or y is None:
            return None
        points.append((x, y))
    if len(points) < 2:
        return None
    return Edge(element.get("id", ""), element.get("name", ""), element.get("sourceRef", ""),
                element.get("targetRef", ""), tuple(points), _box(di.find("bpmndi:BPMNLabel/dc:Bounds", NS)))


# -- the pinned version, cached -------------------------------------------------------------------
_cache: OrderedDict[str, Diagram] = OrderedDict()
_cache_lock = threading.Lock()


def diagram_of(sha256: str, bpmn: bytes) -> Diagram:
    """The parsed layout of a definition; kept per SHA-256 (a definition never changes)."""
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
    """The layout of the definition version ticket ``number`` runs on."""
    version, sha256, bpmn = runtime.pinned_definition(number)
    return PinnedDiagram(version, sha256, diagram_of(sha256, bpmn))


# -- SVG ------------------------------------------------------------------------------------------
def render_svg(diagram: Diagram, current: Iterable[str] = (), visited: Iterable[str] = (),
               title: str = "Process diagram") -> Markup:
    """The diagram as an inline ``<svg>``: ``current`` elements highlighted, ``visited`` ones shaded."""
    now, seen = set(current), set(visited)
    area = diagram.extent()
    svg = etree.Element(f"{{{SVG}}}svg", nsmap={None: SVG})
    _set(svg, {"class": "bpmn", "viewBox": f"{_n(area.x)} {_n(area.y)} {_n(area.width)} {_n(area.height)}",
               "width": area.width, "height": area.height, "role": "img", "aria-labelledby": "diagram-title",
               "font-family": "system-ui, sans-serif", "font-size": FONT})
    _add(svg, "title", {"id": "diagram-title"}, title)
    for shape in diagram.shapes:
        if shape.kind in ("pool", "lane"):
            _container(svg, shape)
    for edge in diagram.edges:
        _flow(svg, edge, "visited" if edge.source in seen and edge.target in seen | now else "pending")
    for kind in NODE_KINDS:
        for shape in diagram.nodes:
            if shape.kind == kind:
                state = "current" if shape.element_id in now else "visited" if shape.element_id in seen \
                    else "pending"
                _node(svg, shape, state)
    return Markup(etree.tostring(svg, encoding="unicode"))


def _n(value: float) -> str:
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return "0" if text in ("", "-0") else text


def _set(element: etree._Element, attributes: dict[str, object]) -> None:
    for key, value in attributes.items():
        element.set(key, _n(value) if isinstance(value, float | int) else str(value))


def _add(parent: etree._Element, tag: str, attributes: dict[str, object], text: str | None = None
         ) -> etree._Element:
    element = etree.SubElement(parent, f"{{{SVG}}}{tag}")
    _set(element, attributes)
    if text is not None:
        element.text = text
    return element


def _container(svg: etree._Element, shape: Shape) -> None:
    box = shape.bounds
    group = _add(svg, "g", {"class": f"dg-{shape.kind}", "data-element": shape.element_id})
    _add(group, "rect", {"x": box.x, "y": box.y, "width": box.width, "height": box.height,
                         "fill": PAPER if shape.kind == "pool" else "none", "stroke": MUTED, "stroke-width": 1})
    if box.width > HEADER:
        _add(group, "line", {"x1": box.x + HEADER, "y1": box.y, "x2": box.x + HEADER, "y2": box.bottom,
                             "stroke": MUTED, "stroke-width": 1})
    cx, cy = box.x + HEADER / 2, box.cy
    lines = _wrap(shape.name, box.height - 8, 1)
    if lines:
        _add(group, "text", {"x": cx, "y": cy + FONT * 0.35, "text-anchor": "middle", "fill": INK,
                             "font-weight": "600", "transform": f"rotate(-90 {_n(cx)} {_n(cy)})"}, lines[0])


def _flow(svg: etree._Element, edge: Edge, state: str) -> None:
    colour = LOOK[state][1] if state == "visited" else MUTED
    group = _add(svg, "g", {"class": f"dg-flow dg-{state}", "data-element": edge.element_id})
    if edge.name:
        _add(group, "title", {}, edge.name)
    _add(group, "polyline", {"points": " ".join(f"{_n(x)},{_n(y)}" for x, y in edge.waypoints),
                             "fill": "none", "stroke": colour, "stroke-width": 1.5, "stroke-linejoin": "round"})
    head = _arrowhead(edge.waypoints)
    if head:
        _add(group, "polygon", {"points": head, "fill": colour, "stroke": colour, "stroke-width": 1})
    if edge.name:
        if edge.label is not None:
            _text(group, edge.name, edge.label.cx, edge.label.y + FONT, edge.label.width, 3, size=11.0)
        else:
            (x1, y1), (x2, y2) = _middle_segment(edge.waypoints)
            _text(group, edge.name, (x1 + x2) / 2, (y1 + y2) / 2 - 6, 120, 2, size=11.0)


def _arrowhead(points: tuple[tuple[float, float], ...]) -> str:
    """A triangle at the last waypoint, along the last segment of non-zero length."""
    tip = points[-1]
    base = next((p for p in reversed(points[:-1]) if p != tip), None)
    if base is None:
        return ""
    dx, dy = tip[0] - base[0], tip[1] - base[1]
    length = math.hypot(dx, dy)
    ux, uy = dx / length, dy / length
    back_x, back_y = tip[0] - ux * ARROW[0], tip[1] - uy * ARROW[0]
    left = (back_x - uy * ARROW[1], back_y + ux * ARROW[1])
    right = (back_x + uy * ARROW[1], back_y - ux * ARROW[1])
    return " ".join(f"{_n(x)},{_n(y)}" for x, y in (tip, left, right))


def _middle_segment(points: tuple[tuple[float, float], ...]) -> tuple[tuple[float, float], tuple[float, float]]:
    middle = (len(points) - 1) // 2
    return points[middle], points[middle + 1]


def _node(svg: etree._Element, shape: Shape, state: str) -> None:
    fill, stroke, width = LOOK[state]
    box = shape.bounds
    group = _add(svg, "g", {"class": f"dg-node dg-{shape.kind} dg-{state}", "data-element": shape.element_id})
    _add(group, "title", {}, f"{shape.name or shape.element_id} ({state})")
    paint = {"fill": fill, "stroke": stroke, "stroke-width": width}
    if shape.kind == "task":
        _add(group, "rect", {"x": box.x, "y": box.y, "width": box.width, "height": box.height, "rx": 10,
                             "ry": 10, **paint})
        _text(group, shape.name, box.cx, box.cy, box.width - 10, max(1, int((box.height - 6) // LINE)),
              middle=True)
        return
    if shape.kind == "gateway":
        _gateway(group, shape, paint)
    else:
        _event(group, shape, paint)
    if shape.name:
        label = shape.label or Box(box.cx - 55, box.bottom + 4, 110, 2 * LINE)
        _text(group, shape.name, label.cx, label.y + FONT, max(label.width, 40), 3, size=11.0)


def _gateway(group: etree._Element, shape: Shape, paint: dict[str, object]) -> None:
    box = shape.bounds
    corners = ((box.cx, box.y), (box.right, box.cy), (box.cx, box.bottom), (box.x, box.cy))
    _add(group, "polygon", {"points": " ".join(f"{_n(x)},{_n(y)}" for x, y in corners), **paint})
    dx, dy = box.width * 0.22, box.height * 0.22
    mark = {"stroke": INK, "stroke-width": 3, "stroke-linecap": "round"}
    if shape.marker == "x":
        _add(group, "line", {"x1": box.cx - dx, "y1": box.cy - dy, "x2": box.cx + dx, "y2": box.cy + dy, **mark})
        _add(group, "line", {"x1": box.cx - dx, "y1": box.cy + dy, "x2": box.cx + dx, "y2": box.cy - dy, **mark})
    elif shape.marker == "+":
        _add(group, "line", {"x1": box.cx, "y1": box.cy - dy * 1.3, "x2": box.cx, "y2": box.cy + dy * 1.3, **mark})
        _add(group, "line", {"x1": box.cx - dx * 1.3, "y1": box.cy, "x2": box.cx + dx * 1.3, "y2": box.cy, **mark})


def _event(group: etree._Element, shape: Shape, paint: dict[str, object]) -> None:
    box = shape.bounds
    r = min(box.width, box.height) / 2
    thick = {"stroke-width": 3.5} if shape.tag == "endEvent" else {}
    _add(group, "circle", {"cx": box.cx, "cy": box.cy, "r": r, **paint, **thick})
    if shape.tag in ("intermediateCatchEvent", "intermediateThrowEvent", "boundaryEvent"):
        _add(group, "circle", {"cx": box.cx, "cy": box.cy, "r": max(r - 3, 1), "fill": "none",
                               "stroke": paint["stroke"], "stroke-width": 1})
    if shape.marker == "timer":
        face = r * 0.55
        _add(group, "circle", {"cx": box.cx, "cy": box.cy, "r": face, "fill": PAPER, "stroke": INK,
                               "stroke-width": 1})
        _add(group, "polyline", {"points": f"{_n(box.cx)},{_n(box.cy - face * 0.75)} {_n(box.cx)},{_n(box.cy)} "
                                           f"{_n(box.cx + face * 0.55)},{_n(box.cy)}",
                                 "fill": "none", "stroke": INK, "stroke-width": 1})


def _text(parent: etree._Element, text: str, x: float, y: float, width: float, max_lines: int,
          size: float = FONT, middle: bool = False) -> None:
    """Centred text wrapped to ``width``; with ``middle`` the block is centred on ``y`` too."""
    lines = _wrap(text, width, max_lines, size)
    if not lines:
        return
    step = size + 2
    first = y - (len(lines) - 1) * step / 2 + size * 0.35 if middle else y
    element = _add(parent, "text", {"x": x, "y": first, "text-anchor": "middle", "fill": INK,
                                    **({"font-size": size} if size != FONT else {})})
    for index, line in enumerate(lines):
        _add(element, "tspan", {"x": x, "dy": 0 if index == 0 else step}, line)


def _wrap(text: str, width: float, max_lines: int, size: float = FONT) -> list[str]:
    """Greedy word wrap at an average glyph width; overlong words are cut, a cut-off end gets '…'."""
    per_line = max(1, int(width / (size * 0.55)))
    longest = int(per_line * 1.2)  # a word this long runs a little past the line rather than being cut
    lines: list[str] = []
    for word in text.split():
        while len(word) > longest:
            lines.append(word[:per_line])
            word = word[per_line:]
        if lines and len(lines[-1]) + 1 + len(word) <= per_line:
            lines[-1] += " " + word
        else:
            lines.append(word)
    if len(lines) > max_lines:
        lines = lines[:max_lines]
        lines[-1] = lines[-1][:max(per_line - 1, 1)].rstrip() + "…"
    return lines

