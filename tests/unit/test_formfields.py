"""Forms from JSON Schema and browser strings back to typed data, for cases the shipped forms lack."""
from __future__ import annotations

from engine.errors import FieldError
from web.pages.formfields import coerce, errors_by_field, fields_of, shown_values

SCHEMA = {
    "type": "object",
    "properties": {
        "notify": {"type": "boolean", "title": "Notify the customer"},
        "count": {"type": "integer", "title": "Affected users"},
        "reproduced": {"type": "boolean", "title": "Reproduced"},
        "steps": {"type": "array", "items": {"type": "string"}},
        "kind": {"type": "string", "enum": ["a", "b"]},
        "note": {"type": "string", "title": "Note"},
    },
    "required": ["reproduced"],
}
UI = {"ui:order": ["reproduced", "note", "*"], "note": {"ui:widget": "textarea"}, "kind": {"ui:widget": "radio"}}


def test_widgets_follow_the_types_and_the_ui_schema_order() -> None:
    fields = fields_of(SCHEMA, UI)
    assert [(f.name, f.widget) for f in fields] == [
        ("reproduced", "yesno"), ("note", "textarea"), ("notify", "checkbox"), ("count", "number"),
        ("steps", "lines"), ("kind", "radio")]
    assert fields[0].options == (("yes", "Yes"), ("no", "No"))
    assert fields[-1].options == (("a", "a"), ("b", "b"))  # no x-enumNames: the values are the labels
    assert fields[2].title == "Notify the customer" and fields[4].title == "steps"


def test_an_unchecked_box_is_false_a_missing_answer_is_absent_and_numbers_are_numbers() -> None:
    fields = fields_of(SCHEMA, UI)
    assert coerce(fields, {"reproduced": "", "note": "  ", "count": "12", "steps": "", "junk": "x"}) == {
        "notify": False, "count": 12, "steps": []}
    assert coerce(fields, {"reproduced": "no", "notify": "on", "count": "1.5", "kind": "b",
                           "note": "line one\r\nline two"}) == {
        "reproduced": False, "notify": True, "count": 1.5, "steps": [], "kind": "b", "note": "line one\nline two"}
    assert coerce(fields, {"count": "twelve"})["count"] == "twelve"  # left for the schema to refuse


def test_known_values_are_shown_as_the_inputs_expect_and_errors_go_to_their_input() -> None:
    fields = fields_of(SCHEMA, UI)
    assert shown_values(fields, {"reproduced": False, "notify": True, "steps": ["x", "y"], "count": 3}) == {
        "reproduced": "no", "notify": "on", "steps": "x\ny", "count": "3"}
    placed, general = errors_by_field([f.name for f in fields], [
        FieldError("/steps/1", "too short"), FieldError("/note", "missing"), FieldError("", "not an object"),
        FieldError("/other", "unknown field")])
    assert placed == {"steps": ["entry 2: too short"], "note": ["missing"]}
    assert general == ["not an object", "unknown field"]
