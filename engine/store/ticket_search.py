"""The ticket list's and the worklist's queries: filters, full-text search and keyset pages.

A page starts *after* the last row of the previous one (its sort key and id), so a deep page reads about as
many index entries as the first (offset paging reads every row it skips). A sort column that may be empty
(priority, due times) is read in two runs, the rows that have a value and then the ones that do not, each
in index order: SQLite's indexes keep NULLs first and PostgreSQL's last, so neither may ``NULLS LAST`` sort.

Search: SQLite matches the FTS5 indexes ``ticket_fts`` and ``conversation_fts`` (porter stems: "printers" finds
"printer"); PostgreSQL the GIN expression indexes of migration 0016 (``english`` stems, web-search syntax). The index
finds every match before the list's order picks a page: right for a rare word, slow for a common one (a word in 8%
of a million tickets is 80,000 matches to collect and sort for 50 rows). So a search expected to match more than
``DENSE_SHARE`` of the tickets walks the list's order instead and stops at the page's end (PostgreSQL tests each row;
SQLite probes the matches it collected, in the list's order rather than by sorting them); and a capped count stops
once the tickets' own text has matched the cap.
"""
from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Row,
    Select,
    TextClause,
    and_,
    case,
    column,
    exists,
    func,
    literal,
    literal_column,
    null,
    or_,
    select,
    text,
    tuple_,
)

from engine.store.models import HumanTask, ProcessDefinition, Ticket

TICKET = Ticket.__table__
TASK = HumanTask.__table__
DEFINITION = ProcessDefinition.__table__
MAX_WORDS = 12
OPEN = "open"  # a status filter meaning "not closed"
DENSE_SHARE = 0.02  # a search expected to match more tickets than this share walks the list's order
DENSE_AT_LEAST = 2000  # ... and only when that is this many tickets at least (a small table is quick either way)
_TICKET_TEXT = "to_tsvector('english', ticket.subject || ' ' || ticket.description)"  # migration 0016's index


@dataclass(frozen=True)
class TicketQuery:
    """What a list asks for; None means any. ``public_only`` leaves internal notes out of the search."""

    text: str | None = None
    status: str | None = None
    priority: str | None = None
    lane: str | None = None
    assignee: str | None = None
    unit: str | None = None
    sla_state: str | None = None
    channel: str | None = None
    customer: str | None = None
    public_only: bool = False


@dataclass(frozen=True)
class SortOrder:
    """A list order: one key column then the id, both ascending or both descending."""

    name: str
    key: Any  # a ticket column
    descending: bool
    nullable: bool


TICKET_SORTS = {
    "opened": SortOrder("opened", TICKET.c.opened_at, True, False),
    "oldest": SortOrder("oldest", TICKET.c.opened_at, False, False),
    "priority": SortOrder("priority", TICKET.c.priority, False, True),
    "response_due": SortOrder("response_due", TICKET.c.first_response_due, False, True),
    "resolution_due": SortOrder("resolution_due", TICKET.c.resolution_due, False, True),
}


@dataclass(frozen=True)
class After:
    """Where the next page starts: after the row with this key (None in the empty-key run) and ids."""

    key: Any
    ids: tuple[Any, ...]  # (ticket id,) for tickets; (ticket id, task id) for tasks
    in_empty_run: bool = False


def words(query: str) -> list[str]:
    """The search's words (letters and digits), at most MAX_WORDS."""
    return re.findall(r"\w+", query.lower())[:MAX_WORDS]


def _fts_words(query: str) -> str:
    """The FTS5 query of ``query``'s words, each quoted: no word is FTS5 syntax."""
    return " ".join(f'"{word}"' for word in words(query))


def _search(dialect: str, query: str, public_only: bool, walk: bool = False) -> ColumnElement[bool]:
    """Tickets whose subject, description or conversation has every word of ``query``. SQLite with ``walk``: the
    same matches, tested as the list's own index is walked (``id + 0`` keeps SQLite from looking each one up)."""
    public = " AND c.visibility = 'public'" if public_only else ""
    if dialect == "postgresql":
        found = text("SELECT id FROM ticket WHERE to_tsvector('english', subject || ' ' || description) "
                     "@@ websearch_to_tsquery('english', :search_words) UNION SELECT c.ticket_id FROM "
                     "conversation_entry c WHERE to_tsvector('english', c.shown) "
                     f"@@ websearch_to_tsquery('english', :search_words){public}")
        return TICKET.c.id.in_(found.bindparams(search_words=query).columns(column("id")))
    found = text("SELECT rowid FROM ticket_fts WHERE ticket_fts MATCH :search_words UNION SELECT c.ticket_id "
                 "FROM conversation_fts f JOIN conversation_entry c ON c.id = f.rowid "
                 f"WHERE conversation_fts MATCH :search_words{public}")
    ticket_id = TICKET.c.id + 0 if walk else TICKET.c.id
    return ticket_id.in_(found.bindparams(search_words=_fts_words(query)).columns(column("rowid")))


