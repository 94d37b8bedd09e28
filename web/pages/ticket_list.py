"""The ticket list page (search, filters, sorts, pages by cursor, saved views with counts) and assigning a
task to a named agent from the inbox. Plain GET forms and POST buttons: no page here needs JavaScript."""
from __future__ import annotations

from typing import Any

from flask import flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from engine.errors import Forbidden, InvalidInput
from engine.store.ticket_search import TICKET_SORTS
from engine.usecases.ticket_list import FILTERS, SLA_STATES, VIEW_KEYS, ListRequest, TicketLists
from engine.usecases.tickets import CHANNELS
from web.auth import record_auditor_read
from web.pages.reports import PRIORITY_WORDS
from web.pages.ticket_page import SLA_WORDS, status_words
from web.pages.views import local_next, me, pages, query_text, runtime, signed_in

READERS = ("l1", "l2", "process_owner", "auditor", "admin")
PAGE = 50
# The list's status filter: "not closed yet", then each status in the procedure's words (ticket_page.py).
STATUSES = ("new", "with_l1", "with_l2", "awaiting_customer", "waiting", "stalled", "closed")
SORT_WORDS = {"opened": "Newest first", "oldest": "Oldest first", "priority": "Priority (P1 first)",
              "response_due": "First response due soonest", "resolution_due": "Resolution due soonest"}
CHANNEL_WORDS = {channel: channel.capitalize() for channel in CHANNELS}


def count_words(count: int, capped: bool) -> str:
    """How many tickets a list finds, in words: "1 ticket", "10,000 or more tickets"."""
    if capped:
        return f"{count:,} or more tickets"
    return "1 ticket" if count == 1 else f"{count:,} tickets"


def lists() -> TicketLists:
    return TicketLists(runtime())


def readers_only() -> None:
    if me().role not in READERS:
        raise Forbidden("the ticket list is the support team's; your own tickets are under My tickets")


def list_params() -> dict[str, str]:
    """The list's filters and sort from the query string (empty ones dropped)."""
    return {name: value for name in VIEW_KEYS if (value := query_text(name))}


@pages.get("/tickets")
@signed_in
def ticket_list() -> str | Response | tuple[str, int]:
    if me().role == "customer":
        return redirect(url_for("pages.my_tickets"))
    readers_only()
    actor, params = me().actor, list_params()
    cursor = request.args.get("cursor") or None
    try:
        page = lists().tickets(actor, ListRequest(params, PAGE, 0, cursor))
    except InvalidInput as exc:
        return render_list(params, None, [f"{exc.detail}: {e.message}" for e in exc.errors] or [exc.detail]), 422
    record_auditor_read(None, "tickets", page="ticket_list", **params, **({"cursor": cursor} if cursor else {}))
    return render_list(params, page, [], cursor)


def render_list(params: dict[str, str], page: Any, errors: list[str], cursor: str | None = None) -> str:
    actor = me().actor
    return render_template(
        "tickets.html", params=params, page=page, errors=errors, first_page=cursor is not None,
        views=lists().views(actor), lanes=list(runtime().lane_roles),
        statuses=[("open", "Not closed yet"), *((s, status_words(s, for_customer=False)) for s in STATUSES)],
        priorities=list(PRIORITY_WORDS.items()), sla_states=[(s, SLA_WORDS[s]) for s in SLA_STATES],
        channels=list(CHANNEL_WORDS.items()), sorts=[(s, SORT_WORDS[s]) for s in TICKET_SORTS],
        filters=FILTERS, sla_words=SLA_WORDS, priority_words=PRIORITY_WORDS, count_words=count_words,
        next_url=url_for("pages.ticket_list", **dict[str, Any](params), cursor=page.next_cursor)
        if page and page.next_cursor
        else None)


@pages.post("/tickets/views")
@signed_in
def save_view() -> Response:
    readers_only()
    params = {name: value for name in VIEW_KEYS if (value := request.form.get(name, "").strip())}
    lists().save_view(me().actor, request.form.get("name", ""), params)
    flash(f"Saved the view “{request.form.get('name', '').strip()}”.")
    return redirect(url_for("pages.ticket_list", **dict[str, Any](params)))


@pages.post("/tickets/views/<int:view_id>/delete")
@signed_in
def delete_view(view_id: int) -> Response:
    readers_only()
    lists().delete_view(me().actor, view_id)
    flash("The view is deleted.")
    return redirect(url_for("pages.ticket_list"))


@pages.post("/tasks/<task_id>/assign")
@signed_in
def assign(task_id: str) -> Response:
    done = runtime().assign_to(task_id, me().actor, request.form.get("assignee", "").strip())
    flash(f"“{done.task.name}” of {done.task.ticket_number} is now {done.task.assignee}'s.")
    return redirect(local_next() or url_for("pages.inbox"))


def agents_by_lane() -> dict[str, list[str]]:
    """The active agents each lane's tasks may be given to (customers' lanes: none)."""
    return lists().assignable()
