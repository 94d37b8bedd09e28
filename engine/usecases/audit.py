"""Audit use cases: anchors, verification, deterministic replay, "as of" views, export, access records.

Everything here reads; the only writes are anchors and access records, both append-only (and
refused UPDATE and DELETE by triggers on PostgreSQL). Results are frozen dataclasses with a
``to_dict()`` giving JSON-friendly data, for the HTTP layer and the CLI.
"""
from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, fields, is_dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import Select, and_, func, select, tuple_, type_coerce
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, aliased

from engine.access import Actor
from engine.audit.integrity import AnchorMark, ChainCheck, Finding, Lookup, anchor_hash, entries_digest
from engine.audit.replay import Divergence, ReadyTask, RecordedEvent, Replayer, ReplayStep, recorded_events
from engine.errors import Conflict, FieldError, Forbidden, InvalidInput, NotFound
from engine.store.history import GENESIS, LINK_CHARS, link
from engine.store.models import AuditAccess, AuditAnchor, AuditAnchorEntry, Digest, HistoryEvent, Ticket
from engine.store.packing import event_data
from engine.store.uow import UnitOfWork

if TYPE_CHECKING:
    from engine.runtime import Runtime

ACCESS_KINDS = ("history", "replay", "audit", "export", "as_of", "task", "tickets", "tasks")  # tickets, tasks: lists
EXPORT_FORMATS = ("jsonl", "csv")
EXPORT_FIELDS = ("ticket", "seq", "at", "actor", "kind", "element_id", "element_name", "lane", "task_id", "data",
                 "prev_hash", "hash")
ANCHOR_ROLES = ("auditor", "admin")
MAX_LISTED_FAILURES = 100
_HEX = re.compile("[0-9a-f]+")

_EVENT_COLUMNS = (HistoryEvent.ticket_id, HistoryEvent.seq, HistoryEvent.at, HistoryEvent.actor, HistoryEvent.kind,
                  HistoryEvent.element_id, HistoryEvent.element_name, HistoryEvent.lane, HistoryEvent.task_id,
                  HistoryEvent.stored_data, HistoryEvent.packed, HistoryEvent.prev_hash, HistoryEvent.hash)


def plain(value: Any) -> Any:
    """JSON-friendly data: dataclasses to dicts, datetimes to ISO 8601, tuples to lists."""
    if is_dataclass(value) and not isinstance(value, type):
        return {f.name: plain(getattr(value, f.name)) for f in fields(value)}
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    return value


class _Plain:
    def to_dict(self) -> dict[str, Any]:
        return plain(self)  # type: ignore[no-any-return]


@dataclass(frozen=True)
class AnchorView(_Plain):
    """An anchor as recorded; publish ``hash`` outside the database to pin everything before it."""

    seq: int
    at: datetime
    actor: str
    tickets: int
    entries_digest: str
    prev_hash: str
    hash: str


@dataclass(frozen=True)
class AuditReport(_Plain):
    """One ticket's chain and anchors checked; ``finding`` names the first failing event."""

    number: str
    ok: bool
    events: int  # events checked (up to the first failure)
    head_seq: int  # the head the ticket row records
    anchored_seq: int | None  # the latest head an anchor recorded for it
    anchors: int  # anchor entries of this ticket checked
    finding: Finding | None
    anchor_problem: str | None  # an anchor this ticket relies on is itself broken


@dataclass(frozen=True)
class AllAuditReport(_Plain):
    ok: bool
    tickets: int
    events: int
    anchors: int
    failed: int
    failures: tuple[AuditReport, ...]  # the first MAX_LISTED_FAILURES failing tickets
    anchor_problem: str | None


