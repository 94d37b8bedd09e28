"""A process owner changes the procedure by deploying an edited diagram (and forms): no code changes.

Each test opens a ticket on version 1, deploys an edited copy of the bundled diagram as version 2 (active),
opens another ticket and shows that it follows the edit while the first one stays on version 1 and keeps
the old behaviour.
"""
from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta

import pytest
from lxml import etree

from engine.config import DEFAULT_LANE_ROLES, EngineConfig
from engine.errors import DefinitionRejected, Forbidden, InvalidInput
from engine.execution.clock import FakeClock
from engine.process.definitions import read_bundle
from engine.process.lint import NS
from engine.runtime import Runtime
from engine.usecases.audit import AuditService
from tests.conftest import (
    ASSESS_RESOLVE,
    CLASSIFY,
    CUSTOMER,
    L1,
    L2,
    OWNER,
    RESOLVED,
    SOLUTION,
    complete_current,
    intake,
)
from tests.e2e.conftest import Page, Visitor
from tests.integration.helpers import escalate_to_validation, kinds
from ticketflow.composition import BUNDLED_DIAGRAM, make_runtime
from web.app import WebSettings, create_app

BPMN, FORMS = read_bundle(BUNDLED_DIAGRAM)
DC, DI = "http://www.omg.org/spec/DD/20100524/DC", "http://www.omg.org/spec/DD/20100524/DI"
Edit = Callable[[etree._Element], None]


def one(root: etree._Element, path: str) -> etree._Element:
    return root.xpath(path, namespaces=NS)[0]  # type: ignore[no-any-return]


def bpmn_element(parent: etree._Element, tag: str, **attributes: str) -> etree._Element:
    return etree.SubElement(parent, f"{{{NS['bpmn']}}}{tag}", **attributes)


def edited(edit: Edit) -> bytes:
    root = etree.fromstring(BPMN)
    edit(root)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def deploy(runtime: Runtime, bpmn: bytes, forms: dict[str, bytes] | None = None) -> int:
    row, created = runtime.deploy(bpmn, forms or FORMS, OWNER)
    assert created
    return row.version


def ready(runtime: Runtime, number: str) -> list[tuple[str, str]]:
    return [(t.element_id, t.name) for t in runtime.get_ticket(number).ready_tasks]


def before_and_after(runtime: Runtime, bpmn: bytes, forms: dict[str, bytes] | None = None) -> tuple[str, str]:
    """A ticket opened on version 1, the edit deployed as version 2, and a ticket opened on it."""
    old = runtime.open_ticket(intake(subject="Opened before the edit"), CUSTOMER).number
    assert deploy(runtime, bpmn, forms) == 2
    new = runtime.open_ticket(intake(subject="Opened after the edit"), CUSTOMER).number
    assert (runtime.get_ticket(old).definition_version, runtime.get_ticket(new).definition_version) == (1, 2)
    return old, new


# -- a changed timer expression: the reminder cycle ------------------------------------------------------
def reminders_every_twelve_hours(root: etree._Element) -> None:
    one(root, "//bpmn:timeCycle").text = '"R/" + validation_request["respond_by"] + "/PT12H"'


def test_a_changed_reminder_cycle_applies_to_new_tickets_only(runtime: Runtime, clock: FakeClock) -> None:
    old, new = before_and_after(runtime, edited(reminders_every_twelve_hours))
    for number in (old, new):
        escalate_to_validation(runtime, number)
    due = runtime.get_ticket(new).next_timer_at
    assert due is not None and runtime.get_ticket(old).next_timer_at == due  # both asked at the same moment
    clock.now = due + timedelta(seconds=1)
    assert sorted(runtime.fire_due_timers()) == [old, new]  # the first reminder of each
    following = {n: runtime.get_ticket(n).next_timer_at for n in (old, new)}
    assert following == {new: due + timedelta(hours=12), old: due + timedelta(days=3)}  # old: the unit's window
    for number in (old, new):
        assert kinds(runtime, number).count("timer_fired") == 1
        assert complete_current(runtime, number, CUSTOMER, RESOLVED).status == "closed"  # type: ignore[attr-defined]
        assert AuditService(runtime).replay(number).consistent


