"""Form schemas are closed: they refer only within the deployed forms, match patterns in linear time,
and a form file that cannot be read is refused at deploy by name."""
from __future__ import annotations

import builtins
import json
import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import tasks
from engine.config import DEFAULT_LANE_ROLES
from engine.errors import DefinitionRejected, InvalidInput
from engine.process.definitions import Definition, DefinitionLoader, read_bundle
from engine.process.forms import bundle_schemas, validate_form

DIAGRAM = Path(__file__).resolve().parents[2] / "bpmn" / "support_ticket.bpmn"
BPMN, FORMS = read_bundle(DIAGRAM)
FORM = "test_and_confirm.schema.json"  # the customer's form: "validation_outcome" required, "customer_comment"
OTHER = "apply_solution.schema.json"
UI_FORM = "test_and_confirm.uischema.json"
COMMENT = "/properties/customer_comment"
CONFIRMED = {"validation_outcome": "resolved"}


@pytest.fixture
def loader() -> DefinitionLoader:
    return DefinitionLoader(list(tasks.build_registry()), DEFAULT_LANE_ROLES)


def with_forms(**changes: Callable[[dict[str, Any]], None]) -> dict[str, bytes]:
    """The bundled forms with an edit applied to each named one (file name with '.' written as '__')."""
    forms = dict(FORMS)
    for key, change in changes.items():
        name = key.replace("__", ".")
        schema = json.loads(forms[name])
        change(schema)
        forms[name] = json.dumps(schema, indent=2).encode()
    return forms


def with_comment(**keywords: Any) -> dict[str, bytes]:
    """The bundled forms with keywords set on the customer's comment field."""
    return with_forms(test_and_confirm__schema__json=lambda s: s["properties"]["customer_comment"].update(keywords))


def refused(loader: DefinitionLoader, forms: dict[str, bytes], *fragments: str) -> str:
    """The diagram is refused at deploy with one problem that mentions every fragment; that problem."""
    with pytest.raises(DefinitionRejected) as rejected:
        loader.load(BPMN, forms)
    matching = [p for p in rejected.value.problems if all(f in p for f in fragments)]
    assert matching, f"no problem mentions all of {fragments}: {rejected.value.problems}"
    assert loader.check(BPMN, forms) == rejected.value.problems
    return matching[0]


def comment_errors(definition: Definition, comment: str) -> list[tuple[str, str]]:
    with pytest.raises(InvalidInput) as invalid:
        validate_form(definition.form_schema("test_and_confirm"), {**CONFIRMED, "customer_comment": comment})
    return [(e.pointer, e.message) for e in invalid.value.errors]


# -- references --------------------------------------------------------------------------------------

@pytest.mark.parametrize("ref", [
    "http://127.0.0.1:9/form.json", "https://example.com/form.json#/$defs/x", "file:///etc/passwd",
    "urn:example:form", "/etc/passwd", "../forms/apply_solution.schema.json", "//example.com/form.json",
    "forms/apply_solution.schema.json", "./apply_solution.schema.json",
])
def test_a_reference_outside_the_deployed_forms_is_refused_naming_the_file_and_pointer(
        loader: DefinitionLoader, ref: str) -> None:
    problem = refused(loader, with_comment(**{"$ref": ref}), f"'{FORM}'", f"{COMMENT}/$ref", "refers outside")
    assert ref[:40] in problem


def test_a_dynamic_reference_outside_the_deployed_forms_is_refused_too(loader: DefinitionLoader) -> None:
    refused(loader, with_comment(**{"$dynamicRef": "https://example.com/meta#items"}), f"'{FORM}'",
            f"{COMMENT}/$dynamicRef")


@pytest.mark.parametrize(("where", "value"), [("", "https://example.com/forms/"), ("", "file:///tmp/"),
                                               (COMMENT, "https://example.com/comment.json"),
                                               (COMMENT, OTHER)])