@dataclass(frozen=True)
class ReplayReport(_Plain):
    """``consistent`` when every recorded event up to ``until`` was reproduced; else the divergence."""

    number: str
    definition_version: int
    definition_sha256: str
    until: int | None
    consistent: bool
    events: int  # recorded events the replay went through
    steps: tuple[ReplayStep, ...]
    divergence: Divergence | None

    @property
    def outcome(self) -> str:
        return "consistent" if self.consistent else "divergent"

    def to_dict(self) -> dict[str, Any]:
        return {**plain(self), "outcome": self.outcome}


@dataclass(frozen=True)
class AsOfView(_Plain):
    """The ticket as it stood once the transaction that recorded event ``seq`` had committed.

    Rebuilt by replay; ``current_elements`` are the diagram elements to highlight (ready tasks
    and waiting events), ``visited_elements`` the elements passed so far, in order.
    """

    number: str
    seq: int
    event: RecordedEvent
    status: str
    data: dict[str, Any]
    ready_tasks: tuple[ReadyTask, ...]
    current_elements: tuple[str, ...]
    visited_elements: tuple[str, ...]
    consistent: bool
    divergence: Divergence | None


@dataclass(frozen=True)
class AccessView(_Plain):
    id: int
    at: datetime
    actor: str
    role: str
    what: str
    ticket: str | None
    detail: dict[str, Any]

    @classmethod
    def of(cls, row: AuditAccess) -> AccessView:
        return cls(row.id, row.at, row.actor, row.role, row.what, row.ticket_number, row.detail)


