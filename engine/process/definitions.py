"""Process definitions: hardened load, lint, parse once, cache by content hash."""
from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lxml import etree
from SpiffWorkflow.bpmn.parser.ValidationException import ValidationException
from SpiffWorkflow.bpmn.specs import BpmnProcessSpec
from SpiffWorkflow.spiff.parser import VALIDATOR, SpiffBpmnParser

from engine.errors import DefinitionRejected
from engine.process.form_schemas import read_form_file
from engine.process.forms import FormSchema, bundle_schemas
from engine.process.lint import NS, lint_tree
from engine.process.xml import parse_xml

FORM_DIR = "forms"


@dataclass(frozen=True)
class Element:
    """What the engine needs to know of one flow node, read from the diagram."""

    id: str
    name: str
    kind: str
    lane: str | None
    form: str | None = None
    ui_form: str | None = None


@dataclass(frozen=True)
class Definition:
    """A parsed, linted diagram with its forms; immutable and shared between tickets."""

    sha256: str
    process_id: str
    bpmn: bytes
    forms: Mapping[str, bytes]
    spec: BpmnProcessSpec
    subprocess_specs: Mapping[str, BpmnProcessSpec]
    elements: Mapping[str, Element]
    flow_names: Mapping[tuple[str, str], str]
    schemas: Mapping[str, dict[str, Any]] = field(default_factory=dict)
    ui_schemas: Mapping[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def compactable(self) -> bool:
        """Compaction cuts the tree above live tasks; a parallel or inclusive join would look back."""
        return not any(e.kind in ("parallelGateway", "inclusiveGateway") for e in self.elements.values())

    def form_schema(self, element_id: str) -> dict[str, Any]:
        form = self.elements[element_id].form
        return self.schemas[form] if form else {"type": "object", "additionalProperties": False}

    def ui_schema(self, element_id: str) -> dict[str, Any]:
        ui = self.elements[element_id].ui_form
        return self.ui_schemas[ui] if ui else {}


def content_hash(bpmn: bytes, forms: Mapping[str, bytes]) -> str:
    """SHA-256 over the diagram and every form, so a form edit is a new version too."""
    digest = hashlib.sha256()
    digest.update(len(bpmn).to_bytes(8, "big") + bpmn)
    for name in sorted(forms):
        encoded = name.encode()
        digest.update(len(encoded).to_bytes(8, "big") + encoded)
        digest.update(len(forms[name]).to_bytes(8, "big") + forms[name])
    return digest.hexdigest()


def referenced_forms(bpmn: bytes) -> list[str]:
    """The form files a diagram's user tasks name, in order."""
    tree = parse_xml(bpmn)
    values = tree.xpath(
        "//spiffworkflow:property[@name='formJsonSchemaFilename' or @name='formUiSchemaFilename']/@value",
        namespaces=NS,
    )
    return list(dict.fromkeys(str(v) for v in values))


def read_bundle(path: Path) -> tuple[bytes, dict[str, bytes]]:
    """Read a diagram file and the form files it names from ``forms/`` beside it."""
    bpmn = path.read_bytes()
    form_dir = path.parent / FORM_DIR
    forms = {}
    for name in referenced_forms(bpmn):
        candidate = form_dir / Path(name).name  # never follow a path out of forms/
        if candidate.is_file():
            forms[name] = candidate.read_bytes()
    return bpmn, forms


class DefinitionLoader:
    """Lints and parses diagrams; keeps a bounded cache of parsed definitions by content hash."""

    def __init__(self, operators: Collection[str], lane_roles: Mapping[str, str], cache_size: int = 32) -> None:
        self.operators = frozenset(operators)
        self.lane_roles = dict(lane_roles)
        self._cache: OrderedDict[str, Definition] = OrderedDict()
        self._cache_size = cache_size
        self._lock = threading.Lock()

    def check(self, bpmn: bytes, forms: Mapping[str, bytes]) -> list[str]:
        """Every problem that stops the diagram from being deployed."""
        try:
            tree = parse_xml(bpmn)
        except DefinitionRejected as exc:
            return exc.problems
        problems = lint_tree(tree, forms, self.operators, self.lane_roles)
        if not problems:
            try:
                self._parse(tree, bpmn, forms)
            except DefinitionRejected as exc:
                problems = exc.problems
        return problems

    def load(self, bpmn: bytes, forms: Mapping[str, bytes]) -> Definition:
        """Return the parsed definition, linting and parsing only the first time it is seen."""
        sha = content_hash(bpmn, forms)
        with self._lock:
            if sha in self._cache:
                self._cache.move_to_end(sha)
                return self._cache[sha]
        tree = parse_xml(bpmn)
        problems = lint_tree(tree, forms, self.operators, self.lane_roles)
        if problems:
            raise DefinitionRejected(problems)
        definition = self._parse(tree, bpmn, forms)
        with self._lock:
            self._cache[sha] = definition
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        return definition

    def _parse(self, tree: etree._ElementTree, bpmn: bytes, forms: Mapping[str, bytes]) -> Definition:
        parser = SpiffBpmnParser(validator=VALIDATOR)
        try:
            parser.add_bpmn_xml(tree, filename="support_ticket.bpmn")
            process_ids = parser.get_process_ids()
            if len(process_ids) != 1:
                raise DefinitionRejected([f"expected one executable process, found {len(process_ids)}"])
            spec = parser.get_spec(process_ids[0])
            subprocess_specs = parser.get_subprocess_specs(process_ids[0])
        except ValidationException as exc:
            raise DefinitionRejected([f"SpiffWorkflow: {exc}"]) from None
        elements = _elements(tree)
        return Definition(
            sha256=content_hash(bpmn, forms),
            process_id=process_ids[0],
            bpmn=bpmn,
            forms=dict(forms),
            spec=spec,
            subprocess_specs=subprocess_specs,
            elements=elements,
            flow_names=_flow_names(tree),
            schemas=_form_schemas(elements, forms),
            ui_schemas=_ui_schemas(elements, forms),
        )


def _elements(tree: etree._ElementTree) -> dict[str, Element]:
    lane_of = {}
    for lane in tree.xpath("//bpmn:lane", namespaces=NS):
        for ref in lane.xpath("bpmn:flowNodeRef", namespaces=NS):
            lane_of[(ref.text or "").strip()] = lane.get("name")
    elements = {}
    for node in tree.xpath("//bpmn:process//bpmn:*[@id and bpmn:incoming or bpmn:outgoing]", namespaces=NS):
        props = {p.get("name"): p.get("value") for p in node.xpath(
            "bpmn:extensionElements/spiffworkflow:properties/spiffworkflow:property", namespaces=NS)}
        element_id = node.get("id")
        elements[element_id] = Element(
            id=element_id,
            name=node.get("name") or element_id,
            kind=etree.QName(node).localname,
            lane=lane_of.get(element_id),
            form=props.get("formJsonSchemaFilename"),
            ui_form=props.get("formUiSchemaFilename"),
        )
    return elements


def _form_schemas(elements: Mapping[str, Element], forms: Mapping[str, bytes]) -> dict[str, FormSchema]:
    """Each form schema a user task names, parsed once and able to refer to the others (and nothing else)."""
    named = {e.form for e in elements.values() if e.form and e.form in forms}
    return bundle_schemas({name: read_form_file(name, forms[name]) for name in named})


def _ui_schemas(elements: Mapping[str, Element], forms: Mapping[str, bytes]) -> dict[str, dict[str, Any]]:
    """Each UI schema a user task names, parsed once (the task page asks for it on every view)."""
    named = {e.ui_form for e in elements.values() if e.ui_form and e.ui_form in forms}
    return {name: read_form_file(name, forms[name]) for name in named}


def _flow_names(tree: etree._ElementTree) -> dict[tuple[str, str], str]:
    return {(flow.get("sourceRef"), flow.get("targetRef")): flow.get("name") or flow.get("id")
            for flow in tree.xpath("//bpmn:sequenceFlow", namespaces=NS)}
