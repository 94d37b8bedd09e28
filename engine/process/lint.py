"""Checks a diagram must pass before it is deployed; each message names the element."""
from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError
from lxml import etree
from SpiffWorkflow.spiff.parser import VALIDATOR

from engine.process.form_schemas import FormFileError, closed_schema_problems, read_form_file
from engine.process.sandbox import expression_problem

NS = {
    "bpmn": "http://www.omg.org/spec/BPMN/20100524/MODEL",
    "bpmndi": "http://www.omg.org/spec/BPMN/20100524/DI",
    "spiffworkflow": "http://spiffworkflow.org/bpmn/schema/1.0/core",
}
FLOW_NODES = (
    "startEvent", "endEvent", "intermediateCatchEvent", "intermediateThrowEvent", "boundaryEvent",
    "task", "userTask", "manualTask", "serviceTask", "scriptTask", "sendTask", "receiveTask",
    "businessRuleTask", "callActivity", "subProcess", "exclusiveGateway", "parallelGateway",
    "inclusiveGateway", "eventBasedGateway",
)
# An ISO 8601 duration, repeating interval or date-time written bare: Python would read it as a name.
_BARE_TIME_LITERAL = re.compile(r"^\s*(R\d*/)?(P(\d|T)[\dYMWDTHS.,]*|\d{4}-\d{2}-\d{2}T[\d:.]+Z?)\s*$")
# How a message names an element (see ``_label``) and a form file; the kinds keep "parameter 'x'" out.
_KINDS = "|".join((*FLOW_NODES, "sequenceFlow", "lane", "participant", "process"))
_NAMED = re.compile(rf"\b({_KINDS}) '([^']+)'")
_FORM = re.compile(r"\bform (?:file )?'([^']+)'")
_XSD_LINE = re.compile(r"^XSD line (\d+):")


@dataclass(frozen=True)
class Problem:
    """One lint message with the element it is about (its id) and the form file it names, where it has them."""

    element: str | None
    message: str
    form: str | None = None

    def as_dict(self) -> dict[str, str | None]:
        return {"element": self.element, "message": self.message, "form": self.form}


def _label(el: etree._Element) -> str:
    name = el.get("name")
    kind = etree.QName(el).localname
    return f"{kind} '{el.get('id')}'" + (f" ({name})" if name else "")


def _all(tree: etree._ElementTree, xpath: str) -> list[etree._Element]:
    return tree.xpath(xpath, namespaces=NS)  # type: ignore[return-value]


def xsd_problems(tree: etree._ElementTree) -> list[str]:
    """Every XSD error of the BPMN 2.0 and spiffworkflow schemas SpiffWorkflow ships."""
    schema = VALIDATOR.validator
    if schema.validate(tree):
        return []
    return [f"XSD line {e.line}: {e.message}" for e in schema.error_log]  # type: ignore[attr-defined]


def lint_tree(
    tree: etree._ElementTree,
    forms: Mapping[str, bytes],
    operators: Collection[str],
    lane_roles: Mapping[str, str],
) -> list[str]:
    """Return every problem found in a parsed diagram; an empty list means deployable."""
    problems = xsd_problems(tree)
    if problems:
        return problems
    problems += _executable_problems(tree)
    problems += _layout_problems(tree)
    problems += _lane_problems(tree, lane_roles)
    problems += _service_problems(tree, operators)
    problems += _form_problems(tree, forms)
    problems += _expression_problems(tree)
    return problems


def locate(messages: list[str], tree: etree._ElementTree | None) -> list[Problem]:
    """Pair each message with the first element of ``tree`` it names (and any form file it names)."""
    ids = {str(i) for i in tree.xpath("//@id")} if tree is not None else set()  # type: ignore[union-attr]
    located = []
    for message in messages:
        element = next((m.group(2) for m in _NAMED.finditer(message) if m.group(2) in ids), None)
        line = _XSD_LINE.match(message)
        if element is None and line and tree is not None:
            element = _element_on_line(tree, int(line.group(1)))
        form = _FORM.search(message)
        located.append(Problem(element, message, form.group(1) if form else None))
    return located


