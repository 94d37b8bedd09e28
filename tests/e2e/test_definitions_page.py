"""The process owner's versions page: deploy a modeler's save, make a version active, compare, move tickets."""
from __future__ import annotations

import io
from typing import Any

from lxml import etree

from engine.process.lint import NS
from engine.runtime import Runtime
from tests.conftest import CUSTOMER, OWNER, intake
from ticketflow.composition import BUNDLED_DIAGRAM


def renamed_diagram(name: str = "Classify the request") -> bytes:
    root = etree.fromstring(BUNDLED_DIAGRAM.read_bytes())
    root.xpath("//bpmn:userTask[@id='classify_ticket']", namespaces=NS)[0].set("name", name)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def test_a_process_owner_deploys_a_diagram_alone_compares_and_goes_back(runtime: Runtime, visit: Any) -> None:
    petra = visit("petra")
    page = petra.get("/definitions").text
    assert "Process versions" in page and "active" in page
    petra.post("/definitions", {"bpmn": (io.BytesIO(renamed_diagram()), "edited.bpmn"), "activate": "yes"})
    assert "Deployed as version 2." in petra.get("/definitions").text
    assert runtime.active_versions() == {"support_ticket": 2}

    diff = petra.get("/definitions/support_ticket/diff?from=1&to=2").text
    assert "&#39;Classify type and priority&#39; renamed to &#39;Classify the request&#39;" in diff
    petra.post("/definitions/support_ticket/1/activate", {})
    assert "Version 1 is now active: new tickets start on it." in petra.get("/definitions").text


def test_a_broken_diagram_is_listed_problem_by_problem_and_nothing_is_deployed(runtime: Runtime, visit: Any) -> None:
    broken = BUNDLED_DIAGRAM.read_bytes().replace(b"resolve_at_first_level == True", b"open('/etc/passwd')")
    petra = visit("petra")
    petra.get("/definitions")
    page = petra.post("/definitions", {"bpmn": (io.BytesIO(broken), "broken.bpmn")}, status=422).text
    assert "Not deployed: the diagram has problems" in page and "flow_first_level_yes" in page
    assert len(runtime.list_definitions()) == 1


def test_moving_tickets_is_checked_first_then_done(runtime: Runtime, visit: Any) -> None:
    number = runtime.open_ticket(intake(), CUSTOMER).number
    forms = {name: text.encode() for name, text in runtime.list_definitions()[0].forms.items()}
    runtime.deploy(renamed_diagram(), forms, OWNER, activate=False)
    petra = visit("petra")
    petra.get("/definitions")
    checked = petra.post("/definitions/support_ticket/migrate", {"from": "1", "to": "2", "action": "check"},
                         status=200).text
    assert number in checked and "can move" in checked and "Classify type and priority" in checked
    assert runtime.get_ticket(number).definition_version == 1
    moved = petra.post("/definitions/support_ticket/migrate", {"from": "1", "to": "2", "action": "move"},
                       status=200).text
    assert "moved" in moved and "0 open ticket(s) are still on version 1" in moved
    assert runtime.get_ticket(number).definition_version == 2


def test_agents_do_not_reach_the_versions_page_and_auditors_only_read(visit: Any) -> None:
    visit("lena").get("/definitions", status=403)
    ada = visit("ada")
    page = ada.get("/definitions").text
    assert "Process versions" in page and "Make active" not in page and "Deploy a diagram" not in page
    ada.post("/definitions/support_ticket/1/activate", {}, status=403)