# -- a changed gateway condition ----------------------------------------------------------------------
def high_impact_always_escalates(root: etree._Element) -> None:
    one(root, "//bpmn:sequenceFlow[@id='flow_first_level_yes']/bpmn:conditionExpression").text = (
        'resolve_at_first_level == True and impact != "high"')
    one(root, "//bpmn:sequenceFlow[@id='flow_first_level_no']/bpmn:conditionExpression").text = (
        'resolve_at_first_level == False or impact == "high"')


def test_a_changed_gateway_condition_routes_new_tickets_the_new_way(runtime: Runtime) -> None:
    old, new = before_and_after(runtime, edited(high_impact_always_escalates))
    for number in (old, new):
        complete_current(runtime, number, L1, CLASSIFY)  # impact: high
        complete_current(runtime, number, L1, ASSESS_RESOLVE)  # L1 thinks it can resolve it
    assert ready(runtime, new) == [("escalate_to_l2", "Escalate to L2 with full triage context")]
    assert ready(runtime, old) == [("apply_solution", "Apply solution and document resolution")]
    branch = {n: [e.data["branch"] for e in runtime.ticket_history(n) if e.kind == "gateway_taken"] for n in (old, new)}
    assert branch == {old: ["Yes: known solution at L1"], new: ["No: requires L2 expertise"]}


# -- a new field in a form: required, shown and validated ---------------------------------------------
def with_affected_service(forms: dict[str, bytes]) -> dict[str, bytes]:
    schema = json.loads(forms["classify_ticket.schema.json"])
    schema["properties"]["affected_service"] = {"type": "string", "title": "Affected service", "minLength": 3,
                                                "maxLength": 80}
    schema["required"].append("affected_service")
    ui = json.loads(forms["classify_ticket.uischema.json"])
    ui["ui:order"].append("affected_service")
    return {**forms, "classify_ticket.schema.json": json.dumps(schema).encode(),
            "classify_ticket.uischema.json": json.dumps(ui).encode()}


def task_page(runtime: Runtime, task_id: str) -> Page:
    """The task's page as L1 sees it in a browser."""
    app = create_app(runtime, WebSettings(secret_key="test-secret-key"))
    token = app.extensions["ticketflow"].directory.add_user("lena", "l1", email="lena@example.com")[1]
    visitor = Visitor(app.test_client())
    visitor.sign_in(token)
    return Page.of(visitor.get(f"/tasks/{task_id}").text)


def test_a_new_required_form_field_is_shown_and_validated_on_new_tickets(runtime: Runtime) -> None:
    old, new = before_and_after(runtime, BPMN, with_affected_service(FORMS))
    new_task, old_task = (runtime.get_ticket(n).ready_tasks[0] for n in (new, old))
    detail = runtime.task_detail(new_task.id, L1)
    assert "affected_service" in detail.schema["required"] and detail.ui_schema["ui:order"][-1] == "affected_service"
    assert "affected_service" in task_page(runtime, new_task.id).inputs
    assert "affected_service" not in runtime.task_detail(old_task.id, L1).schema["properties"]

    version = runtime.get_ticket(new).version
    for missing_or_short in (CLASSIFY, {**CLASSIFY, "affected_service": "x"}):
        with pytest.raises(InvalidInput) as refused:
            runtime.complete_task(new_task.id, missing_or_short, L1)
        assert [e.pointer for e in refused.value.errors] == ["/affected_service"]
    assert runtime.get_ticket(new).version == version  # nothing changed

    runtime.complete_task(new_task.id, {**CLASSIFY, "affected_service": "Customer portal login"}, L1)
    completed = [e for e in runtime.ticket_history(new) if e.kind == "task_completed"][-1]
    assert completed.data["form"]["affected_service"] == "Customer portal login"
    complete_current(runtime, old, L1, CLASSIFY)  # the old form still has no such field
    assert [t for t, _ in ready(runtime, old)] == [t for t, _ in ready(runtime, new)] == ["assess_first_level"]


