"""API v1: parse the request, call one use case, shape the response. Access is checked here and in
the use cases (lane rules live in the engine, so the pages and the API cannot drift apart)."""
from __future__ import annotations

import json
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request, url_for

from engine import limits
from engine.errors import FieldError, InvalidInput
from engine.runtime import Runtime
from engine.usecases.tasks import Assignment
from engine.usecases.ticket_list import ListRequest, TicketLists
from engine.usecases.tickets import AGENT_CHANNEL_RULE, AGENT_CHANNELS, TicketIntake
from web.api.serialize import event_json, task_detail_json, task_json, ticket_json, when
from web.auth import authenticate_api, current_actor, current_user, directory, record_auditor_read, roles
from web.problems import ApiError

api = Blueprint("api", __name__, url_prefix="/api/v1")
api.before_request(authenticate_api)

AGENT_READERS = ("l1", "l2", "process_owner", "auditor", "admin")
MAX_PAGE = 200
MAX_OFFSET = 1_000_000
TICKET_FIELDS = {"subject", "description", "contact", "unit", "channel", "customer"}
FIRST_FILTERS = ("status", "lane", "priority", "unit")  # always named in an auditor's read record
LIST_FILTERS = (*FIRST_FILTERS, "assignee", "sla_state", "channel")


def runtime() -> Runtime:
    return current_app.extensions["ticketflow"].runtime


# -- request parsing ------------------------------------------------------------------------------
def json_body() -> Any:
    """The request's JSON document: 415 for another media type, 400 when it does not parse."""
    if request.mimetype != "application/json":
        raise ApiError(415, "Unsupported media type",
                       f"send the body as application/json (got '{request.mimetype or 'nothing'}')")
    raw = request.get_data(cache=True)  # over MAX_CONTENT_LENGTH this raises 413 before reading it all
    try:
        document = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ApiError(400, "Malformed JSON", f"the body is not valid JSON: {exc}") from None
    except RecursionError:
        raise ApiError(400, "Malformed JSON", "the body is nested too deeply") from None
    unstorable = [FieldError(pointer, reason) for pointer, reason in limits.unstorable_strings(document)]
    if unstorable:  # refused here, for every endpoint, before any of it reaches a database
        raise InvalidInput("the body contains text that cannot be stored", unstorable)
    return document


def json_object() -> dict[str, Any]:
    body = json_body()
    if not isinstance(body, dict):
        raise InvalidInput("the body must be a JSON object", [FieldError("", "expected an object")])
    return body


def only_query(*names: str) -> None:
    """Refuse query parameters this endpoint does not know: a misspelt filter must not silently match all."""
    unknown = sorted(set(request.args) - set(names))
    if unknown:
        known = ", ".join(names) or "none"
        raise ApiError(400, "Malformed query", f"unknown query parameter(s): {', '.join(unknown)} (known: {known})")


def int_arg(name: str, default: int, low: int, high: int) -> int:
    raw = request.args.get(name)
    if raw is None:
        return default
    digits = raw.removeprefix("-")
    if not (digits.isascii() and digits.isdigit() and len(digits) <= 12):  # int() also takes "٣" and " 3 "
        raise ApiError(400, "Malformed query", f"'{name}' must be an integer")
    value = int(raw)
    if not low <= value <= high:
        raise ApiError(400, "Malformed query", f"'{name}' must be between {low} and {high}")
    return value


def text_arg(name: str) -> str | None:
    """A filter value; an empty one is a mistake, not "any"."""
    value = request.args.get(name)
    if value is not None and not 1 <= len(value) <= limits.QUERY_FILTER:
        raise ApiError(400, "Malformed query", f"'{name}' must be 1 to {limits.QUERY_FILTER} characters")
    if value is not None and limits.unstorable(value):
        raise ApiError(400, "Malformed query", f"'{name}' {limits.unstorable(value)}")
    return value


def page_args() -> tuple[int, int]:
    return int_arg("limit", 50, 1, MAX_PAGE), int_arg("offset", 0, 0, MAX_OFFSET)


def expected_version() -> int | None:
    """The ticket version the caller last saw, from ``If-Match`` (the ticket's ETag), if sent."""
    header = request.headers.get("If-Match")
    if header is None:
        return None
    raw = header.strip().removeprefix("W/").strip('"')
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 12):  # int() would take "²" or 40 digits
        raise ApiError(400, "Malformed header", "If-Match must be a ticket ETag such as \"3\"")
    return int(raw)


