"""web.pages.diagram: a definition's names and flows, and what the bpmn-js viewer is told to mark and count."""
from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from engine.errors import DefinitionRejected
from engine.views import EventView
from web.pages.diagram import DiagramView, diagram_of, loops, parse_diagram, passes, ticket_view

BUNDLED = Path(__file__).resolve().parents[2] / "bpmn" / "support_ticket.bpmn"
BPMN = "http://www.omg.org/spec/BPMN/20100524/MODEL"
AT = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def small(task_name: str = "Do it") -> bytes:
    name = task_name.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="{BPMN}" id="d">
  <bpmn:process id="p" isExecutable="true">
    <bpmn:startEvent id="start" name="Go &amp; see" />
    <bpmn:task id="work" name="{name}" />
    <bpmn:sequenceFlow id="f1" name="then" sourceRef="start" targetRef="work" />
  </bpmn:process>
</bpmn:definitions>""".encode()


def event(kind: str, element: str | None, **data: Any) -> EventView:
    return EventView(1, AT, "system", kind, element, None, None, None, data, None)


def persisted_once() -> list[EventView]:
    """The history's passing events of a ticket that went to L2, was fixed, persisted, and came back."""
    trail = [event("ticket_opened", None), event("service_called", "register_ticket"),
             event("task_ready", "classify_ticket"), event("task_completed", "classify_ticket"),
             event("gateway_taken", "resolved_at_first_level", target="escalate_to_l2"),
             event("task_ready", "escalate_to_l2"), event("task_ready", "investigate_root_cause"),
             event("task_claimed", "investigate_root_cause"), event("task_ready", "test_and_confirm"),
             event("gateway_taken", "issue_resolved", target="investigate_root_cause"),
             event("task_ready", "investigate_root_cause")]
    return trail


def test_the_bundled_diagram_names_every_element_and_flow() -> None:
    diagram = parse_diagram(BUNDLED.read_bytes())
    assert diagram.name_of("escalate_to_l2") == "Escalate to L2 with full triage context"
    assert diagram.name_of("unknown_element") == "unknown_element"
    assert len(diagram.flows) == BUNDLED.read_bytes().count(b"<bpmn:sequenceFlow ") >= 20
    assert diagram.flow_between("issue_resolved", "investigate_root_cause") == "flow_resolved_no"
    assert diagram.flow_between("investigate_root_cause", "issue_resolved") is None


def test_passes_count_each_arrival_once_and_the_flows_out_of_gateways() -> None:
    diagram = parse_diagram(BUNDLED.read_bytes())
    counts = passes(diagram, persisted_once())
    assert counts["investigate_root_cause"] == 2  # ready twice; the claim is the same visit
    assert counts["classify_ticket"] == 1 and counts["register_ticket"] == 1
    assert counts["flow_first_level_no"] == 1 and counts["flow_resolved_no"] == 1
    assert "ticket_opened" not in counts


def test_only_loops_get_a_badge_the_persists_flow_among_them() -> None:
    diagram = parse_diagram(BUNDLED.read_bytes())
    shown = loops(diagram, passes(diagram, persisted_once()))
    assert shown == {"investigate_root_cause": 2, "flow_resolved_no": 1}


def test_a_ticket_view_marks_where_it_is_and_where_it_has_been() -> None:
    diagram = parse_diagram(BUNDLED.read_bytes())
    view = ticket_view("/tickets/T-1/diagram.bpmn", diagram, ["investigate_root_cause"], persisted_once(), "T-1")
    assert view.current == ("investigate_root_cause",)
    assert "classify_ticket" in view.visited and "flow_resolved_no" in view.visited
    assert "flow_escalate_investigate" in view.visited  # into where it is now
    assert "flow_first_level_yes" not in view.visited and "apply_solution" not in view.visited
    assert json.loads(view.counts_json) == {"flow_resolved_no": 1, "investigate_root_cause": 2}
    assert json.loads(view.current_json) == ["investigate_root_cause"] and view.mode == "path"


def test_the_viewer_data_is_json_whatever_the_names_hold() -> None:
    view = DiagramView("/x", "label", ('a"b', "<c>"), (), {"d'e": 3}, "heat")
    assert json.loads(view.current_json) == ['a"b', "<c>"] and json.loads(view.counts_json) == {"d'e": 3}


def test_names_come_back_as_written() -> None:
    diagram = parse_diagram(small("<script>alert(1)</script>"))
    assert diagram.name_of("work") == "<script>alert(1)</script>" and diagram.name_of("start") == "Go & see"
    assert [(f.element_id, f.name, f.source, f.target) for f in diagram.flows] == [("f1", "then", "start", "work")]


def test_a_doctype_is_refused_by_the_hardened_parser() -> None:
    hostile = b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e "boom">]>' + small().split(b"?>", 1)[1]
    with pytest.raises(DefinitionRejected):
        parse_diagram(hostile)


def test_parses_are_cached_by_definition_hash() -> None:
    first = diagram_of("sha-of-the-small-test-diagram", small("Cached"))
    assert diagram_of("sha-of-the-small-test-diagram", small("Ignored: same hash")) is first
    assert first.name_of("work") == "Cached"
