"""The bundled diagram is the support procedure: lanes, owners, routing, layout, forms and operators."""
from __future__ import annotations

import ast
import json
from itertools import combinations
from pathlib import Path
from typing import NamedTuple

import pytest
from lxml import etree

import tasks
from engine.config import DEFAULT_LANE_ROLES
from engine.process.lint import FLOW_NODES, NS
from engine.process.lint import form_schema_problems as lint_form_schema_problems
from engine.process.sandbox import SandboxEnvironment, expression_problem
from engine.process.xml import parse_xml

BPMN_DIR = Path(__file__).resolve().parents[2] / "bpmn"
DIAGRAM = BPMN_DIR / "support_ticket.bpmn"
FORMS_DIR = BPMN_DIR / "forms"
DC = "http://www.omg.org/spec/DD/20100524/DC"
DI = "http://www.omg.org/spec/DD/20100524/DI"

TREE = parse_xml(DIAGRAM.read_bytes(), DIAGRAM.name)

OWNER_LANES = {
    "ticket_opened": "Customer",
    "test_and_confirm": "Customer",
    "classify_ticket": "L1 Support",
    "search_knowledge_base": "L1 Support",
    "assess_first_level": "L1 Support",
    "escalate_to_l2": "L1 Support",
    "apply_solution": "L1 Support",
    "notify_customer": "L1 Support",
    "request_validation": "L1 Support",
    "investigate_root_cause": "L2 Support",
    "apply_definitive_fix": "L2 Support",
}


class Box(NamedTuple):
    x: float
    y: float
    width: float
    height: float

    def overlaps(self, other: Box) -> bool:
        return (self.x < other.x + other.width and other.x < self.x + self.width
                and self.y < other.y + other.height and other.y < self.y + self.height)

    def contains(self, other: Box) -> bool:
        return (self.x <= other.x and other.x + other.width <= self.x + self.width
                and self.y <= other.y and other.y + other.height <= self.y + self.height)


def xpath(query: str, node: etree._Element | etree._ElementTree = TREE) -> list:
    return node.xpath(query, namespaces=NS)


def flow_nodes() -> list[etree._Element]:
    return xpath("|".join(f"//bpmn:process//bpmn:{kind}" for kind in FLOW_NODES))


def element(element_id: str) -> etree._Element:
    found = xpath(f"//bpmn:process//*[@id='{element_id}']")
    assert len(found) == 1, f"{element_id}: {len(found)} elements"
    return found[0]


def kind(node: etree._Element) -> str:
    return etree.QName(node).localname


def lane_of() -> dict[str, str]:
    lanes: dict[str, str] = {}
    for lane in xpath("//bpmn:lane"):
        for ref in xpath("bpmn:flowNodeRef", lane):
            assert ref.text.strip() not in lanes, f"{ref.text} is in two lanes"
            lanes[ref.text.strip()] = lane.get("name")
    return lanes


def shape_box(bpmn_element: str) -> Box:
    shapes = xpath(f"//bpmndi:BPMNShape[@bpmnElement='{bpmn_element}']")
    assert len(shapes) == 1, f"{bpmn_element}: {len(shapes)} shapes"
    bounds = shapes[0].find(f"{{{DC}}}Bounds")
    assert bounds is not None, f"{bpmn_element}: shape without dc:Bounds"
    return Box(*(float(bounds.get(a)) for a in ("x", "y", "width", "height")))


def user_task_properties(task: etree._Element) -> dict[str, str]:
    return {p.get("name"): p.get("value") for p in xpath(
        "bpmn:extensionElements/spiffworkflow:properties/spiffworkflow:property", task)}


def operator_of(task: etree._Element) -> str:
    operators = xpath("bpmn:extensionElements/spiffworkflow:serviceTaskOperator", task)
    assert len(operators) == 1, f"{task.get('id')}: {len(operators)} operators"
    return operators[0].get("id")


# -- structure -------------------------------------------------------------------------------------

def test_diagram_has_one_executable_process_in_one_pool() -> None:
    processes = xpath("//bpmn:process")
    participants = xpath("//bpmn:collaboration/bpmn:participant")
    assert len(processes) == 1
    assert len(participants) == 1
    assert processes[0].get("isExecutable") == "true"
    assert participants[0].get("processRef") == processes[0].get("id")


