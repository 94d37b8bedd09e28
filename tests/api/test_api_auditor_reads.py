"""Every read by an auditor, through the API or the pages, lists included, leaves exactly one
``audit_access`` record naming what was read; an admin's reads leave none."""
from __future__ import annotations

from typing import Any

import pytest

from engine.usecases.audit import AccessView
from tests.api.conftest import Api, current_task, open_ticket
from tests.e2e.conftest import Visitor


def accesses(api: Api) -> list[AccessView]:
    return list(reversed(api.app.extensions["ticketflow"].audit.access_log(limit=1000)))


def page_visitor(api: Api, name: str) -> Visitor:
    visitor = Visitor(api.app.test_client())
    visitor.sign_in(api.tokens[name])
    return visitor


@pytest.fixture
def ticket(api: Api) -> tuple[str, str]:
    number = open_ticket(api)["number"]
    return number, current_task(api, number)["id"]


def api_reads(number: str, task_id: str) -> list[tuple[str, str | None, str, dict[str, Any]]]:
    """(path, ticket number, what, detail) of each API read an auditor may make."""
    return [
        ("/api/v1/tickets?status=open&limit=20", None, "tickets",
         {"status": "open", "lane": None, "priority": None, "unit": None, "limit": 20, "offset": 0}),
        (f"/api/v1/tickets/{number}", number, "history", {"view": "ticket"}),
        (f"/api/v1/tickets/{number}/history", number, "history", {}),
        ("/api/v1/tasks?lane=L1%20Support&unassigned=true", None, "tasks",
         {"lane": "L1 Support", "assignee": None, "unassigned": True, "limit": 50, "offset": 0}),
        (f"/api/v1/tasks/{task_id}", number, "task", {"task": task_id}),
    ]


def page_reads(number: str, task_id: str) -> list[tuple[str, str | None, str, dict[str, Any]]]:
    return [
        ("/inbox?lane=L1%20Support&show=unassigned", None, "tasks",
         {"page": "inbox", "lane": "L1 Support", "show": "unassigned", "offset": 0}),
        (f"/tickets/{number}", number, "history", {"page": "ticket"}),
        (f"/tasks/{task_id}", number, "task", {"page": "task", "task": task_id}),
        (f"/tickets/{number}/as-of?seq=2", number, "as_of", {"seq": 2}),
    ]


def test_each_api_read_by_an_auditor_leaves_one_record_naming_it(api: Api, ticket: tuple[str, str]) -> None:
    aude = api.as_("aude")
    for path, number, what, detail in api_reads(*ticket):
        before = len(accesses(api))
        response = aude.get(path)
        assert response.status_code == 200, (path, response.json)
        added = accesses(api)[before:]
        assert [(a.actor, a.role, a.ticket, a.what, a.detail) for a in added] == [
            ("aude", "auditor", number, what, detail)], path


def test_each_page_read_by_an_auditor_leaves_one_record_naming_it(api: Api, ticket: tuple[str, str]) -> None:
    aude = page_visitor(api, "aude")
    for path, number, what, detail in page_reads(*ticket):
        before = len(accesses(api))
        aude.get(path)
        added = accesses(api)[before:]
        assert [(a.actor, a.ticket, a.what, a.detail) for a in added] == [("aude", number, what, detail)], path


def test_an_admins_reads_leave_no_record(api: Api, ticket: tuple[str, str]) -> None:
    root, root_pages = api.as_("root"), page_visitor(api, "root")
    before = len(accesses(api))
    for path, *_ in api_reads(*ticket):
        assert root.get(path).status_code == 200, path
    for path, *_ in page_reads(*ticket):
        root_pages.get(path)
    assert len(accesses(api)) == before


def test_agents_reads_leave_no_record_and_a_failed_read_records_nothing(api: Api, ticket: tuple[str, str]) -> None:
    number, task_id = ticket
    before = len(accesses(api))
    assert api.as_("lena").get(f"/api/v1/tasks/{task_id}").status_code == 200
    assert api.as_("lena").get("/api/v1/tickets").status_code == 200
    assert api.as_("aude").get("/api/v1/tickets/T-999999").status_code == 404
    assert api.as_("aude").get("/api/v1/tasks/no-such-task").status_code == 404
    page_visitor(api, "aude").get("/tickets/T-999999", status=404)
    assert len(accesses(api)) == before
