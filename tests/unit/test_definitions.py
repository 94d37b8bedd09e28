"""Definition loading: the bundled diagram deploys; every kind of bad diagram is refused by name."""
from __future__ import annotations

import json
import resource
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from lxml import etree

import tasks
from engine.config import DEFAULT_LANE_ROLES
from engine.errors import DefinitionRejected
from engine.process.definitions import Definition, DefinitionLoader, content_hash, read_bundle
from engine.process.lint import NS
from engine.process.xml import MAX_DIAGRAM_BYTES

DIAGRAM = Path(__file__).resolve().parents[2] / "bpmn" / "support_ticket.bpmn"
XML_DECLARATION = b'<?xml version="1.0" encoding="UTF-8"?>\n'
FIRST_DOCUMENTATION = b"<bpmn:documentation>Step 1.1"

BUNDLED_BPMN, BUNDLED_FORMS = read_bundle(DIAGRAM)
OPERATORS = list(tasks.build_registry())


@pytest.fixture
def loader() -> DefinitionLoader:
    return DefinitionLoader(OPERATORS, DEFAULT_LANE_ROLES)


# -- helpers ---------------------------------------------------------------------------------------

def edited(change: Callable[[etree._Element], None]) -> bytes:
    """The bundled diagram with one realistic edit applied to its parsed tree."""
    root = etree.fromstring(BUNDLED_BPMN)
    change(root)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def only(root: etree._Element, xpath: str) -> etree._Element:
    found = root.xpath(xpath, namespaces=NS)
    assert len(found) == 1, f"{xpath} matched {len(found)} elements"
    return found[0]


def remove(root: etree._Element, xpath: str) -> None:
    element = only(root, xpath)
    element.getparent().remove(element)


def with_doctype(internal_subset: bytes, old: bytes = b"", new: bytes = b"") -> bytes:
    """The bundled diagram with a DOCTYPE (and optionally an entity reference) spliced in."""
    assert BUNDLED_BPMN.startswith(XML_DECLARATION)
    body = BUNDLED_BPMN[len(XML_DECLARATION):]
    if old:
        assert old in body
        body = body.replace(old, new, 1)
    return XML_DECLARATION + b"<!DOCTYPE bpmn:definitions [" + internal_subset + b"]>\n" + body


def with_form(name: str, change: Callable[[dict], None]) -> dict[str, bytes]:
    forms = dict(BUNDLED_FORMS)
    schema = json.loads(forms[name])
    change(schema)
    forms[name] = json.dumps(schema, indent=2).encode()
    return forms


def assert_rejected(loader: DefinitionLoader, bpmn: bytes, *fragments: str,
                    forms: dict[str, bytes] | None = None) -> list[str]:
    """check() names the problem with every fragment in one message, and load() refuses the diagram."""
    forms = BUNDLED_FORMS if forms is None else forms
    problems = loader.check(bpmn, forms)
    assert problems, "the diagram was accepted"
    assert any(all(f in p for f in fragments) for p in problems), (
        f"no problem mentions all of {fragments}: {problems}")
    with pytest.raises(DefinitionRejected) as rejected:
        loader.load(bpmn, forms)
    assert rejected.value.problems == problems
    assert rejected.value.problems, "DefinitionRejected carries no problem"
    return problems


# -- the bundled diagram ---------------------------------------------------------------------------

def test_bundled_diagram_reads_every_form_its_user_tasks_name() -> None:
    user_tasks = etree.fromstring(BUNDLED_BPMN).xpath("//bpmn:userTask", namespaces=NS)
    assert len(BUNDLED_FORMS) == 2 * len(user_tasks)
    for task in user_tasks:
        assert f"{task.get('id')}.schema.json" in BUNDLED_FORMS
        assert f"{task.get('id')}.uischema.json" in BUNDLED_FORMS


def test_bundled_diagram_passes_every_check(loader: DefinitionLoader) -> None:
    assert loader.check(BUNDLED_BPMN, BUNDLED_FORMS) == []