class AuditService:
    """Audit use cases over a ``Runtime``'s database, definitions and clock."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    # -- anchors ------------------------------------------------------------------------------
    def anchor(self, actor: Actor, batch: int = 1000) -> AnchorView:
        """Record the head of every ticket whose history grew since it was last anchored."""
        if actor.role not in ANCHOR_ROLES:
            raise Forbidden(f"role '{actor.role}' does not anchor the history")
        now = self.runtime.clock()
        with self.runtime.uow() as uow:
            session = uow.session
            last = session.execute(select(AuditAnchor.seq, AuditAnchor.hash).order_by(
                AuditAnchor.seq.desc()).limit(1)).first()
            seq, prev = (last.seq + 1, last.hash) if last else (1, GENESIS)
            try:
                count, digest = entries_digest(self._anchor_entries(session, seq, batch))
                view = AnchorView(seq, now, actor.name, count, digest, prev,
                                  anchor_hash(seq, now, actor.name, count, digest, prev))
                session.add(AuditAnchor(**{f.name: getattr(view, f.name) for f in fields(view)}))
                uow.commit()
            except IntegrityError:
                raise Conflict("another anchor was recorded at the same time: try again") from None
            return view

    def anchor_if_due(self, actor: Actor, every: timedelta = timedelta(days=1)) -> AnchorView | None:
        """Anchor unless the last anchor is younger than ``every`` (the worker calls this each round)."""
        with self.runtime.uow() as uow:
            last = uow.session.scalar(select(AuditAnchor.at).order_by(AuditAnchor.seq.desc()).limit(1))
        if last is not None and self.runtime.clock() - last < every:
            return None
        return self.anchor(actor)

    def _anchor_entries(self, session: Session, anchor_seq: int, batch: int) -> Iterator[tuple[int, int, str]]:
        """Write this anchor's entries in ticket id order, yielding each for the digest."""
        anchored = (select(AuditAnchorEntry.head_seq).where(AuditAnchorEntry.ticket_id == Ticket.id)
                    .order_by(AuditAnchorEntry.head_seq.desc()).limit(1).scalar_subquery())
        after = 0
        while True:
            rows = session.execute(
                select(Ticket.id, Ticket.history_seq, Ticket.history_head, anchored.label("anchored"))
                .where(Ticket.id > after, Ticket.history_seq > 0).order_by(Ticket.id).limit(batch)).all()
            if not rows:
                return
            changed = [r for r in rows if r.anchored is None or r.history_seq != r.anchored]
            if changed:
                session.add_all([AuditAnchorEntry(anchor_seq=anchor_seq, ticket_id=r.id, head_seq=r.history_seq,
                                                  head_hash=r.history_head) for r in changed])
                session.flush()
                session.expunge_all()
            for r in changed:
                yield r.id, r.history_seq, r.history_head
            after = rows[-1].id

    # -- verification -------------------------------------------------------------------------
    def _snapshot(self) -> UnitOfWork:
        """A read-only unit seeing one snapshot: a step committing while the chain is checked is not a gap or an
        event "added outside the engine" beyond the head the check read first."""
        return UnitOfWork(self.runtime.sessions, read_only=True, snapshot=True)

    def verify_ticket(self, number: str) -> AuditReport:
        """Check one ticket's hash chain against its row and its anchors; name the first failure."""
        with self._snapshot() as uow:
            session = uow.session
            ticket = _ticket(session, number)
            marks = _marks(session, ticket.id, ticket.id).get(ticket.id, [])
            check = ChainCheck(ticket.history_seq, ticket.history_head, marks)
            for row in _stream(session, _events().where(HistoryEvent.ticket_id == ticket.id)
                               .order_by(HistoryEvent.seq)):
                check.feed(row)
            finding = check.finish(_lookup(session, ticket.id))
            _, anchor_problem = _check_anchors(session, {m.anchor_seq for m in marks})
            return _report(number, ticket.history_seq, marks, check, finding, anchor_problem)

    def verify_all(self, batch: int = 500) -> AllAuditReport:
        """Check every ticket, a batch of tickets per transaction, streaming their events."""
        tickets = events = failed = 0
        failures: list[AuditReport] = []
        after = 0
        while True:
            with self._snapshot() as uow:
                session = uow.session
                rows = session.execute(select(Ticket.id, Ticket.number, Ticket.history_seq, Ticket.history_head)
                                       .where(Ticket.id > after).order_by(Ticket.id).limit(batch)).all()
                if not rows:
                    break
                low, high = rows[0].id, rows[-1].id
                marks = _marks(session, low, high)
                checks = {r.id: ChainCheck(r.history_seq, r.history_head, marks.get(r.id, [])) for r in rows}
                for event in _stream(session, _events().where(HistoryEvent.ticket_id.between(low, high))
                                     .order_by(HistoryEvent.ticket_id, HistoryEvent.seq)):
                    checks[event.ticket_id].feed(event)
                for r in rows:
                    check = checks[r.id]
                    finding = check.finish(_lookup(session, r.id))
                    tickets, events = tickets + 1, events + check.count
                    if finding is not None:
                        failed += 1
                        if len(failures) < MAX_LISTED_FAILURES:
                            failures.append(_report(r.number or "", r.history_seq, marks.get(r.id, []), check,
                                                    finding, None))
                after = high
        with self._snapshot() as uow:
            anchors, anchor_problem = _check_anchors(uow.session, None)
        return AllAuditReport(failed == 0 and anchor_problem is None, tickets, events, anchors, failed,
                              tuple(failures), anchor_problem)

    # -- replay -------------------------------------------------------------------------------
    def replay(self, number: str, until: int | None = None) -> ReplayReport:
        """Re-execute the pinned definition on the recorded inputs, comparing every step; writes nothing."""
        with self.runtime.uow() as uow:
            session = uow.session
            ticket = _ticket(session, number)
            if until is not None:
                _check_seq(until, ticket, "until")
            info, definition = self.runtime.definition_of(session, ticket.definition_id)
            outcome = Replayer(number, definition, self.runtime.lane_roles, _recorded(session, ticket.id), until,
                               versions=lambda sha: self.runtime.definition_by_sha(session, sha)).run()
        return ReplayReport(number, info.version, info.sha256, until, outcome.divergence is None,
                            outcome.last_seq, tuple(outcome.steps), outcome.divergence)

    def as_of(self, number: str, seq: int) -> AsOfView:
        """The ticket's state (status, data, ready tasks, where it was) at event ``seq``, by replay."""
        with self.runtime.uow() as uow:
            session = uow.session
            ticket = _ticket(session, number)
            _check_seq(seq, ticket, "seq")
            _, definition = self.runtime.definition_of(session, ticket.definition_id)
            seen: list[RecordedEvent] = []
            events = _remember(_recorded(session, ticket.id), seq, seen)
            outcome = Replayer(number, definition, self.runtime.lane_roles, events, seq,
                               versions=lambda sha: self.runtime.definition_by_sha(session, sha)).run()
        if not seen:
            raise NotFound(f"event {seq} of ticket {number} does not exist")
        return AsOfView(number, seq, seen[0], outcome.status, outcome.data, tuple(outcome.ready),
                        tuple(outcome.current_elements), tuple(outcome.visited_elements),
                        outcome.divergence is None, outcome.divergence)

    # -- export -------------------------------------------------------------------------------
    def export(self, start: datetime, end: datetime, fmt: str = "jsonl", batch: int = 1000) -> Iterator[str]:
        """Lines (JSON Lines, or CSV with a header) of every event with ``start <= at < end``.

        Ordered by (at, ticket, seq); read in keyset batches, one short transaction each, so memory
        stays constant whatever the period holds. Arguments are checked before the first line.
        """
        problems = []
        for name, value in (("/from", start), ("/to", end)):
            if not isinstance(value, datetime) or value.tzinfo is None:
                problems.append(FieldError(name, "must be a date-time with a timezone offset"))
        if not problems and start >= end:
            problems.append(FieldError("/to", "must be after from"))
        if fmt not in EXPORT_FORMATS:
            problems.append(FieldError("/format", f"format must be one of: {', '.join(EXPORT_FORMATS)}"))
        if problems:
            raise InvalidInput("the export cannot be made", problems)
        return self._export(start, end, fmt, max(1, batch))

    def _export(self, start: datetime, end: datetime, fmt: str, batch: int) -> Iterator[str]:
        line = _csv_line if fmt == "csv" else _jsonl_line
        if fmt == "csv":
            yield _csv_line(dict(zip(EXPORT_FIELDS, EXPORT_FIELDS, strict=True)))
        key: tuple[datetime, int, int] | None = None
        order = (HistoryEvent.at, HistoryEvent.ticket_id, HistoryEvent.seq)
        while True:
            query = _EXPORTED.where(HistoryEvent.at >= start, HistoryEvent.at < end)
            if key is not None:
                query = query.where(tuple_(*order) > tuple_(*key))
            with self.runtime.uow() as uow:
                rows = uow.session.execute(query.order_by(*order).limit(batch)).all()
            for row in rows:
                yield line(_exported(row))
            if len(rows) < batch:
                return
            key = (rows[-1].at, rows[-1].ticket_id, rows[-1].seq)

    # -- auditor reads ------------------------------------------------------------------------
    def record_access(self, actor: Actor, number: str | None, what: str,
                      detail: dict[str, Any] | None = None) -> AccessView:
        """Append a record of an auditor's read (of one ticket, or of the export when ``number`` is None)."""
        if what not in ACCESS_KINDS:
            raise InvalidInput(f"unknown access kind '{what}'", [FieldError(
                "/what", f"must be one of: {', '.join(ACCESS_KINDS)}")])
        with self.runtime.uow() as uow:
            ticket = _ticket(uow.session, number) if number is not None else None
            row = AuditAccess(at=self.runtime.clock(), actor=actor.name, role=actor.role, what=what,
                              ticket_id=ticket.id if ticket else None, ticket_number=number,
                              detail=json.loads(json.dumps(detail or {}, default=str)))
            uow.session.add(row)
            uow.commit()
            return AccessView.of(row)

    def access_log(self, number: str | None = None, limit: int = 100) -> list[AccessView]:
        """The latest auditor reads, of one ticket or of all, newest first."""
        query = select(AuditAccess).order_by(AuditAccess.id.desc()).limit(max(1, min(limit, 1000)))
        with self.runtime.uow() as uow:
            if number is not None:
                query = query.where(AuditAccess.ticket_id == _ticket(uow.session, number).id)
            return [AccessView.of(row) for row in uow.session.scalars(query)]


