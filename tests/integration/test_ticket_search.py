"""The ticket list on SQLite and PostgreSQL: full-text search over subject, description and conversation,
each filter, keyset pages that cover every ticket once in order, refused cursors, saved views, the worklist
by due time and assigning a task to a named agent."""
from __future__ import annotations

import base64
import json
from collections.abc import Callable

import pytest

from engine.access import Actor
from engine.errors import Conflict, Forbidden, InvalidInput
from engine.execution.clock import FakeClock
from engine.runtime import Runtime
from engine.usecases.conversation import ConversationUseCases
from engine.usecases.ticket_list import ListRequest, TicketLists
from engine.usecases.users import Directory
from tests.conftest import ADMIN, CLASSIFY, CUSTOMER, L1, L2, intake
from tests.integration.helpers import kinds
from ticketflow.composition import deploy_file

BOB = Actor("bob", "customer")


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, sqlite_url: str) -> str:
    return sqlite_url if request.param == "sqlite" else request.getfixturevalue("postgres_url")


@pytest.fixture
def runtime(database_url: str, runtimes: Callable[..., Runtime], clock: FakeClock) -> Runtime:
    runtime = runtimes(database_url, clock)
    deploy_file(runtime)
    return runtime


def numbers(page_items: list) -> list[str]:
    return [item.ticket.number for item in page_items]


def listed(lists: TicketLists, actor: Actor = L1, limit: int = 50, **params: str) -> list[str]:
    return numbers(lists.tickets(actor, ListRequest(params, limit=limit)).items)


def test_search_finds_subject_description_and_a_conversation_reply(runtime: Runtime, clock: FakeClock) -> None:
    printer = runtime.open_ticket(intake(subject="Printer jams on page two"), CUSTOMER).number
    vpn = runtime.open_ticket(intake(subject="VPN drops", description="The tunnel disconnects every hour."),
                              CUSTOMER).number
    other = runtime.open_ticket(intake(subject="Mailbox is full"), CUSTOMER).number
    ConversationUseCases.over(runtime).post_message(other, "Archived the old calendars for you.", "public", L1)
    ConversationUseCases.over(runtime).post_message(vpn, "Suspect the firewall lease.", "internal", L1)
    lists = TicketLists(runtime)
    assert listed(lists, q="printer") == [printer]
    assert listed(lists, q="tunnel disconnects") == [vpn]
    assert listed(lists, q="calendars") == [other]  # only in an agent's reply
    assert listed(lists, q="firewall") == [vpn]  # an internal note: the team finds it
    assert listed(lists, CUSTOMER, q="firewall") == []  # the customer does not search the team's notes
    assert listed(lists, BOB, q="printer") == []  # nor another customer's tickets
    with pytest.raises(InvalidInput):
        lists.tickets(L1, ListRequest({"q": "!!"}))


def test_each_filter_narrows_the_list(runtime: Runtime, clock: FakeClock) -> None:
    first = runtime.open_ticket(intake(), CUSTOMER)
    clock.advance(minutes=1)
    second = runtime.open_ticket(intake(customer="bob"), BOB).number
    task = first.ready_tasks[0]
    runtime.claim_task(task.id, L1)
    runtime.complete_task(task.id, CLASSIFY, L1)
    lists = TicketLists(runtime)
    assert listed(lists) == [second, first.number]  # newest first
    assert listed(lists, sort="oldest") == [first.number, second]
    priority = runtime.get_ticket(first.number).priority
    assert priority is not None and listed(lists, priority=priority) == [first.number]
    assert listed(lists, sort="priority") == [first.number, second]  # no priority yet: last
    assert listed(lists, channel="portal") == [second, first.number] and listed(lists, channel="phone") == []
    assert listed(lists, unit="general", sla_state="on_track") == [second, first.number]
    assert listed(lists, sla_state="breached") == []
    assert listed(lists, lane="L1 Support") == [second, first.number]
    assert listed(lists, status="closed") == [] and listed(lists, status="open") == [second, first.number]
    runtime.claim_task(runtime.get_ticket(second).ready_tasks[0].id, L1)
    assert listed(lists, assignee="lena") == [second]
    with pytest.raises(InvalidInput):
        lists.tickets(L1, ListRequest({"sla_state": "late"}))
    with pytest.raises(InvalidInput):
        lists.tickets(L1, ListRequest({"sort": "colour"}))
    with pytest.raises(Forbidden):
        lists.tickets(CUSTOMER, ListRequest({"assignee": "lena"}))