# -- a renamed task ---------------------------------------------------------------------------------------
def test_a_renamed_task_carries_its_new_name_on_new_tickets(runtime: Runtime) -> None:
    rename: Edit = lambda r: one(r, "//bpmn:userTask[@id='assess_first_level']").set(  # noqa: E731
        "name", "Check for a known solution")
    old, new = before_and_after(runtime, edited(rename))
    for number in (old, new):
        complete_current(runtime, number, L1, CLASSIFY)
    assert ready(runtime, new) == [("assess_first_level", "Check for a known solution")]
    assert ready(runtime, old) == [("assess_first_level", "Assess known resolution")]
    names = {t.ticket_number: t.name for t in runtime.tasks_for(L1)}
    assert names == {new: "Check for a known solution", old: "Assess known resolution"}
    complete_current(runtime, new, L1, ASSESS_RESOLVE)
    named = [e.element_name for e in runtime.ticket_history(new) if e.element_id == "assess_first_level"]
    assert set(named) == {"Check for a known solution"}


# -- a new L1 user task with a new form, between classification and the knowledge-base search ---------------
CONFIRM_SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema", "type": "object", "additionalProperties": False,
    "title": "Confirm contact details",
    "description": "Check with the customer that we can reach them before searching for a solution.",
    "properties": {
        "contact_confirmed": {"type": "boolean", "title": "The customer's contact details are correct"},
        "callback_phone": {"type": "string", "title": "Phone number for a call back", "maxLength": 40},
    },
    "required": ["contact_confirmed"],
}
CONFIRM_UI = {"ui:order": ["contact_confirmed", "callback_phone"]}


def _shape(plane: etree._Element, element: str, x: int, y: int) -> None:
    shape = etree.SubElement(plane, f"{{{NS['bpmndi']}}}BPMNShape", id=f"{element}_di", bpmnElement=element)
    etree.SubElement(shape, f"{{{DC}}}Bounds", x=str(x), y=str(y), width="100", height="80")


def _edge(plane: etree._Element, flow: str, points: list[tuple[int, int]]) -> None:
    edge = etree.SubElement(plane, f"{{{NS['bpmndi']}}}BPMNEdge", id=f"{flow}_di", bpmnElement=flow)
    for x, y in points:
        etree.SubElement(edge, f"{{{DI}}}waypoint", x=str(x), y=str(y))


def confirm_contact_step(root: etree._Element) -> None:
    """Insert 'Confirm contact details' after the priority step: element, flows, lane, shape and edges."""
    derive = one(root, "//bpmn:serviceTask[@id='derive_priority']")
    task = etree.Element(f"{{{NS['bpmn']}}}userTask", id="confirm_contact", name="Confirm contact details")
    derive.addnext(task)
    properties = etree.SubElement(etree.SubElement(task, f"{{{NS['bpmn']}}}extensionElements"),
                                  f"{{{NS['spiffworkflow']}}}properties")
    for name, value in (("formJsonSchemaFilename", "confirm_contact.schema.json"),
                        ("formUiSchemaFilename", "confirm_contact.uischema.json")):
        etree.SubElement(properties, f"{{{NS['spiffworkflow']}}}property", name=name, value=value)
    bpmn_element(task, "incoming").text = "flow_priority_search"
    bpmn_element(task, "outgoing").text = "flow_confirm_search"
    one(root, "//bpmn:sequenceFlow[@id='flow_priority_search']").set("targetRef", "confirm_contact")
    one(root, "//bpmn:serviceTask[@id='search_knowledge_base']/bpmn:incoming").text = "flow_confirm_search"
    one(root, "//bpmn:sequenceFlow[@id='flow_priority_search']").addnext(etree.Element(
        f"{{{NS['bpmn']}}}sequenceFlow", id="flow_confirm_search", sourceRef="confirm_contact",
        targetRef="search_knowledge_base"))
    bpmn_element(one(root, "//bpmn:lane[@id='lane_l1']"), "flowNodeRef").text = "confirm_contact"
    plane = one(root, "//bpmndi:BPMNPlane")
    _shape(plane, "confirm_contact", 580, 440)  # below the priority step, inside the L1 lane
    for edge in plane.xpath("bpmndi:BPMNEdge[@bpmnElement='flow_priority_search']", namespaces=NS):
        plane.remove(edge)
    _edge(plane, "flow_priority_search", [(630, 410), (630, 440)])
    _edge(plane, "flow_confirm_search", [(680, 480), (780, 480), (780, 410)])


