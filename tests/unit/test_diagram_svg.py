"""web.diagram: BPMN DI read into shapes and edges, drawn as inline SVG with every name escaped."""
from __future__ import annotations

from pathlib import Path

import pytest
from lxml import etree

from engine.errors import DefinitionRejected
from engine.process.xml import parse_xml
from web.pages.diagram import Box, diagram_of, parse_diagram, render_svg

BUNDLED = Path(__file__).resolve().parents[2] / "bpmn" / "support_ticket.bpmn"
BPMN = "http://www.omg.org/spec/BPMN/20100524/MODEL"
SVG = "{http://www.w3.org/2000/svg}"
FLOW_NODE_TAGS = ("startEvent", "endEvent", "intermediateCatchEvent", "intermediateThrowEvent", "boundaryEvent",
                  "task", "userTask", "manualTask", "serviceTask", "scriptTask", "sendTask", "receiveTask",
                  "businessRuleTask", "callActivity", "subProcess", "exclusiveGateway", "parallelGateway",
                  "inclusiveGateway", "eventBasedGateway")
XSS = "<script>alert(1)</script>"


def small(task_name: str = "Do it", bounds: str = 'x="100" y="40" width="100" height="80"') -> bytes:
    """A one-task process with its DI; ``task_name`` is written into the XML escaped."""
    name = task_name.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="{BPMN}" xmlns:bpmndi="http://www.omg.org/spec/BPMN/20100524/DI"
    xmlns:dc="http://www.omg.org/spec/DD/20100524/DC" xmlns:di="http://www.omg.org/spec/DD/20100524/DI" id="d">
  <bpmn:process id="p" isExecutable="true">
    <bpmn:startEvent id="start" name="Go &amp; see" />
    <bpmn:task id="work" name="{name}" />
    <bpmn:sequenceFlow id="f1" name="then" sourceRef="start" targetRef="work" />
  </bpmn:process>
  <bpmndi:BPMNDiagram id="dia">
    <bpmndi:BPMNPlane id="plane" bpmnElement="p">
      <bpmndi:BPMNShape id="start_di" bpmnElement="start"><dc:Bounds x="10" y="62" width="36" height="36" />
      </bpmndi:BPMNShape>
      <bpmndi:BPMNShape id="work_di" bpmnElement="work"><dc:Bounds {bounds} /></bpmndi:BPMNShape>
      <bpmndi:BPMNEdge id="f1_di" bpmnElement="f1"><di:waypoint x="46" y="80" /><di:waypoint x="100" y="80" />
      </bpmndi:BPMNEdge>
    </bpmndi:BPMNPlane>
  </bpmndi:BPMNDiagram>