def test_bundled_diagram_loads_into_a_definition_of_the_support_process(loader: DefinitionLoader) -> None:
    definition = loader.load(BUNDLED_BPMN, BUNDLED_FORMS)
    assert isinstance(definition, Definition)
    assert definition.process_id == "support_ticket"
    assert definition.sha256 == content_hash(BUNDLED_BPMN, BUNDLED_FORMS)
    assert definition.spec is not None
    assert definition.compactable
    assert definition.elements["investigate_root_cause"].lane == "L2 Support"
    assert definition.elements["test_and_confirm"].form == "test_and_confirm.schema.json"
    assert definition.elements["test_and_confirm"].ui_form == "test_and_confirm.uischema.json"
    assert definition.flow_names[("issue_resolved", "investigate_root_cause")] == "No: issue persists"
    assert definition.form_schema("classify_ticket")["additionalProperties"] is False


def test_loading_the_same_content_twice_returns_the_identical_cached_definition(
        loader: DefinitionLoader) -> None:
    first = loader.load(BUNDLED_BPMN, BUNDLED_FORMS)
    again = loader.load(bytes(bytearray(BUNDLED_BPMN)), dict(BUNDLED_FORMS))
    assert again is first


def test_changing_one_form_file_changes_the_sha256_and_loads_a_new_definition(
        loader: DefinitionLoader) -> None:
    original = loader.load(BUNDLED_BPMN, BUNDLED_FORMS)
    forms = with_form("test_and_confirm.schema.json",
                      lambda schema: schema.update(title="Try the fix and tell us the outcome"))
    assert loader.check(BUNDLED_BPMN, forms) == []
    changed = loader.load(BUNDLED_BPMN, forms)
    assert changed is not original
    assert changed.sha256 != original.sha256
    assert changed.sha256 == content_hash(BUNDLED_BPMN, forms)
    assert loader.load(BUNDLED_BPMN, BUNDLED_FORMS) is original


# -- hostile or broken XML -------------------------------------------------------------------------

def test_malformed_xml_is_rejected_as_malformed(loader: DefinitionLoader) -> None:
    truncated = BUNDLED_BPMN[: BUNDLED_BPMN.index(b"</bpmn:process>")]
    assert_rejected(loader, truncated, "malformed XML")


def test_mismatched_tags_are_rejected_as_malformed(loader: DefinitionLoader) -> None:
    broken = BUNDLED_BPMN.replace(b"</bpmn:startEvent>", b"</bpmn:endEvent>", 1)
    assert_rejected(loader, broken, "malformed XML")


def test_doctype_with_an_internal_entity_is_rejected(loader: DefinitionLoader) -> None:
    bpmn = with_doctype(b'<!ENTITY who "L2 Support">', b'name="L2 Support"', b'name="&who;"')
    assert_rejected(loader, bpmn, "DOCTYPE is not allowed")


@pytest.mark.parametrize(("bpmn", "named"), [
    (with_doctype(b'<!ENTITY x SYSTEM "file:///etc/passwd">',
                  FIRST_DOCUMENTATION, b"<bpmn:documentation>&x;Step 1.1"), "DOCTYPE is not allowed"),
    (with_doctype(b'<!ENTITY x SYSTEM "file:///etc/passwd">',
                  b'name="Register ticket and send acknowledgment"', b'name="&x;"'),
     "references external entity 'x'"),
    (with_doctype(b'<!ENTITY % x SYSTEM "file:///etc/passwd"> %x;'), "DOCTYPE is not allowed"),
    (XML_DECLARATION + b'<!DOCTYPE bpmn:definitions SYSTEM "file:///etc/passwd">\n'
     + BUNDLED_BPMN[len(XML_DECLARATION):], "DOCTYPE is not allowed"),
], ids=["entity-in-text", "entity-in-attribute", "parameter-entity", "external-dtd"])
def test_external_entity_is_rejected_without_reading_the_file(loader: DefinitionLoader, bpmn: bytes,
                                                               named: str) -> None:
    problems = assert_rejected(loader, bpmn, named)
    reported = "\n".join(problems)
    assert "root:" not in reported
    passwd = Path("/etc/passwd")
    if passwd.is_file():
        for line in passwd.read_text(errors="replace").splitlines():
            if line.strip():
                assert line not in reported


def test_billion_laughs_is_rejected_quickly_without_expanding_the_entities(loader: DefinitionLoader) -> None:
    laughs = b'<!ENTITY lol0 "lol">' + b"".join(
        b'<!ENTITY lol%d "%s">' % (level, b"&lol%d;" % (level - 1) * 10) for level in range(1, 10))
    bomb = with_doctype(laughs, FIRST_DOCUMENTATION, b"<bpmn:documentation>&lol9;Step 1.1")
    peak_before_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    problems = assert_rejected(loader, bomb)
    elapsed = time.perf_counter() - started
    grown_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - peak_before_kib
    assert elapsed < 0.5, f"took {elapsed:.2f}s"
    assert grown_kib < 64 * 1024, f"peak memory grew by {grown_kib} KiB"
    assert any("DOCTYPE" in p or "entity" in p for p in problems), problems
    assert "lollollol" not in "".join(problems)