@pytest.mark.parametrize("sort", ["opened", "oldest", "priority", "response_due", "resolution_due"])
def test_keyset_pages_cover_every_ticket_once_in_order(runtime: Runtime, clock: FakeClock, sort: str) -> None:
    opened = []
    for n in range(7):
        ticket = runtime.open_ticket(intake(subject=f"Ticket number {n}"), CUSTOMER)
        opened.append(ticket.number)
        if n % 2:  # half get a priority (and a resolution due time); the rest keep empty keys
            task = ticket.ready_tasks[0]
            runtime.claim_task(task.id, L1)
            runtime.complete_task(task.id, CLASSIFY, L1)
        if n != 3:  # two opened at the same moment: the id breaks the tie
            clock.advance(minutes=5)
    lists = TicketLists(runtime)
    everything = listed(lists, sort=sort, limit=100)
    seen, cursor = [], None
    while True:
        page = lists.tickets(L1, ListRequest({"sort": sort}, limit=2, cursor=cursor))
        seen += numbers(page.items)
        cursor = page.next_cursor
        if cursor is None:
            break
    assert seen == everything and sorted(seen) == sorted(opened)
    if sort == "opened":
        assert seen == opened[::-1]
    assert numbers(lists.tickets(L1, ListRequest({"sort": sort}, limit=2, offset=2)).items) == everything[2:4]


def test_a_tampered_or_foreign_cursor_is_refused(runtime: Runtime) -> None:
    for _ in range(3):
        runtime.open_ticket(intake(), CUSTOMER)
    lists = TicketLists(runtime)
    cursor = lists.tickets(L1, ListRequest({}, limit=1)).next_cursor
    assert cursor is not None
    raw = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    forged = [
        "not base64 at all!", cursor[:-3], base64.urlsafe_b64encode(b"[1, 2]").decode(),
        base64.urlsafe_b64encode(json.dumps({**raw, "k": "yesterday"}).encode()).decode(),
        base64.urlsafe_b64encode(json.dumps({**raw, "i": ["1 OR 1=1"]}).encode()).decode(),
        base64.urlsafe_b64encode(json.dumps({**raw, "extra": 1}).encode()).decode(), "x" * 500,
    ]
    for bad in forged:
        with pytest.raises(InvalidInput):
            lists.tickets(L1, ListRequest({}, limit=1, cursor=bad))
    with pytest.raises(InvalidInput):  # made for another sort
        lists.tickets(L1, ListRequest({"sort": "oldest"}, limit=1, cursor=cursor))
    with pytest.raises(InvalidInput):  # deep pages go by cursor
        lists.tickets(L1, ListRequest({}, offset=10_001))


def test_saved_views_are_per_user_and_counted(runtime: Runtime) -> None:
    runtime.open_ticket(intake(subject="Printer jams"), CUSTOMER)
    runtime.open_ticket(intake(subject="Printer toner"), CUSTOMER)
    runtime.open_ticket(intake(subject="VPN drops"), CUSTOMER)
    lists = TicketLists(runtime)
    lists.save_view(L1, "Printers", {"q": "printer", "sort": "oldest", "ignored": "x"})
    lists.save_view(L1, "Everything open", {"status": "open"})
    views = lists.views(L1)
    assert [(v.name, v.count, v.query) for v in views] == [
        ("Everything open", 3, {"status": "open"}), ("Printers", 2, {"q": "printer", "sort": "oldest"})]
    assert lists.views(L2) == []
    lists.save_view(L1, "Printers", {"q": "toner"})  # the same name replaces the view
    assert [(v.name, v.count) for v in lists.views(L1)] == [("Everything open", 3), ("Printers", 1)]
    with pytest.raises(InvalidInput):
        lists.save_view(L1, " ", {})
    lists.delete_view(L1, views[0].id)
    assert [v.name for v in lists.views(L1)] == ["Printers"]


