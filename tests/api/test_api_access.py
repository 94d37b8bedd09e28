"""The access matrix: each role against each kind of task and endpoint."""
from __future__ import annotations

from pathlib import Path

import pytest

from tests.api.conftest import Api, complete, current_task, open_ticket
from tests.conftest import ASSESS_ESCALATE, CLASSIFY, ESCALATE, FIX, INVESTIGATE, SOLUTION

ROLES_BY_USER = {"alice": "customer", "lena": "l1", "otto": "l2", "petra": "process_owner", "aude": "auditor",
                 "root": "admin"}
DIAGRAM = Path(__file__).resolve().parents[2] / "bpmn" / "support_ticket.bpmn"


def ticket_at(api: Api, element: str) -> tuple[str, str]:
    """A fresh ticket (alice's) whose ready task is ``element``; returns (number, task id)."""
    number = open_ticket(api)["number"]
    path = [("classify_ticket", "lena", CLASSIFY), ("assess_first_level", "lena", ASSESS_ESCALATE),
            ("escalate_to_l2", "lena", ESCALATE), ("investigate_root_cause", "otto", INVESTIGATE),
            ("apply_definitive_fix", "otto", FIX), ("apply_solution", "lena", SOLUTION)]
    for step, user, data in path:
        if step == element:
            break
        complete(api, number, user, data, claim=False)
    task = current_task(api, number)
    assert task["element_id"] == element
    return number, task["id"]


# Who may claim (and so work) a task in each lane; everybody else gets 403, other customers 404.
WORKERS = {"classify_ticket": {"lena", "root"}, "investigate_root_cause": {"otto", "root"},
           "test_and_confirm": {"alice", "root"}}


@pytest.mark.parametrize("element", sorted(WORKERS))
@pytest.mark.parametrize("user", sorted(ROLES_BY_USER))
def test_claiming_a_task_by_lane_and_role(api: Api, element: str, user: str) -> None:
    _, task_id = _validation_task(api) if element == "test_and_confirm" else ticket_at(api, element)
    response = api.as_(user).post(f"/api/v1/tasks/{task_id}/claim")
    expected = 200 if user in WORKERS[element] else 403
    assert response.status_code == expected, (user, element, response.json)
    if expected == 403:
        assert response.json["status"] == 403 and response.mimetype == "application/problem+json"


def _validation_task(api: Api) -> tuple[str, str]:
    number, _ = ticket_at(api, "apply_solution")
    complete(api, number, "lena", SOLUTION, claim=False)
    task = current_task(api, number)
    assert task["element_id"] == "test_and_confirm"
    return number, task["id"]


@pytest.mark.parametrize("user", sorted(ROLES_BY_USER))
def test_completing_an_l2_task_by_role(api: Api, user: str) -> None:
    number, task_id = ticket_at(api, "investigate_root_cause")
    response = api.as_(user).post(f"/api/v1/tasks/{task_id}/complete", json=INVESTIGATE)
    assert response.status_code == (200 if user in ("otto", "root") else 403), response.json
    events = api.as_("root").get(f"/api/v1/tickets/{number}/history").json["events"]
    completed = [e for e in events if e["kind"] == "task_completed" and e["element_id"] == "investigate_root_cause"]
    assert len(completed) == (1 if response.status_code == 200 else 0)


def test_other_customers_tickets_and_tasks_do_not_exist_for_a_customer(api: Api) -> None:
    number, task_id = _validation_task(api)
    bob = api.as_("bob")
    for path in (f"/api/v1/tickets/{number}", f"/api/v1/tickets/{number}/history", f"/api/v1/tasks/{task_id}"):
        response = bob.get(path)
        assert response.status_code == 404 and response.json["title"] == "Not found", path
    assert bob.post(f"/api/v1/tasks/{task_id}/claim").status_code == 404
    assert bob.post(f"/api/v1/tasks/{task_id}/complete", json={"validation_outcome": "resolved"}).status_code == 404
    assert bob.get("/api/v1/tickets").json["total"] == 0
    assert bob.get("/api/v1/tasks").json["items"] == []
    assert [t["id"] for t in api.as_("alice").get("/api/v1/tasks").json["items"]] == [task_id]
    # and the unknown ticket answers exactly the same way
    assert bob.get("/api/v1/tickets/T-999999").json["detail"] == "ticket T-999999 does not exist"


def test_a_customer_cannot_see_l1_tasks_even_on_their_own_ticket(api: Api) -> None:
    _, task_id = ticket_at(api, "classify_ticket")
    assert api.as_("alice").get(f"/api/v1/tasks/{task_id}").status_code == 403
    assert api.as_("alice").get("/api/v1/tasks").json["items"] == []


# endpoint -> users allowed (others 403)
ENDPOINTS = {
    ("POST", "/api/v1/tickets"): {"alice", "lena", "root"},
    ("GET", "/api/v1/tickets"): set(ROLES_BY_USER),
    ("GET", "/api/v1/tasks"): set(ROLES_BY_USER),
    ("GET", "/api/v1/kb/search?q=login"): {"lena", "otto", "petra", "aude", "root"},
    ("GET", "/api/v1/kb/articles"): {"lena", "otto", "petra", "aude", "root"},
    ("POST", "/api/v1/kb/articles"): {"otto", "petra", "root"},
    ("GET", "/api/v1/definitions"): {"lena", "otto", "petra", "aude", "root"},
    ("POST", "/api/v1/definitions"): {"petra", "root"},
    ("GET", "/api/v1/me"): set(ROLES_BY_USER),
}


