"""Agent views: the ticket list (search, filters, sorts, keyset pages), saved views with their counts, and
the worklist by due time. Pages go on with an opaque cursor: base64 of JSON naming the sort, the last row's
sort key and id; one that does not decode to exactly that is refused (422), never trusted."""
from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, delete, func, insert, select
from sqlalchemy.exc import IntegrityError

from engine import limits
from engine.access import Actor
from engine.errors import Conflict, FieldError, Forbidden, InvalidInput, NotFound
from engine.store.models import SavedView, User
from engine.store.ticket_search import (
    TICKET_SORTS,
    After,
    SortOrder,
    TicketQuery,
    WorkFilter,
    count_tickets,
    count_work,
    ticket_page,
    words,
    worklist_page,
)
from engine.views import TaskView, TicketView

from .base import READ_ROLES, RuntimeCore, shown_to

COUNT_CAP = 10_000  # past this a list says "10,000 or more": counting further reads every matching row
MAX_OFFSET = 10_000  # deeper pages go by cursor
MAX_VIEWS = 50
VIEW_NAME = 100
SLA_STATES = ("on_track", "at_risk", "breached")
FILTERS = ("q", "status", "priority", "lane", "assignee", "unit", "sla_state", "channel")
VIEW_KEYS = (*FILTERS, "sort")  # what a saved view keeps
SAVED_VIEW = cast(Table, SavedView.__table__)
USER = cast(Table, User.__table__)


@dataclass(frozen=True)
class ListRequest:
    """A list's parameters as given (texts; None where not given)."""

    params: Mapping[str, str | None]
    limit: int = 50
    offset: int = 0
    cursor: str | None = None

    def get(self, name: str) -> str | None:
        value = self.params.get(name)
        return value if value else None


@dataclass(frozen=True)
class ListedTicket:
    """One row of the ticket list: the ticket and its service-level clocks."""

    ticket: TicketView
    sla_state: str
    first_response_at: datetime | None
    resolution_due: datetime | None


@dataclass(frozen=True)
class TicketPage:
    items: list[ListedTicket]
    total: int  # at most COUNT_CAP
    total_capped: bool  # True: there are COUNT_CAP or more
    next_cursor: str | None


@dataclass(frozen=True)
class WorkRow:
    """One worklist row: the task and what an agent needs to pick it (subject, customer, priority, due)."""

    task: TaskView
    subject: str
    customer: str
    priority: str | None
    sla_state: str
    due: datetime | None
    due_kind: str  # "first response" | "resolution" | ""


@dataclass(frozen=True)
class WorkPage:
    items: list[WorkRow]
    next_cursor: str | None


@dataclass(frozen=True)
class ViewCount:
    """A saved view, its query and how many tickets it finds now."""

    id: int
    name: str
    query: dict[str, str]
    count: int
    capped: bool


# -- cursors --------------------------------------------------------------------------------------
def encode_cursor(sort: str, key: Any, ids: tuple[Any, ...], empty_run: bool) -> str:
    raw = {"s": sort, "k": key.isoformat() if isinstance(key, datetime) else key, "i": list(ids), "e": empty_run}
    return base64.urlsafe_b64encode(json.dumps(raw, separators=(",", ":")).encode()).decode().rstrip("=")


def _refused(reason: str) -> InvalidInput:
    return InvalidInput("the cursor is not one this list gave out", [FieldError("/cursor", reason)])


def decode_cursor(cursor: str, sort: str, id_kinds: tuple[type, ...]) -> After:
    """The position a cursor names; InvalidInput unless it is well formed and made for ``sort``."""
    if len(cursor) > 400:
        raise _refused("too long")
    try:
        raw = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (binascii.Error, ValueError):
        raise _refused("it does not decode") from None
    if not isinstance(raw, dict) or set(raw) != {"s", "k", "i", "e"} or raw["s"] != sort:
        raise _refused(f"it was not made for the sort '{sort}'")
    ids, empty = raw["i"], raw["e"]
    if (not isinstance(ids, list) or len(ids) != len(id_kinds) or not isinstance(empty, bool)
            or not all(type(i) is kind for i, kind in zip(ids, id_kinds, strict=True))
            or any(isinstance(i, str) and len(i) > 36 for i in ids)):
        raise _refused("its position is malformed")
    return After(None if empty else _key(raw["k"], sort), tuple(ids), empty)


def _key(value: Any, sort: str) -> Any:
    if sort == "priority":
        if not isinstance(value, str) or not 1 <= len(value) <= 2:
            raise _refused("its priority is malformed")
        return value
    try:
        key = datetime.fromisoformat(value) if isinstance(value, str) and len(value) <= 40 else None
    except ValueError:
        key = None
    if key is None or key.tzinfo is None:
        raise _refused("its time is malformed")
    return key