def test_the_worklist_is_sorted_by_due_time_and_pages_by_cursor(runtime: Runtime, clock: FakeClock) -> None:
    opened = []
    for _ in range(5):
        opened.append(runtime.open_ticket(intake(), CUSTOMER).number)
        clock.advance(minutes=7)
    task = runtime.get_ticket(opened[2]).ready_tasks[0]
    runtime.claim_task(task.id, L1)
    runtime.complete_task(task.id, CLASSIFY, L1)  # a P-something ticket: its first response may now be sooner
    lists = TicketLists(runtime)
    work = lists.work_filter(L1)
    everything = lists.worklist(L1, work, None, 100).items
    dues = [row.due for row in everything]
    assert all(d is not None for d in dues) and dues == sorted(dues)  # type: ignore[type-var]
    seen, cursor = [], None
    while True:
        page = lists.worklist(L1, work, cursor, 2)
        seen += [row.task.id for row in page.items]
        if (cursor := page.next_cursor) is None:
            break
    assert seen == [row.task.id for row in everything]
    assert {row.task.ticket_number for row in everything} == set(opened)
    assert lists.worklist(L2, lists.work_filter(L2), None, 10).items == []
    assert {row.customer for row in lists.worklist(CUSTOMER, lists.work_filter(CUSTOMER), None, 10).items} <= {"alice"}
    with pytest.raises(InvalidInput):
        lists.worklist(L1, work, "garbage", 2)


def test_a_task_is_assigned_to_a_named_agent_of_its_lane(runtime: Runtime, database_url: str) -> None:
    directory = Directory(runtime.sessions, runtime.clock)
    for name, role in (("lena", "l1"), ("lars", "l1"), ("otto", "l2"), ("root", "admin")):
        directory.add_user(name, role)
    ticket = runtime.open_ticket(intake(), CUSTOMER)
    task_id = ticket.ready_tasks[0].id
    done = runtime.assign_to(task_id, L1, "lars")
    assert done.task.assignee == "lars" and runtime.get_ticket(ticket.number).ready_tasks[0].assignee == "lars"
    assert kinds(runtime, ticket.number)[-1] == "task_assigned"
    for wrong in ("nobody", "otto", "alice"):  # unknown, another lane, a customer
        with pytest.raises(InvalidInput):
            runtime.assign_to(task_id, ADMIN, wrong)
    with pytest.raises(Forbidden):
        runtime.assign_to(task_id, L2, "otto")  # not an agent of this lane
    assert runtime.assign_to(task_id, ADMIN, "lena").task.assignee == "lena"
    runtime.complete_task(task_id, CLASSIFY, L1)
    with pytest.raises(Conflict):
        runtime.assign_to(task_id, ADMIN, "lars")  # no longer ready


def test_search_survives_a_step_and_sees_edits_only_of_text(runtime: Runtime) -> None:
    ticket = runtime.open_ticket(intake(subject="Scanner offline"), CUSTOMER)
    task = ticket.ready_tasks[0]
    runtime.claim_task(task.id, L1)
    runtime.complete_task(task.id, CLASSIFY, L1)  # the step rewrites the ticket row
    assert listed(TicketLists(runtime), q="scanner") == [ticket.number]


def every_page(lists: TicketLists, actor: Actor, limit: int, **params: str) -> list[str]:
    """The whole list, page after page by cursor."""
    found, cursor = [], None
    while True:
        page = lists.tickets(actor, ListRequest(params, limit=limit, cursor=cursor))
        found += numbers(page.items)
        if page.next_cursor is None:
            return found
        cursor = page.next_cursor