def _element_on_line(tree: etree._ElementTree, line: int) -> str | None:
    """The BPMN element (with an id) whose start tag is on ``line``, or the nearest one around it."""
    for el in tree.iter():
        if el.sourceline == line and isinstance(el.tag, str):
            owner = el.xpath("ancestor-or-self::bpmn:*[@id][1]", namespaces=NS)
            return str(owner[-1].get("id")) if owner else None  # type: ignore[index,union-attr]
    return None


def _executable_problems(tree: etree._ElementTree) -> list[str]:
    processes = _all(tree, "//bpmn:process")
    if not processes:
        return ["the diagram has no bpmn:process"]
    return [f"process '{p.get('id')}' is not executable: set isExecutable=\"true\""
            for p in processes if p.get("isExecutable") != "true"]


def _flow_nodes(tree: etree._ElementTree) -> list[etree._Element]:
    return _all(tree, "|".join(f"//bpmn:process//bpmn:{kind}" for kind in FLOW_NODES))


def _layout_problems(tree: etree._ElementTree) -> list[str]:
    drawn = {el.get("bpmnElement") for el in _all(tree, "//bpmndi:BPMNShape|//bpmndi:BPMNEdge")}
    items = _flow_nodes(tree) + _all(tree, "//bpmn:sequenceFlow|//bpmn:lane|//bpmn:participant")
    return [f"{_label(el)} has no diagram shape (BPMN DI): draw it in the modeler"
            for el in items if el.get("id") not in drawn]


def _lane_problems(tree: etree._ElementTree, lane_roles: Mapping[str, str]) -> list[str]:
    lanes = _all(tree, "//bpmn:lane")
    if not lanes:
        return ["the process has no lanes: every step must sit in the lane of the role that owns it"]
    problems = [f"{_label(lane)} has no role mapping (configured lanes: {', '.join(sorted(lane_roles))})"
                for lane in lanes if lane.get("name") not in lane_roles]
    in_lane = {ref.text.strip() for ref in _all(tree, "//bpmn:lane/bpmn:flowNodeRef") if ref.text}
    problems += [f"{_label(node)} is outside every lane"
                 for node in _flow_nodes(tree) if node.get("id") not in in_lane]
    return problems


def _service_problems(tree: etree._ElementTree, operators: Collection[str]) -> list[str]:
    problems = []
    element_ids = {el.get("id") for el in _all(tree, "//bpmn:*[@id]")}
    for task in _all(tree, "//bpmn:serviceTask"):
        ops = task.xpath("bpmn:extensionElements/spiffworkflow:serviceTaskOperator", namespaces=NS)
        if not ops:
            problems.append(f"{_label(task)} has no spiffworkflow:serviceTaskOperator")
            continue
        op_id = ops[0].get("id")
        if op_id not in operators:
            problems.append(f"{_label(task)} uses unknown service operator '{op_id}' "
                            f"(known: {', '.join(sorted(operators))})")
        if op_id in element_ids:
            # SpiffWorkflow resolves flow targets by '//*[@id=...]' and would find the operator.
            problems.append(f"{_label(task)}: operator id '{op_id}' equals a BPMN element id; rename one")
    return problems


FORM_KEYS = ("formJsonSchemaFilename", "formUiSchemaFilename")


def _form_problems(tree: etree._ElementTree, forms: Mapping[str, bytes]) -> list[str]:
    tasks = [(task, {p.get("name"): p.get("value") for p in task.xpath(
        "bpmn:extensionElements/spiffworkflow:properties/spiffworkflow:property", namespaces=NS)})
        for task in _all(tree, "//bpmn:userTask")]
    # The forms deployed with the diagram, which a form may refer to by file name.
    bundle = {name: forms[name] for _, props in tasks
              if (name := props.get("formJsonSchemaFilename")) and name in forms}
    problems = []
    for task, props in tasks:
        if not props.get("formJsonSchemaFilename"):
            problems.append(f"{_label(task)} has no formJsonSchemaFilename property")
            continue
        problems += [f"{_label(task)}: {p}" for p in _task_form_problems(props, forms, bundle)]
    named = {props.get(key) for _, props in tasks for key in FORM_KEYS}
    # Every file of the bundle is stored as UTF-8 text, so even one no task names must be readable.
    problems += [p for name in sorted(set(forms) - named) for p in ui_schema_problems(name, forms[name])]
    return problems


