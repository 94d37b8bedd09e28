"""Every error status of the API, each with an RFC 9457 problem+json body, and nothing changed."""
from __future__ import annotations

from typing import Any

import pytest
from werkzeug.test import TestResponse

from engine.usecases.ticket_list import TicketLists
from tests.api.conftest import Api, complete, current_task, make_api, open_ticket
from tests.conftest import ASSESS_ESCALATE, ASSESS_RESOLVE, CLASSIFY, ESCALATE, FIX, INVESTIGATE, SOLUTION


def problem(response: TestResponse, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.data
    assert response.mimetype == "application/problem+json"
    body = response.json
    assert body["status"] == status and body["type"].startswith("https://") and body["title"] and body["detail"]
    assert "Traceback" not in response.get_data(as_text=True)
    return body


def history_length(api: Api, number: str) -> int:
    return len(api.as_("root").get(f"/api/v1/tickets/{number}/history").json["events"])


def test_missing_and_wrong_tokens_are_401(api: Api) -> None:
    body = problem(api.client.get("/api/v1/tickets"), 401)
    assert "Bearer" in body["detail"]
    assert api.client.get("/api/v1/tickets").headers["WWW-Authenticate"].startswith("Bearer")
    problem(api.client.get("/api/v1/tickets", headers={"Authorization": "Bearer tf_not-a-token"}), 401)
    problem(api.client.get("/api/v1/tickets", headers={"Authorization": "Basic YWxpY2U6eA=="}), 401)


def test_a_reissued_token_revokes_the_old_one(api: Api) -> None:
    old = api.tokens["lena"]
    new = api.app.extensions["ticketflow"].directory.issue_token("lena")
    problem(api.client.get("/api/v1/me", headers={"Authorization": f"Bearer {old}"}), 401)
    assert api.client.get("/api/v1/me", headers={"Authorization": f"Bearer {new}"}).json["name"] == "lena"


def test_malformed_json_is_400_and_changes_nothing(api: Api) -> None:
    number = open_ticket(api)["number"]
    task = current_task(api, number)
    before = history_length(api, number)
    body = problem(api.as_("lena").post(f"/api/v1/tasks/{task['id']}/complete", data='{"type": "incident",',
                                        content_type="application/json"), 400)
    assert "not valid JSON" in body["detail"]
    problem(api.as_("alice").post("/api/v1/tickets", data=b"\xff\xfe", content_type="application/json"), 400)
    assert history_length(api, number) == before


def test_wrong_content_type_is_415(api: Api) -> None:
    problem(api.as_("alice").post("/api/v1/tickets", data="subject=x", content_type="text/plain"), 415)
    problem(api.as_("alice").post("/api/v1/tickets", data={"subject": "x"}), 415)  # a form post
    problem(api.as_("petra").post("/api/v1/definitions", json={"bpmn": "<x/>"}), 415)


def test_body_over_the_limit_is_413(runtime: Any) -> None:
    small = make_api(runtime, max_body=2048)
    body = problem(small.as_("alice").post("/api/v1/tickets", data="[" + "1," * 4000 + "1]",
                                           content_type="application/json"), 413)
    assert "2048 bytes" in body["detail"]
    assert small.as_("root").get("/api/v1/tickets").json["total"] == 0


def test_default_limit_is_one_mebibyte(api: Api) -> None:
    big = '{"subject": "' + "x" * (1024 * 1024) + '"}'
    problem(api.as_("alice").post("/api/v1/tickets", data=big, content_type="application/json"), 413)


def test_unknown_ticket_and_task_are_404(api: Api) -> None:
    assert "T-424242" in problem(api.as_("lena").get("/api/v1/tickets/T-424242"), 404)["detail"]
    problem(api.as_("lena").get("/api/v1/tickets/T-424242/history"), 404)
    problem(api.as_("lena").get("/api/v1/tasks/no-such-task"), 404)
    problem(api.as_("lena").post("/api/v1/tasks/no-such-task/claim"), 404)
    problem(api.as_("lena").post("/api/v1/tasks/no-such-task/complete", json={}), 404)
    problem(api.as_("lena").get("/api/v1/nothing-here"), 404)


def test_wrong_method_is_405_with_allow(api: Api) -> None:
    response = api.as_("lena").client.delete("/api/v1/tickets",
                                             headers={"Authorization": f"Bearer {api.tokens['lena']}"})
    problem(response, 405)
    assert "GET" in response.headers["Allow"]


def test_conflicts_are_409(api: Api) -> None:
    number = open_ticket(api)["number"]
    task = current_task(api, number)
    lena, otto_l1 = api.as_("lena"), api.as_("root")
    stale = api.as_("lena").get(f"/api/v1/tickets/{number}").headers["ETag"]
    assert lena.post(f"/api/v1/tasks/{task['id']}/claim").status_code == 200
    assert "already claimed by lena" in problem(otto_l1.post(f"/api/v1/tasks/{task['id']}/claim"), 409)["detail"]
    # the claim bumped the ticket version: a submission based on what lena saw before is stale
    body = problem(lena.post(f"/api/v1/tasks/{task['id']}/complete", json=CLASSIFY, headers={"If-Match": stale}),
                   409)
    assert "reload" in body["detail"]
    fresh = api.as_("lena").get(f"/api/v1/tickets/{number}").headers["ETag"]
    assert lena.post(f"/api/v1/tasks/{task['id']}/complete", json=CLASSIFY,
                     headers={"If-Match": fresh}).status_code == 200
    assert "already completed" in problem(lena.post(f"/api/v1/tasks/{task['id']}/complete", json=CLASSIFY), 409)[
        "detail"]
    problem(lena.post(f"/api/v1/tasks/{task['id']}/release"), 409)
    problem(lena.post(f"/api/v1/tasks/{current_task(api, number)['id']}/complete", json=CLASSIFY,
                      headers={"If-Match": "soon"}), 400)


def test_invalid_form_is_422_with_one_error_per_field(api: Api) -> None:
    number = open_ticket(api)["number"]
    task = current_task(api, number)
    before = history_length(api, number)
    body = problem(api.as_("lena").post(f"/api/v1/tasks/{task['id']}/complete",
                                        json={"type": "rumour", "impact": 3, "colour": "red"}), 422)
    pointers = {e["pointer"]: e["detail"] for e in body["errors"]}
    assert set(pointers) == {"/type", "/impact", "/urgency", "/colour"}
    assert "must be one of" in pointers["/type"] and "must be one of" in pointers["/impact"]
    assert "required" in pointers["/urgency"] and "unknown field" in pointers["/colour"]
    problem(api.as_("lena").post(f"/api/v1/tasks/{task['id']}/complete", json=["incident"]), 422)
    assert history_length(api, number) == before
    assert current_task(api, number)["id"] == task["id"]


def test_the_procedures_rules_hold_through_the_api(api: Api) -> None:
    number = open_ticket(api)["number"]
    lena = api.as_("lena")
    complete(api, number, "lena", CLASSIFY)
    assess = current_task(api, number)
    complete(api, number, "lena", ASSESS_ESCALATE)
    escalate = current_task(api, number)
    body = problem(lena.post(f"/api/v1/tasks/{escalate['id']}/complete", json={
        **ESCALATE, "troubleshooting_steps": []}), 422)
    assert [e["pointer"] for e in body["errors"]] == ["/troubleshooting_steps"]
    assert assess["id"] != escalate["id"]
    complete(api, number, "lena", ESCALATE)
    complete(api, number, "otto", INVESTIGATE)
    fix = current_task(api, number)
    workaround = {**FIX, "fix_kind": "temporary_workaround"}
    body = problem(api.as_("otto").post(f"/api/v1/tasks/{fix['id']}/complete", json=workaround), 422)
    assert {e["pointer"] for e in body["errors"]} == {"/workaround_approver", "/follow_up_reference"}
    complete(api, number, "otto", {**workaround, "workaround_approver": "Head of L2",
                                   "follow_up_reference": "PRB-17"})
    solution = current_task(api, number)
    body = problem(lena.post(f"/api/v1/tasks/{solution['id']}/complete",
                             json={**SOLUTION, "actions_taken": "fixed", "observed_outcome": ""}), 422)
    details = {e["pointer"]: e["detail"] for e in body["errors"]}
    assert set(details) == {"/actions_taken", "/observed_outcome"}
    assert "too short" in details["/actions_taken"]


def test_only_the_customer_answers_validation_and_explicitly(api: Api) -> None:
    number = open_ticket(api)["number"]
    for user, data in (("lena", CLASSIFY), ("lena", ASSESS_RESOLVE), ("lena", SOLUTION)):
        complete(api, number, user, data)
    task = current_task(api, number)
    problem(api.as_("lena").post(f"/api/v1/tasks/{task['id']}/complete", json={"validation_outcome": "resolved"}),
            403)
    body = problem(api.as_("alice").post(f"/api/v1/tasks/{task['id']}/complete", json={}), 422)
    assert body["errors"][0]["pointer"] == "/validation_outcome"


@pytest.mark.parametrize("body", [
    {"subject": "x", "description": "short"},
    {"subject": 42, "description": ["not", "text"]},
    {"subject": "Login broken", "description": "Cannot log in at all today.", "unit": "nowhere"},
    {"subject": "Login broken", "description": "Cannot log in at all today.", "channel": "phone"},
    {"subject": "Login broken", "description": "Cannot log in at all today.", "priority": "P1"},
])
def test_bad_ticket_intake_is_422_and_opens_nothing(api: Api, body: dict[str, Any]) -> None:
    problem(api.as_("alice").post("/api/v1/tickets", json=body), 422)
    assert api.as_("root").get("/api/v1/tickets").json["total"] == 0


def test_an_agent_must_say_how_the_request_came_in(api: Api) -> None:
    body = problem(api.as_("lena").post("/api/v1/tickets", json={
        "subject": "Printer stuck", "description": "Phoned in: nothing prints.", "customer": "bob",
        "contact": {"phone": "+49 30 1"}}), 422)
    assert body["errors"][0]["pointer"] == "/channel"


def test_bad_query_parameters_are_400(api: Api) -> None:
    problem(api.as_("lena").get("/api/v1/tickets?limit=many"), 400)
    problem(api.as_("lena").get("/api/v1/tickets?limit=100000"), 400)
    problem(api.as_("lena").get("/api/v1/tasks?assignee=otto"), 400)
    problem(api.as_("lena").get("/api/v1/kb/search?q="), 400)


def test_a_definition_the_lint_rejects_is_422_with_its_messages(api: Api) -> None:
    body = problem(api.as_("petra").post("/api/v1/definitions", data=b"<definitions", content_type="application/xml"),
                   422)
    assert "malformed XML" in body["errors"][0]["detail"]
    doctype = b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><x>&e;</x>'
    body = problem(api.as_("petra").post("/api/v1/definitions", data=doctype, content_type="application/xml"), 422)
    assert "DOCTYPE" in body["detail"]
    assert len(api.as_("petra").get("/api/v1/definitions").json["items"]) == 1


def test_unexpected_errors_are_500_without_a_stack_trace(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    def explode(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("secret internals /srv/ticketflow/engine.py line 42")

    monkeypatch.setattr(TicketLists, "tickets", explode)
    body = problem(api.as_("lena").get("/api/v1/tickets"), 500)
    assert "secret internals" not in str(body)
