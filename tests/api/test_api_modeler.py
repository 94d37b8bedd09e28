"""What the modeler page leans on over the API: the lint with problems per element, the deploy's optimistic lock
(``base``), and diagrams saved by other modelers (Camunda Modeler) deploying with the latest version's forms."""
from __future__ import annotations

from io import BytesIO
from pathlib import Path

from lxml import etree

from engine.process.lint import NS
from tests.api.conftest import Api
from ticketflow.composition import BUNDLED_DIAGRAM

CAMUNDA_SAVE = Path(__file__).resolve().parents[1] / "data" / "camunda_modeler_save.bpmn"
XML = "application/xml"


def edited(condition: str | None = None, name: str | None = None) -> bytes:
    """The bundled diagram with the condition of ``flow_first_level_yes`` and the classify task's name changed."""
    root = etree.fromstring(BUNDLED_DIAGRAM.read_bytes())
    if condition is not None:
        flow = root.xpath("//bpmn:sequenceFlow[@id='flow_first_level_yes']/bpmn:conditionExpression",
                          namespaces=NS)[0]
        flow.text = condition
    if name is not None:
        root.xpath("//bpmn:userTask[@id='classify_ticket']", namespaces=NS)[0].set("name", name)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def versions(api: Api) -> list[int]:
    return sorted(item["version"] for item in api.as_("petra").get("/api/v1/definitions").get_json()["items"])


def test_a_clean_diagram_has_no_problems(api: Api) -> None:
    answer = api.as_("petra").post("/api/v1/definitions/lint", data=BUNDLED_DIAGRAM.read_bytes(), content_type=XML)
    assert answer.status_code == 200 and answer.get_json() == {"problems": []}


def test_a_forbidden_condition_is_a_problem_on_its_flow_and_nothing_is_deployed(api: Api) -> None:
    answer = api.as_("petra").post("/api/v1/definitions/lint", data=edited('open("/etc/passwd").read()'),
                                   content_type=XML)
    problems = answer.get_json()["problems"]
    assert answer.status_code == 200 and [p["element"] for p in problems] == ["flow_first_level_yes"], problems
    assert "open" in problems[0]["message"] and "sequenceFlow 'flow_first_level_yes'" in problems[0]["message"]
    assert versions(api) == [1]


def test_malformed_xml_is_a_problem_on_no_element(api: Api) -> None:
    answer = api.as_("petra").post("/api/v1/definitions/lint", data=b"<bpmn:definitions", content_type=XML)
    [problem] = answer.get_json()["problems"]
    assert answer.status_code == 200 and problem["element"] is None and "malformed XML" in problem["message"]


def test_a_form_problem_names_the_form_file(api: Api) -> None:
    owner = api.as_("petra")
    answer = owner.post("/api/v1/definitions/lint", content_type="multipart/form-data", data={
        "bpmn": (BUNDLED_DIAGRAM.open("rb"), "support_ticket.bpmn"),
        "forms": [(BytesIO(b'{"type": "object"'), "classify_ticket.schema.json")]})
    problems = answer.get_json()["problems"]
    assert problems and {p["form"] for p in problems} == {"classify_ticket.schema.json"}, problems
    assert {p["element"] for p in problems} == {"classify_ticket"}


def test_only_process_owners_lint(api: Api) -> None:
    answer = api.as_("lena").post("/api/v1/definitions/lint", data=BUNDLED_DIAGRAM.read_bytes(), content_type=XML)
    assert answer.status_code == 403


def test_a_deploy_from_a_stale_base_is_refused_and_deploys_nothing(api: Api) -> None:
    owner = api.as_("petra")
    [v1] = api.runtime.list_definitions()
    first = owner.post(f"/api/v1/definitions?activate=false&base={v1.sha256}", data=edited(name="Classify A"),
                       content_type=XML)
    assert first.status_code == 201 and first.get_json()["version"] == 2 and first.get_json()["active"] is False
    second = owner.post(f"/api/v1/definitions?activate=false&base={v1.sha256}", data=edited(name="Classify B"),
                        content_type=XML)
    assert second.status_code == 409, second.get_json()
    assert "version 2" in second.get_json()["detail"] and "version 1" in second.get_json()["detail"]
    assert versions(api) == [1, 2]
    following = owner.post(f"/api/v1/definitions?activate=false&base={first.get_json()['sha256']}",
                           data=edited(name="Classify B"), content_type=XML)
    assert following.status_code == 201 and following.get_json()["version"] == 3


def test_a_base_that_is_not_a_hash_is_refused(api: Api) -> None:
    answer = api.as_("petra").post("/api/v1/definitions?base=v1", data=edited(name="X"), content_type=XML)
    assert answer.status_code == 422 and answer.get_json()["errors"][0]["pointer"] == "/base"
    assert versions(api) == [1]


def test_a_camunda_modeler_save_deploys_with_the_latest_forms(api: Api) -> None:
    saved = CAMUNDA_SAVE.read_bytes()
    assert b'exporter="Camunda Modeler"' in saved and b"modeler:executionPlatform=" in saved
    owner = api.as_("petra")
    assert owner.post("/api/v1/definitions/lint", data=saved, content_type=XML).get_json() == {"problems": []}
    answer = owner.post("/api/v1/definitions?activate=false", data=saved, content_type=XML)
    assert answer.status_code == 201, answer.get_json()
    [v2, v1] = [row for row in api.runtime.list_definitions() if row.key == "support_ticket"]
    assert v2.version == 2 and v2.bpmn == saved and v2.forms == v1.forms and v2.forms