def test_an_id_that_moves_the_base_uri_is_refused(loader: DefinitionLoader, where: str, value: str) -> None:
    def set_id(schema: dict[str, Any]) -> None:
        (schema["properties"]["customer_comment"] if where else schema)["$id"] = value

    refused(loader, with_forms(test_and_confirm__schema__json=set_id), f"'{FORM}'", f"{where}/$id")


@pytest.mark.parametrize("ref", ["#/$defs/missing", "#nowhere", f"{OTHER}#/properties/nothing_here"])
def test_a_reference_that_points_to_nothing_is_refused(loader: DefinitionLoader, ref: str) -> None:
    refused(loader, with_comment(**{"$ref": ref}), f"'{FORM}'", f"{COMMENT}/$ref", "points to nothing")


def test_a_reference_to_a_form_not_deployed_with_the_diagram_is_refused(loader: DefinitionLoader) -> None:
    refused(loader, with_comment(**{"$ref": "common.schema.json#/$defs/comment"}), f"'{FORM}'", "refers outside")
    refused(loader, with_comment(**{"$ref": UI_FORM}), f"'{FORM}'", "refers outside")  # a UI schema is no form


def test_a_reference_that_leads_back_to_itself_is_refused(loader: DefinitionLoader) -> None:
    def loop(schema: dict[str, Any]) -> None:
        schema["$defs"] = {"a": {"allOf": [{"$ref": "#/$defs/b"}]}, "b": {"$ref": "#/$defs/a"}}

    refused(loader, with_forms(test_and_confirm__schema__json=loop), f"'{FORM}'", "/$defs/b/$ref", "recursive")


def test_an_internal_reference_and_one_to_another_deployed_form_work_at_validation(loader: DefinitionLoader) -> None:
    def share(schema: dict[str, Any]) -> None:
        schema["$defs"] = {"comment": {"type": "string", "maxLength": 8, "pattern": "^[a-z ]+$"}}

    def use(schema: dict[str, Any]) -> None:
        schema["$defs"] = {"comment": {"$ref": f"{OTHER}#/$defs/comment"}}
        schema["properties"]["customer_comment"] = {"title": "Comment", "$ref": "#/$defs/comment"}

    definition = loader.load(BPMN, with_forms(apply_solution__schema__json=share, test_and_confirm__schema__json=use))
    schema = definition.form_schema("test_and_confirm")
    assert validate_form(schema, {**CONFIRMED, "customer_comment": "works"})["customer_comment"] == "works"
    assert comment_errors(definition, "NO") == [("/customer_comment", "Comment is not in the expected format")]
    assert comment_errors(definition, "far too long") == [
        ("/customer_comment", "Comment is too long: at most 8 characters are allowed")]