def test_oversize_input_is_rejected_by_its_size(loader: DefinitionLoader) -> None:
    padding = b"<!-- " + b"x" * MAX_DIAGRAM_BYTES + b" -->"
    oversize = BUNDLED_BPMN.replace(b"</bpmn:definitions>", padding + b"</bpmn:definitions>")
    assert len(oversize) > MAX_DIAGRAM_BYTES
    assert_rejected(loader, oversize, f"larger than {MAX_DIAGRAM_BYTES} bytes")


# -- schema and lint -------------------------------------------------------------------------------

def test_unknown_element_in_the_bpmn_namespace_is_an_xsd_error(loader: DefinitionLoader) -> None:
    def add_unknown(root: etree._Element) -> None:
        etree.SubElement(only(root, "//bpmn:process"), f"{{{NS['bpmn']}}}approvalTask", id="approve")

    assert_rejected(loader, edited(add_unknown), "XSD", "approvalTask", "not expected")


def test_unknown_attribute_is_an_xsd_error(loader: DefinitionLoader) -> None:
    bpmn = edited(lambda root: only(root, "//bpmn:userTask[@id='classify_ticket']").set("assignee", "lena"))
    assert_rejected(loader, bpmn, "XSD", "userTask", "'assignee'", "not allowed")


def test_attribute_with_a_wrong_type_is_an_xsd_error(loader: DefinitionLoader) -> None:
    reminder = "//bpmn:boundaryEvent[@id='response_window_passed']"
    bpmn = edited(lambda root: only(root, reminder).set("cancelActivity", "sometimes"))
    assert_rejected(loader, bpmn, "XSD", "cancelActivity", "sometimes")


def test_process_that_is_not_executable_is_rejected(loader: DefinitionLoader) -> None:
    bpmn = edited(lambda root: only(root, "//bpmn:process").set("isExecutable", "false"))
    assert_rejected(loader, bpmn, "support_ticket", "not executable", 'isExecutable="true"')


def test_flow_node_without_a_shape_is_rejected_by_id(loader: DefinitionLoader) -> None:
    bpmn = edited(lambda root: remove(root, "//bpmndi:BPMNShape[@bpmnElement='assess_first_level']"))
    problems = assert_rejected(loader, bpmn, "'assess_first_level'", "no diagram shape")
    assert len(problems) == 1


def test_sequence_flow_without_an_edge_is_rejected_by_id(loader: DefinitionLoader) -> None:
    bpmn = edited(lambda root: remove(root, "//bpmndi:BPMNEdge[@bpmnElement='flow_resolved_no']"))
    assert_rejected(loader, bpmn, "sequenceFlow 'flow_resolved_no'", "no diagram shape")


def test_flow_node_outside_every_lane_is_rejected_by_id(loader: DefinitionLoader) -> None:
    bpmn = edited(lambda root: remove(root, "//bpmn:lane/bpmn:flowNodeRef[text()='apply_definitive_fix']"))
    problems = assert_rejected(loader, bpmn, "'apply_definitive_fix'", "outside every lane")
    assert len(problems) == 1


def test_lane_without_a_role_mapping_is_rejected_by_name(loader: DefinitionLoader) -> None:
    bpmn = edited(lambda root: only(root, "//bpmn:lane[@id='lane_l2']").set("name", "Second line"))
    assert_rejected(loader, bpmn, "lane 'lane_l2'", "Second line", "no role mapping")


def test_unknown_service_operator_is_rejected_naming_task_and_operator(loader: DefinitionLoader) -> None:
    def rename(root: etree._Element) -> None:
        only(root, "//spiffworkflow:serviceTaskOperator[@id='knowledge_base_search']").set("id", "kb_lookup")

    assert_rejected(loader, edited(rename), "'search_knowledge_base'", "unknown service operator 'kb_lookup'")


