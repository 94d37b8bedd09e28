"""Uploading a diagram whose forms are not closed, not linear-time or not readable is a 422, and deploys nothing."""
from __future__ import annotations

import io
import json
import time
from pathlib import Path
from typing import Any

import pytest
from werkzeug.test import TestResponse

from engine.process.definitions import read_bundle
from tests.api.conftest import Api, current_task, open_ticket
from tests.api.test_api_errors import problem
from tests.conftest import CLASSIFY

DIAGRAM = Path(__file__).resolve().parents[2] / "bpmn" / "support_ticket.bpmn"
BPMN, FORMS = read_bundle(DIAGRAM)
FORM = "classify_ticket.schema.json"  # the first task's form, worked by L1


def upload(api: Api, forms: dict[str, bytes]) -> TestResponse:
    """Upload the bundled diagram with the given form files, as a process owner would from the modeler."""
    files: dict[str, Any] = {"bpmn": (io.BytesIO(BPMN), "support_ticket.bpmn"),
                             "forms": [(io.BytesIO(body), name) for name, body in forms.items()]}
    return api.as_("petra").post("/api/v1/definitions", data=files, content_type="multipart/form-data")


def with_reference_field(**keywords: Any) -> bytes:
    """The classify form with an optional free-text 'reference' field carrying the keywords."""
    schema = json.loads(FORMS[FORM])
    schema["properties"]["reference"] = {"type": "string", "title": "Reference", **keywords}
    return json.dumps(schema).encode()


def versions(api: Api) -> int:
    return len(api.as_("petra").get("/api/v1/definitions").json["items"])


@pytest.mark.parametrize(("content", "fragments"), [
    (with_reference_field(**{"$ref": "http://127.0.0.1:9/form.json"}), ["/properties/reference/$ref", "outside"]),
    (with_reference_field(**{"$ref": "file:///etc/passwd"}), ["/properties/reference/$ref", "outside"]),
    (with_reference_field(**{"$ref": "#/$defs/missing"}), ["/properties/reference/$ref", "points to nothing"]),
    (with_reference_field(pattern=r"^(a)\1$"), ["/properties/reference/pattern", "backreferences"]),
    (FORMS[FORM].decode().encode("utf-16"), ["UTF-8"]),
    (b"{ not json", ["not valid JSON"]),
    (b"[]", ["JSON object"]),
    (b'{"allOf": [' * 3000 + b"]}" * 3000, ["nested too deeply"]),
])
def test_a_form_that_is_not_closed_or_not_readable_is_422_and_deploys_nothing(
        api: Api, content: bytes, fragments: list[str]) -> None:
    before = versions(api)
    body = problem(upload(api, {FORM: content}), 422)
    assert body["title"] == "Diagram rejected"
    assert any(f"'{FORM}'" in e["detail"] and all(f in e["detail"] for f in fragments) for e in body["errors"]), body
    assert versions(api) == before


def test_an_unreadable_ui_schema_is_422_naming_the_file(api: Api) -> None:
    body = problem(upload(api, {"classify_ticket.uischema.json": b"\xff\xfe{\x00}\x00"}), 422)
    assert any("'classify_ticket.uischema.json'" in e["detail"] for e in body["errors"]), body


def test_a_catastrophic_pattern_deploys_and_a_long_input_is_a_quick_field_error(api: Api) -> None:
    response = upload(api, {FORM: with_reference_field(pattern="^(a+)+$", maxLength=10000)})
    assert response.status_code == 201, response.json
    number = open_ticket(api)["number"]
    task = current_task(api, number)
    caller = api.as_("lena")
    assert caller.post(f"/api/v1/tasks/{task['id']}/claim").status_code == 200
    started = time.monotonic()
    body = problem(caller.post(f"/api/v1/tasks/{task['id']}/complete",
                               json={**CLASSIFY, "reference": "a" * 5000 + "!"}), 422)
    assert time.monotonic() - started < 1.0
    assert body["errors"] == [{"pointer": "/reference", "detail": "Reference is not in the expected format"}]
    done = caller.post(f"/api/v1/tasks/{task['id']}/complete", json={**CLASSIFY, "reference": "aaaa"})
    assert done.status_code == 200, done.json