</bpmn:definitions>""".encode()


def groups(svg: str, cls: str) -> list[etree._Element]:
    root = etree.fromstring(svg)
    return [g for g in root.iter(f"{SVG}g") if cls in g.get("class", "").split()]


def test_the_bundled_diagram_yields_every_flow_node_and_sequence_flow() -> None:
    tree = parse_xml(BUNDLED.read_bytes())
    process = tree.find(f"{{{BPMN}}}process")
    assert process is not None
    node_ids = {el.get("id") for el in process.iter() if isinstance(el.tag, str)
                and etree.QName(el).namespace == BPMN and etree.QName(el).localname in FLOW_NODE_TAGS}
    flow_ids = {el.get("id") for el in process.iter(f"{{{BPMN}}}sequenceFlow")}
    assert len(node_ids) == 20 and len(flow_ids) == 20  # as the XML holds them today
    diagram = parse_diagram(BUNDLED.read_bytes())
    assert {s.element_id for s in diagram.nodes} == node_ids and len(diagram.nodes) == len(node_ids)
    assert {e.element_id for e in diagram.edges} == flow_ids and len(diagram.edges) == len(flow_ids)
    for shape in diagram.nodes:
        assert shape.bounds.width > 0 and shape.bounds.height > 0, shape
    for edge in diagram.edges:
        assert len(edge.waypoints) >= 2 and edge.source in node_ids and edge.target in node_ids, edge
    assert [lane.name for lane in diagram.lanes] == ["Customer", "L1 Support", "L2 Support"]
    assert [pool.name for pool in diagram.pools] == ["Customer support"]
    kinds = {s.element_id: (s.kind, s.marker) for s in diagram.nodes}
    assert kinds["classify_ticket"] == ("task", "")
    assert kinds["resolved_at_first_level"] == ("gateway", "x")
    assert kinds["response_window_passed"] == ("event", "timer")
    assert diagram.name_of("escalate_to_l2") == "Escalate to L2 with full triage context"
    assert {e.name for e in diagram.edges if e.name} >= {"Hand off to L1", "No: issue persists"}


def test_the_svg_draws_one_shape_per_flow_node_and_one_line_per_flow() -> None:
    diagram = parse_diagram(BUNDLED.read_bytes())
    svg = str(render_svg(diagram, ["escalate_to_l2"], ["ticket_opened", "register_ticket", "classify_ticket"]))
    nodes = groups(svg, "dg-node")
    assert sorted(g.get("data-element") for g in nodes) == sorted(s.element_id for s in diagram.nodes)
    tasks = groups(svg, "dg-task")
    assert len(tasks) == 14 and all(g.find(f"{SVG}rect").get("rx") for g in tasks)
    assert len(groups(svg, "dg-gateway")) == 2 and all(g.find(f"{SVG}polygon") is not None
                                                       for g in groups(svg, "dg-gateway"))
    assert len(groups(svg, "dg-event")) == 4 and all(g.find(f"{SVG}circle") is not None
                                                     for g in groups(svg, "dg-event"))
    flows = groups(svg, "dg-flow")
    assert len(flows) == 20 and all(g.find(f"{SVG}polyline") is not None and g.find(f"{SVG}polygon") is not None
                                    for g in flows)
    assert [g.get("data-element") for g in groups(svg, "dg-lane")] == ["lane_customer", "lane_l1", "lane_l2"]
    assert "L2 Support" in "".join(groups(svg, "dg-lane")[2].itertext())
    assert [g.get("data-element") for g in groups(svg, "dg-current")] == ["escalate_to_l2"]
    assert {g.get("data-element") for g in groups(svg, "dg-visited") if "dg-node" in g.get("class", "")} == {
        "ticket_opened", "register_ticket", "classify_ticket"}
    assert {g.get("data-element") for g in flows if "dg-visited" in g.get("class", "")} == {
        "flow_opened_register", "flow_register_classify"}
    assert "style" not in svg  # the pages' CSP allows no inline styles


def test_a_flow_polyline_follows_its_waypoints_and_ends_in_an_arrowhead() -> None:
    svg = str(render_svg(parse_diagram(BUNDLED.read_bytes())))
    flow = next(g for g in groups(svg, "dg-flow") if g.get("data-element") == "flow_opened_register")
    assert flow.find(f"{SVG}polyline").get("points") == "238,170 330,170 330,330"
    tip, left, right = flow.find(f"{SVG}polygon").get("points").split()
    assert tip == "330,330" and {left, right} == {"334,320", "326,320"}  # pointing down onto the task


def test_names_are_escaped_and_survive_as_text() -> None:
    svg = str(render_svg(parse_diagram(small(XSS)), current=["work"], title=f"{XSS} & co"))
    assert "<script" not in svg
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in svg
    root = etree.fromstring(svg)  # well-formed
    assert root.findtext(f"{SVG}title") == f"{XSS} & co"
    task = groups(svg, "dg-task")[0]
    assert task.findtext(f"{SVG}title") == f"{XSS} (current)"
    assert "".join(task.find(f"{SVG}text").itertext()).replace(" ", "") == XSS.replace(" ", "")
    assert "Go & see" in "".join(groups(svg, "dg-event")[0].itertext())


def test_long_names_wrap_inside_the_task_and_are_cut_with_an_ellipsis() -> None:
    name = "Investigate the reported behaviour thoroughly across every affected subsystem and region"
    svg = str(render_svg(parse_diagram(small(name))))
    lines = [t.text for t in groups(svg, "dg-task")[0].iter(f"{SVG}tspan")]
    assert 1 < len(lines) <= 5 and lines[-1].endswith("…")
    assert all(len(line) <= 20 for line in lines)


@pytest.mark.parametrize("bounds", ['x="a" y="40" width="100" height="80"', 'x="1" y="2" width="-5" height="80"',
                                    'x="inf" y="2" width="5" height="8"', 'x="1" y="2" width="5"'])
def test_shapes_without_usable_bounds_are_left_out(bounds: str) -> None:
    diagram = parse_diagram(small(bounds=bounds))
    assert [s.element_id for s in diagram.nodes] == ["start"]
    assert len(groups(str(render_svg(diagram)), "dg-node")) == 1


def test_a_diagram_without_di_draws_an_empty_picture() -> None:
    bare = small().split(b"<bpmndi:BPMNDiagram")[0] + b"</bpmn:definitions>"
    diagram = parse_diagram(bare)
    assert diagram.shapes == () and diagram.edges == ()
    assert diagram.extent() == Box(0, 0, 24, 24)
    assert etree.fromstring(str(render_svg(diagram))).tag == f"{SVG}svg"


def test_a_doctype_is_refused_by_the_hardened_parser() -> None:
    hostile = b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e "boom">]>' + small().split(b"?>", 1)[1]
    with pytest.raises(DefinitionRejected):
        parse_diagram(hostile)


def test_layouts_are_cached_by_definition_hash() -> None:
    first = diagram_of("sha-of-the-small-test-diagram", small("Cached"))
    assert diagram_of("sha-of-the-small-test-diagram", small("Ignored: same hash")) is first
    assert first.name_of("work") == "Cached"