def paged(items: list[Any], total: int, limit: int, offset: int) -> dict[str, Any]:
    return {"items": items, "total": total, "limit": limit, "offset": offset}


# -- tickets --------------------------------------------------------------------------------------
@api.post("/tickets")
@roles("customer", "l1", "admin")
def open_ticket() -> tuple[Response, int, dict[str, str]]:
    body = json_object()
    user = current_user()
    problems = [FieldError(f"/{k}", "unknown field") for k in sorted(set(body) - TICKET_FIELDS)]
    if user.role == "customer":
        if body.get("customer", user.name) != user.name:
            problems.append(FieldError("/customer", "a customer opens tickets for themself"))
        if body.get("channel", "portal") != "portal":
            problems.append(FieldError("/channel", "a customer opens tickets through the portal"))
        customer, channel = user.name, "portal"  # type: str | None, str | None
    else:
        customer, channel = body.get("customer"), body.get("channel")
        if channel not in AGENT_CHANNELS:
            problems.append(FieldError("/channel", AGENT_CHANNEL_RULE))
    unit = body.get("unit", user.unit or "general")
    if not isinstance(unit, str):
        problems.append(FieldError("/unit", "unit must be a string"))
    contact = body.get("contact")
    if "contact" in body and not isinstance(contact, dict):
        problems.append(FieldError("/contact", "contact must be an object such as {\"email\": ...}"))
    elif user.role == "customer" and contact is None and user.email:
        contact = {"email": user.email}  # left out: the customer's own address
    if problems:
        raise InvalidInput("the ticket cannot be opened", problems)
    intake = TicketIntake(subject=body.get("subject"), description=body.get("description"),  # type: ignore[arg-type]
                          customer=customer, contact=contact, channel=channel, unit=unit)  # type: ignore[arg-type]
    ticket = runtime().open_ticket(intake, current_actor())
    location = url_for("api.get_ticket", number=ticket.number)
    return jsonify(ticket_json(ticket)), 201, {"Location": location, "ETag": f'"{ticket.version}"'}


@api.get("/tickets")
def list_tickets() -> Response:
    """A page of tickets: search, filters, a sort, and ``next_cursor`` for the next page (keyset)."""
    only_query("q", *LIST_FILTERS, "sort", "cursor", "limit", "offset")
    limit, offset = page_args()
    params = {name: text_arg(name) for name in ("q", *LIST_FILTERS, "sort")}
    cursor = request.args.get("cursor")
    page = TicketLists(runtime()).tickets(current_actor(), ListRequest(params, limit, offset, cursor))
    given = {name: value for name, value in params.items() if value is not None and name not in FIRST_FILTERS}
    record_auditor_read(None, "tickets", **{name: params[name] for name in FIRST_FILTERS}, limit=limit,
                        offset=offset, **given, **({"cursor": cursor} if cursor else {}))
    team = current_user().role != "customer"  # the service-level clocks are the team's
    items = [{**ticket_json(t.ticket), **({"sla_state": t.sla_state, "resolution_due": when(t.resolution_due),
                                          "first_response_at": when(t.first_response_at)} if team else {})}
             for t in page.items]
    return jsonify({**paged(items, page.total, limit, offset), "total_capped": page.total_capped,
                    "next_cursor": page.next_cursor})


@api.get("/tickets/<number>")
def get_ticket(number: str) -> Response:
    actor = current_actor()
    ticket, trail = runtime().ticket_with_trail(number, actor)
    record_auditor_read(number, "history", view="ticket")  # the ticket with its trail
    response = jsonify(ticket_json(ticket, trail))
    response.headers["ETag"] = f'"{ticket.version}"'
    return response


@api.get("/tickets/<number>/history")
def ticket_history(number: str) -> Response:
    events = runtime().ticket_history(number, current_actor())
    record_auditor_read(number, "history")
    return jsonify({"ticket": number, "events": [event_json(e) for e in events]})


@api.post("/tickets/<number>/retry")
@roles("l1", "admin")
def retry_ticket(number: str) -> Response:
    """Retry a stalled ticket's failed step now; answers the ticket as the retry left it."""
    ticket = runtime().retry_stalled(number, current_actor())
    response = jsonify(ticket_json(ticket))
    response.headers["ETag"] = f'"{ticket.version}"'
    return response


