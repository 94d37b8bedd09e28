"""The ticket list page and the inbox through the test client, as a browser without JavaScript uses them:
GET forms for search and filters, POST forms (with CSRF) to save and delete views and to assign a task."""
from __future__ import annotations

import re
from typing import Any

from engine.execution.clock import FakeClock
from engine.runtime import Runtime
from tests.conftest import CLASSIFY, CUSTOMER, L1, intake
from tests.e2e.conftest import Page

MICROSECONDS = re.compile(r"\d\d:\d\d:\d\d\.\d+")


def open_some(runtime: Runtime, clock: FakeClock) -> list[str]:
    numbers = []
    for subject in ("Printer jams on page two", "VPN drops every hour", "Printer toner is empty"):
        ticket = runtime.open_ticket(intake(subject=subject), CUSTOMER)
        numbers.append(ticket.number)
        clock.advance(minutes=5, microseconds=123456)
    task = runtime.get_ticket(numbers[1]).ready_tasks[0]
    runtime.claim_task(task.id, L1)
    runtime.complete_task(task.id, CLASSIFY, L1)
    return numbers


def test_the_list_shows_tickets_in_words_and_filters_without_javascript(runtime: Runtime, clock: FakeClock,
                                                                        visit: Any) -> None:
    numbers = open_some(runtime, clock)
    lena = visit("lena")
    html = lena.get("/tickets").text
    for number in numbers:
        assert number in html
    shown = re.sub(r"<[^>]*>", " ", html)  # what people read, without the markup's class names and values
    assert "With L1 Support" in shown and "On track" in shown
    assert not {"with_l1", "on_track", "with_", "_"} & set(shown.split())
    assert "3 tickets" in shown and not MICROSECONDS.search(shown)
    page = Page.of(html)
    assert {"q", "status", "priority", "lane", "assignee", "unit", "sla_state", "channel", "sort"} <= set(page.inputs)
    found = lena.get("/tickets?q=printer&sort=oldest").text
    assert numbers[0] in found and numbers[2] in found and numbers[1] not in found
    assert found.index(numbers[0]) < found.index(numbers[2])
    assert "2 tickets" in found
    priority = runtime.get_ticket(numbers[1]).priority
    assert numbers[0] not in lena.get(f"/tickets?priority={priority}").text


def test_a_saved_view_is_listed_with_its_count_and_can_be_deleted(runtime: Runtime, clock: FakeClock,
                                                                  visit: Any) -> None:
    open_some(runtime, clock)
    lena = visit("lena")
    lena.get("/tickets?q=printer")
    done = lena.post("/tickets/views", {"name": "Printers", "q": "printer"})
    assert done.headers["Location"].endswith("/tickets?q=printer")
    views = Page.of(lena.get("/tickets").text).text_of["views-heading"]
    html = lena.get("/tickets").text
    assert "Printers" in html and "2 tickets" in html and views == "My views"
    assert "Printers" not in visit("otto").get("/tickets").text  # views are per user
    link = next(href for href in Page.of(html).links if href.startswith("/tickets?q=printer"))
    assert "2 tickets" in lena.get(link).text
    view_id = re.search(r"/tickets/views/(\d+)/delete", html)
    assert view_id is not None
    lena.post(f"/tickets/views/{view_id.group(1)}/delete", {})
    assert "Printers" not in lena.get("/tickets").text
    lena.post("/tickets/views", {"name": "", "q": "printer"}, status=422)


def test_pages_go_on_by_cursor_and_a_forged_cursor_is_a_clear_error(runtime: Runtime, clock: FakeClock,
                                                                     visit: Any) -> None:
    for n in range(55):
        runtime.open_ticket(intake(subject=f"Ticket number {n}"), CUSTOMER)
    lena = visit("lena")
    first = lena.get("/tickets").text
    next_link = next(href for href in Page.of(first).links if "cursor=" in href)
    second = lena.get(next_link.replace("&amp;", "&")).text
    assert "T-000001" in second and "T-000001" not in first and "First page" in second
    answer = lena.get("/tickets?cursor=forged", status=422).text
    assert "cursor" in answer


def test_customers_go_to_their_own_list(visit: Any) -> None:
    answer = visit("alice").get("/tickets", status=302)
    assert answer.headers["Location"].endswith("/my")


def test_the_inbox_shows_subject_customer_priority_and_due_and_assigns(runtime: Runtime, clock: FakeClock,
                                                                       visit: Any) -> None:
    numbers = open_some(runtime, clock)
    lena = visit("lena")
    html = lena.get("/inbox").text
    assert "Printer jams on page two" in html and "alice" in html and "First response by" in html
    assert "Everything ready" in html and not MICROSECONDS.search(html)
    rows = [html.index(n) for n in numbers if n in html]
    assert len(rows) == 3
    task = runtime.get_ticket(numbers[0]).ready_tasks[0]
    page = Page.of(html)
    assert "lena" in page.options["assignee"]
    lena.post(f"/tasks/{task.id}/assign", {"assignee": "lena", "next": "/inbox"})
    assert runtime.get_ticket(numbers[0]).ready_tasks[0].assignee == "lena"
    mine = lena.get("/inbox?show=mine").text
    assert numbers[0] in mine and numbers[2] not in mine
    lena.post(f"/tasks/{task.id}/assign", {"assignee": "otto"}, status=422)  # L2 works no L1 task
    visit("otto").post(f"/tasks/{task.id}/assign", {"assignee": "otto"}, status=403)