def _walked_search(query: str, public_only: bool) -> TextClause:
    """PostgreSQL: whether the row at hand matches, tested row by row (for walking the list's order)."""
    public = " AND c.visibility = 'public'" if public_only else ""
    return text(f"({_TICKET_TEXT} @@ websearch_to_tsquery('english', :walked_words) OR EXISTS (SELECT 1 FROM "
                "conversation_entry c WHERE c.ticket_id = ticket.id AND to_tsvector('english', c.shown) "
                f"@@ websearch_to_tsquery('english', :walked_words){public}))").bindparams(walked_words=query)


def _ticket_text_matches(dialect: str, query: str) -> ColumnElement[bool] | TextClause:
    """The ticket's own subject and description match (PostgreSQL's GIN index or SQLite's FTS5 table answers)."""
    if dialect == "postgresql":
        return text(f"{_TICKET_TEXT} @@ websearch_to_tsquery('english', :own_words)").bindparams(own_words=query)
    return TICKET.c.id.in_(text("SELECT rowid FROM ticket_fts WHERE ticket_fts MATCH :own_words")
                           .bindparams(own_words=_fts_words(query)).columns(column("rowid")))


def dense_search(connection: Connection, query: str) -> bool:
    """Whether ``query`` matches enough tickets that walking the list's order finds a page sooner than collecting
    and sorting every match: PostgreSQL's planner estimates it from the index's statistics (no rows read); SQLite's
    FTS5 counts its matches (a doclist walk: a millisecond for tens of thousands)."""
    if connection.dialect.name != "postgresql":
        expected = float(connection.execute(text("SELECT count(*) FROM ticket_fts WHERE ticket_fts MATCH :words"),
                                            {"words": _fts_words(query)}).scalar() or 0)
        tickets = float(connection.execute(select(func.max(TICKET.c.id))).scalar() or 0)  # ids are dense
        return expected >= DENSE_AT_LEAST and expected >= DENSE_SHARE * tickets
    plan = connection.execute(text(f"EXPLAIN (FORMAT JSON) SELECT 1 FROM ticket WHERE {_TICKET_TEXT} "
                                   "@@ websearch_to_tsquery('english', :words)"), {"words": query}).scalar()
    expected = float((plan if isinstance(plan, list) else json.loads(str(plan)))[0]["Plan"]["Plan Rows"])
    tickets = float(connection.execute(text("SELECT reltuples FROM pg_class WHERE oid = 'ticket'::regclass"))
                    .scalar() or 0)
    return expected >= DENSE_AT_LEAST and expected >= DENSE_SHARE * tickets


def conditions(dialect: str, query: TicketQuery, walk: bool = False) -> list[ColumnElement[bool] | TextClause]:
    """The WHERE conditions of ``query`` on the ticket table (``walk``: the search tested row by row)."""
    found: list[ColumnElement[bool] | TextClause] = []
    if query.status == OPEN:
        found.append(TICKET.c.closed_at.is_(None))
    elif query.status is not None:
        found.append(TICKET.c.status == query.status)
    for value, col in ((query.priority, TICKET.c.priority), (query.unit, TICKET.c.unit_code),
                       (query.sla_state, TICKET.c.sla_state), (query.channel, TICKET.c.channel),
                       (query.customer, TICKET.c.customer)):
        if value is not None:
            found.append(col == value)
    if query.lane is not None:  # many tickets wait in a lane: walk the list's order and look each one up
        found.append(exists().where(TASK.c.ticket_id == TICKET.c.id, TASK.c.state == "ready",
                                    TASK.c.lane == query.lane))
    if query.assignee is not None:  # an agent holds few: fetch those and sort them
        found.append(TICKET.c.id.in_(select(TASK.c.ticket_id).where(TASK.c.state == "ready",
                                                                    TASK.c.assignee == query.assignee)))
    if query.text is not None:
        found.append(_walked_search(query.text, query.public_only) if walk and dialect == "postgresql"
                     else _search(dialect, query.text, query.public_only, walk))
    return found


_LIST_COLUMNS = [c for c in TICKET.c if c.name != "workflow"]  # a list never needs the state