def _request(api: Api, user: str, method: str, path: str) -> int:
    caller = api.as_(user)
    if method == "GET":
        return caller.get(path).status_code
    if path.endswith("/tickets"):
        body = {"subject": "Access check", "description": "Checking who may open tickets here."}
        if user != "alice":
            body |= {"customer": "bob", "channel": "chat", "contact": {"email": "bob@example.com"}}
        return caller.post(path, json=body).status_code
    if path.endswith("/kb/articles"):
        return caller.post(path, json={"slug": f"from-{user}", "title": "T", "body": "B"}).status_code
    return caller.post(path, data=DIAGRAM.read_bytes(), content_type="application/xml").status_code


@pytest.mark.parametrize(("method", "path"), sorted(ENDPOINTS))
def test_endpoint_access_by_role(api: Api, method: str, path: str) -> None:
    for user in sorted(ROLES_BY_USER):
        status = _request(api, user, method, path)
        if user in ENDPOINTS[(method, path)]:
            assert status in (200, 201), (user, method, path, status)
        else:
            assert status == 403, (user, method, path, status)


def test_auditor_reads_everything_and_changes_nothing(api: Api) -> None:
    number, task_id = ticket_at(api, "assess_first_level")
    aude = api.as_("aude")
    assert aude.get(f"/api/v1/tickets/{number}").status_code == 200
    assert aude.get(f"/api/v1/tasks/{task_id}").status_code == 200
    assert aude.get("/api/v1/tasks").json["items"][0]["id"] == task_id
    version = api.as_("root").get(f"/api/v1/tickets/{number}").json["version"]
    for action in ("claim", "release", "complete"):
        assert aude.post(f"/api/v1/tasks/{task_id}/{action}", json=ASSESS_ESCALATE).status_code == 403
    assert api.as_("root").get(f"/api/v1/tickets/{number}").json["version"] == version


def test_admin_completing_someone_elses_task_is_recorded_as_an_override(api: Api) -> None:
    number, task_id = ticket_at(api, "classify_ticket")
    assert api.as_("lena").post(f"/api/v1/tasks/{task_id}/claim").status_code == 200
    refused = api.as_("otto").post(f"/api/v1/tasks/{task_id}/complete", json=CLASSIFY)
    assert refused.status_code == 403
    assert api.as_("root").post(f"/api/v1/tasks/{task_id}/complete", json=CLASSIFY).status_code == 200
    events = api.as_("root").get(f"/api/v1/tickets/{number}/history").json["events"]
    override = next(e for e in events if e["kind"] == "admin_override")
    override["data"].pop("request_id")  # every event names the request that recorded it
    assert override["actor"] == "root" and override["data"] == {"action": "complete_task", "assignee": "lena"}
    completed = next(e for e in events if e["kind"] == "task_completed")
    assert completed["actor"] == "root"


def test_an_agent_cannot_complete_a_task_claimed_by_another_agent(api: Api) -> None:
    api.app.extensions["ticketflow"].directory.add_user("lars", "l1")
    number, task_id = ticket_at(api, "classify_ticket")
    assert api.as_("lena").post(f"/api/v1/tasks/{task_id}/claim").status_code == 200
    lars = api.app.extensions["ticketflow"].directory.issue_token("lars")
    response = api.client.post(f"/api/v1/tasks/{task_id}/complete", json=CLASSIFY,
                               headers={"Authorization": f"Bearer {lars}"})
    assert response.status_code == 409 and "assigned to lena" in response.json["detail"]
    assert api.client.post(f"/api/v1/tasks/{task_id}/claim",
                           headers={"Authorization": f"Bearer {lars}"}).status_code == 409


def test_a_customer_reads_the_trail_without_the_agents_work_notes(api: Api) -> None:
    number, _ = _validation_task(api)
    for path in (f"/api/v1/tickets/{number}", f"/api/v1/tickets/{number}/history"):
        agent = api.as_("lena").get(path).json
        mine = api.as_("alice").get(path).json
        agent_events, my_events = agent.get("trail") or agent["events"], mine.get("trail") or mine["events"]
        assert [e["kind"] for e in my_events] == [e["kind"] for e in agent_events]  # every step, in order
        by_kind = {e["element_id"]: e for e in agent_events if e["kind"] == "task_completed"}
        assert by_kind["investigate_root_cause"]["data"]["form"]["root_cause"] == INVESTIGATE["root_cause"]
        mine_by_kind = {e["element_id"]: e for e in my_events if e["kind"] == "task_completed"}
        assert mine_by_kind["investigate_root_cause"]["data"] == {}  # L2's notes stay internal
        assert all(e["data"] == {} for e in my_events if e["kind"] == "service_called")
        told = [e["data"]["purpose"] for e in my_events if e["kind"] == "message_queued"]
        assert told == ["acknowledgment", "resolution", "validation_request"]  # what was sent to alice
        decisions = [e["data"] for e in my_events if e["kind"] == "gateway_taken"]
        assert decisions == [{"gateway": "Resolved at first level?", "branch": "No: requires L2 expertise"}]
        assert my_events[0]["kind"] == "ticket_opened" and my_events[0]["data"]["subject"]
