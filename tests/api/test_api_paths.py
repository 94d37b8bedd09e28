"""Every path of the procedure through HTTP, a different user per lane (L1 lena, L2 otto, customer alice)."""
from __future__ import annotations

from datetime import timedelta

from engine.execution.clock import FakeClock
from tests.api.conftest import Api, complete, current_task, open_ticket
from tests.conftest import (
    ASSESS_ESCALATE,
    ASSESS_RESOLVE,
    CLASSIFY,
    ESCALATE,
    FIX,
    INVESTIGATE,
    PERSISTS,
    RESOLVED,
    SOLUTION,
)


def escalate_and_fix(api: Api, number: str) -> None:
    complete(api, number, "lena", CLASSIFY)
    complete(api, number, "lena", ASSESS_ESCALATE)
    complete(api, number, "lena", ESCALATE)
    complete(api, number, "otto", INVESTIGATE)
    complete(api, number, "otto", FIX)
    complete(api, number, "lena", SOLUTION)


def steps(api: Api, number: str) -> list[tuple[str, str, str]]:
    events = api.as_("root").get(f"/api/v1/tickets/{number}/history").json["events"]
    return [(e["element_id"], e["lane"], e["actor"]) for e in events if e["kind"] == "task_completed"]


def test_l1_resolves_a_known_problem(api: Api) -> None:
    opened = open_ticket(api)
    number = opened["number"]
    assert opened["status"] == "with_l1" and opened["channel"] == "portal" and opened["customer"] == "alice"
    assert opened["current_steps"] == ["Classify type and priority"]
    classified = complete(api, number, "lena", CLASSIFY)
    assert classified["classification"] == {"type": "incident", "impact": "high", "urgency": "medium",
                                            "priority": "P2"}
    complete(api, number, "lena", ASSESS_RESOLVE)
    waiting = complete(api, number, "lena", SOLUTION)
    assert waiting["status"] == "awaiting_customer" and waiting["current_lanes"] == ["Customer"]
    closed = complete(api, number, "alice", RESOLVED, claim=False)
    assert closed["status"] == "closed" and closed["closed_at"] is not None and closed["ready_tasks"] == []
    assert steps(api, number) == [("classify_ticket", "L1 Support", "lena"),
                                  ("assess_first_level", "L1 Support", "lena"),
                                  ("apply_solution", "L1 Support", "lena"),
                                  ("test_and_confirm", "Customer", "alice")]


def test_escalated_ticket_is_fixed_by_l2_and_confirmed(api: Api) -> None:
    number = open_ticket(api)["number"]
    escalate_and_fix(api, number)
    assert complete(api, number, "alice", RESOLVED, claim=False)["status"] == "closed"
    assert [lane for _, lane, _ in steps(api, number)] == ["L1 Support"] * 3 + ["L2 Support"] * 2 + [
        "L1 Support", "Customer"]


def test_l2_task_shows_the_triage_context_and_l1_assessment_shows_kb_matches(api: Api) -> None:
    number = open_ticket(api)["number"]
    complete(api, number, "lena", CLASSIFY)
    assess = api.as_("lena").get(f"/api/v1/tasks/{current_task(api, number)['id']}").json
    assert assess["element_id"] == "assess_first_level" and "kb_matches" in assess["context"]
    assert assess["form_schema"]["schema"]["properties"]["resolve_at_first_level"]["type"] == "boolean"
    complete(api, number, "lena", ASSESS_ESCALATE)
    complete(api, number, "lena", ESCALATE)
    investigate = api.as_("otto").get(f"/api/v1/tasks/{current_task(api, number)['id']}").json
    context = investigate["context"]
    assert context["troubleshooting_steps"] == ESCALATE["troubleshooting_steps"]
    assert (context["type"], context["priority"]) == ("incident", "P2")
    assert investigate["ticket_summary"]["priority"] == "P2"


def test_persists_goes_back_to_l2_then_confirmed(api: Api) -> None:
    number = open_ticket(api)["number"]
    escalate_and_fix(api, number)
    back = complete(api, number, "alice", PERSISTS, claim=False)
    assert back["status"] == "with_l2" and back["ready_tasks"][0]["element_id"] == "investigate_root_cause"
    complete(api, number, "otto", INVESTIGATE)
    complete(api, number, "otto", FIX)
    complete(api, number, "lena", SOLUTION)
    assert complete(api, number, "alice", RESOLVED, claim=False)["status"] == "closed"
    history = api.as_("alice").get(f"/api/v1/tickets/{number}").json["trail"]
    branches = [e["data"]["branch"] for e in history if e["kind"] == "gateway_taken"]
    assert branches == ["No: requires L2 expertise", "No: issue persists", "Yes: confirmed resolved"]