def _task_form_problems(props: Mapping[str, str | None], forms: Mapping[str, bytes],
                        bundle: Mapping[str, bytes]) -> list[str]:
    problems = [f"form file '{props[key]}' ({key}) is missing"
                for key in FORM_KEYS if props.get(key) and props[key] not in forms]
    schema_file, ui_file = props.get("formJsonSchemaFilename"), props.get("formUiSchemaFilename")
    if schema_file and schema_file in forms:
        problems += form_schema_problems(schema_file, forms[schema_file], bundle)
    if ui_file and ui_file in forms and ui_file != schema_file:
        problems += ui_schema_problems(ui_file, forms[ui_file])
    return problems


def form_schema_problems(filename: str, content: bytes, bundle: Mapping[str, bytes] | None = None) -> list[str]:
    """A form schema must be UTF-8 JSON, valid JSON Schema, a closed object schema, refer only within itself
    or to the other forms of ``bundle`` (by file name), and use only patterns RE2 can run."""
    try:
        schema = read_form_file(filename, content)
        # Patterns are checked below by RE2, which runs them; Python's re would refuse some it accepts (\p{L}).
        Draft202012Validator.check_schema(schema, format_checker=None)
    except FormFileError as exc:
        return [f"form '{filename}' is not a valid JSON Schema: the file {exc.reason}"]
    except (SchemaError, RecursionError) as exc:
        return [f"form '{filename}' is not a valid JSON Schema: {str(exc).splitlines()[0]}"]
    if schema.get("type") != "object" or schema.get("additionalProperties") is not False:
        return [f"form '{filename}' must be an object schema with additionalProperties: false"]
    return closed_schema_problems(filename, schema, _readable_forms(bundle or {}, filename))


def ui_schema_problems(filename: str, content: bytes) -> list[str]:
    """A UI schema (or any other form file) must be a UTF-8 JSON object of modest depth."""
    try:
        read_form_file(filename, content)
    except FormFileError as exc:
        return [str(exc)]
    return []


def _readable_forms(bundle: Mapping[str, bytes], own: str) -> dict[str, dict[str, Any]]:
    # A form that cannot be read is reported on its own task; here it is merely absent.
    readable = {}
    for name, content in bundle.items():
        if name != own:
            try:
                readable[name] = read_form_file(name, content)
            except FormFileError:
                continue
    return readable


def _expression_problems(tree: etree._ElementTree) -> list[str]:
    problems = []
    for flow in _all(tree, "//bpmn:sequenceFlow[bpmn:conditionExpression]"):
        problem = expression_problem(flow.findtext(f"{{{NS['bpmn']}}}conditionExpression", "").strip())
        if problem:
            problems.append(f"condition of {_label(flow)}: {problem}")
    for timer in _all(tree, "//bpmn:timerEventDefinition/*"):
        event = timer.getparent().getparent()
        text = (timer.text or "").strip()
        if _BARE_TIME_LITERAL.match(text):
            problems.append(f"timer of {_label(event)}: duration literal {text} must be quoted "
                            f"(\"{text}\") or come from a process variable")
        elif problem := expression_problem(text):
            problems.append(f"timer of {_label(event)}: {problem}")
    for param in _all(tree, "//spiffworkflow:serviceTaskOperator//spiffworkflow:parameter"):
        task = param.xpath("ancestor::bpmn:serviceTask", namespaces=NS)[0]
        if problem := expression_problem(param.get("value", "")):
            problems.append(f"parameter '{param.get('id')}' of {_label(task)}: {problem}")
    scripts = _all(tree, "//bpmn:scriptTask/bpmn:script|//spiffworkflow:preScript|//spiffworkflow:postScript")
    for script in scripts:
        owner = script.xpath("ancestor::bpmn:*[@id][1]", namespaces=NS)[0]
        if problem := expression_problem(script.text or "", script=True):
            problems.append(f"script of {_label(owner)}: {problem}")
    return problems
