"""HTML forms from a task's JSON Schema and UI schema, and browser submissions back to typed data.

The browser sends only strings. Here they become the types the schema declares, built from the
schema's own fields (anything else the browser sends is ignored); the use case then validates the
result, so nothing the browser claims is trusted.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from engine.errors import FieldError
from engine.process import quality

YES, NO = "yes", "no"


@dataclass(frozen=True)
class Field:
    """One input of a rendered form."""

    name: str
    title: str
    description: str
    widget: str  # text, textarea, select, radio, yesno, checkbox, lines, number
    required: bool
    options: tuple[tuple[str, str], ...] = ()  # (value, label) for select, radio and yesno
    max_length: int | None = None

    @property
    def input_id(self) -> str:
        return f"f-{self.name}"


def fields_of(schema: Mapping[str, Any], ui_schema: Mapping[str, Any]) -> list[Field]:
    """The form's inputs in the UI schema's order (then any property it does not name)."""
    properties: Mapping[str, Any] = schema.get("properties", {})
    order = [name for name in ui_schema.get("ui:order", []) if name in properties]
    order += [name for name in properties if name not in order]
    required = set(schema.get("required", []))
    return [_field(name, properties[name], ui_schema.get(name, {}), name in required) for name in order]


def _field(name: str, spec: Mapping[str, Any], ui: Mapping[str, Any], required: bool) -> Field:
    kind = spec.get("type")
    widget = ui.get("ui:widget") if isinstance(ui, Mapping) else None
    options: tuple[tuple[str, str], ...] = ()
    if kind == "boolean":
        # A checkbox cannot say "not answered", so a required yes/no question is a choice of two.
        shown = "yesno" if required else "checkbox"
        options = ((YES, "Yes"), (NO, "No")) if required else ()
    elif kind == "array":
        shown = "lines"
    elif kind in ("integer", "number"):
        shown = "number"
    elif "enum" in spec:
        shown = "radio" if widget == "radio" else "select"
        labels = spec.get("x-enumNames") or spec["enum"]
        options = tuple((str(value), str(label)) for value, label in zip(spec["enum"], labels, strict=False))
    else:
        shown = "textarea" if widget == "textarea" else "text"
    return Field(name=name, title=str(spec.get("title", name)), description=_help(spec),
                 widget=shown, required=required, options=options, max_length=spec.get("maxLength"))


def _help(spec: Mapping[str, Any]) -> str:
    """The field's description, then its quality rule in plain words, so the agent reads it before typing."""
    rules = spec.get(quality.KEYWORD)
    rule = quality.help_text(rules) if isinstance(rules, Mapping) else ""
    return " ".join(part for part in (str(spec.get("description", "")), rule) if part)


# -- values shown in the inputs ---------------------------------------------------------------------
def shown_values(fields: list[Field], data: Mapping[str, Any]) -> dict[str, str]:
    """Known data (a prefill) as the strings the inputs display."""
    shown: dict[str, str] = {}
    for field in fields:
        if field.name not in data:
            continue
        value = data[field.name]
        if isinstance(value, bool):
            shown[field.name] = (YES if value else NO) if field.widget == "yesno" else ("on" if value else "")
        elif isinstance(value, list):
            shown[field.name] = "\n".join(str(item) for item in value)
        elif value is not None:
            shown[field.name] = str(value)
    return shown


def submitted_values(fields: list[Field], form: Mapping[str, str]) -> dict[str, str]:
    """What the user typed, exactly, so a refused form comes back as they left it."""
    return {field.name: form[field.name] for field in fields if field.name in form}


# -- submissions ----------------------------------------------------------------------------------
def coerce(fields: list[Field], form: Mapping[str, str]) -> dict[str, Any]:
    """The submission as typed data. An empty input means "not given" (so required fields are
    reported missing); a value that does not fit its type is passed on for the schema to refuse."""
    data: dict[str, Any] = {}
    for field in fields:
        raw = form.get(field.name, "")
        if field.widget == "checkbox":
            data[field.name] = field.name in form  # an unchecked box is not sent at all
            continue
        if field.widget == "lines":
            data[field.name] = [line.strip() for line in raw.splitlines() if line.strip()]
            continue
        text = raw.replace("\r\n", "\n").strip()
        if not text:
            continue
        data[field.name] = _typed(field.widget, text)
    return data


def _typed(widget: str, text: str) -> Any:
    if widget == "yesno":
        return {YES: True, NO: False}.get(text, text)
    if widget == "number":
        for kind in (int, float):
            try:
                return kind(text)
            except ValueError:
                pass
    return text


def errors_by_field(names: Iterable[str], errors: list[FieldError]) -> tuple[dict[str, list[str]], list[str]]:
    """Each error under the input it belongs to (its pointer's first segment); the rest for the form."""
    names = set(names)
    placed: dict[str, list[str]] = {}
    general: list[str] = []
    for error in errors:
        head, _, rest = error.pointer.lstrip("/").partition("/")
        if head in names:
            entry = rest.split("/", 1)[0]
            prefix = f"entry {int(entry) + 1}: " if entry.isdigit() else ""  # one line of a list of steps
            placed.setdefault(head, []).append(prefix + error.message)
        else:
            general.append(error.message)
    return placed, general
