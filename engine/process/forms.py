"""Form submissions checked against the task's JSON Schema, one clear error per field.

Forms are closed: references resolve only within the deployed forms (a ``referencing.Registry`` that retrieves
nothing), and ``pattern`` runs on RE2, whose matching time is linear in the input."""
from __future__ import annotations

import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import re2
import referencing
import referencing.exceptions
from jsonschema import Draft202012Validator, FormatChecker, validators
from jsonschema.exceptions import ValidationError

from engine.errors import FieldError, InvalidInput
from engine.limits import unstorable_strings
from engine.process import quality
from engine.process.form_schemas import RE2_OPTIONS, compiled_pattern, form_registry, validation_copy

_MESSAGE_LIMIT = 200
_STANDALONE_CACHE = 64


def _pattern(validator: Any, pattern: str, instance: Any, schema: Mapping[str, Any]) -> Iterator[ValidationError]:
    if not validator.is_type(instance, "string"):
        return
    limit = schema.get("maxLength")
    if isinstance(limit, int) and len(instance) > limit:
        return  # maxLength reports this input; an over-long one never reaches the matcher
    if compiled_pattern(pattern).search(instance) is None:
        yield ValidationError("is not in the expected format")


def _quality(validator: Any, rules: Any, instance: Any, schema: Mapping[str, Any]) -> Iterator[ValidationError]:
    if not validator.is_type(instance, "string") or not isinstance(rules, dict):
        return
    shortest = schema.get("minLength")
    if isinstance(shortest, int) and len(instance) < shortest:
        return  # minLength already says it is too short; one reason per field is enough
    for problem in quality.problems(str(schema.get("title", "This field")), rules, instance):
        yield ValidationError(problem)


def _is_regex(instance: object) -> bool:
    if isinstance(instance, str):
        re2.compile(instance, options=RE2_OPTIONS)  # not cached: the text is a submission, not part of the form
    return True


# The stock checkers, except that "regex" asks RE2 (the engine that would run it), not Python's re.
FORMAT_CHECKER = FormatChecker(formats=())
FORMAT_CHECKER.checkers = {**Draft202012Validator.FORMAT_CHECKER.checkers, "regex": (_is_regex, re2.error)}
FormValidator = validators.extend(Draft202012Validator, {"pattern": _pattern, quality.KEYWORD: _quality},
                                   format_checker=FORMAT_CHECKER)


def _build(schema: Mapping[str, Any], registry: referencing.Registry[Any]) -> Any:
    return FormValidator(validation_copy(schema), registry=registry, format_checker=FORMAT_CHECKER)


class FormSchema(dict[str, Any]):
    """A deployed form's JSON Schema that validates against the forms deployed with it, and nothing else."""

    __slots__ = ("_registry", "_validator")

    def __init__(self, contents: Mapping[str, Any], registry: referencing.Registry[Any]) -> None:
        super().__init__(contents)
        self._registry = registry
        self._validator: Any = None

    @property
    def validator(self) -> Any:
        """The compiled validator, built on first use (a race builds it twice, harmlessly)."""
        if self._validator is None:
            self._validator = _build(self, self._registry)
        return self._validator


def bundle_schemas(schemas: Mapping[str, Mapping[str, Any]]) -> dict[str, FormSchema]:
    """The form schemas of one definition, each resolving references to the others by file name."""
    registry = form_registry(schemas)
    return {name: FormSchema(schema, registry) for name, schema in schemas.items()}


_standalone: OrderedDict[int, tuple[Mapping[str, Any], Any]] = OrderedDict()
_standalone_lock = threading.Lock()


def _validator(schema: Mapping[str, Any]) -> Any:
    if isinstance(schema, FormSchema):
        return schema.validator
    # A schema of the code (not of a diagram) refers only within itself. An entry holds its schema, so
    # that schema's id cannot be reused by another object while the entry lives.
    with _standalone_lock:
        entry = _standalone.get(id(schema))
        if entry is not None and entry[0] is schema:
            _standalone.move_to_end(id(schema))
            return entry[1]
    validator = _build(schema, form_registry({}))
    with _standalone_lock:
        _standalone[id(schema)] = (schema, validator)
        while len(_standalone) > _STANDALONE_CACHE:
            _standalone.popitem(last=False)
    return validator