# -- parameters -----------------------------------------------------------------------------------
def _sort_of(request: ListRequest) -> SortOrder:
    name = request.get("sort") or "opened"
    if name not in TICKET_SORTS:
        raise InvalidInput("the list cannot be sorted that way",
                           [FieldError("/sort", f"sort must be one of: {', '.join(TICKET_SORTS)}")])
    return TICKET_SORTS[name]


def query_of(request: ListRequest, actor: Actor) -> TicketQuery:
    """The filters of ``request`` as ``actor`` may ask them (a customer's: their own tickets, public words)."""
    problems = []
    for name in FILTERS:
        value = request.get(name)
        if value is not None and (len(value) > limits.QUERY_FILTER or limits.unstorable(value)):
            problems.append(FieldError(f"/{name}", f"must be text of at most {limits.QUERY_FILTER} characters"))
    text = request.get("q")
    if text is not None and not words(text):
        problems.append(FieldError("/q", "search needs at least one word (letters or digits)"))
    if request.get("sla_state") not in (None, *SLA_STATES):
        problems.append(FieldError("/sla_state", f"sla_state must be one of: {', '.join(SLA_STATES)}"))
    if problems:
        raise InvalidInput("the list's parameters are not valid", problems)
    customer = actor.role == "customer"
    if customer and request.get("assignee") is not None:
        raise Forbidden("customers do not filter by the team's assignees")
    if not customer and actor.role not in READ_ROLES:
        raise Forbidden(f"role '{actor.role}' does not read tickets")
    return TicketQuery(text=text, status=request.get("status"), priority=request.get("priority"),
                       lane=request.get("lane"), assignee=request.get("assignee"), unit=request.get("unit"),
                       sla_state=request.get("sla_state"), channel=request.get("channel"),
                       customer=actor.name if customer else None, public_only=customer)


