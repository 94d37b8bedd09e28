"""A semantic diff between two versions of a process: what a process owner changed, in words.

Both versions are read into a small model (flow nodes with their lanes, flows with their conditions,
timers, service calls, user-task forms and each form's fields) and compared element by element, by id,
the way SpiffWorkflow aligns specs when it migrates a workflow.
"""
from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from lxml import etree

from engine.process.lint import FLOW_NODES, NS
from engine.process.xml import parse_xml

_FORM_PROPERTIES = ("formJsonSchemaFilename", "formUiSchemaFilename")


@dataclass(frozen=True)
class Change:
    """One difference: ``kind`` is added, removed, renamed, moved or changed; ``sentence`` says it in words."""

    kind: str
    subject: str  # flow node, lane, flow, condition, timer, service, form, form field
    element: str  # the element id, or the form file
    sentence: str

    def as_dict(self) -> dict[str, str]:
        return {"kind": self.kind, "subject": self.subject, "element": self.element, "sentence": self.sentence}


@dataclass
class _Model:
    nodes: dict[str, tuple[str, str, str]] = field(default_factory=dict)  # id -> (type, name, lane id)
    lanes: dict[str, str] = field(default_factory=dict)  # id -> name
    flows: dict[str, tuple[str, str, str, str]] = field(default_factory=dict)  # id -> (source, target, name, cond)
    timers: dict[str, str] = field(default_factory=dict)  # event id -> expression
    services: dict[str, tuple[str, dict[str, str]]] = field(default_factory=dict)  # id -> (operator, params)
    task_forms: dict[str, tuple[str, ...]] = field(default_factory=dict)  # user task id -> form files
    fields: dict[str, dict[str, tuple[str, str, bool]]] = field(default_factory=dict)  # form -> field -> facts


def _xpath(node: etree._Element | etree._ElementTree, path: str) -> list[Any]:
    return node.xpath(path, namespaces=NS)  # type: ignore[return-value]


def _read(bpmn: bytes, forms: Mapping[str, bytes | str]) -> _Model:
    tree = parse_xml(bpmn)
    model = _Model()
    lane_of = {ref.text.strip(): lane.get("id") for lane in _xpath(tree, "//bpmn:lane")
               for ref in _xpath(lane, "bpmn:flowNodeRef") if ref.text}
    model.lanes = {lane.get("id"): lane.get("name", "") for lane in _xpath(tree, "//bpmn:lane")}
    for kind in FLOW_NODES:
        for node in _xpath(tree, f"//bpmn:{kind}"):
            model.nodes[node.get("id")] = (kind, node.get("name", ""), lane_of.get(node.get("id"), ""))
    for flow in _xpath(tree, "//bpmn:sequenceFlow"):
        condition = (flow.findtext(f"{{{NS['bpmn']}}}conditionExpression") or "").strip()
        model.flows[flow.get("id")] = (flow.get("sourceRef", ""), flow.get("targetRef", ""), flow.get("name", ""),
                                       condition)
    for timer in _xpath(tree, "//bpmn:timerEventDefinition/*"):
        model.timers[timer.getparent().getparent().get("id")] = (timer.text or "").strip()
    for operator in _xpath(tree, "//spiffworkflow:serviceTaskOperator"):
        task = _xpath(operator, "ancestor::bpmn:serviceTask")[0]
        params = {p.get("id"): p.get("value", "") for p in _xpath(operator, ".//spiffworkflow:parameter")}
        model.services[task.get("id")] = (operator.get("id", ""), params)
    for task in _xpath(tree, "//bpmn:userTask"):
        files = [_xpath(task, f".//spiffworkflow:property[@name='{name}']/@value") for name in _FORM_PROPERTIES]
        model.task_forms[task.get("id")] = tuple(str(v[0]) if v else "" for v in files)
    for name in {f for files in model.task_forms.values() for f in files if f.endswith(".schema.json")}:
        model.fields[name] = _form_fields(forms.get(name))
    return model


def _form_fields(content: bytes | str | None) -> dict[str, tuple[str, str, bool]]:
    """field -> (type, title, required) of a JSON Schema form; nothing when the file is missing or unreadable."""
    try:
        schema = json.loads(content) if content else {}
    except ValueError:
        return {}
    required = set(schema.get("required", []))
    return {name: (str(spec.get("type", "")), str(spec.get("title", name)), name in required)
            for name, spec in schema.get("properties", {}).items() if isinstance(spec, dict)}


def diff_definitions(before: tuple[bytes, Mapping[str, bytes | str]],
                     after: tuple[bytes, Mapping[str, bytes | str]]) -> list[Change]:
    """Every change from ``before`` to ``after`` (each a diagram and its form files), in reading order."""
    old, new = _read(*before), _read(*after)
    return [*_lane_changes(old, new), *_node_changes(old, new), *_flow_changes(old, new),
            *_timer_changes(old, new), *_service_changes(old, new), *_form_changes(old, new)]


def _name(model: _Model, element: str) -> str:
    facts = model.nodes.get(element)
    return f"'{facts[1]}'" if facts and facts[1] else f"'{element}'"


def _lane_changes(old: _Model, new: _Model) -> Iterator[Change]:
    for lane in new.lanes.keys() - old.lanes.keys():
        yield Change("added", "lane", lane, f"Lane '{new.lanes[lane]}' added")
    for lane in old.lanes.keys() - new.lanes.keys():
        yield Change("removed", "lane", lane, f"Lane '{old.lanes[lane]}' removed")
    for lane in sorted(old.lanes.keys() & new.lanes.keys()):
        if old.lanes[lane] != new.lanes[lane]:
            yield Change("renamed", "lane", lane, f"Lane '{old.lanes[lane]}' renamed to '{new.lanes[lane]}'")


