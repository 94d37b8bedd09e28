"""What operators watch: figures read from the database at scrape time, and whether this process is ready to serve."""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from sqlalchemy import Connection, func, inspect, select, text

from engine.store.models import NOT_DELIVERED, OutboxMessage, ProcessDefinition, Ticket

from .base import DATABASE_ERRORS, RuntimeCore
from .tickets import PROCESS_KEY

OUTBOX = OutboxMessage.__table__
TICKETS = Ticket.__table__
DEFINITIONS = ProcessDefinition.__table__


@dataclass(frozen=True)
class OperationsFigures:
    """Counts that tell whether the system keeps up (each from one indexed query)."""

    tickets_by_status: dict[str, int]
    outbox_by_state: dict[str, int]  # pending, held, delivered, dead
    oldest_pending_seconds: float  # how long the oldest message still to deliver has waited (0: none)
    sla_breached: int | None  # tickets whose service level was breached; None where the database keeps no SLA record


@dataclass(frozen=True)
class Readiness:
    """Whether this process can serve: the first check that failed, in plain words, or None."""

    failed: str | None

    @property
    def ready(self) -> bool:
        return self.failed is None


def operations_figures(runtime: RuntimeCore) -> OperationsFigures:
    """The figures as the database has them now."""
    with runtime.uow(read_only=True) as uow:
        connection = uow.connection
        statuses = _counts(connection, TICKETS.c.status)
        states = _counts(connection, OUTBOX.c.state)
        oldest = connection.execute(select(func.min(OUTBOX.c.created_at))
                                    .where(OUTBOX.c.state == "pending", NOT_DELIVERED)).scalar()
    waited = (runtime.clock() - oldest).total_seconds() if oldest is not None else 0.0
    return OperationsFigures(statuses, states, max(waited, 0.0), _sla_breached(runtime))


def _counts(connection: Connection, column: object) -> dict[str, int]:
    rows = connection.execute(select(column, func.count()).group_by(column))  # type: ignore[call-overload]
    return {str(value): int(count) for value, count in rows}


def _sla_breached(runtime: RuntimeCore) -> int | None:
    """Tickets in breach, read in a transaction of its own: a database migrated before SLAs has no such column."""
    column = TICKETS.c.get("sla_state")
    if column is None:
        return None
    try:
        with runtime.uow(read_only=True) as uow:
            return int(uow.connection.execute(select(func.count()).where(column == "breached")).scalar_one())
    except DATABASE_ERRORS:
        return None


def readiness(runtime: RuntimeCore) -> Readiness:
    """Ready when the database answers, its migrations are the code's latest and a process definition is deployed."""
    try:
        with runtime.uow(read_only=True) as uow:
            revision = _database_revision(uow.connection)
            head = migrations_head()
            if revision != head:
                return Readiness(f"the database is at migration {revision or 'none'} but this version needs "
                                 f"{head}: run `ticketflow db upgrade`")
            deployed = uow.connection.execute(select(DEFINITIONS.c.id).where(
                DEFINITIONS.c.key == PROCESS_KEY).limit(1)).first() is not None
    except DATABASE_ERRORS as exc:
        return Readiness(f"the database does not answer ({type(exc).__name__})")
    if not deployed:
        return Readiness("no process definition is deployed: run `ticketflow deploy bpmn/support_ticket.bpmn`")
    return Readiness(None)


def _database_revision(connection: Connection) -> str | None:
    """The migration the database is at (None before the first), read without alembic's chatter in the log."""
    connection.execute(select(1))  # a database that does not answer fails here, not as "no migrations"
    if not inspect(connection).has_table("alembic_version"):
        return None
    return connection.execute(text("SELECT version_num FROM alembic_version")).scalar()


@lru_cache(maxsize=1)
def migrations_head() -> str | None:
    """The latest migration this code ships (read once: the scripts do not change under a running process)."""
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    from engine.store.db import REPO_ROOT

    config = Config()
    config.set_main_option("script_location", str(REPO_ROOT / "alembic"))
    return ScriptDirectory.from_config(config).get_current_head()