def ticket_statements(dialect: str, query: TicketQuery, sort: SortOrder, after: After | None,
                      limit: int, walk: bool = False) -> list[Select[Any]]:
    """The page's queries, in order: the run with a sort key, then (for an empty-able key) the empty run."""
    base = (select(*_LIST_COLUMNS, DEFINITION.c.version.label("definition_version"))
            .join_from(TICKET, DEFINITION, DEFINITION.c.id == TICKET.c.definition_id)
            .where(*conditions(dialect, query, walk)).limit(limit))
    order = [sort.key.desc(), TICKET.c.id.desc()] if sort.descending else [sort.key, TICKET.c.id]
    statements = []
    if after is None or not after.in_empty_run:
        valued = base.order_by(*order)
        if sort.nullable:
            valued = valued.where(sort.key.is_not(None))
        if after is not None:
            row, last = tuple_(sort.key, TICKET.c.id), tuple_(literal(after.key, sort.key.type), after.ids[0])
            valued = valued.where(row < last if sort.descending else row > last)
        statements.append(valued)
    if sort.nullable:
        empty = base.where(sort.key.is_(None)).order_by(TICKET.c.id)
        if after is not None and after.in_empty_run:
            empty = empty.where(TICKET.c.id > after.ids[0])
        statements.append(empty)
    return statements


def ticket_page(connection: Connection, query: TicketQuery, sort: SortOrder, after: After | None,
                limit: int, offset: int = 0) -> list[Row[Any]]:
    """Up to ``limit`` tickets after ``after`` in ``sort`` order; ``offset`` (small values only) skips rows
    of the first page in one sorted query instead."""
    if offset:
        return list(connection.execute(_offset_statement(connection.dialect.name, query, sort, limit, offset)).all())
    dialect = connection.dialect.name
    walk = query.text is not None and dense_search(connection, query.text)
    statements = ticket_statements(dialect, query, sort, after, limit, walk)
    rows: list[Row[Any]] = []
    for statement in statements:
        if len(rows) >= limit:
            break
        rows += connection.execute(statement.limit(limit - len(rows))).all()
    return rows


def _offset_statement(dialect: str, query: TicketQuery, sort: SortOrder, limit: int, offset: int) -> Select[Any]:
    """One sorted query skipping ``offset`` rows, empty keys last (a sort: for the first few pages only)."""
    order = [sort.key.desc(), TICKET.c.id.desc()] if sort.descending else [sort.key, TICKET.c.id]
    if sort.nullable:
        order.insert(0, case((sort.key.is_(None), 1), else_=0))
    return (select(*_LIST_COLUMNS, DEFINITION.c.version.label("definition_version"))
            .join_from(TICKET, DEFINITION, DEFINITION.c.id == TICKET.c.definition_id)
            .where(*conditions(dialect, query)).order_by(*order).limit(limit).offset(offset))


def count_tickets(connection: Connection, query: TicketQuery, cap: int) -> int:
    """How many tickets ``query`` finds, counting no further than ``cap`` (a list says "10,000 or more")."""
    dialect = connection.dialect.name
    if query.text is not None and query.lane is None:
        # The tickets' own text alone may reach the cap (their index stops there); then so do all the matches.
        rest = conditions(dialect, replace(query, text=None))
        own: Select[Any] = select(literal_column("1")).select_from(TICKET).limit(cap).where(
            *rest, _ticket_text_matches(dialect, query.text))
        if not rest and dialect != "postgresql":  # nothing else to check: count in the FTS5 table alone
            own = select(literal_column("rowid")).select_from(text("ticket_fts")).where(
                text("ticket_fts MATCH :counted_words").bindparams(counted_words=_fts_words(query.text))).limit(cap)
        if int(connection.execute(select(func.count()).select_from(own.subquery())).scalar() or 0) >= cap:
            return cap
    if query.lane is None:
        found = select(TICKET.c.id).where(*conditions(dialect, query)).limit(cap).subquery()
    else:  # from the worklist's lane index (probing every ticket for a ready task there reads the whole table);
        # the tasks waiting there, which are the tickets but for a ticket with two tasks in one lane at once
        rest = conditions(dialect, replace(query, lane=None))
        waiting: Select[Any] = select(literal_column("1")).select_from(TASK).where(
            TASK.c.state == "ready", TASK.c.lane == query.lane, *rest)
        if rest:
            waiting = waiting.join_from(TASK, TICKET, TICKET.c.id == TASK.c.ticket_id)
        found = waiting.limit(cap).subquery()
    return int(connection.execute(select(func.count()).select_from(found)).scalar() or 0)


# -- the worklist ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class WorkFilter:
    """Which ready tasks: lanes (None: all), held by someone, unassigned, of one customer's tickets."""

    lanes: Sequence[str] | None = None
    assignee: str | None = None
    unassigned: bool = False
    customer: str | None = None