# -- helpers --------------------------------------------------------------------------------------
def _ticket(session: Session, number: str) -> Ticket:
    if not isinstance(number, str):
        raise InvalidInput("a ticket number is a string like T-000123")
    ticket = session.scalar(select(Ticket).where(Ticket.number == number))
    if ticket is None:
        raise NotFound(f"ticket {number} does not exist")
    return ticket


def _check_seq(seq: Any, ticket: Ticket, name: str) -> None:
    if isinstance(seq, bool) or not isinstance(seq, int) or seq < 1:
        raise InvalidInput(f"{name} must be a sequence number of 1 or more",
                           [FieldError(f"/{name}", "must be an integer of 1 or more")])
    if seq > ticket.history_seq:
        raise InvalidInput(f"ticket {ticket.number} has {ticket.history_seq} events; there is no event {seq}",
                           [FieldError(f"/{name}", f"must be at most {ticket.history_seq}")])


def _events() -> Select[Any]:
    return select(*_EVENT_COLUMNS)


def _stream(session: Session, query: Select[*tuple[Any, ...]], size: int = 2000) -> Iterator[Any]:
    """Rows through a server-side cursor where the database has one, ``size`` at a time."""
    yield from session.execute(query.execution_options(yield_per=size))


def _recorded(session: Session, ticket_id: int) -> Iterator[RecordedEvent]:
    return recorded_events(_stream(session, _events().where(HistoryEvent.ticket_id == ticket_id)
                                   .order_by(HistoryEvent.seq), 1000))


