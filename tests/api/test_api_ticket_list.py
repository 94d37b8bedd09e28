"""GET /api/v1/tickets with search, filters, sorts and cursors; GET /api/v1/tasks by due time with a cursor;
POST /api/v1/tasks/{id}/assign. Malformed parameters are 400, values the list refuses 422; customers see
only their own tickets and never the team's notes or clocks."""
from __future__ import annotations

import pytest

from tests.api.conftest import Api, complete, current_task, open_ticket
from tests.conftest import CLASSIFY


def items(api: Api, query: str, user: str = "lena") -> list[str]:
    answer = api.as_(user).get(f"/api/v1/tickets?{query}")
    assert answer.status_code == 200, answer.json
    return [item["number"] for item in answer.json["items"]]


def test_search_and_the_new_filters(api: Api) -> None:
    printer = open_ticket(api, subject="Printer jams on page two")["number"]
    vpn = open_ticket(api, customer="bob", subject="VPN drops", channel="portal")["number"]
    assert items(api, "q=printer") == [printer]
    assert items(api, "q=vpn&channel=portal") == [vpn]
    assert items(api, "sla_state=on_track&sort=oldest") == [printer, vpn]
    assert items(api, "sla_state=breached") == []
    api.as_("lena").post(f"/api/v1/tasks/{current_task(api, vpn)['id']}/claim")
    assert items(api, "assignee=lena") == [vpn]
    listing = api.as_("lena").get("/api/v1/tickets").json
    assert listing["total"] == 2 and listing["total_capped"] is False and listing["next_cursor"] is None
    assert {item["sla_state"] for item in listing["items"]} == {"on_track"}


def test_keyset_pages_through_the_api(api: Api) -> None:
    opened = [open_ticket(api, subject=f"Ticket number {n}")["number"] for n in range(5)]
    seen, cursor = [], ""
    while True:
        page = api.as_("lena").get(f"/api/v1/tickets?limit=2&sort=oldest{cursor}").json
        seen += [item["number"] for item in page["items"]]
        if page["next_cursor"] is None:
            break
        cursor = f"&cursor={page['next_cursor']}"
    assert seen == opened
    assert items(api, "limit=2&offset=2&sort=oldest") == opened[2:4]  # small offsets still work


@pytest.mark.parametrize(("query", "status"), [
    ("cursor=forged", 422), ("sort=colour", 422), ("sla_state=late", 422), ("q=%21%21", 422),
    ("offset=10001", 422), ("offset=2&cursor=abc", 422), ("q=", 400), ("colour=red", 400), ("channel=%00", 400),
])
def test_refused_parameters(api: Api, query: str, status: int) -> None:
    answer = api.as_("lena").get(f"/api/v1/tickets?{query}")
    assert answer.status_code == status and answer.mimetype == "application/problem+json", answer.json


def test_customers_see_only_their_own_and_no_team_notes(api: Api) -> None:
    mine = open_ticket(api, subject="Printer jams")["number"]
    theirs = open_ticket(api, customer="bob", subject="Printer smokes")["number"]
    note = api.as_("lena").post(f"/api/v1/tickets/{theirs}/messages",
                                json={"body": "Secret escalation word zebra", "visibility": "internal"})
    assert note.status_code in (200, 201), note.json
    assert items(api, "q=printer", "alice") == [mine]
    assert items(api, "q=zebra", "bob") == [] and items(api, "q=zebra") == [theirs]
    listing = api.as_("alice").get("/api/v1/tickets").json
    assert "sla_state" not in listing["items"][0]
    assert api.as_("alice").get("/api/v1/tickets?assignee=lena").status_code == 403


def test_tasks_by_due_time_with_a_cursor(api: Api) -> None:
    numbers = [open_ticket(api, subject=f"Ticket number {n}")["number"] for n in range(3)]
    complete(api, numbers[2], "lena", CLASSIFY)
    page = api.as_("lena").get("/api/v1/tasks?limit=2").json
    rest = api.as_("lena").get(f"/api/v1/tasks?limit=2&cursor={page['next_cursor']}").json
    tasks = page["items"] + rest["items"]
    dues = [task["due"] for task in tasks]
    assert dues == sorted(dues) and len(tasks) == 3 and rest["next_cursor"] is None
    assert {task["subject"] for task in tasks} == {f"Ticket number {n}" for n in range(3)}
    assert all(task["due_kind"] == "first response" for task in tasks)
    oldest_first = api.as_("lena").get("/api/v1/tasks?sort=created").json["items"]
    created = [task["created_at"] for task in oldest_first]
    assert created == sorted(created) and {task["ticket"] for task in oldest_first} == set(numbers)
    assert api.as_("lena").get("/api/v1/tasks?cursor=abc").status_code == 422
    assert api.as_("lena").get("/api/v1/tasks?sort=created&cursor=abc").status_code == 400
    customer = api.as_("alice").get("/api/v1/tasks").json
    assert customer["items"] == [] or "due" not in customer["items"][0]


def test_assign_to_a_named_agent(api: Api) -> None:
    number = open_ticket(api)["number"]
    task = current_task(api, number)
    path = f"/api/v1/tasks/{task['id']}/assign"
    answer = api.as_("lena").post(path, json={"assignee": "lena"})
    assert answer.status_code == 200 and answer.json["assignee"] == "lena" and answer.headers["ETag"]
    assert api.as_("root").post(path, json={"assignee": "nobody"}).status_code == 422
    assert api.as_("root").post(path, json={"assignee": "otto"}).status_code == 422  # L2 works no L1 task
    assert api.as_("root").post(path, json={"assignee": 7}).status_code == 422
    assert api.as_("root").post(path, json={"assignee": "lena", "colour": 1}).status_code == 422
    assert api.as_("otto").post(path, json={"assignee": "otto"}).status_code == 403
    assert api.as_("bob").post(path, json={"assignee": "lena"}).status_code == 404  # not bob's ticket
    events = api.as_("root").get(f"/api/v1/tickets/{number}/history").json["events"]
    assert events[-1]["kind"] == "task_assigned" and events[-1]["data"]["assignee"] == "lena"