_WORK_COLUMNS = [TASK.c.id, TASK.c.element_id, TASK.c.name, TASK.c.lane, TASK.c.form, TASK.c.state,
                 TASK.c.assignee, TASK.c.created_at, TICKET.c.id.label("ticket_id"), TICKET.c.number,
                 TICKET.c.subject, TICKET.c.customer, TICKET.c.priority, TICKET.c.sla_state,
                 TICKET.c.first_response_due, TICKET.c.first_response_at, TICKET.c.resolution_due]
# An open ticket's next due time: the first response until it is given, then the resolution. Each half has its
# own partial index (ix_ticket_open_response_due, ix_ticket_open_resolution_due), walked in due order.
_DUE_RUNS: list[tuple[ColumnElement[bool], ColumnElement[Any]]] = [
    (TICKET.c.first_response_at.is_(None), TICKET.c.first_response_due),
    (TICKET.c.first_response_at.is_not(None), TICKET.c.resolution_due)]
_NEXT_DUE = case((TICKET.c.first_response_at.is_(None), TICKET.c.first_response_due), else_=TICKET.c.resolution_due)


def _task_conditions(work: WorkFilter) -> list[ColumnElement[bool]]:
    where: list[ColumnElement[bool]] = [TASK.c.state == "ready"]
    if work.lanes is not None:
        where.append(TASK.c.lane.in_(list(work.lanes)) if work.lanes else TASK.c.id.is_(None))
    if work.assignee is not None:
        where.append(TASK.c.assignee == work.assignee)
    if work.unassigned:
        where.append(TASK.c.assignee.is_(None))
    return where


def _work_base(work: WorkFilter, limit: int) -> Select[Any]:
    where = _task_conditions(work)
    if work.assignee is None:  # walk the open tickets by due time (the partial indexes say "not closed" so)
        where.append(TICKET.c.status != "closed")
    # else an agent's own few tasks, from their index, sorted: a ready task is on an open ticket anyway
    if work.customer is not None:
        where.append(TICKET.c.customer == work.customer)
    return (select(*_WORK_COLUMNS).join_from(TICKET, TASK, TASK.c.ticket_id == TICKET.c.id)
            .where(*where).limit(limit))


def worklist_statements(work: WorkFilter, after: After | None, limit: int) -> list[Select[Any]]:
    """Ready tasks by their ticket's next due time: one query per due run, then the tasks with no due time."""
    base = _work_base(work, limit)
    statements = []
    # An agent's own tasks are fetched and sorted whatever the order (no index walks them by due time): one pass,
    # with the next due time worked out per row, reads each of them once rather than once per run.
    runs: list[tuple[ColumnElement[bool] | None, ColumnElement[Any]]] = [
        (None, _NEXT_DUE)] if work.assignee is not None else list(_DUE_RUNS)
    for run, due in runs:
        if after is None or not after.in_empty_run:
            valued = base.where(due.is_not(None)).add_columns(due.label("due"))
            if run is not None:
                valued = valued.where(run)
            if after is not None:
                last = tuple_(literal(after.key, due.type), literal(after.ids[0]), literal(after.ids[1]))
                valued = valued.where(tuple_(due, TICKET.c.id, TASK.c.id) > last)
            statements.append(valued.order_by(due, TICKET.c.id, TASK.c.id))
    empty = base.where(or_(*(and_(run, due.is_(None)) for run, due in _DUE_RUNS)))
    if after is not None and after.in_empty_run:
        empty = empty.where(tuple_(TICKET.c.id, TASK.c.id) > tuple_(literal(after.ids[0]), literal(after.ids[1])))
    statements.append(empty.add_columns(null().label("due"))
                      .order_by(TICKET.c.id, TASK.c.id))
    return statements


def count_work(connection: Connection, work: WorkFilter, cap: int) -> int:
    """How many ready tasks ``work`` finds, counting no further than ``cap`` (on the worklist's own indexes
    unless a customer's tickets are asked for)."""
    if work.customer is not None:
        found = _work_base(work, cap).with_only_columns(TASK.c.id).subquery()
    else:
        found = select(literal_column("1")).where(*_task_conditions(work)).limit(cap).subquery()  # index only
    return int(connection.execute(select(func.count()).select_from(found)).scalar() or 0)


def worklist_page(connection: Connection, work: WorkFilter, after: After | None, limit: int) -> list[Row[Any]]:
    """Up to ``limit`` ready tasks after ``after``, soonest due first (the due runs merged)."""
    statements = worklist_statements(work, after, limit)
    valued = [row for statement in statements[:-1] for row in connection.execute(statement).all()]
    rows = sorted(valued, key=lambda r: (r.due, r.ticket_id, r.id))[:limit]
    if len(rows) < limit:
        rows += connection.execute(statements[-1].limit(limit - len(rows))).all()
    return rows
