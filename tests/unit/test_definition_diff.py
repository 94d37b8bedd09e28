"""The semantic diff a process owner reads before activating or migrating: each kind of edit, in words."""
from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from lxml import etree

from engine.process.definitions import read_bundle
from engine.process.diff import diff_definitions
from engine.process.lint import NS
from ticketflow.composition import BUNDLED_DIAGRAM

BPMN, FORMS = read_bundle(BUNDLED_DIAGRAM)
Edit = Callable[[etree._Element], None]


def one(root: etree._Element, path: str) -> etree._Element:
    return root.xpath(path, namespaces=NS)[0]  # type: ignore[no-any-return]


def sentences(edit: Edit, forms: dict[str, bytes] | None = None) -> list[str]:
    root = etree.fromstring(BPMN)
    edit(root)
    return [c.sentence for c in diff_definitions((BPMN, FORMS), (etree.tostring(root), forms or FORMS))]


def remove_task(root: etree._Element) -> None:
    task = one(root, "//bpmn:userTask[@id='assess_first_level']")
    task.getparent().remove(task)


def add_task(root: etree._Element) -> None:
    process = one(root, "//bpmn:process")
    etree.SubElement(process, f"{{{NS['bpmn']}}}userTask", id="confirm_contact", name="Confirm contact details")
    etree.SubElement(one(root, "//bpmn:lane[@id='lane_l1']"), f"{{{NS['bpmn']}}}flowNodeRef").text = "confirm_contact"


def move_lane(root: etree._Element) -> None:
    ref = one(root, "//bpmn:lane[@id='lane_l1']/bpmn:flowNodeRef[text()='apply_solution']")
    ref.getparent().remove(ref)
    etree.SubElement(one(root, "//bpmn:lane[@id='lane_l2']"), f"{{{NS['bpmn']}}}flowNodeRef").text = "apply_solution"


EDITS: dict[str, tuple[Edit, str]] = {
    "rename": (lambda r: one(r, "//bpmn:userTask[@id='classify_ticket']").set("name", "Triage"),
               "'Classify type and priority' renamed to 'Triage'"),
    "lane": (lambda r: one(r, "//bpmn:lane[@id='lane_l2']").set("name", "Engineering"),
             "Lane 'L2 Support' renamed to 'Engineering'"),
    "condition": (lambda r: setattr(one(r, "//bpmn:sequenceFlow[@id='flow_first_level_no']/bpmn:conditionExpression"),
                                    "text", "not resolve_at_first_level"),
                  "Condition of flow 'No: requires L2 expertise' changed from `resolve_at_first_level == False` "
                  "to `not resolve_at_first_level`"),
    "timer": (lambda r: setattr(one(r, "//bpmn:timeCycle"), "text", '"R/PT8H"'), "Timer of 'Response window passed'"),
    "operator": (lambda r: one(r, "//spiffworkflow:serviceTaskOperator[@id='record_closure']").set("id", "close_all"),
                 "'Close ticket' now calls 'close_all' (was 'record_closure')"),
    "removed": (remove_task, "userTask 'Assess known resolution' removed"),
    "added": (add_task, "userTask 'Confirm contact details' added in lane 'L1 Support'"),
    "moved": (move_lane, "'Apply solution and document resolution' moved from lane 'L1 Support' to 'L2 Support'"),
}


@pytest.mark.parametrize("edit", sorted(EDITS))
def test_each_kind_of_edit_is_named_in_words(edit: str) -> None:
    change, expected = EDITS[edit]
    assert any(s.startswith(expected) for s in sentences(change)), sentences(change)


def test_a_new_required_form_field_is_listed_and_the_same_content_has_no_changes() -> None:
    schema = json.loads(FORMS["escalate_to_l2.schema.json"])
    schema["properties"]["customer_reachable"] = {"type": "boolean", "title": "Customer reachable by phone"}
    schema["required"].append("customer_reachable")
    forms = {**FORMS, "escalate_to_l2.schema.json": json.dumps(schema).encode()}
    assert sentences(lambda r: None, forms) == [
        "Form escalate_to_l2.schema.json: field 'Customer reachable by phone' added (required)"]
    assert sentences(lambda r: None) == []