def with_confirm_forms() -> dict[str, bytes]:
    return {**FORMS, "confirm_contact.schema.json": json.dumps(CONFIRM_SCHEMA).encode(),
            "confirm_contact.uischema.json": json.dumps(CONFIRM_UI).encode()}


def test_a_new_l1_step_with_its_own_form_runs_between_classification_and_the_search(runtime: Runtime) -> None:
    old, new = before_and_after(runtime, edited(confirm_contact_step), with_confirm_forms())
    for number in (old, new):
        complete_current(runtime, number, L1, CLASSIFY)
    assert ready(runtime, old) == [("assess_first_level", "Assess known resolution")]
    assert ready(runtime, new) == [("confirm_contact", "Confirm contact details")]
    step = runtime.get_ticket(new).ready_tasks[0]
    assert (step.lane, step.form) == ("L1 Support", "confirm_contact.schema.json")
    assert runtime.task_detail(step.id, L1).schema["title"] == "Confirm contact details"
    assert "search_knowledge_base" not in {e.element_id for e in runtime.ticket_history(new)}  # not searched yet
    with pytest.raises(Forbidden):
        runtime.complete_task(step.id, {"contact_confirmed": True}, L2)  # an L1 step
    with pytest.raises(InvalidInput):
        runtime.complete_task(step.id, {"callback_phone": "+49 30 1234567"}, L1)  # the confirmation is required

    complete_current(runtime, new, L1, {"contact_confirmed": True, "callback_phone": "+49 30 1234567"})
    elements = [e.element_id for e in runtime.ticket_history(new) if e.kind != "task_ready"]
    assert elements.index("confirm_contact") < elements.index("search_knowledge_base")
    assert ready(runtime, new) == [("assess_first_level", "Assess known resolution")]
    for actor, form in ((L1, ASSESS_RESOLVE), (L1, SOLUTION), (CUSTOMER, RESOLVED)):
        complete_current(runtime, new, actor, form)
    assert runtime.get_ticket(new).status == "closed"
    report = AuditService(runtime).replay(new)
    assert report.consistent, report.divergence


# -- a lane renamed, with its role mapping ------------------------------------------------------------------
def l1_lane_renamed(root: etree._Element) -> None:
    one(root, "//bpmn:lane[@id='lane_l1']").set("name", "First-line Support")


def test_a_renamed_lane_needs_its_role_mapping_and_then_new_tickets_use_it(
        runtime: Runtime, sqlite_url: str, clock: FakeClock, monkeypatch: pytest.MonkeyPatch) -> None:
    renamed = edited(l1_lane_renamed)
    with pytest.raises(DefinitionRejected) as refused:
        runtime.deploy(renamed, FORMS, OWNER)
    assert any("(First-line Support) has no role mapping" in p for p in refused.value.problems)
    old = runtime.open_ticket(intake(subject="Opened before the lane was renamed"), CUSTOMER).number

    # The operator maps the new lane name (keeping the old one while tickets on version 1 remain) and restarts.
    monkeypatch.setenv("TICKETFLOW_DATABASE_URL", sqlite_url)
    monkeypatch.setenv("TICKETFLOW_LANE_ROLES", json.dumps({**DEFAULT_LANE_ROLES, "First-line Support": "l1"}))
    restarted = make_runtime(EngineConfig.from_env(), clock)
    try:
        assert deploy(restarted, renamed) == 2
        new = restarted.open_ticket(intake(subject="Opened after the lane was renamed"), CUSTOMER).number
        lanes = {t.ticket_number: t.lane for t in restarted.tasks_for(L1)}
        assert lanes == {old: "L1 Support", new: "First-line Support"}
        assert restarted.tasks_for(L2) == []
        assert restarted.get_ticket(new).current_lanes == ["First-line Support"]
        with pytest.raises(Forbidden):
            complete_current(restarted, new, L2, CLASSIFY)
        for number in (old, new):
            complete_current(restarted, number, L1, CLASSIFY)
        assert [t.lane for t in restarted.get_ticket(new).ready_tasks] == ["First-line Support"]
        assert [t.lane for t in restarted.get_ticket(old).ready_tasks] == ["L1 Support"]
        assert restarted.get_ticket(old).definition_version == 1
    finally:
        restarted.close()