def _remember(events: Iterable[RecordedEvent], seq: int, seen: list[RecordedEvent]) -> Iterator[RecordedEvent]:
    for event in events:
        if event.seq == seq:
            seen.append(event)
        yield event


def _marks(session: Session, low: int, high: int) -> dict[int, list[AnchorMark]]:
    """Anchor entries of tickets ``low`` to ``high`` (ids), per ticket."""
    rows = session.execute(
        select(AuditAnchorEntry.ticket_id, AuditAnchor.seq, AuditAnchor.at, AuditAnchorEntry.head_seq,
               AuditAnchorEntry.head_hash).join(AuditAnchor, AuditAnchor.seq == AuditAnchorEntry.anchor_seq)
        .where(AuditAnchorEntry.ticket_id.between(low, high)))
    marks: dict[int, list[AnchorMark]] = {}
    for ticket_id, anchor_seq, at, head_seq, head_hash in rows:
        marks.setdefault(ticket_id, []).append(AnchorMark(anchor_seq, at, head_seq, head_hash))
    return marks


def _lookup(session: Session, ticket_id: int) -> Lookup:
    def successor(predecessor: str, other_than: int) -> int | None:
        return session.scalar(select(HistoryEvent.seq).where(
            HistoryEvent.ticket_id == ticket_id, HistoryEvent.prev_hash.in_((predecessor, link(predecessor))),
            HistoryEvent.seq != other_than).order_by(HistoryEvent.seq).limit(1))

    def full_hash(stored_link: str) -> str | None:
        if len(stored_link) < LINK_CHARS or len(stored_link) % 2 or not _HEX.fullmatch(stored_link):
            return None  # not a link this engine wrote: it names no event
        # The column holds the digest's bytes: compare the link's bytes with as many leading ones.
        leading = type_coerce(func.substr(HistoryEvent.hash, 1, len(stored_link) // 2), Digest())
        return session.scalar(select(HistoryEvent.hash).where(
            HistoryEvent.ticket_id == ticket_id, leading == stored_link).limit(1))

    return Lookup(successor, full_hash)


def _report(number: str, head_seq: int, marks: list[AnchorMark], check: ChainCheck, finding: Finding | None,
            anchor_problem: str | None) -> AuditReport:
    anchored = max((m.head_seq for m in marks), default=None)
    return AuditReport(number, finding is None and anchor_problem is None, check.count, head_seq, anchored,
                       len(marks), finding, anchor_problem)


def _check_anchors(session: Session, entries_of: set[int] | None) -> tuple[int, str | None]:
    """Check the anchor chain; recompute the entry digests of ``entries_of`` (all when None)."""
    prev, count = GENESIS, 0
    for anchor in session.scalars(select(AuditAnchor).order_by(AuditAnchor.seq)).all():
        count += 1
        if anchor.seq != count:
            return count, f"anchor {count} is missing: the anchors jump to {anchor.seq}"
        if anchor.prev_hash != prev:
            return count, f"anchor {anchor.seq} does not link to anchor {anchor.seq - 1}"
        if anchor_hash(anchor.seq, anchor.at, anchor.actor, anchor.tickets, anchor.entries_digest,
                       anchor.prev_hash) != anchor.hash:
            return count, f"anchor {anchor.seq} was altered: it does not match its hash"
        if entries_of is None or anchor.seq in entries_of:
            found, digest = entries_digest(_stream(session, select(
                AuditAnchorEntry.ticket_id, AuditAnchorEntry.head_seq, AuditAnchorEntry.head_hash).where(
                AuditAnchorEntry.anchor_seq == anchor.seq).order_by(AuditAnchorEntry.ticket_id), 5000))
            if (found, digest) != (anchor.tickets, anchor.entries_digest):
                return count, (f"anchor {anchor.seq}'s entries were altered ({anchor.tickets} recorded, "
                               f"{found} found)")
        prev = anchor.hash
    return count, None


# Events store only the start of their predecessor's hash; the export gives the whole hash, so that the documented
# formula checks each line against the line before it. Built once: a new alias per batch would be a new statement
# for SQLAlchemy's compiled cache each time.
_BEFORE = aliased(HistoryEvent)
_EXPORTED = (select(Ticket.number, *_EVENT_COLUMNS, _BEFORE.hash.label("predecessor"))
             .join(Ticket, Ticket.id == HistoryEvent.ticket_id)
             .outerjoin(_BEFORE, and_(_BEFORE.ticket_id == HistoryEvent.ticket_id,
                                      _BEFORE.seq == HistoryEvent.seq - 1)))


def _exported(row: Any) -> dict[str, Any]:
    return {"ticket": row.number, "seq": row.seq, "at": row.at.isoformat(), "actor": row.actor, "kind": row.kind,
            "element_id": row.element_id, "element_name": row.element_name, "lane": row.lane,
            "task_id": row.task_id, "data": event_data(row.stored_data, row.packed), "prev_hash": _predecessor(row),
            "hash": row.hash}


def _predecessor(row: Any) -> str:
    """The whole hash an exported event's own hash covers: the event before it, or the genesis for the first."""
    if len(row.prev_hash) == len(GENESIS):  # recorded before links were shortened: the whole hash is stored
        return str(row.prev_hash)
    return str(row.predecessor) if row.predecessor is not None else GENESIS


def _jsonl_line(record: dict[str, Any]) -> str:
    return json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n"


def _csv_line(record: dict[str, Any]) -> str:
    buffer = io.StringIO()
    values = [json.dumps(v, ensure_ascii=False, separators=(",", ":")) if isinstance(v, dict) else v
              for v in (record[name] for name in EXPORT_FIELDS)]
    csv.writer(buffer, lineterminator="\n").writerow(["" if v is None else v for v in values])
    return buffer.getvalue()

