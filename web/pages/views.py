"""Server-rendered pages: sign-in, inboxes, task forms, tickets, the customer's own page.

Each view parses the request, calls the same use cases as the API (which check access) and renders
a template. Domain errors raised here become HTML error pages (see ``problems``). Every POST carries
the session's CSRF token; no page needs JavaScript.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps
from typing import Any, TypeVar
from urllib.parse import urlsplit

from flask import Blueprint, current_app, flash, g, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from engine import limits
from engine.access import Actor
from engine.errors import Conflict, FieldError, Forbidden, InvalidInput, SandboxViolation, StepFailed
from engine.runtime import Runtime
from engine.usecases.tasks import TaskDetail
from engine.usecases.tickets import AGENT_CHANNELS, TicketIntake
from engine.usecases.users import UserView
from engine.views import EventView, TicketView
from web import formatting
from web.auth import check_csrf, csrf_token, load_page_user, record_auditor_read, sign_in, sign_out
from web.pages.conflicts import complete_as_seen, seen_task, what_happened
from web.pages.diagram import DiagramView, loops, passes, pinned_diagram, ticket_view, walked
from web.pages.formfields import Field, coerce, errors_by_field, fields_of, shown_values, submitted_values
from web.pages.ticket_page import status_words, task_reading, ticket_work, viewer_zone

pages = Blueprint("pages", __name__)
pages.before_request(load_page_user)

F = TypeVar("F", bound=Callable[..., Any])
INBOX_PAGE = 50
INBOX_OFFSET = 1000  # the inbox's first pages by offset; deeper ones by cursor
SHOWS = ("all", "mine", "unassigned")
AUDITORS = ("auditor", "admin")
# Context keys whose plain name reads badly; the rest are shown with underscores as spaces.
LABELS = {"kb_matches": "Knowledge-base matches", "kb_article": "Knowledge-base article",
          "kb_article_used": "Knowledge-base article used", "slug": "Article", "registration": "Registration",
          "resolve_at_first_level": "Resolvable at first level", "validation_request": "Your answer is due",
          "respond_by": "Respond by", "response_window": "Response window"}
# Shown in the ticket summary above the form already.
SUMMARY_KEYS = ("ticket_number", "subject", "description", "customer", "channel", "unit")
NEW_TICKET_FIELDS = [
    Field("subject", "Subject", "A short summary of the problem.", "text", True, max_length=300),
    Field("description", "Description", "What happened, what you expected, and since when.", "textarea", True,
          max_length=20000),
    Field("email", "Contact email", "Where we write to you (an email or a phone number is needed).", "text",
          False, max_length=300),
    Field("phone", "Contact phone", "", "text", False, max_length=300),
]
# An agent registers what came in outside the portal (a call, a chat, an email) before the process can start.
REGISTER_FIELDS = [
    Field("customer", "Customer", "The customer's user name; the ticket is theirs to follow and confirm.", "text",
          True, max_length=200),
    Field("channel", "Came in by", "", "select", True, tuple((c, c.capitalize()) for c in AGENT_CHANNELS)),
    Field("subject", "Subject", "A short summary of the problem.", "text", True, max_length=300),
    Field("description", "Description", "What the customer reported, in their words where possible.", "textarea",
          True, max_length=20000),
    Field("email", "Contact email", "Where we write to the customer (an email or a phone number is needed).",
          "text", False, max_length=300),
    Field("phone", "Contact phone", "", "text", False, max_length=300),
]


@dataclass(frozen=True)
class TicketForm:
    """A page that opens a ticket: the customer's own, or an agent's registration of a request."""

    heading: str
    action: str  # endpoint
    button: str
    fields: list[Field]


OPEN = TicketForm("Open a ticket", "pages.new_ticket_submit", "Open ticket", NEW_TICKET_FIELDS)
REGISTER = TicketForm("Register a request", "pages.register_submit", "Register ticket", REGISTER_FIELDS)


def runtime() -> Runtime:
    return current_app.extensions["ticketflow"].runtime


def html_error(status: int, title: str, detail: str) -> tuple[str, int]:
    return current_app.html_error(status, title, detail)  # type: ignore[attr-defined,no-any-return]


@pages.before_request
def _refuse_forged_posts() -> tuple[str, int] | None:
    if request.method == "POST" and not check_csrf():
        return html_error(403, "Forbidden", "This form did not come from a page of your current session "
                          "(it may have expired). Go back, reload the page and send it again.")
    return None


@pages.app_context_processor
def _page_globals() -> dict[str, Any]:
    return {"user": g.get("user"), "csrf_token": csrf_token}


# Times in the viewer's zone, relative times, durations and relevance in words (web/formatting.py).
formatting.install(pages, viewer_zone, lambda: runtime().clock())


@pages.app_template_global("ticket_work_of")
def _ticket_work_of(ticket: TicketView, trail: list[EventView]) -> Any:
    """For pages that render the ticket page without its reading (the conversation's refused post)."""
    return ticket_work(runtime(), me().actor, ticket, trail)


@pages.app_template_filter("ticket_status")
def _ticket_status(status: str) -> str:
    """The status for whoever reads the page: plain words for a customer, the procedure's for the team."""
    user = g.get("user")
    return status_words(status, user is not None and user.role == "customer")


@pages.app_template_filter("label")
def _label(key: str) -> str:
    return LABELS.get(key) or key.replace("_", " ").capitalize()


def signed_in(view: F) -> F:
    """Send visitors without a session to the sign-in page, and back here afterwards."""

    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if g.user is None:
            here = request.full_path.rstrip("?") if request.method == "GET" else None
            return redirect(url_for("pages.sign_in_form", next=here))
        return view(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def me() -> UserView:
    user: UserView = g.user
    return user


def local_next() -> str | None:
    """The ``next`` parameter if it is a path on this site (never another host)."""
    target = request.values.get("next", "")
    parts = urlsplit(target)
    if not target.startswith("/") or target.startswith("//") or "\\" in target or parts.scheme or parts.netloc:
        return None
    return target


def home_of(user: UserView) -> str:
    if user.role == "process_owner":  # they work no lane: their page is the process itself
        return url_for("pages.live_process")
    if user.role in ("auditor", "admin"):  # nor do they: their pages are the record and the installation
        return url_for("pages.audit_page" if user.role == "auditor" else "pages.admin_page")
    return url_for("pages.my_tickets" if user.role == "customer" else "pages.inbox")


def lanes_of(actor: Actor) -> list[str]:
    lanes = runtime().lane_roles
    return [lane for lane, role in lanes.items() if actor.role in ("admin", "auditor") or role == actor.role]


def may_work(actor: Actor, lane: str) -> bool:
    return actor.is_admin or runtime().lane_roles.get(lane) == actor.role


# -- session --------------------------------------------------------------------------------------
@pages.get("/")
def home() -> Response:
    return redirect(home_of(g.user) if g.user is not None else url_for("pages.sign_in_form"))


@pages.get("/sign-in")
def sign_in_form() -> str | Response:
    if g.user is not None:
        return redirect(local_next() or home_of(g.user))
    return render_template("sign_in.html", next=local_next(), error=None)


@pages.post("/sign-in")
def sign_in_submit() -> tuple[str, int] | Response:
    user = sign_in(request.form.get("token", ""))
    if user is None:
        return render_template("sign_in.html", next=local_next(),
                               error="That token is unknown or has been replaced by a newer one."), 401
    return redirect(local_next() or home_of(user))


@pages.post("/sign-out")
def sign_out_submit() -> Response:
    sign_out()
    flash("You are signed out.")
    return redirect(url_for("pages.sign_in_form"))


# -- agents' inbox --------------------------------------------------------------------------------
@pages.get("/inbox")
@signed_in
def inbox() -> str | Response:
    actor = me().actor
    if actor.role == "customer":
        return redirect(url_for("pages.my_tickets"))
    lane = query_text("lane")
    show = request.args.get("show", "all")
    if show not in ("all", "mine", "unassigned"):
        show = "all"
    offset = request.args.get("offset", "0")
    # Only plain digits, and only the first pages: deeper ones follow the cursor. int() would take "²".
    offset_value = min(int(offset), INBOX_OFFSET) if offset.isascii() and offset.isdigit() and len(offset) <= 9 else 0
    cursor = request.args.get("cursor") or None
    from web.pages.ticket_list import agents_by_lane, lists  # that module adds its routes to this blueprint

    work_lists = lists()
    shows = {name: work_lists.work_filter(actor, lane, name == "mine", name == "unassigned") for name in SHOWS}
    try:
        page = work_lists.worklist(actor, shows[show], cursor, INBOX_PAGE + offset_value)
    except InvalidInput:
        flash("That page of the inbox is no longer valid: here is the first page.")
        return redirect(url_for("pages.inbox", lane=lane, show=show))
    record_auditor_read(None, "tasks", page="inbox", lane=lane, show=show, offset=offset_value,
                        **({"cursor": cursor} if cursor else {}))
    rows = page.items[offset_value:]
    return render_template("inbox.html", rows=rows, lanes=lanes_of(actor), lane=lane, show=show, page=INBOX_PAGE,
                           counts={name: work_lists.count_work(work) for name, work in shows.items()},
                           next_cursor=page.next_cursor, first_page=bool(cursor or offset_value),
                           workable={r.task.id for r in rows if may_work(actor, r.task.lane)},
                           agents=agents_by_lane() if actor.role in ("l1", "l2", "admin") else {})


def query_text(name: str) -> str | None:
    """A filter from the query string; one that is empty, overlong or not storable text filters nothing."""
    value = request.args.get(name) or None
    if value is None or len(value) > limits.QUERY_FILTER or limits.unstorable(value):
        return None
    return value


@pages.post("/tasks/<task_id>/claim")
@signed_in
def claim(task_id: str) -> Response:
    task = runtime().claim_task(task_id, me().actor)
    flash(f"You claimed “{task.name}” of {task.ticket_number}.")
    return redirect(local_next() or url_for("pages.task_page", task_id=task_id))


@pages.post("/tasks/<task_id>/release")
@signed_in
def release(task_id: str) -> Response:
    task = runtime().release_task(task_id, me().actor)
    flash(f"You released “{task.name}” of {task.ticket_number}.")
    return redirect(local_next() or url_for("pages.inbox"))


# -- task forms -----------------------------------------------------------------------------------
@pages.get("/tasks/<task_id>")
@signed_in
def task_page(task_id: str) -> str:
    detail = runtime().task_detail(task_id, me().actor)
    record_auditor_read(detail.ticket.number, "task", page="task", task=task_id)
    fields = fields_of(detail.schema, detail.ui_schema)
    return render_task(detail, fields, None, {}, [])


@pages.post("/tasks/<task_id>")
@signed_in
def task_submit(task_id: str) -> tuple[str, int] | Response:
    actor = me().actor
    detail = runtime().task_detail(task_id, actor)
    fields = fields_of(detail.schema, detail.ui_schema)
    try:
        ticket = complete_as_seen(runtime(), task_id, coerce(fields, request.form), actor, seen_task())
    except InvalidInput as exc:
        placed, general = errors_by_field([f.name for f in fields], exc.errors)
        return render_task(detail, fields, submitted_values(fields, request.form), placed,
                           general or ([] if placed else [exc.detail]), failure=NOT_SAVED_INVALID), 422
    except Conflict:
        return render_conflict(task_id, fields), 409
    except (StepFailed, SandboxViolation):  # rolled back whole: the ticket is as it was before the submit
        return render_task(detail, fields, submitted_values(fields, request.form), {}, [],
                           failure=NOT_SAVED_FAILED.format(task=detail.task.name)), 502
    flash(f"“{detail.task.name}” is done.")
    return redirect(url_for("pages.ticket_page", number=ticket.number))


def render_conflict(task_id: str, fields: list[Field]) -> str:
    """The task as it is now, the typed values kept, and a plain word on what happened."""
    fresh = runtime().task_detail(task_id, me().actor)
    return render_task(fresh, fields, submitted_values(fields, request.form), {}, [],
                       conflict=what_happened(fresh.task, me().name))


def render_task(detail: TaskDetail, fields: list[Field], values: dict[str, str] | None,
                errors: dict[str, list[str]], general: list[str], conflict: str | None = None,
                failure: str | None = None) -> str:
    """The task page; ``values`` None shows the prefill (none on a repeated round: see ``task_reading``)."""
    actor = me().actor
    task = detail.task
    reading = task_reading(runtime(), actor, detail, LABELS, SUMMARY_KEYS)
    taken_by_other = task.assignee not in (None, actor.name) and not actor.is_admin
    from web.pages.conversation import conversation_for  # here: that module adds its routes to this blueprint

    return render_template("task.html", detail=detail, task=task, ticket=detail.ticket, fields=fields,
                           values=shown_values(fields, reading.prefill) if values is None else values,
                           errors=errors, general=general, reading=reading, conflict=conflict, failure=failure,
                           home=home_of(me()), conversation=conversation_for(detail.ticket.number),
                           workable=task.state == "ready" and may_work(actor, task.lane) and not taken_by_other,
                           may_claim=task.state == "ready" and may_work(actor, task.lane))


# Why a submit changed nothing, in plain words: the form comes back with what was typed.
NOT_SAVED_INVALID = "Nothing was saved and the ticket is unchanged: correct what is marked below and send it again."
NOT_SAVED_FAILED = ("Nothing was saved and the ticket is unchanged: an automatic step that follows “{task}” could "
                    "not run just now. Your answers are kept below; send them again in a few minutes, and tell an "
                    "administrator if it keeps happening.")


# -- tickets --------------------------------------------------------------------------------------
@pages.get("/tickets/<number>")
@signed_in
def ticket_page(number: str) -> str:
    actor = me().actor
    ticket, trail = runtime().ticket_with_trail(number, actor)
    record_auditor_read(number, "history", page="ticket")  # the ticket with its trail
    readable = {t.id for t in ticket.ready_tasks if may_work(actor, t.lane) or actor.role == "auditor"}
    from web.pages.conversation import conversation_for  # here: that module adds its routes to this blueprint

    return render_template("ticket.html", ticket=ticket, trail=trail, readable=readable,
                           conversation=conversation_for(number), diagram=ticket_diagram_view(ticket, trail),
                           work=ticket_work(runtime(), actor, ticket, trail))


def ticket_diagram_view(ticket: TicketView, trail: list[EventView]) -> DiagramView | None:
    """The support team's picture of the ticket's way through its procedure version (customers get none)."""
    if me().role == "customer":
        return None
    diagram = pinned_diagram(runtime(), ticket.number).diagram
    return ticket_view(url_for("pages.ticket_diagram", number=ticket.number), diagram,
                       [task.element_id for task in ticket.ready_tasks], trail,
                       f"{ticket.number} on procedure version {ticket.definition_version}")


@pages.get("/tickets/<number>/as-of")
@signed_in
def ticket_as_of(number: str) -> str:
    """The history stepper: event ``seq``, the ticket as it stood after it, and where on the diagram."""
    actor = me().actor
    if actor.role not in AUDITORS:
        raise Forbidden("only auditors and admins step through a ticket's history")
    seq = seq_arg()
    audit = current_app.extensions["ticketflow"].audit
    view = audit.as_of(number, seq)  # NotFound, or InvalidInput (422) for a seq past the last event
    pinned = pinned_diagram(runtime(), number)
    trail = runtime().ticket_history(number, actor)
    if actor.role == "auditor":
        audit.record_access(actor, number, "as_of", {"seq": seq})
    diagram = pinned.diagram
    picture = DiagramView(url_for("pages.ticket_diagram", number=number),
                          f"Procedure version {pinned.version} after event {seq}", view.current_elements,
                          walked(diagram, view.visited_elements, view.current_elements),
                          loops(diagram, passes(diagram, (e for e in trail if e.seq <= seq))))
    return render_template("as_of.html", view=view, pinned=pinned, trail=trail, last=trail[-1].seq,
                           diagram=picture, current=[diagram.name_of(e) for e in view.current_elements],
                           visited=[diagram.name_of(e) for e in view.visited_elements])


def seq_arg() -> int:
    """The ``seq`` query parameter (1 when absent): a positive integer, else 422."""
    raw = request.args.get("seq", "1")
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 12):
        raise InvalidInput("seq must be the number of an event of this ticket (1, 2, ...)",
                           [FieldError("/seq", "must be an integer of 1 or more")])
    return int(raw)


@pages.get("/my")
@signed_in
def my_tickets() -> str | Response:
    actor = me().actor
    if actor.role != "customer":
        return redirect(url_for("pages.inbox"))
    tickets, total = runtime().list_tickets(actor, limit=200)
    waiting: dict[str, list[Any]] = {}
    for task in runtime().tasks_for(actor, limit=200):
        waiting.setdefault(task.ticket_number, []).append(task)
    return render_template("my.html", tickets=tickets, total=total, waiting=waiting)


@pages.get("/tickets/new")
@signed_in
def new_ticket_form() -> str:
    customer_only()
    return render_ticket_form(OPEN, {"email": me().email or ""})


@pages.post("/tickets/new")
@signed_in
def new_ticket_submit() -> tuple[str, int] | Response:
    customer_only()
    user = me()
    return open_from_form(OPEN, user.name, "portal", user.unit or "general",
                          "Ticket {number} is open. We will answer you soon.")


@pages.get("/tickets/register")
@signed_in
def register_form() -> str:
    agents_only()
    return render_ticket_form(REGISTER, {"channel": "phone"})


@pages.post("/tickets/register")
@signed_in
def register_submit() -> tuple[str, int] | Response:
    agents_only()
    form = request.form
    return open_from_form(REGISTER, form.get("customer", "").strip(), form.get("channel", ""),
                          me().unit or "general", "Ticket {number} is registered and with L1 for triage.")


def render_ticket_form(page: TicketForm, values: dict[str, str], errors: dict[str, list[str]] | None = None,
                       general: list[str] | None = None) -> str:
    return render_template("new_ticket.html", page=page, fields=page.fields, values=values, errors=errors or {},
                           general=general or [], suggest=page is OPEN)  # help articles as the customer types


def open_from_form(page: TicketForm, customer: str, channel: str, unit: str, done: str) -> tuple[str, int] | Response:
    """Open the ticket the form describes, or show the form again with each error beside its field."""
    form = {name: request.form.get(name, "").replace("\r\n", "\n").strip() for name in
            ("subject", "description", "email", "phone")}
    contact = {kind: form[kind] for kind in ("email", "phone") if form[kind]}
    intake = TicketIntake(subject=form["subject"], description=form["description"], customer=customer,
                          contact=contact, channel=channel, unit=unit)
    try:
        ticket = runtime().open_ticket(intake, me().actor)
    except InvalidInput as exc:
        placed, general = errors_by_field([f.name for f in page.fields] + ["contact"], exc.errors)
        if "contact" in placed:
            placed["email"] = placed.pop("contact")
        values = submitted_values(page.fields, request.form)
        return render_ticket_form(page, values, placed, general), 422
    flash(done.format(number=ticket.number))
    return redirect(url_for("pages.ticket_page", number=ticket.number))


def customer_only() -> None:
    if me().role != "customer":
        raise Forbidden("this page opens a ticket for yourself as a customer")


def agents_only() -> None:
    if me().role not in ("l1", "admin"):
        raise Forbidden("L1 agents register requests that came in outside the portal")