class TicketLists:
    """The ticket list, saved views and the worklist, over a runtime's database."""

    def __init__(self, runtime: RuntimeCore) -> None:
        self.runtime = runtime

    def tickets(self, actor: Actor, request: ListRequest) -> TicketPage:
        """A page of tickets; ``next_cursor`` continues it (None on the last page)."""
        query, sort = query_of(request, actor), _sort_of(request)
        if request.offset > MAX_OFFSET or (request.offset and request.cursor):
            raise InvalidInput("the page cannot be reached by offset",
                               [FieldError("/offset", f"offset goes up to {MAX_OFFSET} and not with a cursor; "
                                                      "deeper pages follow next_cursor")])
        after = decode_cursor(request.cursor, sort.name, (int,)) if request.cursor else None
        with self.runtime.uow(read_only=True) as uow:
            rows = ticket_page(uow.connection, query, sort, after, request.limit + 1, request.offset)
            total = count_tickets(uow.connection, query, COUNT_CAP)
        items = [ListedTicket(shown_to(actor, TicketView.of(row, row.definition_version, [])),
                              row.sla_state, row.first_response_at, row.resolution_due)
                 for row in rows[:request.limit]]
        cursor = None
        if len(rows) > request.limit:
            last = rows[request.limit - 1]
            key = getattr(last, sort.key.name)
            cursor = encode_cursor(sort.name, key, (last.id,), key is None)
        return TicketPage(items, total, total >= COUNT_CAP, cursor)

    def work_filter(self, actor: Actor, lane: str | None = None, mine: bool = False,
                    unassigned: bool = False) -> WorkFilter:
        """The ready tasks ``actor`` may see (as ``tasks_for``): auditors and admins every lane, customers
        their own tickets' tasks in their lanes, agents their role's lanes."""
        lanes: list[str] | None = None
        if actor.role not in ("auditor", "admin"):
            lanes = [name for name, role in self.runtime.lane_roles.items() if role == actor.role]
        if lane is not None:
            lanes = [lane] if lanes is None or lane in lanes else []
        return WorkFilter(lanes, actor.name if mine else None, unassigned,
                          actor.name if actor.role == "customer" else None)

    def worklist(self, actor: Actor, work: WorkFilter, cursor: str | None, limit: int) -> WorkPage:
        """Ready tasks by ``work`` (see ``work_filter``), soonest due first."""
        after = decode_cursor(cursor, "due", (int, str)) if cursor else None
        with self.runtime.uow(read_only=True) as uow:
            rows = worklist_page(uow.connection, work, after, limit + 1)
        items = [_work_row(row) for row in rows[:limit]]
        next_cursor = None
        if len(rows) > limit:
            last = rows[limit - 1]
            next_cursor = encode_cursor("due", last.due, (last.ticket_id, last.id), last.due is None)
        return WorkPage(items, next_cursor)

    def count_work(self, work: WorkFilter) -> int:
        """How many ready tasks ``work`` finds (up to COUNT_CAP)."""
        with self.runtime.uow(read_only=True) as uow:
            return count_work(uow.connection, work, COUNT_CAP)

    def assignable(self) -> dict[str, list[str]]:
        """Each agents' lane and the active users who work it, by name (a task may be assigned to them)."""
        roles = {lane: role for lane, role in self.runtime.lane_roles.items() if role != "customer"}
        with self.runtime.uow(read_only=True) as uow:
            users = uow.connection.execute(select(USER.c.name, USER.c.role).where(
                USER.c.role.in_(set(roles.values())), USER.c.disabled.is_(False)).order_by(USER.c.name)).all()
        return {lane: [user.name for user in users if user.role == role] for lane, role in roles.items()}

    # -- saved views ----------------------------------------------------------------------------------
    def save_view(self, actor: Actor, name: str, params: Mapping[str, str | None], replace: bool = True) -> int:
        """Keep ``params`` (the list's filters and sort) under ``name`` for ``actor``; the same name replaces it,
        or with ``replace`` False is refused (the API creates, the page's form saves over)."""
        kept = {k: v for k in VIEW_KEYS if (v := params.get(k))}
        query_of(ListRequest(kept), actor)  # refuse what the list would refuse
        _sort_of(ListRequest(kept))
        name = name.strip()
        if not 1 <= len(name) <= VIEW_NAME or limits.unstorable(name):
            raise InvalidInput("the view cannot be saved",
                               [FieldError("/name", f"name it in 1 to {VIEW_NAME} characters")])
        with self.runtime.uow() as uow:
            mine = SAVED_VIEW.c.owner == actor.name
            if not replace and uow.connection.execute(select(SAVED_VIEW.c.id).where(
                    mine, SAVED_VIEW.c.name == name)).first() is not None:
                raise Conflict(f"you have a view named '{name}' already: pick another name or delete that one")
            uow.connection.execute(delete(SAVED_VIEW).where(mine, SAVED_VIEW.c.name == name))
            kept_views = uow.connection.execute(select(func.count()).select_from(SAVED_VIEW).where(mine)).scalar()
            if (kept_views or 0) >= MAX_VIEWS:
                raise Conflict(f"you keep {MAX_VIEWS} views already: delete one first")
            try:
                view_id = uow.connection.execute(insert(SAVED_VIEW).values(
                    owner=actor.name, name=name, query=kept, created_at=self.runtime.clock())).inserted_primary_key
            except IntegrityError:
                raise Conflict(f"a view named '{name}' was saved at the same moment") from None
            uow.commit()
        return int(view_id[0]) if view_id else 0

    def views(self, actor: Actor) -> list[ViewCount]:
        """``actor``'s saved views by name, each with the number of tickets it finds now."""
        with self.runtime.uow(read_only=True) as uow:
            rows = uow.connection.execute(select(SAVED_VIEW).where(SAVED_VIEW.c.owner == actor.name)
                                          .order_by(SAVED_VIEW.c.name)).all()
            counted = []
            for row in rows:
                count = count_tickets(uow.connection, query_of(ListRequest(row.query), actor), COUNT_CAP)
                counted.append(ViewCount(row.id, row.name, dict(row.query), count, count >= COUNT_CAP))
        return counted

    def view_named(self, actor: Actor, name: str) -> ViewCount:
        """``actor``'s view called ``name`` with its count now; NotFound for anyone else's."""
        if limits.unstorable(name) or len(name) > VIEW_NAME:
            raise NotFound("you have no such saved view")  # never sent to the database (PostgreSQL refuses NUL)
        with self.runtime.uow(read_only=True) as uow:
            row = uow.connection.execute(select(SAVED_VIEW).where(
                SAVED_VIEW.c.owner == actor.name, SAVED_VIEW.c.name == name)).first()
            if row is None:
                raise NotFound("you have no such saved view")
            count = count_tickets(uow.connection, query_of(ListRequest(row.query), actor), COUNT_CAP)
        return ViewCount(row.id, row.name, dict(row.query), count, count >= COUNT_CAP)

    def delete_view_named(self, actor: Actor, name: str) -> None:
        """Delete ``actor``'s view called ``name`` (the API names views; the page's buttons carry ids)."""
        if limits.unstorable(name) or len(name) > VIEW_NAME:
            raise NotFound("you have no such saved view")
        self._delete_view(actor, SAVED_VIEW.c.name == name)

    def delete_view(self, actor: Actor, view_id: int) -> None:
        self._delete_view(actor, SAVED_VIEW.c.id == view_id)

    def _delete_view(self, actor: Actor, which: Any) -> None:
        """Delete the one of ``actor``'s views that ``which`` picks; NotFound when none (anyone else's included)."""
        with self.runtime.uow() as uow:
            done = uow.connection.execute(delete(SAVED_VIEW).where(which, SAVED_VIEW.c.owner == actor.name)).rowcount
            if not done:
                raise NotFound("you have no such saved view")
            uow.commit()


def _work_row(row: Any) -> WorkRow:
    task = TaskView(row.id, row.number or "", row.element_id, row.name, row.lane, row.form, row.state,
                    row.assignee, row.created_at)
    kind = "" if row.due is None else ("first response" if row.first_response_at is None else "resolution")
    return WorkRow(task, row.subject, row.customer, row.priority, row.sla_state, row.due, kind)