@pytest.mark.parametrize("sort", ["opened", "priority"])
def test_a_common_word_walks_the_list_and_finds_what_the_index_finds(
        runtime: Runtime, clock: FakeClock, monkeypatch: pytest.MonkeyPatch, sort: str) -> None:
    # A search expected to match many tickets walks the list's order instead of collecting and sorting every match
    # first. Both ways must list the same tickets, pages, counts and visibility.
    from engine.store import ticket_search

    conversation = ConversationUseCases.over(runtime)
    opened = []
    for n in range(14):
        subject = f"Printer {n} jams" if n % 3 else f"Mailbox {n} is full"
        who = BOB if n % 4 == 0 else CUSTOMER
        number = runtime.open_ticket(intake(who.name, subject=subject), who).number
        opened.append(number)
        if n == 3:
            conversation.post_message(number, "The printer driver is fixed.", "public", L1)
        if n == 6:
            conversation.post_message(number, "Printer firmware suspected.", "internal", L1)
        clock.advance(minutes=1)
    if sort == "priority":
        for number in every_page(TicketLists(runtime), L1, 50)[::2]:
            complete_classification(runtime, number)
    lists = TicketLists(runtime)
    by_index = {who.name: every_page(lists, who, 4, q="printer", sort=sort) for who in (L1, CUSTOMER, BOB)}
    counted = lists.tickets(L1, ListRequest({"q": "printer"})).total
    with runtime.uow(read_only=True) as uow:
        assert not ticket_search.dense_search(uow.connection, "printer")  # a handful of tickets: not dense
    monkeypatch.setattr(ticket_search, "DENSE_AT_LEAST", 0)
    monkeypatch.setattr(ticket_search, "DENSE_SHARE", 0.0)
    with runtime.uow(read_only=True) as uow:
        assert ticket_search.dense_search(uow.connection, "printer")
        assert ticket_search.count_tickets(uow.connection, ticket_search.TicketQuery(text="printer"), 3) == 3
    walked = {who.name: every_page(lists, who, 4, q="printer", sort=sort) for who in (L1, CUSTOMER, BOB)}
    assert walked == by_index and len(walked[L1.name]) == 11  # 9 by subject, 2 by the conversation
    assert opened[6] in walked[L1.name] and opened[6] not in walked[CUSTOMER.name]  # found by an internal note only
    assert opened[3] in walked[CUSTOMER.name]  # found by a public reply
    assert lists.tickets(L1, ListRequest({"q": "printer"})).total == counted == 11


def complete_classification(runtime: Runtime, number: str) -> None:
    """Classify the ticket (so that it has a priority to sort by)."""
    task = next(t for t in runtime.get_ticket(number).ready_tasks if t.element_id == "classify_ticket")
    runtime.complete_task(task.id, CLASSIFY, L1)


def test_my_tasks_come_in_the_lanes_due_order_and_page_by_cursor(runtime: Runtime, clock: FakeClock) -> None:
    # An agent's own tasks are read in one pass with each ticket's next due time (first response until given,
    # then resolution); the order and the pages must be the lane's, keeping only theirs.
    conversation = ConversationUseCases.over(runtime)
    mine = []
    for n in range(7):
        number = runtime.open_ticket(intake(), CUSTOMER).number
        clock.advance(minutes=5)
        if n % 3 == 2:
            continue  # left in the lane for someone else
        if n % 2:  # classified (so a resolution is due) and answered (so the first response is given)
            complete_classification(runtime, number)
            conversation.post_message(number, "We are looking into it.", "public", L1)
        runtime.claim_task(runtime.get_ticket(number).ready_tasks[0].id, L1)
        mine.append(number)
    lists = TicketLists(runtime)
    lane = [row for row in lists.worklist(L1, lists.work_filter(L1), None, 100).items
            if row.task.ticket_number in mine]
    everything = lists.worklist(L1, lists.work_filter(L1, mine=True), None, 100).items
    assert [row.task.id for row in everything] == [row.task.id for row in lane] and len(everything) == len(mine)
    assert [row.due for row in everything] == [row.due for row in lane]
    assert {row.due_kind for row in everything} == {"first response", "resolution"}
    seen, cursor = [], None
    while True:
        page = lists.worklist(L1, lists.work_filter(L1, mine=True), cursor, 2)
        seen += [row.task.id for row in page.items]
        if (cursor := page.next_cursor) is None:
            break
    assert seen == [row.task.id for row in everything]