# -- tasks ----------------------------------------------------------------------------------------
@api.get("/tasks")
def list_tasks() -> Response:
    """Ready tasks: by their ticket's next due time (``sort=due``, the default, with ``next_cursor``) or
    oldest first (``sort=created``, by offset)."""
    only_query("lane", "assignee", "unassigned", "sort", "cursor", "limit", "offset")
    limit, offset = page_args()
    assignee = request.args.get("assignee")
    if assignee not in (None, "me"):
        raise ApiError(400, "Malformed query", "assignee may only be 'me'")
    unassigned, lane, sort = _flag("unassigned"), text_arg("lane"), request.args.get("sort", "due")
    cursor = request.args.get("cursor")
    if sort not in ("due", "created") or (cursor and (sort != "due" or offset)) or (sort == "due" and offset > 1000):
        raise ApiError(400, "Malformed query", "sort is 'due' (pages by cursor, offset up to 1000) or 'created' "
                                               "(pages by offset)")
    record_auditor_read(None, "tasks", lane=lane, assignee=assignee, unassigned=unassigned, limit=limit,
                        offset=offset, **({"sort": sort} if "sort" in request.args else {}),
                        **({"cursor": cursor} if cursor else {}))
    actor = current_actor()
    if sort == "created":
        tasks = runtime().tasks_for(actor, lane, assignee == "me", unassigned, limit, offset)
        return jsonify({"items": [task_json(t) for t in tasks], "limit": limit, "offset": offset})
    lists = TicketLists(runtime())
    work = lists.work_filter(actor, lane, assignee == "me", unassigned)
    page = lists.worklist(actor, work, cursor, limit + offset)
    team = actor.role != "customer"  # a customer's own tasks: the task itself, not the team's clocks
    items = [{**task_json(row.task), **({"subject": row.subject, "customer": row.customer, "priority": row.priority,
                                         "sla_state": row.sla_state, "due": when(row.due),
                                         "due_kind": row.due_kind or None} if team else {})}
             for row in page.items[offset:]]
    return jsonify({"items": items, "limit": limit, "offset": offset,
                    "next_cursor": page.next_cursor})


def _flag(name: str) -> bool:
    raw = request.args.get(name, "false")
    if raw not in ("true", "false"):
        raise ApiError(400, "Malformed query", f"'{name}' must be true or false")
    return raw == "true"


@api.get("/tasks/<task_id>")
def get_task(task_id: str) -> Response:
    detail = runtime().task_detail(task_id, current_actor())
    record_auditor_read(detail.ticket.number, "task", task=task_id)  # the task with the full process data
    return jsonify(task_detail_json(detail))


@api.post("/tasks/<task_id>/claim")
def claim_task(task_id: str) -> Response:
    return assignment_response(runtime().assign_task(task_id, current_actor(), claim=True))


@api.post("/tasks/<task_id>/release")
def release_task(task_id: str) -> Response:
    return assignment_response(runtime().assign_task(task_id, current_actor(), claim=False))


@api.post("/tasks/<task_id>/assign")
def assign_task(task_id: str) -> Response:
    """Give the task to a named agent of its lane (admins and agents of that lane may)."""
    body = json_object()
    problems = [FieldError(f"/{k}", "unknown field") for k in sorted(set(body) - {"assignee"})]
    if not isinstance(body.get("assignee"), str) or not body["assignee"]:
        problems.append(FieldError("/assignee", "name the agent who takes the task"))
    if problems:
        raise InvalidInput("the task cannot be assigned", problems)
    return assignment_response(runtime().assign_to(task_id, current_actor(), body["assignee"]))


def assignment_response(done: Assignment) -> Response:
    """The task as claimed or released, with the ticket's new ETag for a following complete's If-Match."""
    response = jsonify(task_json(done.task))
    response.headers["ETag"] = f'"{done.ticket_version}"'
    return response


@api.post("/tasks/<task_id>/complete")
def complete_task(task_id: str) -> Response:
    data = json_body()
    ticket = runtime().complete_task(task_id, data, current_actor(), expected_version())
    response = jsonify(ticket_json(ticket))
    response.headers["ETag"] = f'"{ticket.version}"'
    return response


# -- knowledge base: web/api/knowledge.py ----------------------------------------------------------


# -- service --------------------------------------------------------------------------------------
@api.get("/me")
def me() -> Response:
    user = current_user()
    zone = directory().zone_setting(user.name)
    return jsonify({"name": user.name, "role": user.role, "email": user.email, "unit": user.unit,
                    "time_zone": zone.own, "effective_time_zone": zone.effective})