def test_validation_never_opens_a_socket_or_a_file(monkeypatch: pytest.MonkeyPatch) -> None:
    slipped = {"type": "object", "properties": {
        "web": {"$ref": "http://127.0.0.1:9/form.json"}, "disk": {"$ref": "file:///etc/hostname"}}}
    bundled = bundle_schemas({FORM: slipped})[FORM]
    validate_form({"type": "object"}, {})  # warm every import before the doors close

    def forbidden(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("validation tried to reach outside")

    monkeypatch.setattr(socket.socket, "connect", forbidden)
    monkeypatch.setattr(builtins, "open", forbidden)
    for schema in (slipped, bundled):
        for data in ({"web": 1}, {"disk": 1}):
            with pytest.raises(InvalidInput) as invalid:
                validate_form(schema, data)
            assert "outside its diagram" in invalid.value.detail
            assert "127.0.0.1" not in invalid.value.detail and "/etc" not in invalid.value.detail


# -- patterns ----------------------------------------------------------------------------------------

def test_a_catastrophic_pattern_answers_a_long_input_quickly_with_a_field_error(loader: DefinitionLoader) -> None:
    definition = loader.load(BPMN, with_comment(pattern="^(a+)+$"))
    started = time.monotonic()
    errors = comment_errors(definition, "a" * 3999 + "!")
    assert time.monotonic() - started < 1.0  # Python's re would take longer than the age of the universe
    assert errors == [("/customer_comment", "Comment is not in the expected format")]


@pytest.mark.parametrize("pattern", [r"^(a)\1$", r"^(?=a)a$", r"^(?<!b)a$", r"(?P<x>a)(?P=x)"])
def test_a_pattern_the_linear_engine_cannot_run_is_refused_at_deploy(loader: DefinitionLoader, pattern: str) -> None:
    problem = refused(loader, with_comment(pattern=pattern), f"'{FORM}'", f"{COMMENT}/pattern")
    assert "backreferences and look-arounds are not supported" in problem


def test_an_input_over_max_length_reports_max_length_only(loader: DefinitionLoader) -> None:
    definition = loader.load(BPMN, with_comment(pattern="^[0-9]+$", maxLength=5))
    assert comment_errors(definition, "x" * 50) == [
        ("/customer_comment", "Comment is too long: at most 5 characters are allowed")]
    assert comment_errors(definition, "x") == [("/customer_comment", "Comment is not in the expected format")]


def test_a_pattern_with_unicode_classes_deploys_and_matches_letters(loader: DefinitionLoader) -> None:
    definition = loader.load(BPMN, with_comment(pattern=r"^\p{L}+$"))
    validate_form(definition.form_schema("test_and_confirm"), {**CONFIRMED, "customer_comment": "Émile"})
    assert comment_errors(definition, "R2D2") == [("/customer_comment", "Comment is not in the expected format")]


def test_pattern_properties_are_refused_in_forms(loader: DefinitionLoader) -> None:
    refused(loader, with_forms(test_and_confirm__schema__json=lambda s: s.update(patternProperties={"^x": {}})),
            f"'{FORM}'", "patternProperties")


def test_a_regex_format_field_is_checked_by_the_linear_engine(loader: DefinitionLoader) -> None:
    definition = loader.load(BPMN, with_comment(format="regex"))
    assert comment_errors(definition, r"(a)\1") == [("/customer_comment", "Comment must be a valid regex")]
    validate_form(definition.form_schema("test_and_confirm"), {**CONFIRMED, "customer_comment": "^(a+)+$"})


# -- unreadable files --------------------------------------------------------------------------------

def _deep(levels: int) -> bytes:
    inner = '{"type": "string"}'
    for _ in range(levels):
        inner = '{"allOf": [' + inner + "]}"
    return ('{"type": "object", "additionalProperties": false, "properties": {"x": ' + inner + "}}").encode()


UNREADABLE = {
    "UTF-16": FORMS[FORM].decode().encode("utf-16"),
    "binary": b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR",
    "truncated": FORMS[FORM][: len(FORMS[FORM]) // 2],
    "not an object": b'["validation_outcome"]',
    "NaN": b'{"type": "object", "additionalProperties": false, "maxLength": NaN}',
    "thousands deep": _deep(5000),
    "a hundred deep": _deep(100),
}


@pytest.mark.parametrize("kind", sorted(UNREADABLE))
def test_an_unreadable_form_schema_is_refused_at_deploy_naming_the_file(loader: DefinitionLoader, kind: str) -> None:
    refused(loader, {**FORMS, FORM: UNREADABLE[kind]}, f"'{FORM}'")


@pytest.mark.parametrize("kind", sorted(UNREADABLE))
def test_an_unreadable_ui_schema_is_refused_at_deploy_naming_the_file(loader: DefinitionLoader, kind: str) -> None:
    refused(loader, {**FORMS, UI_FORM: UNREADABLE[kind]}, f"'{UI_FORM}'")


def test_a_bundled_file_no_task_names_must_still_be_utf8_json(loader: DefinitionLoader) -> None:
    refused(loader, {**FORMS, "notes.json": "{}".encode("utf-16")}, "'notes.json'", "UTF-8")