def test_silent_customer_gets_reminders_and_the_ticket_stays_open(api: Api, clock: FakeClock) -> None:
    number = open_ticket(api)["number"]
    escalate_and_fix(api, number)
    for _ in range(2):
        clock.advance(days=3, seconds=1)
        assert api.runtime.fire_due_timers() == [number]  # what the in-process worker thread does
    ticket = api.as_("alice").get(f"/api/v1/tickets/{number}").json
    assert ticket["status"] == "awaiting_customer" and ticket["closed_at"] is None
    assert [e["kind"] for e in ticket["trail"]].count("timer_fired") == 2
    reminders = [e for e in ticket["trail"] if e["kind"] == "message_queued" and e["data"]["purpose"] == "follow_up"]
    assert len(reminders) == 2 and all(r["data"]["recipient"] == "alice@example.com" for r in reminders)
    assert complete(api, number, "alice", RESOLVED, claim=False)["status"] == "closed"


def test_l1_registers_a_phoned_in_request_for_a_customer(api: Api) -> None:
    response = api.as_("lena").post("/api/v1/tickets", json={
        "subject": "Printer queue stuck", "description": "Customer phoned: nothing prints since the update.",
        "customer": "bob", "channel": "phone", "contact": {"phone": "+49 30 1234567", "name": "Bob"}})
    assert response.status_code == 201
    ticket = response.json
    assert (ticket["channel"], ticket["registered_by"], ticket["customer"]) == ("phone", "lena", "bob")
    assert response.headers["Location"] == f"/api/v1/tickets/{ticket['number']}"
    opened = api.as_("bob").get(f"/api/v1/tickets/{ticket['number']}").json["trail"][0]
    assert opened["kind"] == "ticket_opened" and opened["data"]["registered_by"] == "lena"


def test_ticket_list_filters_and_pages(api: Api, clock: FakeClock) -> None:
    numbers = []
    for _ in range(3):
        numbers.append(open_ticket(api)["number"])
        clock.advance(minutes=1)
    open_ticket(api, customer="bob")
    complete(api, numbers[0], "lena", CLASSIFY)
    agent = api.as_("lena")
    page = agent.get("/api/v1/tickets?limit=2&offset=0").json
    assert page["total"] == 4 and len(page["items"]) == 2
    assert agent.get("/api/v1/tickets?priority=P2").json["total"] == 1
    assert agent.get("/api/v1/tickets?lane=L1%20Support").json["total"] == 4
    assert agent.get("/api/v1/tickets?lane=Customer").json["total"] == 0
    assert agent.get("/api/v1/tickets?status=closed").json["total"] == 0
    assert agent.get("/api/v1/tickets?unit=general").json["total"] == 4
    mine = api.as_("alice").get("/api/v1/tickets").json
    assert mine["total"] == 3 and {t["customer"] for t in mine["items"]} == {"alice"}
    newest_first = [t["number"] for t in api.as_("alice").get("/api/v1/tickets").json["items"]]
    assert newest_first == list(reversed(numbers))


def test_task_list_filters(api: Api) -> None:
    first, second = open_ticket(api)["number"], open_ticket(api)["number"]
    task = current_task(api, first)
    assert api.as_("lena").post(f"/api/v1/tasks/{task['id']}/claim").json["assignee"] == "lena"
    lena = api.as_("lena")
    assert [t["ticket"] for t in lena.get("/api/v1/tasks?assignee=me").json["items"]] == [first]
    assert [t["ticket"] for t in lena.get("/api/v1/tasks?unassigned=true").json["items"]] == [second]
    assert len(lena.get("/api/v1/tasks?lane=L1%20Support").json["items"]) == 2
    assert lena.get("/api/v1/tasks?lane=L2%20Support").json["items"] == []
    assert api.as_("otto").get("/api/v1/tasks").json["items"] == []
    released = lena.post(f"/api/v1/tasks/{task['id']}/release").json
    assert released["assignee"] is None


def test_clock_and_timestamps_are_iso_8601_utc(api: Api, clock: FakeClock) -> None:
    ticket = open_ticket(api)
    assert ticket["opened_at"] == clock().isoformat()
    assert ticket["first_response_due"] == (clock() + timedelta(hours=4)).isoformat()
