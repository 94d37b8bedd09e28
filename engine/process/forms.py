"""Form submissions checked against the task's JSON Schema, one clear error per field."""
from __future__ import annotations

import re
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

from engine.errors import FieldError, InvalidInput

_validators: dict[int, Draft202012Validator] = {}


def _validator(schema: dict[str, Any]) -> Draft202012Validator:
    # Schemas belong to immutable, cached definitions, so their identity is a stable key.
    validator = _validators.get(id(schema))
    if validator is None or validator.schema is not schema:
        validator = Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)
        _validators[id(schema)] = validator
    return validator


def validate_form(schema: dict[str, Any], data: Any) -> dict[str, Any]:
    """Return the submission if it satisfies the schema, else raise InvalidInput listing every field."""
    if not isinstance(data, dict):
        raise InvalidInput("form data must be a JSON object", [FieldError("", "expected an object")])
    errors = sorted((_field_error(schema, e) for e in _validator(schema).iter_errors(data)),
                    key=lambda f: f.pointer)
    if errors:
        raise InvalidInput(f"the form has {len(errors)} invalid field(s)", errors)
    return data


def _title(schema: dict[str, Any], name: str) -> str:
    return str(schema.get("properties", {}).get(name, {}).get("title", name))


def _field_error(schema: dict[str, Any], error: ValidationError) -> FieldError:
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
    label = _title(schema, field) if field else "the form"
    if error.validator == "minLength":
        hint = schema.get("properties", {}).get(field, {}).get("description", "") if field else ""
        return FieldError(pointer, f"{label} is too short: at least {error.validator_value} characters "
                          f"are needed{'. ' + hint if hint else ''}")
    if error.validator == "minItems":
        return FieldError(pointer, f"{label} needs at least {error.validator_value} entr"
                          f"{'y' if error.validator_value == 1 else 'ies'}")
    if error.validator == "type":
        return FieldError(pointer, f"{label} must be of type {error.validator_value}")
    if error.validator == "enum":
        return FieldError(pointer, f"{label} must be one of: {', '.join(map(str, error.validator_value))}")
    return FieldError(pointer, f"{label}: {error.message}")