def test_pool_has_exactly_the_customer_l1_and_l2_lanes() -> None:
    lane_sets = xpath("//bpmn:process/bpmn:laneSet")
    assert len(lane_sets) == 1
    names = [lane.get("name") for lane in xpath("bpmn:lane", lane_sets[0])]
    assert names == ["Customer", "L1 Support", "L2 Support"]
    assert xpath("//bpmn:lane//bpmn:childLaneSet") == []
    assert set(names) == set(DEFAULT_LANE_ROLES)


def test_every_flow_node_and_sequence_flow_has_di() -> None:
    shapes = {s.get("bpmnElement") for s in xpath("//bpmndi:BPMNShape")}
    edges = {e.get("bpmnElement") for e in xpath("//bpmndi:BPMNEdge")}
    nodes = [n.get("id") for n in flow_nodes()]
    flows = [f.get("id") for f in xpath("//bpmn:sequenceFlow")]
    assert len(nodes) == 26 and len(flows) == 24
    assert [n for n in nodes if n not in shapes] == []
    assert [f for f in flows if f not in edges] == []
    for lane_or_pool in xpath("//bpmn:lane/@id|//bpmn:participant/@id"):
        assert lane_or_pool in shapes


def test_every_edge_has_at_least_two_waypoints() -> None:
    for edge in xpath("//bpmndi:BPMNEdge"):
        assert len(edge.findall(f"{{{DI}}}waypoint")) >= 2, edge.get("bpmnElement")


def test_flow_node_shapes_do_not_overlap() -> None:
    boxes = {n.get("id"): shape_box(n.get("id")) for n in flow_nodes() if kind(n) != "boundaryEvent"}
    overlapping = [(a, b) for a, b in combinations(sorted(boxes), 2) if boxes[a].overlaps(boxes[b])]
    assert overlapping == []


def test_boundary_event_sits_on_the_edge_of_its_task() -> None:
    event = element("response_window_passed")
    task_box = shape_box(event.get("attachedToRef"))
    event_box = shape_box("response_window_passed")
    centre_x = event_box.x + event_box.width / 2
    centre_y = event_box.y + event_box.height / 2
    assert task_box.x <= centre_x <= task_box.x + task_box.width
    assert task_box.y <= centre_y <= task_box.y + task_box.height
    on_edge = min(abs(centre_x - task_box.x), abs(centre_x - task_box.x - task_box.width),
                  abs(centre_y - task_box.y), abs(centre_y - task_box.y - task_box.height))
    assert on_edge <= 1


def test_every_flow_node_has_a_name() -> None:
    unnamed = [n.get("id") for n in flow_nodes() if not (n.get("name") or "").strip()]
    assert unnamed == []


def test_gateways_ask_the_procedures_two_questions() -> None:
    names = {g.get("id"): g.get("name") for g in xpath("//bpmn:exclusiveGateway")}
    assert names == {"resolved_at_first_level": "Resolved at first level?", "issue_resolved": "Issue resolved?"}


def test_every_outgoing_flow_of_an_exclusive_gateway_has_a_name_and_a_condition() -> None:
    for gateway in xpath("//bpmn:exclusiveGateway"):
        outgoing = xpath(f"//bpmn:sequenceFlow[@sourceRef='{gateway.get('id')}']")
        assert len(outgoing) == 2, gateway.get("id")
        for flow in outgoing:
            assert (flow.get("name") or "").strip(), flow.get("id")
            condition = flow.findtext(f"{{{NS['bpmn']}}}conditionExpression", "").strip()
            assert condition, flow.get("id")
            assert expression_problem(condition) is None, flow.get("id")


@pytest.mark.parametrize(("answer", "outcome", "target"), [
    ({"resolve_at_first_level": True}, "Yes: known solution at L1", "apply_solution"),
    ({"resolve_at_first_level": False}, "No: requires L2 expertise", "escalate_to_l2"),
    ({"validation_outcome": "resolved"}, "Yes: confirmed resolved", "close_ticket"),
    ({"validation_outcome": "persists"}, "No: issue persists", "investigate_root_cause"),
])
def test_each_answer_takes_exactly_one_gateway_branch(answer: dict, outcome: str, target: str) -> None:
    env = SandboxEnvironment()
    taken = []
    for gateway in xpath("//bpmn:exclusiveGateway/@id"):
        for candidate in xpath(f"//bpmn:sequenceFlow[@sourceRef='{gateway}']"):
            condition = candidate.findtext(f"{{{NS['bpmn']}}}conditionExpression", "").strip()
            try:
                if env.evaluate(condition, dict(answer)):
                    taken.append((candidate.get("name"), candidate.get("targetRef")))
            except NameError:
                pass  # the other gateway's variable is not part of this answer
    assert taken == [(outcome, target)]


