"""The rows one step of a ticket reads and writes: ticket, worklist, history and outbox.

Opening a ticket, completing a task and firing a timer are the hot paths: each is one
transaction of a handful of statements (load the ticket with its task, insert the worklist and
history rows, one version-checked UPDATE of the ticket). The ORM models in ``models.py`` stay the
schema and serve the read-mostly use cases; here rows are plain dataclasses and the SQL goes to
the driver directly (see ``driver.py``), so a step pays for SQL, not for identity maps, flush
planning and per-statement execution contexts.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import MISSING, dataclass, fields
from datetime import datetime
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import Connection

from engine.errors import Conflict
from engine.store.driver import Driver
from engine.store.models import HumanTask, Ticket, read_digest, stored_digest
from engine.store.packing import event_data, stored_data
from engine.views import EventView

if TYPE_CHECKING:
    from engine.store.history import NewEvent

TICKET = Ticket.__table__  # for the read-side queries built with SQLAlchemy Core
TASK = HumanTask.__table__


@dataclass(slots=True)
class TicketRecord:
    """One ticket row as a step sees and changes it; ``version`` is the version it was read at."""

    id: int
    number: str | None
    status: str
    current_lanes: str
    current_steps: str
    channel: str
    customer: str
    contact: dict[str, Any]
    registered_by: str
    subject: str
    description: str
    type: str | None
    impact: str | None
    urgency: str | None
    priority: str | None
    unit_code: str
    opened_at: datetime
    first_response_due: datetime | None
    first_response_at: datetime | None
    resolved_at: datetime | None
    closed_at: datetime | None
    definition_id: int
    version: int
    workflow: str
    next_timer_at: datetime | None
    stalled_reason: str | None
    step_failures: int
    history_seq: int
    history_head: str
    # The service-level record (see models.Ticket); defaults match the columns' server defaults.
    resolution_due: datetime | None = None
    sla_state: str = "on_track"
    sla_paused_since: datetime | None = None
    sla_paused_seconds: int = 0
    sla_next_check_at: datetime | None = None
    first_response_business_s: int | None = None
    resolution_business_s: int | None = None
    first_response_breached: bool = False
    resolution_breached: bool = False
    escalations: int = 0
    persists: int = 0
    reminders: int = 0
    follow_ups: int = 0

    @classmethod
    def unsaved(cls, number: str, opened_at: datetime) -> TicketRecord:
        """A ticket that lives only in memory (the replay's): what a step projects onto, nothing else."""
        return cls(id=0, number=number, status="new", current_lanes="", current_steps="", channel="", customer="",
                   contact={}, registered_by="", subject="", description="", type=None, impact=None, urgency=None,
                   priority=None, unit_code="", opened_at=opened_at, first_response_due=None,
                   first_response_at=None, resolved_at=None, closed_at=None, definition_id=0, version=0, workflow="",
                   next_timer_at=None, stalled_reason=None, step_failures=0, history_seq=0, history_head="")


@dataclass(slots=True)
class WorkItem:
    """One worklist row: a user task that is (or was) ready."""

    id: str
    ticket_id: int
    element_id: str
    name: str
    lane: str
    form: str | None
    state: str
    assignee: str | None
    created_at: datetime
    claimed_at: datetime | None = None
    completed_by: str | None = None
    completed_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class UnitPolicy:
    """A unit's service levels as a step reads them (read each step: a change applies from the next one)."""

    code: str
    name: str
    first_response: str
    response_window: str
    time_zone: str = "UTC"
    business_hours: dict[str, list[str]] | None = None  # None: the defaults of engine/store/units.py
    holiday_country: str | None = None
    holiday_subdivision: str | None = None
    holiday_calendar: str | None = None
    targets: dict[str, dict[str, Any]] | None = None
    reminder_every: str | None = None
    follow_up_after: int = 3


_TICKET_FIELDS = tuple(f.name for f in fields(TicketRecord))
_TICKET_DEFAULTS = {f.name: f.default for f in fields(TicketRecord) if f.default is not MISSING}
_TASK_FIELDS = tuple(f.name for f in fields(WorkItem))
_TICKET_TIMES = frozenset({"opened_at", "first_response_due", "first_response_at", "resolved_at", "closed_at",
                           "next_timer_at", "resolution_due", "sla_paused_since", "sla_next_check_at"})
_TICKET_JSON = frozenset({"contact"})
_TASK_TIMES = frozenset({"created_at", "claimed_at", "completed_at"})
# Everything a step may change; identity and intake columns are written once, at insert.
_MUTABLE = ("number", "status", "current_lanes", "current_steps", "type", "impact", "urgency", "priority",
            "first_response_due", "first_response_at", "resolved_at", "closed_at", "definition_id", "workflow",
            "next_timer_at", "stalled_reason", "step_failures", "history_seq", "history_head", "resolution_due",
            "sla_state", "sla_paused_since", "sla_paused_seconds", "sla_next_check_at", "first_response_business_s",
            "resolution_business_s", "first_response_breached", "resolution_breached", "escalations", "persists",
            "reminders", "follow_ups")
_EVENT_COLUMNS = ("ticket_id", "seq", "at", "actor", "kind", "element_id", "element_name", "lane", "task_id",
                  "data", "packed", "prev_hash", "hash")
_OUTBOX_COLUMNS = ("ticket_id", "channel", "purpose", "recipient", "subject", "body", "html", "message_id",
                   "in_reply_to", "payload", "state", "attempts", "next_attempt_at", "created_at")


def _columns(names: Sequence[str], table: str = "") -> str:
    prefix = f"{table}." if table else ""
    return ", ".join(f'{prefix}"{name}"' for name in names)


def _marks(count: int) -> str:
    return ", ".join("?" * count)


_TICKET_COLUMNS = _columns(_TICKET_FIELDS)
_TASK_COLUMNS = _columns(_TASK_FIELDS)
_SQL_TASK_AND_TICKET = (f"SELECT {_columns(_TICKET_FIELDS, 't')}, {_columns(_TASK_FIELDS, 'h')} "
                        "FROM human_task h JOIN ticket t ON t.id = h.ticket_id WHERE h.id = ?")
_SQL_TICKET_BY_ID = f"SELECT {_TICKET_COLUMNS} FROM ticket WHERE id = ?"
_SQL_TICKET_BY_NUMBER = f"SELECT {_TICKET_COLUMNS} FROM ticket WHERE number = ?"
_INSERTED = [name for name in _TICKET_FIELDS if name != "id"]
_SQL_INSERT_TICKET = (f"INSERT INTO ticket ({_columns(_INSERTED)}) VALUES ({_marks(len(_INSERTED))}) "
                      "RETURNING id")
_SQL_SAVE_TICKET = (f"UPDATE ticket SET {', '.join(f'{column} = ?' for column in _columns(_MUTABLE).split(', '))}, "
                    "version = ? WHERE id = ? AND version = ?")
_SQL_READY_TASKS = (f"SELECT {_TASK_COLUMNS} FROM human_task WHERE ticket_id = ? AND state = 'ready' "
                    "ORDER BY created_at, id")
_SQL_INSERT_TASK = f"INSERT INTO human_task ({_TASK_COLUMNS}) VALUES ({_marks(len(_TASK_FIELDS))})"
_SQL_COMPLETE_TASK = ("UPDATE human_task SET state = 'completed', completed_by = ?, completed_at = ? "
                      "WHERE id = ? AND state = 'ready'")
_SQL_ASSIGN_TASK = "UPDATE human_task SET assignee = ?, claimed_at = ? WHERE id = ? AND state = 'ready' AND "
_SQL_INSERT_EVENT = f"INSERT INTO history_event ({_columns(_EVENT_COLUMNS)}) VALUES ({_marks(len(_EVENT_COLUMNS))})"
_SQL_INSERT_MESSAGE = (f"INSERT INTO outbox ({_columns(_OUTBOX_COLUMNS)}) VALUES ({_marks(len(_OUTBOX_COLUMNS))}) "
                       "RETURNING id")
_SQL_EVENTS = ("SELECT seq, at, actor, kind, element_id, element_name, lane, task_id, data, packed, hash "
               "FROM history_event WHERE ticket_id = ? ORDER BY seq")
_SQL_COUNT_MESSAGES = "SELECT count(*) FROM outbox WHERE ticket_id = ? AND purpose = ?"
_SQL_THREAD_ROOT = "SELECT message_id FROM outbox WHERE ticket_id = ? AND channel = ? ORDER BY id LIMIT 1"
_SQL_UNIT = ("SELECT code, name, first_response, response_window, time_zone, business_hours, holiday_country, "
             "holiday_subdivision, holiday_calendar, targets, reminder_every, follow_up_after FROM unit WHERE code = ?")
# The version new tickets start on: the latest activation, else (nothing activated yet) the latest deploy.
_SQL_ACTIVE_DEFINITION = (
    "SELECT COALESCE((SELECT definition_id FROM definition_activation WHERE key = ? ORDER BY id DESC LIMIT 1), "
    "(SELECT id FROM process_definition WHERE key = ? ORDER BY version DESC LIMIT 1))")


def stale_ticket(number: str | None) -> Conflict:
    return Conflict(f"ticket {number} was changed by someone else at the same time: reload and try again")


class TicketStore:
    """Ticket, worklist, history and outbox rows within the current transaction. Never commits."""

    def __init__(self, connection: Connection) -> None:
        self.connection = connection
        self.sql = Driver.of(connection)
        self._units: dict[str, UnitPolicy | None] = {}

    # -- rows in and out ----------------------------------------------------------------------
    def _ticket(self, values: Sequence[Any]) -> TicketRecord:
        time_out, json_out = self.sql.time_out, self.sql.json_out
        columns: list[Any] = [time_out(v) if name in _TICKET_TIMES else json_out(v) if name in _TICKET_JSON else v
                              for name, v in zip(_TICKET_FIELDS, values, strict=True)]
        return TicketRecord(*columns)

    def _task(self, values: Sequence[Any]) -> WorkItem:
        time_out = self.sql.time_out
        columns: list[Any] = [time_out(v) if name in _TASK_TIMES else v
                              for name, v in zip(_TASK_FIELDS, values, strict=True)]
        return WorkItem(*columns)

    def _task_params(self, item: WorkItem) -> tuple[Any, ...]:
        time_in = self.sql.time_in
        return tuple(time_in(getattr(item, name)) if name in _TASK_TIMES else getattr(item, name)
                     for name in _TASK_FIELDS)

    # -- reading ------------------------------------------------------------------------------
    def task_and_ticket(self, task_id: str) -> tuple[WorkItem, TicketRecord] | None:
        row = self.sql.one(_SQL_TASK_AND_TICKET, (task_id,))
        if row is None:
            return None
        split = len(_TICKET_FIELDS)
        return self._task(row[split:]), self._ticket(row[:split])

    def ticket(self, ticket_id: int, *, skip_locked: bool = False) -> TicketRecord | None:
        """The ticket; with ``skip_locked``, None when another transaction holds it (PostgreSQL)."""
        sql = _SQL_TICKET_BY_ID + (" FOR UPDATE SKIP LOCKED" if skip_locked and self.sql.postgres else "")
        row = self.sql.one(sql, (ticket_id,))
        return self._ticket(row) if row is not None else None

    def ticket_by_number(self, number: str) -> TicketRecord | None:
        row = self.sql.one(_SQL_TICKET_BY_NUMBER, (number,))
        return self._ticket(row) if row is not None else None

    def ready_tasks(self, ticket_id: int) -> list[WorkItem]:
        return [self._task(row) for row in self.sql.execute(_SQL_READY_TASKS, (ticket_id,)).fetchall()]

    def events(self, ticket_id: int) -> list[EventView]:
        """The ticket's history, in order (``at`` is NOT NULL)."""
        time_out, json_out = self.sql.time_out, self.sql.json_out
        return [EventView(seq, cast(datetime, time_out(at)), actor, kind, element_id, element_name, lane, task_id,
                          event_data(json_out(data), packed), read_digest(digest))
                for seq, at, actor, kind, element_id, element_name, lane, task_id, data, packed, digest
                in self.sql.execute(_SQL_EVENTS, (ticket_id,)).fetchall()]

    def worklist(self, lanes: Sequence[str] | None, assignee: str | None, unassigned: bool, customer: str | None,
                 limit: int, offset: int) -> list[tuple[WorkItem, str]]:
        """Ready tasks with their ticket numbers, oldest first; every inbox asks this."""
        where: list[str] = ["h.state = 'ready'"]
        params: list[Any] = []
        if lanes is not None:
            where.append(f"h.lane IN ({_marks(len(lanes))})" if lanes else "1 = 0")
            params += lanes
        if assignee is not None:
            where.append("h.assignee = ?")
            params.append(assignee)
        if unassigned:
            where.append("h.assignee IS NULL")
        if customer is not None:
            where.append("t.customer = ?")
            params.append(customer)
        sql = (f"SELECT {_columns(_TASK_FIELDS, 'h')}, t.number FROM human_task h JOIN ticket t ON t.id = h.ticket_id "
               f"WHERE {' AND '.join(where)} ORDER BY h.created_at, h.id LIMIT ? OFFSET ?")
        rows = self.sql.execute(sql, [*params, limit, offset]).fetchall()
        return [(self._task(row[:-1]), row[-1]) for row in rows]

    def unit(self, code: str) -> UnitPolicy | None:
        if code not in self._units:
            row = self.sql.one(_SQL_UNIT, (code,))
            self._units[code] = self._unit(row) if row is not None else None
        return self._units[code]

    def _unit(self, row: Sequence[Any]) -> UnitPolicy:
        values = list(row)
        for index in (5, 9):  # business_hours, targets
            values[index] = self.sql.json_out(values[index])
        return UnitPolicy(*values)

    def active_definition_id(self, key: str) -> int | None:
        row = self.sql.one(_SQL_ACTIVE_DEFINITION, (key, key))
        return row[0] if row is not None else None

    def count_messages(self, ticket_id: int, purpose: str) -> int:
        row = self.sql.one(_SQL_COUNT_MESSAGES, (ticket_id, purpose))
        return int(row[0]) if row is not None else 0

    # -- writing ------------------------------------------------------------------------------
    def insert_ticket(self, values: Mapping[str, Any]) -> TicketRecord:
        """Insert a new ticket at version 1 and return it with its id."""
        row = {**_TICKET_DEFAULTS, **values, "version": 1}
        time_in, json_in = self.sql.time_in, self.sql.json_in
        params = [time_in(row[n]) if n in _TICKET_TIMES else json_in(row[n]) if n in _TICKET_JSON else row[n]
                  for n in _INSERTED]
        (ticket_id,) = self.sql.one(_SQL_INSERT_TICKET, params) or (None,)
        return TicketRecord(**{**row, "id": ticket_id})

    def save(self, ticket: TicketRecord, events: Sequence[NewEvent] = ()) -> None:
        """Append the ticket's new history events and write it back if nobody changed it since it was read.

        Raises Conflict otherwise; the caller's transaction then rolls back, events included.
        """
        time_in = self.sql.time_in
        if events:
            try:
                self.sql.execute_many(_SQL_INSERT_EVENT, [
                    (e.ticket_id, e.seq, time_in(e.at), e.actor, e.kind, e.element_id, e.element_name, e.lane,
                     e.task_id, *stored_data(e.data_json), e.prev_hash, stored_digest(e.hash)) for e in events])
            except self.sql.integrity_error:
                # (ticket_id, seq) is unique: a concurrent transaction appended to the same chain.
                raise stale_ticket(ticket.number) from None
        params = [time_in(getattr(ticket, n)) if n in _TICKET_TIMES else getattr(ticket, n) for n in _MUTABLE]
        params += [ticket.version + 1, ticket.id, ticket.version]
        if self.sql.execute(_SQL_SAVE_TICKET, params).rowcount != 1:
            raise stale_ticket(ticket.number)
        ticket.version += 1

    def add_tasks(self, items: Iterable[WorkItem]) -> None:
        rows = [self._task_params(item) for item in items]
        if rows:
            self.sql.execute_many(_SQL_INSERT_TASK, rows)

    def complete_task(self, task_id: str, by: str, at: datetime) -> bool:
        """Mark a ready task completed; False when it was no longer ready."""
        return self.sql.execute(_SQL_COMPLETE_TASK, (by, self.sql.time_in(at), task_id)).rowcount == 1

    def relabel_tasks(self, items: Iterable[WorkItem]) -> None:
        """Give ready rows their element's new id, name, lane and form (a ticket moved to another version)."""
        rows = [(item.element_id, item.name, item.lane, item.form, item.id) for item in items]
        if rows:
            self.sql.execute_many("UPDATE human_task SET element_id = ?, name = ?, lane = ?, form = ? "
                                  "WHERE id = ? AND state = 'ready'", rows)

    def cancel_tasks(self, task_ids: Sequence[str]) -> None:
        if task_ids:
            self.sql.execute(f"UPDATE human_task SET state = 'cancelled' WHERE id IN ({_marks(len(task_ids))}) "
                             "AND state = 'ready'", list(task_ids))

    def assign_task(self, task_id: str, assignee: str | None, at: datetime | None, *,
                    expected_assignee: str | None = None, any_assignee: bool = False) -> bool:
        """Set or clear a ready task's assignee if it is held as expected (None: unassigned)."""
        params: list[Any] = [assignee, self.sql.time_in(at), task_id]
        if any_assignee:
            held = "assignee IS NOT NULL"
        elif expected_assignee is None:
            held = "assignee IS NULL"
        else:
            held, params = "assignee = ?", [*params, expected_assignee]
        return self.sql.execute(_SQL_ASSIGN_TASK + held, params).rowcount == 1

    def queue_message(self, values: Mapping[str, Any]) -> int:
        """Insert an outbox row, threaded under the ticket's first message; the worker delivers it after commit."""
        time_in = self.sql.time_in
        root = self.sql.one(_SQL_THREAD_ROOT, (values["ticket_id"], values["channel"]))
        params = [values[n] for n in _OUTBOX_COLUMNS if n != "in_reply_to"]
        params.insert(_OUTBOX_COLUMNS.index("in_reply_to"), root[0] if root is not None else None)
        params[_OUTBOX_COLUMNS.index("payload")] = self.sql.json_in(values["payload"])
        for name in ("next_attempt_at", "created_at"):
            params[_OUTBOX_COLUMNS.index(name)] = time_in(values[name])
        (message_id,) = self.sql.one(_SQL_INSERT_MESSAGE, params) or (None,)
        return int(message_id)