def _node_changes(old: _Model, new: _Model) -> Iterator[Change]:
    for node in sorted(new.nodes.keys() - old.nodes.keys()):
        kind, name, lane = new.nodes[node]
        where = f" in lane '{new.lanes.get(lane, lane)}'" if lane else ""
        yield Change("added", "flow node", node, f"{kind} '{name or node}' added{where}")
    for node in sorted(old.nodes.keys() - new.nodes.keys()):
        kind, name, _ = old.nodes[node]
        yield Change("removed", "flow node", node, f"{kind} '{name or node}' removed")
    for node in sorted(old.nodes.keys() & new.nodes.keys()):
        (old_kind, old_name, old_lane), (new_kind, new_name, new_lane) = old.nodes[node], new.nodes[node]
        if old_name != new_name:
            yield Change("renamed", "flow node", node, f"'{old_name}' renamed to '{new_name}'")
        if old_kind != new_kind:
            yield Change("changed", "flow node", node, f"{_name(new, node)} is now a {new_kind} (was a {old_kind})")
        if old_lane != new_lane:
            yield Change("moved", "flow node", node, f"{_name(new, node)} moved from lane "
                         f"'{old.lanes.get(old_lane, old_lane)}' to '{new.lanes.get(new_lane, new_lane)}'")


def _flow_changes(old: _Model, new: _Model) -> Iterator[Change]:
    for flow in sorted(new.flows.keys() - old.flows.keys()):
        source, target, _, _ = new.flows[flow]
        yield Change("added", "flow", flow, f"Flow from {_name(new, source)} to {_name(new, target)} added")
    for flow in sorted(old.flows.keys() - new.flows.keys()):
        source, target, _, _ = old.flows[flow]
        yield Change("removed", "flow", flow, f"Flow from {_name(old, source)} to {_name(old, target)} removed")
    for flow in sorted(old.flows.keys() & new.flows.keys()):
        (old_source, old_target, _, old_cond), (source, target, name, cond) = old.flows[flow], new.flows[flow]
        label = f"flow '{name}'" if name else f"the flow from {_name(new, source)}"
        if (old_source, old_target) != (source, target):
            yield Change("changed", "flow", flow, f"{label.capitalize()} now goes from {_name(new, source)} to "
                         f"{_name(new, target)} (was {_name(old, old_source)} to {_name(old, old_target)})")
        if old_cond != cond:
            yield Change("changed", "condition", flow, f"Condition of {label} changed from `{old_cond or 'none'}`"
                         f" to `{cond or 'none'}`")


def _timer_changes(old: _Model, new: _Model) -> Iterator[Change]:
    for event in sorted(old.timers.keys() & new.timers.keys()):
        if old.timers[event] != new.timers[event]:
            yield Change("changed", "timer", event, f"Timer of {_name(new, event)} changed from "
                         f"`{old.timers[event]}` to `{new.timers[event]}`")


def _service_changes(old: _Model, new: _Model) -> Iterator[Change]:
    for task in sorted(old.services.keys() & new.services.keys()):
        (old_op, old_params), (op, params) = old.services[task], new.services[task]
        if old_op != op:
            yield Change("changed", "service", task, f"{_name(new, task)} now calls '{op}' (was '{old_op}')")
        for param in sorted(old_params.keys() | params.keys()):
            before, after = old_params.get(param), params.get(param)
            if before != after:
                change = "added" if before is None else "removed" if after is None else "changed"
                yield Change(change, "service", task, f"Parameter '{param}' of {_name(new, task)} {change}"
                             + (f": `{before}` to `{after}`" if change == "changed" else ""))


def _form_changes(old: _Model, new: _Model) -> Iterator[Change]:
    for task in sorted(old.task_forms.keys() & new.task_forms.keys()):
        if old.task_forms[task] != new.task_forms[task]:
            yield Change("changed", "form", task, f"{_name(new, task)} now uses form "
                         f"{' + '.join(f for f in new.task_forms[task] if f)}")
    for form in sorted(old.fields.keys() & new.fields.keys()):
        yield from _field_changes(form, old.fields[form], new.fields[form])


def _field_changes(form: str, old: dict[str, tuple[str, str, bool]],
                   new: dict[str, tuple[str, str, bool]]) -> Iterator[Change]:
    for name in sorted(new.keys() - old.keys()):
        kind, title, required = new[name]
        yield Change("added", "form field", form, f"Form {form}: field '{title}' added"
                     + (" (required)" if required else ""))
    for name in sorted(old.keys() - new.keys()):
        yield Change("removed", "form field", form, f"Form {form}: field '{old[name][1]}' removed")
    for name in sorted(old.keys() & new.keys()):
        if old[name] != new[name]:
            (old_type, old_title, old_req), (kind, title, required) = old[name], new[name]
            facts = [f"title '{old_title}' to '{title}'" if old_title != title else "",
                     f"type {old_type} to {kind}" if old_type != kind else "",
                     ("now required" if required else "now optional") if old_req != required else ""]
            yield Change("changed", "form field", form,
                         f"Form {form}: field '{title}' changed: {', '.join(f for f in facts if f)}")