def validate_form(schema: Mapping[str, Any], data: Any) -> dict[str, Any]:
    """Return the submission if it satisfies the schema, else raise InvalidInput listing every field."""
    if not isinstance(data, dict):
        raise InvalidInput("form data must be a JSON object", [FieldError("", "expected an object")])
    unstorable = [FieldError(pointer, reason) for pointer, reason in unstorable_strings(data)]
    if unstorable:
        raise InvalidInput("the form contains text that cannot be stored", unstorable)
    try:
        found = list(_validator(schema).iter_errors(data))
    except referencing.exceptions.Unresolvable:
        # The lint refuses such forms at deploy; this guards a form that reached here some other way.
        raise InvalidInput("this form refers to something outside its diagram, so it cannot be checked; "
                           "ask the process owner to fix the form",
                           [FieldError("", "the form cannot be checked")]) from None
    errors = sorted((_field_error(schema, e) for e in found), key=lambda f: f.pointer)
    if errors:
        raise InvalidInput(f"the form has {len(errors)} invalid field(s)", errors)
    return data


def _title(schema: Mapping[str, Any], name: str) -> str:
    return str(schema.get("properties", {}).get(name, {}).get("title", name))


def _hint(schema: Mapping[str, Any], field: str | None) -> str:
    hint = schema.get("properties", {}).get(field, {}).get("description", "") if field else ""
    return f". {hint}" if hint else ""


def _field_error(schema: Mapping[str, Any], error: ValidationError) -> FieldError:
    path = [str(p) for p in error.absolute_path]
    pointer = "/" + "/".join(path) if path else ""
    field = path[0] if path else None
    if error.validator == "required":
        match = re.match(r"'(.+)' is a required property", error.message)
        missing = match.group(1) if match else "?"
        return FieldError(f"{pointer}/{missing}", f"{_title(schema, missing)} is required")
    if error.validator == "additionalProperties":
        unknown = sorted(set(error.instance) - set(error.schema.get("properties", {})))
        return FieldError(f"{pointer}/{unknown[0]}" if unknown else pointer,
                          f"unknown field(s): {', '.join(unknown)}; this form accepts only its own fields")
    if error.validator == quality.KEYWORD:
        return FieldError(pointer, error.message)  # already in plain words, naming the field
    label = _title(schema, field) if field else "the form"
    message = _MESSAGES.get(str(error.validator))
    if message is not None:
        return FieldError(pointer, message(label, error.validator_value, _hint(schema, field)))
    text = error.message if len(error.message) <= _MESSAGE_LIMIT else error.message[:_MESSAGE_LIMIT] + "..."
    return FieldError(pointer, f"{label}: {text}")


def _entries(count: Any) -> str:
    return f"{count} entr{'y' if count == 1 else 'ies'}"


# Plain words per keyword; none repeats the submitted value, which may be long (or not the submitter's own).
_MESSAGES: dict[str, Callable[[str, Any, str], str]] = {
    "minLength": lambda label, n, hint: f"{label} is too short: at least {n} characters are needed{hint}",
    "maxLength": lambda label, n, hint: f"{label} is too long: at most {n} characters are allowed",
    "pattern": lambda label, _, hint: f"{label} is not in the expected format{hint}",
    "format": lambda label, name, hint: f"{label} must be a valid {name}",
    "minItems": lambda label, n, hint: f"{label} needs at least {_entries(n)}",
    "maxItems": lambda label, n, hint: f"{label} takes at most {_entries(n)}",
    "type": lambda label, kind, hint: f"{label} must be of type {kind}",
    "enum": lambda label, values, hint: f"{label} must be one of: {', '.join(map(str, values))}",
}