def test_operator_id_equal_to_an_element_id_is_rejected() -> None:
    loader = DefinitionLoader([*OPERATORS, "close_ticket"], DEFAULT_LANE_ROLES)

    def collide(root: etree._Element) -> None:
        only(root, "//spiffworkflow:serviceTaskOperator[@id='record_closure']").set("id", "close_ticket")

    problems = assert_rejected(loader, edited(collide), "operator id 'close_ticket'", "equals a BPMN element id")
    assert not any("unknown service operator" in p for p in problems)


def test_missing_form_file_is_rejected_naming_task_and_file(loader: DefinitionLoader) -> None:
    forms = dict(BUNDLED_FORMS)
    del forms["escalate_to_l2.schema.json"]
    assert_rejected(loader, BUNDLED_BPMN, "'escalate_to_l2'", "'escalate_to_l2.schema.json'", "missing",
                    forms=forms)


def test_missing_ui_schema_file_is_rejected_naming_task_and_file(loader: DefinitionLoader) -> None:
    forms = dict(BUNDLED_FORMS)
    del forms["apply_solution.uischema.json"]
    assert_rejected(loader, BUNDLED_BPMN, "'apply_solution'", "'apply_solution.uischema.json'", "missing",
                    forms=forms)


def test_user_task_without_a_form_is_rejected(loader: DefinitionLoader) -> None:
    def strip_form(root: etree._Element) -> None:
        remove(root, "//bpmn:userTask[@id='investigate_root_cause']/bpmn:extensionElements")

    assert_rejected(loader, edited(strip_form), "'investigate_root_cause'", "no formJsonSchemaFilename")


def test_form_schema_without_additional_properties_false_is_rejected(loader: DefinitionLoader) -> None:
    forms = with_form("apply_solution.schema.json", lambda schema: schema.pop("additionalProperties"))
    assert_rejected(loader, BUNDLED_BPMN, "'apply_solution'", "'apply_solution.schema.json'",
                    "additionalProperties: false", forms=forms)


def test_form_schema_allowing_additional_properties_is_rejected(loader: DefinitionLoader) -> None:
    forms = with_form("classify_ticket.schema.json", lambda schema: schema.update(additionalProperties=True))
    assert_rejected(loader, BUNDLED_BPMN, "'classify_ticket.schema.json'", "additionalProperties: false",
                    forms=forms)


def test_form_schema_that_is_not_json_is_rejected(loader: DefinitionLoader) -> None:
    forms = {**BUNDLED_FORMS, "test_and_confirm.schema.json": b"{ not json"}
    assert_rejected(loader, BUNDLED_BPMN, "'test_and_confirm.schema.json'", "not a valid JSON Schema",
                    forms=forms)


@pytest.mark.parametrize("literal", ["R/PT4H", "PT4H", "R/P2D", "R3/PT1H"])
def test_unquoted_timer_duration_literal_must_be_quoted(loader: DefinitionLoader, literal: str) -> None:
    bpmn = edited(lambda root: setattr(only(root, "//bpmn:timeCycle"), "text", literal))
    assert_rejected(loader, bpmn, "'response_window_passed'", f"duration literal {literal} must be quoted",
                    f'"{literal}"')


def test_quoted_timer_duration_literal_is_accepted(loader: DefinitionLoader) -> None:
    bpmn = edited(lambda root: setattr(only(root, "//bpmn:timeCycle"), "text", '"R/PT4H"'))
    assert loader.check(bpmn, BUNDLED_FORMS) == []


@pytest.mark.parametrize("condition", [
    "__import__('os').system('id')",
    "().__class__.__base__.__subclasses__()",
])
def test_escaping_condition_is_refused_at_lint_time_naming_the_flow(loader: DefinitionLoader,
                                                                    condition: str) -> None:
    def inject(root: etree._Element) -> None:
        only(root, "//bpmn:sequenceFlow[@id='flow_resolved_yes']/bpmn:conditionExpression").text = condition

    problems = assert_rejected(loader, edited(inject), "condition of sequenceFlow 'flow_resolved_yes'",
                               "refused", "starts with \"_\"")
    assert len(problems) == 1


def test_escaping_service_parameter_is_refused_at_lint_time_naming_the_task(loader: DefinitionLoader) -> None:
    def inject(root: etree._Element) -> None:
        only(root, "//spiffworkflow:parameter[@id='query']").set("value", "().__class__.__mro__")

    assert_rejected(loader, edited(inject), "parameter 'query'", "'search_knowledge_base'", "refused")
