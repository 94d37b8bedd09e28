"""Archiving closed tickets: past the retention, drop the parts nothing needs any more; never their history.

What goes, for a ticket closed before the cut-off:

- its stored workflow state: the history and the pinned definition replay it (``engine.audit.replay``), and
  tickets closed since the storage change keep none anyway;
- its completed and cancelled worklist rows: the history records who completed which task and when, and only
  ready rows are ever listed;
- the outbox's copy of its delivered emails (subject, plain text and HTML alternative): the history recorded
  them when each was queued (answer links withheld), the conversation and the outbox pages show them from there,
  and a delivered message is never sent again. The outbox row itself stays: its Message-ID threads a late reply
  to the ticket.

The history, the anchors, the conversation and its attachments, and the ticket row itself are kept. Each batch
is one transaction; running it again finds nothing left to drop.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import Connection, Table, and_, delete, exists, func, or_, select, update

from engine.errors import FieldError, InvalidInput
from engine.store.models import HumanTask, OutboxMessage, Ticket

if TYPE_CHECKING:
    from engine.runtime import Runtime

TICKET, TASK, OUTBOX = (cast(Table, model.__table__) for model in (Ticket, HumanTask, OutboxMessage))
DONE_TASKS = ("completed", "cancelled")
BATCH = 500


@dataclass(frozen=True)
class ArchiveReport:
    """What an archive run dropped (or, in a dry run, would drop), counted."""

    cut_off: datetime
    dry_run: bool
    tickets: int = 0  # closed before the cut-off and still holding something to drop
    workflows: int = 0  # workflow states dropped
    worklist_rows: int = 0  # completed and cancelled worklist rows deleted
    message_copies: int = 0  # delivered emails whose outbox copy (subject, text and HTML) was dropped

    def to_dict(self) -> dict[str, Any]:
        return {"cut_off": self.cut_off.isoformat(), "dry_run": self.dry_run, "tickets": self.tickets,
                "workflows": self.workflows, "worklist_rows": self.worklist_rows, "message_copies": self.message_copies}

    def plus(self, other: ArchiveReport) -> ArchiveReport:
        return ArchiveReport(self.cut_off, self.dry_run, self.tickets + other.tickets,
                             self.workflows + other.workflows, self.worklist_rows + other.worklist_rows,
                             self.message_copies + other.message_copies)


def _has_workflow() -> Any:
    return TICKET.c.workflow != ""


def _has_done_tasks() -> Any:
    return exists().where(TASK.c.ticket_id == TICKET.c.id, TASK.c.state.in_(DONE_TASKS))


def _delivered_copy() -> Any:
    """An email of the ticket's that was delivered and whose outbox copy is still kept."""
    return and_(OUTBOX.c.state == "delivered", OUTBOX.c.channel == "email",
                or_(OUTBOX.c.html.is_not(None), OUTBOX.c.body != "", OUTBOX.c.subject != ""))


def _has_delivered_copy() -> Any:
    return exists().where(OUTBOX.c.ticket_id == TICKET.c.id, _delivered_copy())


class ArchiveService:
    """Drops the bulky parts of closed tickets past the retention; see the module docstring."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    def archive(self, older_than: timedelta, dry_run: bool = False, batch: int = BATCH) -> ArchiveReport:
        """Archive every ticket closed more than ``older_than`` ago, ``batch`` tickets per transaction."""
        if not isinstance(older_than, timedelta) or older_than < timedelta(0):
            raise InvalidInput("the retention must be zero days or more",
                               [FieldError("/older_than", "must be zero days or more")])
        cut_off = self.runtime.clock() - older_than
        report = ArchiveReport(cut_off, dry_run)
        after = 0
        while True:
            with self.runtime.uow() as uow:
                ids = self._due(uow.connection, cut_off, after, batch)
                if not ids:
                    return report
                report = report.plus(self._count(uow.connection, ids) if dry_run else self._drop(uow.connection, ids))
                if not dry_run:
                    uow.commit()
            after = ids[-1]

    @staticmethod
    def _due(connection: Connection, cut_off: datetime, after: int, batch: int) -> list[int]:
        """The next ``batch`` closed tickets (by id, after ``after``) with something left to drop."""
        query = (select(TICKET.c.id).where(TICKET.c.status == "closed", TICKET.c.closed_at <= cut_off,
                                           TICKET.c.id > after,
                                           or_(_has_workflow(), _has_done_tasks(), _has_delivered_copy()))
                 .order_by(TICKET.c.id).limit(batch))
        return list(connection.execute(query).scalars())

    @staticmethod
    def _count(connection: Connection, ids: list[int]) -> ArchiveReport:
        workflows = connection.execute(select(func.count()).select_from(TICKET).where(
            TICKET.c.id.in_(ids), _has_workflow())).scalar() or 0
        tasks = connection.execute(select(func.count()).select_from(TASK).where(
            TASK.c.ticket_id.in_(ids), TASK.c.state.in_(DONE_TASKS))).scalar() or 0
        copies = connection.execute(select(func.count()).select_from(OUTBOX).where(
            OUTBOX.c.ticket_id.in_(ids), _delivered_copy())).scalar() or 0
        return ArchiveReport(datetime.min, True, len(ids), workflows, tasks, copies)

    @staticmethod
    def _drop(connection: Connection, ids: list[int]) -> ArchiveReport:
        # Only closed tickets are ever in ``ids``, and a closed ticket never steps again: no version check needed.
        workflows = connection.execute(update(TICKET).where(
            and_(TICKET.c.id.in_(ids), TICKET.c.status == "closed", _has_workflow())).values(workflow="")).rowcount
        tasks = connection.execute(delete(TASK).where(
            TASK.c.ticket_id.in_(ids), TASK.c.state.in_(DONE_TASKS))).rowcount
        copies = connection.execute(update(OUTBOX).where(
            OUTBOX.c.ticket_id.in_(ids), _delivered_copy()).values(html=None, body="", subject="")).rowcount
        return ArchiveReport(datetime.min, False, len(ids), workflows, tasks, copies)
