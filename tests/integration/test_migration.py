"""Running tickets move to a new version one transaction each, with a recorded migration the replay repeats."""
from __future__ import annotations

import pytest
from lxml import etree

from engine.errors import Forbidden, InvalidInput, NotFound
from engine.process.definitions import read_bundle
from engine.process.lint import NS
from engine.runtime import Runtime
from engine.usecases.audit import AuditService
from engine.usecases.migrations import MigrationRequest, Migrations, TicketMove
from tests.conftest import ASSESS_RESOLVE, CLASSIFY, CUSTOMER, L1, OWNER, complete_current, intake
from ticketflow.composition import BUNDLED_DIAGRAM

BPMN, FORMS = read_bundle(BUNDLED_DIAGRAM)


def with_classify_renamed(name: str) -> bytes:
    root = etree.fromstring(BPMN)
    root.xpath("//bpmn:userTask[@id='classify_ticket']", namespaces=NS)[0].set("name", name)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def with_classify_id_changed() -> bytes:
    """Version where the classification task has a new id (SpiffWorkflow aligns it by its place in the flow)."""
    return BPMN.replace(b'"classify_ticket"', b'"triage_ticket"').replace(b">classify_ticket<", b">triage_ticket<")


def without_classification() -> bytes:
    """Version with no classification task: registration leads straight to the priority step."""
    root = etree.fromstring(BPMN)

    def drop(path: str) -> None:
        for element in root.xpath(path, namespaces=NS):
            element.getparent().remove(element)

    for path in ("//bpmn:userTask[@id='classify_ticket']", "//bpmn:flowNodeRef[text()='classify_ticket']",
                 "//bpmn:sequenceFlow[@id='flow_classify_priority']",
                 "//bpmn:outgoing[text()='flow_classify_priority']",
                 "//*[@bpmnElement='classify_ticket' or @bpmnElement='flow_classify_priority']"):
        drop(path)
    root.xpath("//bpmn:sequenceFlow[@id='flow_register_classify']", namespaces=NS)[0].set("targetRef",
                                                                                          "derive_priority")
    root.xpath("//bpmn:incoming[text()='flow_classify_priority']", namespaces=NS)[0].text = "flow_register_classify"
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def deploy(runtime: Runtime, bpmn: bytes) -> int:
    row, created = runtime.deploy(bpmn, FORMS, OWNER, activate=False)
    assert created
    return row.version


def request(**fields: object) -> MigrationRequest:
    return MigrationRequest(**{"key": "support_ticket", "from_version": 1, "to_version": 2, **fields})  # type: ignore


def test_a_dry_run_says_where_each_ticket_stands_and_changes_nothing(runtime: Runtime) -> None:
    waiting = runtime.open_ticket(intake(), CUSTOMER).number
    deploy(runtime, with_classify_renamed("Classify the request"))
    before = runtime.get_ticket(waiting)
    moves = Migrations(runtime).run(request(dry_run=True), OWNER)
    assert moves == [TicketMove(waiting, "movable", ("Classify type and priority",))]
    after = runtime.get_ticket(waiting)
    assert (after.version, after.definition_version) == (before.version, 1)


def test_a_moved_ticket_follows_the_new_version_and_still_replays_consistent(runtime: Runtime) -> None:
    number = runtime.open_ticket(intake(), CUSTOMER).number
    deploy(runtime, with_classify_renamed("Classify the request"))
    assert [m.outcome for m in Migrations(runtime).run(request(), OWNER)] == ["moved"]

    ticket = runtime.get_ticket(number)
    assert ticket.definition_version == 2 and [t.name for t in ticket.ready_tasks] == ["Classify the request"]
    complete_current(runtime, number, L1, CLASSIFY)
    complete_current(runtime, number, L1, ASSESS_RESOLVE)
    history = [e.kind for e in runtime.ticket_history(number)]
    assert "definition_migrated" in history
    report = AuditService(runtime).replay(number)
    assert report.consistent, report.divergence


def test_a_changed_element_id_is_aligned_by_its_place_in_the_flow(runtime: Runtime) -> None:
    number = runtime.open_ticket(intake(), CUSTOMER).number
    deploy(runtime, with_classify_id_changed())
    assert Migrations(runtime).run(request(), OWNER)[0].outcome == "moved"
    assert [t.element_id for t in runtime.get_ticket(number).ready_tasks] == ["triage_ticket"]
    complete_current(runtime, number, L1, CLASSIFY)
    assert AuditService(runtime).replay(number).consistent


def test_a_ticket_at_an_element_the_target_lacks_is_refused_until_it_is_mapped(runtime: Runtime) -> None:
    number = runtime.open_ticket(intake(), CUSTOMER).number
    deploy(runtime, without_classification())
    refused = Migrations(runtime).run(request(), OWNER)
    assert refused[0].outcome == "refused" and "no counterpart for 'Classify type and priority'" in refused[0].reason
    ticket = runtime.get_ticket(number)
    assert ticket.definition_version == 1 and [t.element_id for t in ticket.ready_tasks] == ["classify_ticket"]

    moved = Migrations(runtime).run(request(mapping={"classify_ticket": "assess_first_level"}), OWNER)
    assert moved[0].outcome == "moved"
    ready = runtime.get_ticket(number).ready_tasks
    assert [(t.element_id, t.name) for t in ready] == [("assess_first_level", "Assess known resolution")]
    report = AuditService(runtime).replay(number)
    assert report.consistent, report.divergence


def test_bad_requests_change_nothing(runtime: Runtime) -> None:
    runtime.open_ticket(intake(), CUSTOMER)
    deploy(runtime, with_classify_renamed("Classify the request"))
    with pytest.raises(Forbidden):
        Migrations(runtime).run(request(), L1)
    with pytest.raises(NotFound):
        Migrations(runtime).run(request(to_version=9), OWNER)
    with pytest.raises(InvalidInput) as bad:
        Migrations(runtime).run(request(mapping={"nowhere": "classify_ticket"}), OWNER)
    assert bad.value.errors[0].pointer == "/mapping/nowhere"
    assert runtime.get_ticket("T-000001").definition_version == 1


def test_an_interrupted_bulk_run_resumes_where_it_stopped(runtime: Runtime) -> None:
    numbers = [runtime.open_ticket(intake(subject=f"Login problem {i}"), CUSTOMER).number for i in range(5)]
    deploy(runtime, with_classify_renamed("Classify the request"))
    seen: list[TicketMove] = []

    def stop_after_two(move: TicketMove) -> None:
        seen.append(move)
        if len(seen) == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        Migrations(runtime).run(request(), OWNER, progress=stop_after_two)
    assert [runtime.get_ticket(n).definition_version for n in numbers] == [2, 2, 1, 1, 1]
    rest = Migrations(runtime).run(request(), OWNER)
    assert [m.number for m in rest] == numbers[2:] and {m.outcome for m in rest} == {"moved"}