@pytest.mark.parametrize(("element_id", "lane"), sorted(OWNER_LANES.items()))
def test_each_step_sits_in_the_lane_of_its_owner(element_id: str, lane: str) -> None:
    assert lane_of().get(element_id) == lane


def test_every_flow_node_is_drawn_inside_the_lane_it_belongs_to() -> None:
    lane_boxes = {lane.get("name"): shape_box(lane.get("id")) for lane in xpath("//bpmn:lane")}
    lanes = lane_of()
    misplaced = [n.get("id") for n in flow_nodes()
                 if not lane_boxes[lanes[n.get("id")]].contains(shape_box(n.get("id")))]
    assert misplaced == []


def test_issue_persists_goes_back_to_l2_investigation_never_to_an_l1_task() -> None:
    persists = xpath("//bpmn:sequenceFlow[@name='No: issue persists']")
    assert len(persists) == 1
    flow = persists[0]
    assert flow.get("sourceRef") == "issue_resolved"
    assert flow.get("targetRef") == "investigate_root_cause"
    assert lane_of()[flow.get("targetRef")] == "L2 Support"
    into_l1 = [f.get("targetRef") for f in xpath("//bpmn:sequenceFlow[@sourceRef='issue_resolved']")
               if lane_of()[f.get("targetRef")] == "L1 Support"]
    assert into_l1 == ["close_ticket"], "only a confirmed resolution may lead back into L1"


def test_response_window_timer_is_non_interrupting_on_test_and_confirm() -> None:
    event = element("response_window_passed")
    assert kind(event) == "boundaryEvent"
    assert event.get("cancelActivity") == "false"
    assert event.get("attachedToRef") == "test_and_confirm"
    assert len(xpath("bpmn:timerEventDefinition/bpmn:timeCycle", event)) == 1


def test_response_window_timer_is_an_expression_over_the_validation_request() -> None:
    expression = xpath("//bpmn:boundaryEvent[@id='response_window_passed']//bpmn:timeCycle")[0].text.strip()
    assert expression_problem(expression) is None
    parsed = ast.parse(expression, mode="eval").body
    assert not isinstance(parsed, ast.Constant), "the cycle is a bare literal"
    assert "validation_request" in {n.id for n in ast.walk(parsed) if isinstance(n, ast.Name)}
    cycle = SandboxEnvironment().evaluate(expression, {"validation_request": {"response_window": "PT4H"}})
    assert cycle == "R/PT4H"


def test_every_user_task_has_form_files_in_the_forms_folder() -> None:
    user_tasks = xpath("//bpmn:userTask")
    assert len(user_tasks) == 8
    for task in user_tasks:
        props = user_task_properties(task)
        for key in ("formJsonSchemaFilename", "formUiSchemaFilename"):
            assert props.get(key), f"{task.get('id')}: no {key}"
            assert (FORMS_DIR / props[key]).is_file(), f"{task.get('id')}: {props[key]} missing"
            json.loads((FORMS_DIR / props[key]).read_bytes())


def test_every_form_schema_is_a_closed_object_schema() -> None:
    for task in xpath("//bpmn:userTask"):
        name = user_task_properties(task)["formJsonSchemaFilename"]
        content = (FORMS_DIR / name).read_bytes()
        schema = json.loads(content)
        assert schema.get("type") == "object", name
        assert schema.get("additionalProperties") is False, name
        assert lint_form_schema_problems(name, content) == []


def test_every_service_task_operator_is_a_registered_operator() -> None:
    registered = set(tasks.build_registry())
    service_tasks = xpath("//bpmn:serviceTask")
    assert len(service_tasks) == 7
    element_ids = set(xpath("//bpmn:*/@id"))
    for task in service_tasks:
        operator = operator_of(task)
        assert operator in registered, f"{task.get('id')}: {operator}"
        assert operator not in element_ids, f"{task.get('id')}: {operator} is also an element id"
